"""Static checks of docker/: the Dockerfile, compose.yaml and the Kubernetes manifests.

There is no Docker engine or cluster here, so the files are parsed (dockerfile-parse, PyYAML) and
their promises asserted: a non-root user, a curl-free HEALTHCHECK, the exposed ports, SIGTERM, every
path a build copies exists and survives the ignore file, the sidecar shares the network namespace,
the Kubernetes probes reach the admin listener, the Service exposes only the gateway port, and every
ConfigMap or Secret a pod refers to exists with the keys it reads.

    python check_files.py REPO_ROOT SECRETS_DIR
    python check_files.py --build-inputs REPO_ROOT
SECRETS_DIR holds what docker/example-secrets.sh made (the files compose.yaml mounts). Exits 1 on
the first failure. --build-inputs prints the paths the Dockerfile's build stage copies from the
context, one per line (run.sh builds from exactly those).
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import sys

import yaml
from dockerfile_parse import DockerfileParser

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

BUILD_INPUTS = sys.argv[1] == "--build-inputs"
ROOT = os.path.abspath(sys.argv[2] if BUILD_INPUTS else sys.argv[1])
SECRETS = "" if BUILD_INPUTS else os.path.abspath(sys.argv[2])
DOCKER = os.path.join(ROOT, "docker")
CHECKS = 0


VERBOSE = bool(os.environ.get("CONTAINER_CHECK_VERBOSE"))


def ok(message: str) -> None:
    global CHECKS
    CHECKS += 1
    if VERBOSE:
        print(f"  ok  {message}")


def section(name: str) -> None:
    """Prints the running count of the previous section and starts `name`."""
    print(f"{name} ...", flush=True)


def fail(message: str) -> None:
    print(f"  FAIL {message}", file=sys.stderr)
    sys.exit(1)


def expect(condition: bool, message: str) -> None:
    if condition:
        ok(message)
    else:
        fail(message)


def duration_seconds(text: str) -> float:
    match = re.fullmatch(r"(\d+)(ms|s|m|h)", text)
    if not match:
        fail(f"not a duration: {text!r}")
    number, unit = int(match.group(1)), match.group(2)
    return number * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]


def port_of(listen: str) -> int:
    return int(listen.rsplit(":", 1)[1])


def host_of(listen: str) -> str:
    return listen.rsplit(":", 1)[0].strip("[]")


# ---------------------------------------------------------------------------------------------
# Dockerfile


def instructions(path: str) -> tuple[DockerfileParser, list[dict]]:
    parser = DockerfileParser(path=path)
    return parser, parser.structure


def stages(structure: list[dict]) -> list[list[dict]]:
    result: list[list[dict]] = []
    for item in structure:
        if item["instruction"] == "FROM":
            result.append([])
        if result:
            result[-1].append(item)
    return result


def arg_defaults(structure: list[dict]) -> dict[str, str]:
    """ARG defaults declared before the first FROM (the ones FROM lines may use)."""
    defaults = {}
    for item in structure:
        if item["instruction"] == "FROM":
            break
        if item["instruction"] == "ARG" and "=" in item["value"]:
            name, value = item["value"].split("=", 1)
            defaults[name.strip()] = value.strip()
    return defaults


def expand(text: str, variables: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: variables.get(m.group(1) or m.group(2), m.group(0)), text)


def copy_sources(item: dict) -> tuple[str | None, list[str], str]:
    """(--from stage or None, sources, destination) of a COPY/ADD instruction."""
    words = shlex.split(item["value"])
    source_stage = None
    rest = []
    for word in words:
        if word.startswith("--from="):
            source_stage = word.split("=", 1)[1]
        elif word.startswith("--"):
            continue
        else:
            rest.append(word)
    if len(rest) < 2:
        fail(f"line {item['startline'] + 1}: COPY needs a source and a destination")
    return source_stage, rest[:-1], rest[-1]


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether the build context leaves `path` out (the .dockerignore rules: last match wins)."""
    result = False
    parts = path.split("/")
    for pattern in patterns:
        negate = pattern.startswith("!")
        body = pattern[1:] if negate else pattern
        body = body.strip("/")
        # A pattern matching a parent folder matches everything inside it.
        matched = any(fnmatch.fnmatch("/".join(parts[: i + 1]), body) for i in range(len(parts)))
        if matched:
            result = not negate
    return result


def read_ignore(path: str) -> list[str]:
    if not os.path.exists(path):
        return []
    with open(path) as handle:
        return [line.strip() for line in handle if line.strip() and not line.startswith("#")]


