"""JWT helpers of the end-to-end suite: keys and JWK Sets, tokens minted by PyJWT, by joserfc and by
hand (for the malformed ones), a JWKS server that counts its requests, gateway configuration for
`[auth.jwt]`, and the checks every JWT test makes (the contract's exact 401, its challenge, and the
`auth` event with its reason in the gateway's log).

Everything binds 127.0.0.1 on a port chosen at run time; every wait is bounded.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import jwt as pyjwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from joserfc import jwk as jose_jwk
from joserfc import jwt as jose_jwt

import rawhttp
from mcp_raw import post_rpc
from support import wait_until

# The public-key algorithms the suite exercises (each with its own key), and the HMAC ones.
KEY_ALGS = ["RS256", "PS256", "ES256", "ES384", "EdDSA"]
HMAC_ALGS = ["HS256", "HS384", "HS512"]
MINTERS = ["pyjwt", "joserfc"]

INVALID_TOKEN = "Invalid or expired token"
PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}


def now() -> int:
    return int(time.time())


def new_secret() -> str:
    """An HMAC secret of 64 URL-safe characters: ≥ 32 bytes as the gateway demands, and as long as
    SHA-512's block so that PyJWT does not warn about HS384/HS512 keys."""
    return secrets.token_urlsafe(48)


def claims(sub: str | None = "alice", ttl: int = 300, **extra) -> dict:
    """`sub`, `iat` now, `exp` now + ttl, plus `extra` (a value of None removes that claim)."""
    t = now()
    out: dict = {"iat": t, "exp": t + ttl}
    if sub is not None:
        out["sub"] = sub
    out["jti"] = secrets.token_hex(8)   # every token distinct: no test reads another's cached verdict
    for k, v in extra.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = v
    return out


# --- keys -------------------------------------------------------------------------------------


@dataclass
class KeyPair:
    """A signing key for one algorithm with its `kid`; `jwk` is the public JWK the gateway gets."""

    alg: str
    kid: str
    private: object
    extra_jwk: dict = field(default_factory=dict)

    @property
    def public(self):
        return self.private.public_key()

    @property
    def private_pem(self) -> bytes:
        return self.private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())

    @property
    def public_pem(self) -> bytes:
        return self.public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    @property
    def jose_key(self):
        cls = {"RS": jose_jwk.RSAKey, "PS": jose_jwk.RSAKey, "ES": jose_jwk.ECKey, "Ed": jose_jwk.OKPKey}[self.alg[:2]]
        return cls.import_key(self.private_pem, {"kid": self.kid})

    @property
    def jwk(self) -> dict:
        out = dict(self.jose_key.as_dict(private=False))
        out.update({"kid": self.kid, "use": "sig", "alg": self.alg})
        out.update(self.extra_jwk)
        return {k: v for k, v in out.items() if v is not None}


def new_keypair(alg: str, kid: str | None = None) -> KeyPair:
    if alg[:2] in ("RS", "PS"):
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif alg == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
    elif alg == "ES384":
        private = ec.generate_private_key(ec.SECP384R1())
    elif alg == "EdDSA":
        private = ed25519.Ed25519PrivateKey.generate()
    else:
        raise ValueError(alg)
    return KeyPair(alg, kid or f"{alg.lower()}-{secrets.token_hex(4)}", private)


def jwks(*pairs: KeyPair) -> dict:
    return {"keys": [p.jwk for p in pairs]}


def write_jwks(path: Path, *pairs: KeyPair) -> Path:
    path.write_text(json.dumps(jwks(*pairs), indent=1))
    return path


# --- tokens -----------------------------------------------------------------------------------


