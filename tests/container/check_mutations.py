"""Proves that check_files.py sees what it claims to check: each mutation below breaks one promise of
docker/ in a scratch copy, and check_files.py must then fail.

    python check_mutations.py REPO_ROOT SECRETS_DIR
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

REPO = os.path.abspath(sys.argv[1])
SECRETS = os.path.abspath(sys.argv[2])
CHECKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "check_files.py")

# (what is broken, file under docker/, text to find, replacement)
MUTATIONS = [
    ("the runtime user is root", "Dockerfile", "USER 10001:10001", "USER root"),
    ("no USER at all", "Dockerfile", "USER 10001:10001\n", ""),
    ("the admin port is not exposed", "Dockerfile", "EXPOSE 8443 9901", "EXPOSE 8443"),
    ("the stop signal is SIGKILL", "Dockerfile", "STOPSIGNAL SIGTERM", "STOPSIGNAL SIGKILL"),
    ("the health check needs curl", "Dockerfile", '"gatehouse", "probe", "--timeout", "2s",', '"curl", "-fsS",'),
    ("no health check", "Dockerfile", "HEALTHCHECK --interval", "# HEALTHCHECK --interval"),
    ("the runtime installs more than libssl3", "Dockerfile", "libssl3 ca-certificates", "libssl3 ca-certificates curl"),
    ("a COPY of a missing path", "Dockerfile", "COPY Sources ./Sources", "COPY Sources ./Sources\nCOPY Resources ./Resources"),
    ("a COPY the ignore file drops", "Dockerfile.dockerignore", "!gateway.conf.example\n", ""),
    ("the build is not static", "build-static.sh", "--static-swift-stdlib ", ""),
    ("the MCP server publishes a port", "compose.yaml", "    network_mode: \"service:gatehouse\"", "    network_mode: \"service:gatehouse\"\n    ports: [\"8000:8000\"]"),
    ("the MCP server has its own network", "compose.yaml", "    network_mode: \"service:gatehouse\"\n", ""),
    ("compose publishes the admin port", "compose.yaml", '      - "8443:8443"', '      - "8443:8443"\n      - "9901:9901"'),
    ("a compose secret nobody makes", "compose.yaml", "file: ./secrets/api_keys", "file: ./secrets/api-keys.txt"),
    ("the grace period is shorter than the drain", "compose.yaml", "stop_grace_period: 30s", "stop_grace_period: 10s"),
    ("the example server listens on every address", "example-server/Dockerfile", '"--host", "127.0.0.1"', '"--host", "0.0.0.0"'),
    ("the Service exposes the admin port", "kubernetes/service.yaml", "      protocol: TCP", "      protocol: TCP\n    - name: admin\n      port: 9901"),
    ("the admin listener stays on loopback in the pod", "kubernetes/configmap.yaml", 'listen = "0.0.0.0:9901"', 'listen = "127.0.0.1:9901"'),
    ("readiness probes the wrong path", "kubernetes/deployment.yaml", "path: /readyz", "path: /ready"),
    ("liveness probes the gateway port", "kubernetes/deployment.yaml", "path: /healthz\n              port: admin", "path: /healthz\n              port: https"),
    ("an env var reads a missing Secret key", "kubernetes/deployment.yaml", "key: jwt-secret", "key: jwt_secret"),
    ("a volume names a missing ConfigMap", "kubernetes/deployment.yaml", "name: gatehouse-config", "name: gateway-config"),
    ("the ConfigMap lacks gateway.conf", "kubernetes/configmap.yaml", "  gateway.conf: |", "  gatehouse.conf: |"),
    ("Secret files the gateway cannot read", "kubernetes/deployment.yaml", "fsGroup: 10001", "fsGroup: 2000"),
    ("the pod may run as root", "kubernetes/deployment.yaml", "runAsNonRoot: true", "runAsNonRoot: false"),
    ("the grace period is shorter than the drain", "kubernetes/deployment.yaml", "terminationGracePeriodSeconds: 40", "terminationGracePeriodSeconds: 20"),
]


def main() -> int:
    failures = 0
    for what, relative, find, replace in MUTATIONS:
        scratch = tempfile.mkdtemp(prefix="gatehouse-mutation-")
        try:
            for name in ("Package.swift", "Sources", "gateway.conf.example"):
                os.symlink(os.path.join(REPO, name), os.path.join(scratch, name))
            shutil.copytree(os.path.join(REPO, "docker"), os.path.join(scratch, "docker"), ignore=shutil.ignore_patterns("secrets"))
            path = os.path.join(scratch, "docker", relative)
            with open(path) as handle:
                text = handle.read()
            if find not in text:
                print(f"  FAIL mutation '{what}': '{find}' is not in docker/{relative}", file=sys.stderr)
                failures += 1
                continue
            with open(path, "w") as handle:
                handle.write(text.replace(find, replace, 1))
            result = subprocess.run([sys.executable, CHECKER, scratch, SECRETS], capture_output=True, text=True)
            if result.returncode == 1 and "FAIL" in result.stderr:
                reason = result.stderr.strip().splitlines()[0].replace("FAIL ", "", 1)
                print(f"  ok  caught: {what} ({reason})")
            else:
                print(f"  FAIL mutation not caught: {what} (exit {result.returncode})", file=sys.stderr)
                failures += 1
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    if failures:
        return 1
    print(f"mutations: all {len(MUTATIONS)} caught")
    return 0


if __name__ == "__main__":
    sys.exit(main())