def check_copies(dockerfile: str, context: str, ignore_file: str, label: str) -> None:
    _, structure = instructions(dockerfile)
    patterns = read_ignore(ignore_file)
    for item in structure:
        if item["instruction"] not in ("COPY", "ADD"):
            continue
        source_stage, sources, _ = copy_sources(item)
        if source_stage is not None:
            continue
        for source in sources:
            path = os.path.normpath(os.path.join(context, source))
            expect(os.path.exists(path), f"{label}: COPY {source} exists in the build context")
            relative = os.path.relpath(path, context)
            expect(not ignored(relative, patterns), f"{label}: COPY {source} is not dropped by the ignore file")


def check_dockerfile() -> dict:
    path = os.path.join(DOCKER, "Dockerfile")
    section("docker/Dockerfile")
    _, structure = instructions(path)
    defaults = arg_defaults(structure)
    all_stages = stages(structure)
    expect(len(all_stages) == 2, "two stages: build and runtime")
    build, runtime = all_stages
    build_image = expand(build[0]["value"].split()[0], defaults)
    runtime_image = expand(runtime[0]["value"].split()[0], defaults)
    expect(re.fullmatch(r"swift:6[.\d]*-bookworm", build_image) is not None, f"build stage: official Swift 6 image ({build_image})")
    expect(runtime_image == "debian:bookworm-slim", f"runtime stage: {runtime_image}")
    expect(" AS build" in build[0]["value"] or " as build" in build[0]["value"], "build stage is named build")

    build_runs = [i["value"] for i in build if i["instruction"] == "RUN"]
    expect(any("docker/build-static.sh /out" in run for run in build_runs), "build stage runs docker/build-static.sh /out")
    with open(os.path.join(DOCKER, "build-static.sh")) as handle:
        script = handle.read()
    expect("swift build -c release --static-swift-stdlib" in script, "build-static.sh: swift build -c release --static-swift-stdlib")
    expect(re.search(r"^strip ", script, re.M) is not None, "build-static.sh strips the binary")

    runtime_runs = " ".join(i["value"] for i in runtime if i["instruction"] == "RUN")
    installs = re.findall(r"apt-get\s+(?:-\S+\s+)*install\s+((?:\S+\s*)+?)(?:&&|$)", runtime_runs)
    packages = sorted({word for group in installs for word in group.split() if not word.startswith("-")})
    expect(packages == ["ca-certificates", "libssl3"], f"runtime installs only libssl3 and ca-certificates ({packages})")
    expect("rm -rf /var/lib/apt/lists/*" in runtime_runs, "runtime removes the apt lists")

    users = [i["value"].strip() for i in runtime if i["instruction"] == "USER"]
    expect(len(users) >= 1, "runtime sets USER")
    user = users[-1]
    uid = user.split(":")[0]
    expect(uid not in ("0", "root") and (uid.isdigit() and int(uid) >= 1000), f"runtime user is not root ({user})")
    creates = re.search(r"useradd\b[^&]*--uid\s+(\d+)", runtime_runs)
    expect(creates is not None and creates.group(1) == uid, f"the user {uid} is created in the image")

    exposed = {int(p.split("/")[0]) for i in runtime if i["instruction"] == "EXPOSE" for p in i["value"].split()}
    expect(exposed == {8443, 9901}, f"EXPOSE 8443 9901 ({sorted(exposed)})")

    stops = [i["value"].strip() for i in runtime if i["instruction"] == "STOPSIGNAL"]
    expect(stops == ["SIGTERM"], "STOPSIGNAL SIGTERM")

    checks = [i["value"] for i in runtime if i["instruction"] == "HEALTHCHECK"]
    expect(len(checks) == 1, "one HEALTHCHECK")
    health = checks[0]
    expect("curl" not in health and "wget" not in health, "HEALTHCHECK needs no curl or wget")
    command = re.search(r"CMD\s+(\[.*\])", health, re.S)
    expect(command is not None, "HEALTHCHECK CMD in exec form")
    argv = json.loads(command.group(1))
    expect(argv[:2] == ["gatehouse", "probe"], f"HEALTHCHECK runs gatehouse probe ({' '.join(argv)})")
    url = argv[-1]
    expect(url == "http://127.0.0.1:9901/healthz", f"HEALTHCHECK probes the admin listener ({url})")

    workdirs = [i["value"].strip() for i in runtime if i["instruction"] == "WORKDIR"]
    expect(workdirs[-1:] == ["/etc/gatehouse"], "WORKDIR /etc/gatehouse: a mounted gateway.conf is the default config")
    entry = [i["value"] for i in runtime if i["instruction"] == "ENTRYPOINT"]
    expect(entry and json.loads(entry[-1]) == ["gatehouse"], "ENTRYPOINT gatehouse")
    cmd = [i["value"] for i in runtime if i["instruction"] == "CMD"]
    expect(cmd and json.loads(cmd[-1]) == ["run"], "CMD run")

    copies = [copy_sources(i) for i in runtime if i["instruction"] == "COPY"]
    from_build = [c for c in copies if c[0] == "build"]
    expect(
        from_build == [("build", ["/out/gatehouse"], "/usr/local/bin/gatehouse")],
        "runtime copies /out/gatehouse (what build-static.sh writes) to /usr/local/bin",
    )
    check_copies(path, ROOT, os.path.join(DOCKER, "Dockerfile.dockerignore"), "Dockerfile")
    return {"uid": int(uid), "workdir": workdirs[-1]}