def mint(minter: str, payload: dict, alg: str, key, headers: dict | None = None) -> str:
    """A token signed by PyJWT or joserfc. `key` is a KeyPair, or the secret (str/bytes) for HMAC."""
    headers = dict(headers or {})
    if isinstance(key, KeyPair) and "kid" not in headers and key.kid:
        headers["kid"] = key.kid
    headers = {k: v for k, v in headers.items() if v is not None}
    if minter == "pyjwt":
        signing = key.private if isinstance(key, KeyPair) else key
        return pyjwt.encode(payload, signing, algorithm=alg, headers=headers or None)
    if minter == "joserfc":
        if isinstance(key, KeyPair):
            jkey = key.jose_key
        else:
            jkey = jose_jwk.OctKey.import_key(key.encode() if isinstance(key, str) else key)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # joserfc flags EdDSA as deprecated by RFC 9864
            return jose_jwt.encode({"alg": alg, **headers}, payload, jkey, algorithms=[alg])
    raise ValueError(minter)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(part) -> str:
    """A token segment: a dict as compact JSON, bytes as they are, a str taken as already encoded."""
    if isinstance(part, str):
        return part
    if isinstance(part, dict):
        part = json.dumps(part, separators=(",", ":")).encode()
    return b64url(part)


def hmac_sign(signing_input: bytes, secret, alg: str = "HS256") -> bytes:
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    return hmac.new(secret.encode() if isinstance(secret, str) else secret, signing_input, digest).digest()


def hand_token(header, payload, *, secret=None, key: KeyPair | None = None, alg: str | None = None,
               signature: bytes | str | None = None) -> str:
    """A token built byte by byte: header and payload as dicts, raw bytes or ready segments; signed with
    `secret` (HMAC, any bytes at all, e.g. a PEM) or `key` over exactly those segments, or given `signature`."""
    signing_input = segment(header) + "." + segment(payload)
    if signature is not None:
        sig = signature if isinstance(signature, str) else b64url(signature)
    elif secret is not None:
        sig = b64url(hmac_sign(signing_input.encode(), secret, alg or "HS256"))
    elif key is not None:
        algorithm = pyjwt.get_algorithm_by_name(alg or key.alg)
        sig = b64url(algorithm.sign(signing_input.encode(), key.private))
    else:
        sig = ""
    return signing_input + "." + sig