# ---------------------------------------------------------------------------------------------
# compose.yaml


def check_compose(image: dict) -> None:
    section("docker/compose.yaml")
    with open(os.path.join(DOCKER, "compose.yaml")) as handle:
        compose = yaml.safe_load(handle)
    services = compose["services"]
    expect(set(services) == {"gatehouse", "mcp-server"}, "services gatehouse and mcp-server")
    gateway, server = services["gatehouse"], services["mcp-server"]

    context = os.path.normpath(os.path.join(DOCKER, gateway["build"]["context"]))
    dockerfile = os.path.join(context, gateway["build"]["dockerfile"])
    expect(context == ROOT, "gatehouse builds from the repository root")
    expect(os.path.samefile(dockerfile, os.path.join(DOCKER, "Dockerfile")), "gatehouse builds docker/Dockerfile")

    server_context = os.path.normpath(os.path.join(DOCKER, server["build"] if isinstance(server["build"], str) else server["build"]["context"]))
    server_dockerfile = os.path.join(server_context, "Dockerfile")
    expect(os.path.isfile(server_dockerfile), "the example server's Dockerfile exists")
    check_copies(server_dockerfile, server_context, os.path.join(server_context, ".dockerignore"), "example-server")
    _, server_structure = instructions(server_dockerfile)
    server_user = [i["value"].strip() for i in server_structure if i["instruction"] == "USER"]
    expect(server_user and server_user[-1].split(":")[0] not in ("0", "root"), "the example server runs as non-root")
    server_cmd = [i["value"] for i in server_structure if i["instruction"] == "CMD"][-1]
    expect('"127.0.0.1"' in server_cmd, "the example server binds 127.0.0.1 only")
    with open(os.path.join(server_context, "requirements.txt")) as handle:
        requirements = handle.read()
    expect(re.search(r"^mcp==\d", requirements, re.M) is not None, "the example server pins the official MCP SDK")

    expect(server.get("network_mode") == "service:gatehouse", "mcp-server shares the gateway's network namespace")
    expect("ports" not in server, "mcp-server publishes no port")
    ports = gateway.get("ports", [])
    expect(ports == ["8443:8443"], f"only the gateway port is published ({ports})")

    volumes = gateway.get("volumes", [])
    config_dir = None
    for volume in volumes:
        source, target = volume.split(":")[:2]
        path = os.path.normpath(os.path.join(DOCKER, source))
        expect(os.path.exists(path), f"volume source {source} exists")
        if target == image["workdir"]:
            config_dir = path
    expect(config_dir is not None, f"a folder is mounted at {image['workdir']}")
    config_path = os.path.join(config_dir, "gateway.conf")
    expect(os.path.isfile(config_path), "it holds gateway.conf")
    with open(config_path, "rb") as handle:
        config = tomllib.load(handle)

    expected_secret_files = set(os.listdir(SECRETS))
    for name, secret in compose.get("secrets", {}).items():
        relative = os.path.relpath(os.path.normpath(os.path.join(DOCKER, secret["file"])), os.path.join(DOCKER, "secrets"))
        expect(relative in expected_secret_files, f"secret {name} ({secret['file']}) is made by example-secrets.sh")
    for env_file in gateway.get("env_file", []):
        relative = os.path.relpath(os.path.normpath(os.path.join(DOCKER, env_file)), os.path.join(DOCKER, "secrets"))
        expect(relative in expected_secret_files, f"env_file {env_file} is made by example-secrets.sh")
    mounted = {f"/run/secrets/{name}" for name in gateway.get("secrets", [])}
    for key in ("cert", "key"):
        expect(config["tls"][key] in mounted, f"tls.{key} = {config['tls'][key]} is a mounted secret")
    expect(config["auth"]["api_keys_file"] in mounted, "auth.api_keys_file is a mounted secret")
    expect(config["upstream"]["url"] == "http://127.0.0.1:8000", "upstream is the MCP server on loopback")
    expect(port_of(config["server"]["listen"]) == 8443, "the gateway listens on 8443")
    expect(config.get("admin", {}).get("listen", "127.0.0.1:9901") == "127.0.0.1:9901", "admin on 127.0.0.1:9901 (the HEALTHCHECK)")
    grace = duration_seconds(gateway["stop_grace_period"])
    drain = duration_seconds(config["server"].get("drain_timeout", "30s"))
    expect(grace > drain, f"stop_grace_period {grace:g}s > drain_timeout {drain:g}s")
    expect(gateway.get("read_only") is True, "gateway root filesystem is read-only")
    expect(gateway.get("cap_drop") == ["ALL"], "gateway drops every capability")


# ---------------------------------------------------------------------------------------------
# Kubernetes


def check_kubernetes(image: dict) -> dict:
    section("docker/kubernetes")
    folder = os.path.join(DOCKER, "kubernetes")
    documents = []
    for name in sorted(os.listdir(folder)):
        if name.endswith((".yaml", ".yml")):
            with open(os.path.join(folder, name)) as handle:
                documents += [d for d in yaml.safe_load_all(handle) if d]
    for document in documents:
        for field in ("apiVersion", "kind", "metadata"):
            expect(field in document, f"{document.get('kind', '?')} {document.get('metadata', {}).get('name', '?')} has {field}")
    by_kind: dict[str, list[dict]] = {}
    for document in documents:
        by_kind.setdefault(document["kind"], []).append(document)
    config_maps = {d["metadata"]["name"]: d for d in by_kind.get("ConfigMap", [])}
    secrets = {d["metadata"]["name"]: d for d in by_kind.get("Secret", [])}

    deployments = by_kind.get("Deployment", [])
    expect(len(deployments) == 1, "one Deployment")
    deployment = deployments[0]
    expect(deployment["apiVersion"] == "apps/v1", "Deployment is apps/v1")
    pod = deployment["spec"]["template"]
    labels = pod["metadata"]["labels"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    expect(all(labels.get(k) == v for k, v in selector.items()), "the Deployment's selector matches its pod labels")
    spec = pod["spec"]
    containers = spec["containers"]
    expect(len(containers) == 2, "two containers: gatehouse and the MCP server")
    gateway = next((c for c in containers if c["name"] == "gatehouse"), None)
    expect(gateway is not None, "a container named gatehouse")
    server = next(c for c in containers if c is not gateway)
    expect("ports" not in server, f"the MCP server ({server['name']}) declares no port")

    ports = {p["name"]: p["containerPort"] for p in gateway["ports"]}
    expect(sorted(ports.values()) == [8443, 9901], f"gatehouse ports 8443 and 9901 ({ports})")

    def resolve(port):
        return ports.get(port, port) if isinstance(port, str) else port

    live, ready = gateway.get("livenessProbe"), gateway.get("readinessProbe")
    expect(live is not None and "httpGet" in live, "liveness probe over HTTP")
    expect(ready is not None and "httpGet" in ready, "readiness probe over HTTP")
    expect(live["httpGet"]["path"] == "/healthz" and resolve(live["httpGet"]["port"]) == 9901, "liveness: GET /healthz on 9901")
    expect(ready["httpGet"]["path"] == "/readyz" and resolve(ready["httpGet"]["port"]) == 9901, "readiness: GET /readyz on 9901")
    for probe in (live, ready):
        expect(probe["httpGet"].get("scheme", "HTTP") == "HTTP", "the admin listener speaks plain HTTP")

    mounts = {m["name"]: m["mountPath"] for m in gateway.get("volumeMounts", [])}
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    files: dict[str, str] = {}  # path inside the container -> content
    for name, path in mounts.items():
        expect(name in volumes, f"volume {name} is declared")
        volume = volumes[name]
        if "configMap" in volume:
            source = volume["configMap"]["name"]
            expect(source in config_maps, f"ConfigMap {source} exists")
            data = config_maps[source].get("data", {})
        elif "secret" in volume:
            source = volume["secret"]["secretName"]
            expect(source in secrets, f"Secret {source} exists")
            mode = volume["secret"].get("defaultMode", 0o644)
            group = spec.get("securityContext", {}).get("fsGroup")
            readable = mode & 0o004 or (mode & 0o040 and group == image["uid"])
            expect(bool(readable), f"Secret {source} files (mode {mode:o}) are readable by uid {image['uid']}")
            data = {**secrets[source].get("data", {}), **secrets[source].get("stringData", {})}
        else:
            continue
        items = volume.get("configMap", volume.get("secret")).get("items")
        for item in items or [{"key": k, "path": k} for k in data]:
            expect(item["key"] in data, f"{source} has key {item['key']}")
            files[os.path.join(path, item["path"])] = data[item["key"]]
    for env in gateway.get("env", []):
        reference = env.get("valueFrom", {}).get("secretKeyRef")
        if reference:
            secret = secrets.get(reference["name"])
            expect(secret is not None, f"{env['name']}: Secret {reference['name']} exists")
            keys = {**secret.get("data", {}), **secret.get("stringData", {})}
            expect(reference["key"] in keys, f"{env['name']}: Secret {reference['name']} has key {reference['key']}")

    config_path = os.path.join(image["workdir"], "gateway.conf")
    expect(config_path in files, f"gateway.conf from a ConfigMap is mounted at {config_path} (the image's WORKDIR)")
    expect(mounts.get("config") == image["workdir"], "the ConfigMap is mounted as a folder (edits reach the pod)")
    config = tomllib.loads(files[config_path])
    admin = config.get("admin", {}).get("listen", "127.0.0.1:9901")
    expect(host_of(admin) in ("0.0.0.0", "::") and port_of(admin) == 9901, f"admin.listen {admin}: kubelet reaches it on the pod IP")
    expect(port_of(config["server"]["listen"]) == 8443, "server.listen on 8443")
    for key in ("cert", "key"):
        expect(config["tls"][key] in files, f"tls.{key} = {config['tls'][key]} is a mounted Secret key")
    expect(config["auth"]["api_keys_file"] in files, "auth.api_keys_file is a mounted Secret key")
    upstream = config["upstream"]["url"]
    expect(upstream.startswith("http://127.0.0.1:"), f"upstream {upstream} is the pod's loopback")
    args = server.get("args", []) + server.get("command", [])
    expect("127.0.0.1" in args and upstream.rsplit(":", 1)[1] in args, "the MCP server listens where the upstream URL points")

    drain = duration_seconds(config["server"].get("drain_timeout", "30s"))
    pre_stop = gateway.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
    pre_stop_seconds = float(pre_stop[-1]) if pre_stop[:1] == ["sleep"] else 0
    grace = spec.get("terminationGracePeriodSeconds", 30)
    expect(grace > drain + pre_stop_seconds, f"terminationGracePeriodSeconds {grace} > preStop {pre_stop_seconds:g}s + drain {drain:g}s")

    security = gateway.get("securityContext", {})
    expect(spec.get("securityContext", {}).get("runAsNonRoot") is True, "the pod runs as non-root")
    expect(security.get("runAsUser") == image["uid"], f"gatehouse runs as the image's user {image['uid']}")
    expect(security.get("readOnlyRootFilesystem") is True, "gatehouse root filesystem is read-only")
    expect(security.get("allowPrivilegeEscalation") is False, "no privilege escalation")
    expect(security.get("capabilities", {}).get("drop") == ["ALL"], "every capability dropped")
    for container in containers:
        requests = container.get("resources", {}).get("requests", {})
        expect("cpu" in requests and "memory" in requests, f"{container['name']} has CPU and memory requests")

    services = by_kind.get("Service", [])
    expect(len(services) == 1, "one Service")
    service = services[0]
    expect(all(labels.get(k) == v for k, v in service["spec"]["selector"].items()), "the Service selects the pods")
    service_ports = service["spec"]["ports"]
    expect([p["port"] for p in service_ports] == [8443], f"the Service exposes only 8443 ({[p['port'] for p in service_ports]})")
    expect(all(resolve(p.get("targetPort", p["port"])) == 8443 for p in service_ports), "the Service targets the gateway port")
    return {"config": files[config_path], "files": files, "env": gateway.get("env", []), "secrets": secrets}


def build_inputs() -> list[str]:
    """The context paths the build stage copies (COPY without --from), in order."""
    _, structure = instructions(os.path.join(DOCKER, "Dockerfile"))
    build = stages(structure)[0]
    return [source for item in build if item["instruction"] in ("COPY", "ADD")
            for stage, sources, _ in [copy_sources(item)] if stage is None for source in sources]


def main() -> int:
    if BUILD_INPUTS:
        print("\n".join(build_inputs()))
        return 0
    image = check_dockerfile()
    check_compose(image)
    check_kubernetes(image)
    print(f"container files: {CHECKS} checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