def sized_hs256(secret: str, size: int, base: dict) -> str:
    """A valid HS256 token of exactly `size` bytes: the claims `base` padded by a `pad` claim. Base64url
    never yields a length of 4k+1, so the header's `kid` length is varied too until the total lands."""
    for kid_length in range(1, 6):
        headers = {"kid": "k" * kid_length}
        short = pyjwt.encode({**base, "pad": ""}, secret, algorithm="HS256", headers=headers)
        first = max(0, (size - len(short)) * 3 // 4 - 4)
        for pad in range(first, first + 12):
            token = pyjwt.encode({**base, "pad": "x" * pad}, secret, algorithm="HS256", headers=headers)
            if len(token) == size:
                return token
    raise AssertionError(f"could not build a token of {size} bytes")


# --- servers the gateway (or an attacker's token) points at --------------------------------------


class JWKSServer:
    """A local HTTP server that serves a JWK Set at /jwks.json (anything else at other paths), counts
    every request by path, and can answer 500 or garbage, be stopped and be started again on its port."""

    def __init__(self, document: dict | None = None, port: int = 0):
        self.document = document if document is not None else {"keys": []}
        self.mode = "ok"            # "ok" | "http_500" | "garbage"
        self.requests: list[tuple[str, str, float]] = []   # (method, path, monotonic time)
        self.lock = threading.Lock()
        self.port = port
        self.server = None
        self._thread = None
        self.start()

    def start(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                with outer.lock:
                    outer.requests.append((self.command, self.path, time.monotonic()))
                    mode, document = outer.mode, outer.document
                if mode == "http_500":
                    status, body, ctype = 500, b'{"error":"down for maintenance"}', "application/json"
                elif mode == "garbage":
                    status, body, ctype = 200, b"<html>not a key set</html>", "text/html"
                else:
                    status, body, ctype = 200, json.dumps(document).encode(), "application/json"
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_HEAD = do_PUT = do_DELETE = do_GET

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Close the listener: connections are refused until `start` is called again."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self._thread.join(timeout=5)
            self.server = None

    def url(self, path: str = "/jwks.json") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def publish(self, *pairs: KeyPair) -> None:
        with self.lock:
            self.document = jwks(*pairs)
            self.mode = "ok"

    def count(self, path: str | None = "/jwks.json") -> int:
        with self.lock:
            return sum(1 for _, p, _ in self.requests if path is None or p == path)


# --- gateway configuration ---------------------------------------------------------------------


def toml_list(items) -> str:
    return "[" + ", ".join(json.dumps(i) for i in items) + "]"


def jwt_section(*, secret: str | None = None, jwks_file: Path | None = None, jwks_url: str | None = None,
                algorithms=None, issuer: str | None = None, audience: str | None = None,
                leeway: str | None = None, refresh: str | None = None, refetch_min: str | None = None) -> str:
    """The `[auth.jwt]` table (to pass as Gateway `extra`)."""
    lines = ["", "[auth.jwt]"]
    if secret is not None:
        lines.append(f"secret = {json.dumps(secret)}")
    if jwks_file is not None:
        lines.append(f"jwks_file = {json.dumps(str(jwks_file))}")
    if jwks_url is not None:
        lines.append(f"jwks_url = {json.dumps(jwks_url)}")
    if algorithms is not None:
        lines.append(f"algorithms = {toml_list(algorithms)}")
    if issuer is not None:
        lines.append(f"issuer = {json.dumps(issuer)}")
    if audience is not None:
        lines.append(f"audience = {json.dumps(audience)}")
    if leeway is not None:
        lines.append(f'leeway = "{leeway}"')
    if refresh is not None:
        lines.append(f'jwks_refresh = "{refresh}"')
    if refetch_min is not None:
        lines.append(f'jwks_refetch_min_interval = "{refetch_min}"')
    return "\n".join(lines) + "\n"


def touch(*managed) -> None:
    """Have the suite attach these processes' log tails to a failure report (conftest's list)."""
    conftest = sys.modules.get("conftest")
    touched = getattr(conftest, "_TOUCHED", None)
    if touched is not None:
        touched.extend(managed)


# --- requests and the checks on their answers ---------------------------------------------------


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def send(gw, token: str | None, message: dict | None = None, path: str = "/mcp",
         extra: dict | None = None) -> rawhttp.Response:
    """POST one JSON-RPC message (a ping by default) with `Authorization: Bearer <token>`."""
    auth = bearer(token) if token is not None else {}
    with rawhttp.Conn(gw.port, timeout=15) as conn:
        return post_rpc(conn, message or PING, auth, path=path, extra=extra)


def get(gw, path: str, headers: dict | None = None) -> rawhttp.Response:
    with rawhttp.Conn(gw.port, timeout=15) as conn:
        conn.send(rawhttp.request_bytes("GET", path, list((headers or {}).items()), host=conn.authority))
        return conn.read_response("GET")


def auth_events(gw) -> list[dict]:
    return [e for e in gw.log_events() if e.get("event_type") == "auth"]


def wait_auth_event(gw, request_id: str, timeout: float = 5.0) -> dict:
    """The `auth` event of the request `request_id` in the gateway's log."""
    def find():
        for e in auth_events(gw):
            if e.get("request_id") == request_id:
                return e
        return None
    try:
        return wait_until(find, timeout, what=f"the auth event of request {request_id}")
    except TimeoutError:
        raise AssertionError(f"no auth event for request {request_id} in the gateway log:\n{gw.tail(30)}")


def challenge(resource_metadata: str | None = None, token_presented: bool = True) -> str:
    """The exact `WWW-Authenticate` of a 401 (contract §4)."""
    value = 'Bearer realm="gatehouse"'
    if resource_metadata:
        value += f', resource_metadata="{resource_metadata}"'
    if token_presented:
        value += ', error="invalid_token"'
    return value


def assert_refused(gw, resp: rawhttp.Response, reason: str | set, resource_metadata: str | None = None,
                   token: str | None = None) -> dict:
    """401 with exactly `{"error":"Invalid or expired token","request_id":…}`, the challenge with
    `error="invalid_token"`, and an `auth` event (success false, method jwt) whose reason is `reason`
    (or one of a set). Returns the event."""
    assert resp.status == 401, resp
    assert (resp.header("content-type") or "").startswith("application/json"), resp
    body = resp.json()
    assert list(body) == ["error", "request_id"], body
    assert body["error"] == INVALID_TOKEN, body
    rid = body["request_id"]
    assert isinstance(rid, str) and rid and rid == resp.header("X-Request-Id"), resp
    assert resp.header_all("WWW-Authenticate") == [challenge(resource_metadata)], resp
    event = wait_auth_event(gw, rid)
    assert event["success"] is False and event["user_id"] is None, event
    assert event["details"].get("method") == "jwt", event
    reasons = {reason} if isinstance(reason, str) else set(reason)
    assert event["details"].get("reason") in reasons, f"reason {event['details'].get('reason')!r}, expected {reasons}"
    if token:
        assert token not in gw.log_text(), "the token was written to the log"
    return event


def assert_accepted(gw, resp: rawhttp.Response, principal: str) -> dict:
    """The request went through (the echo upstream answered 200) and the `auth` event names `principal`."""
    assert resp.status == 200, f"{resp}\n{gw.tail(15)}"
    rid = resp.header("X-Request-Id")
    event = wait_auth_event(gw, rid)
    assert event["success"] is True and event["user_id"] == principal, event
    assert event["details"].get("method") == "jwt", event
    return event


def upstream_saw(resp: rawhttp.Response) -> dict:
    """What the EchoUpstream received for this request (its JSON description)."""
    return json.loads(resp.body)


def header_values(record: dict, name: str) -> list[str]:
    return [v for k, v in record["headers"] if k.lower() == name.lower()]


def wait_for_event(gw, predicate, timeout: float, what: str) -> dict:
    def find():
        for e in gw.log_events():
            if predicate(e):
                return e
        return None
    try:
        return wait_until(find, timeout, what=what)
    except TimeoutError:
        raise AssertionError(f"timed out after {timeout}s waiting for {what}:\n{gw.tail(30)}")


def security_kind(kind: str):
    return lambda e: e.get("event_type") == "security" and (e.get("details") or {}).get("kind") == kind


def count_kind(gw, kind: str) -> int:
    return sum(1 for e in gw.log_events() if security_kind(kind)(e))


# --- a gateway with environment variables -------------------------------------------------------------


def start_gateway_with_env(name: str, upstream_url: str, workdir: Path, env_extra: dict, api_keys: list[str],
                           extra: str = ""):
    """Like support.Gateway (which clears the gateway's variables so that a developer's shell cannot
    change a test), but with `env_extra` set, e.g. MCP_JWT_SECRET. The caller stops it."""
    import os

    import support

    gw = support.Gateway.__new__(support.Gateway)
    gw.port = support.free_port()
    gw.upstream_url = upstream_url
    gw.config_path = workdir / f"gateway-{name}.conf"
    gw.config_path.write_text(support.render_config(gw.port, upstream_url, api_keys, extra=extra))
    env = {k: v for k, v in os.environ.items() if k not in support.GATEWAY_ENV_VARS}
    env.update(env_extra)
    support.Managed.__init__(gw, f"gateway-{name}", [support.GATEHOUSE_BIN, "run", "--config", str(gw.config_path)],
                             workdir / f"gateway-{name}.log", env=env, cwd=workdir)
    try:
        wait_until(lambda: not gw.alive() or gw.healthy(), 20, what=f"gateway {name} /healthz")
    except TimeoutError:
        gw.stop()
        raise
    if not gw.alive():
        raise RuntimeError(f"gateway {name} exited with {gw.proc.returncode}:\n{gw.tail()}")
    touch(gw)
    return gw
