"""Secrets at rest and the production checklist (PRODUCT.md §1 `secret` / `check --production`, §8, §9),
end to end through the built binary:

- `gatehouse secret encrypt|decrypt` against Python's `cryptography.fernet` with the same password and
  salt, both ways, byte for byte; the newline rules; tampered tokens, wrong password or salt, an expired
  `--ttl`, a missing salt; usage errors.
- A gateway whose `auth.jwt.secret` is an `enc:` value authenticates JWTs signed with the plain secret
  (PyJWT and `gatehouse token`), re-decrypts on SIGHUP, and refuses to start with a wrong password
  (exit 2 naming the key, never the value).
- `gatehouse check --production` on gateway.conf.example (certificate, key and API key from the
  environment) and on weakened copies: the exact lines and exit codes.
"""

from __future__ import annotations

import base64
import datetime
import os
import secrets
import signal
import subprocess
import time
from pathlib import Path

import jwt as pyjwt
import pytest
from cryptography import x509
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.x509.oid import NameOID

import jwt_support as js
from support import (DIRECT, GATEHOUSE_BIN, GATEWAY_ENV_VARS, REPO, EchoUpstream, Gateway, Managed, free_port,
                     render_config, sha256_form, wait_until)

pytestmark = pytest.mark.skipif(DIRECT, reason="checks gateway behaviour (E2E_DIRECT=1)")

PASSWORD = "correct horse battery staple ✓"
SALT = "gatehouse-e2e-salt"
EXAMPLE = REPO / "gateway.conf.example"
WRONG = "cannot decrypt: wrong MCP_ENCRYPTION_PASSWORD or MCP_ENCRYPTION_SALT, or an altered token"
DAY = 86_400


# --- helpers ----------------------------------------------------------------------------------------------


def python_fernet(password: str = PASSWORD, salt: str = SALT) -> Fernet:
    """The seed's (and §8's) key: PBKDF2-HMAC-SHA256 over the UTF-8 bytes, 100000 rounds, 32 bytes."""
    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt.encode(), iterations=100_000)
    return Fernet(base64.urlsafe_b64encode(kdf.derive(password.encode())))


def env_with(**extra: str | None) -> dict:
    """The environment without the gateway's variables, plus `extra` (None leaves one out)."""
    env = {k: v for k, v in os.environ.items() if k not in GATEWAY_ENV_VARS}
    env.update({k: v for k, v in extra.items() if v is not None})
    return env


def crypto_env(password: str | None = PASSWORD, salt: str | None = SALT, **extra) -> dict:
    return env_with(MCP_ENCRYPTION_PASSWORD=password, MCP_ENCRYPTION_SALT=salt, **extra)


def gatehouse(args: list[str], stdin: bytes = b"", env: dict | None = None, cwd: Path | None = None):
    return subprocess.run([GATEHOUSE_BIN, *args], input=stdin, capture_output=True, timeout=60,
                          env=env if env is not None else crypto_env(), cwd=str(cwd) if cwd else None)


def errors(proc) -> list[str]:
    return proc.stderr.decode(errors="replace").splitlines()


def encrypt_cli(plain: bytes, **env) -> str:
    proc = gatehouse(["secret", "encrypt"], plain, env=crypto_env(**env) if env else None)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode()
    assert out.endswith("\n") and out.count("\n") == 1, repr(out)
    return out[:-1]


# --- gatehouse secret ---------------------------------------------------------------------------------------

PLAINTEXTS = [b"", b"x", b"sixteen bytes!!!", "ünïcödé → 秘密 🔐".encode(), b"tabs\tand\r\ninner\nbreaks",
              bytes(range(256)), b"a" * 5000]


@pytest.mark.parametrize("plain", PLAINTEXTS, ids=range(len(PLAINTEXTS)))
def test_python_token_decrypts_with_cli(plain):
    token = python_fernet().encrypt(plain)
    proc = gatehouse(["secret", "decrypt"], token + b"\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == plain          # byte for byte, nothing added
    # A value pasted from the configuration, with its enc: prefix and surrounding spaces.
    proc = gatehouse(["secret", "decrypt"], b"  enc:" + token + b"\r\n")
    assert (proc.returncode, proc.stdout) == (0, plain)


@pytest.mark.parametrize("plain", PLAINTEXTS, ids=range(len(PLAINTEXTS)))
def test_cli_token_decrypts_in_python(plain):
    token = encrypt_cli(plain)
    assert python_fernet().decrypt(token.encode(), ttl=600) == plain
    # Fernet wire facts: version 0x80, a timestamp of now, URL-safe base64 with padding.
    raw = base64.urlsafe_b64decode(token)
    assert raw[0] == 0x80 and abs(int.from_bytes(raw[1:9], "big") - time.time()) < 60
    assert len(token) % 4 == 0 and "+" not in token and "/" not in token


def test_newline_rules():
    """encrypt drops ONE trailing line break (what echo adds); decrypt gives back the bytes exactly."""
    cases = {b"secret\n": b"secret", b"secret\r\n": b"secret", b"secret": b"secret", b"secret\n\n": b"secret\n",
             b"\n": b"", b" spaced \n": b" spaced "}
    for given, kept in cases.items():
        token = encrypt_cli(given)
        assert python_fernet().decrypt(token.encode()) == kept, given
        assert gatehouse(["secret", "decrypt"], token.encode()).stdout == kept, given
    # The shell pipeline round trip.
    out = subprocess.run(f'printf %s "$S" | "{GATEHOUSE_BIN}" secret encrypt | "{GATEHOUSE_BIN}" secret decrypt',
                         shell=True, capture_output=True, timeout=60, env=crypto_env(S="a b\tc"))
    assert (out.returncode, out.stdout) == (0, b"a b\tc"), out.stderr


def test_tampered_token_and_wrong_keys_are_refused():
    token = python_fernet().encrypt(b"top secret")
    raw = bytearray(base64.urlsafe_b64decode(token))
    for index in (0, 5, 12, 30, len(raw) - 1):
        tampered = bytearray(raw)
        tampered[index] ^= 0x01
        proc = gatehouse(["secret", "decrypt"], base64.urlsafe_b64encode(bytes(tampered)))
        assert proc.returncode == 1 and proc.stdout == b"", index
        expected = "cannot decrypt: the input is not a Fernet token" if index == 0 else WRONG
        assert errors(proc) == [f"gatehouse: error: {expected}"], index
    for env in (crypto_env(password="wrong password"), crypto_env(salt="another-salt")):
        proc = gatehouse(["secret", "decrypt"], token, env=env)
        assert (proc.returncode, proc.stdout, errors(proc)) == (1, b"", [f"gatehouse: error: {WRONG}"])
    for garbage in (b"", b"not a token\n", token[:-4], token.replace(b"=", b"")):
        proc = gatehouse(["secret", "decrypt"], garbage)
        assert proc.returncode == 1 and proc.stdout == b"", garbage
        assert errors(proc) == ["gatehouse: error: cannot decrypt: the input is not a Fernet token"], garbage
    # And Python refuses what a wrong password made here.
    with pytest.raises(InvalidToken):
        python_fernet().decrypt(encrypt_cli(b"x", password="wrong password").encode())


def test_ttl():
    f = python_fernet()
    old = f.encrypt_at_time(b"aged", int(time.time()) - 3600)
    assert gatehouse(["secret", "decrypt"], old).stdout == b"aged"                 # no --ttl: no time check
    assert gatehouse(["secret", "decrypt", "--ttl", "2h"], old).stdout == b"aged"
    proc = gatehouse(["secret", "decrypt", "--ttl", "10m"], old)
    assert (proc.returncode, proc.stdout) == (1, b"")
    assert errors(proc) == ["gatehouse: error: cannot decrypt: the token is older than --ttl"]
    future = f.encrypt_at_time(b"later", int(time.time()) + 3600)
    proc = gatehouse(["secret", "decrypt", "--ttl=1h"], future)
    assert proc.returncode == 1
    assert errors(proc) == ["gatehouse: error: cannot decrypt: the token is stamped in the future (check the clock)"]
    # Python agrees on both.
    for token in (old, future):
        with pytest.raises(InvalidToken):
            f.decrypt(token, ttl=600)


def test_missing_password_or_salt_is_a_usage_error():
    for env, variable in ((crypto_env(salt=None), "MCP_ENCRYPTION_SALT"),
                          (crypto_env(salt=""), "MCP_ENCRYPTION_SALT"),
                          (crypto_env(password=None), "MCP_ENCRYPTION_PASSWORD")):
        for verb in ("encrypt", "decrypt"):
            proc = gatehouse(["secret", verb], b"x", env=env)
            assert (proc.returncode, proc.stdout) == (2, b""), (verb, variable)
            text = proc.stderr.decode()
            assert variable in text and PASSWORD not in text and SALT not in text
    proc = gatehouse(["secret", "encrypt"], b"x", env=crypto_env(salt=None))
    assert errors(proc) == ["gatehouse: error: MCP_ENCRYPTION_SALT is not set (there is no built-in salt)"]


def test_secret_usage():
    for args in (["secret"], ["secret", "rot13"], ["secret", "encrypt", "extra"], ["secret", "encrypt", "--ttl", "1h"],
                 ["secret", "decrypt", "--ttl", "soon"], ["secret", "decrypt", "--ttl"]):
        proc = gatehouse(args, b"x")
        assert (proc.returncode, proc.stdout) == (2, b""), args
        assert len(errors(proc)) == 1 and errors(proc)[0].startswith("gatehouse: error: "), args
    for args in (["secret", "--help"], ["secret", "encrypt", "--help"], ["help"]):
        proc = gatehouse(args)
        assert proc.returncode == 0
        assert "secret encrypt" in proc.stdout.decode()
    help_text = gatehouse(["secret", "--help"]).stdout.decode()
    assert "removes one trailing newline" in help_text and "no newline added" in help_text


# --- enc: values in a running gateway ---------------------------------------------------------------------------


class EncGateway(Gateway):
    """`gatehouse run` on plain HTTP with MCP_ENCRYPTION_PASSWORD/SALT in its environment (support.Gateway
    removes them)."""

    def __init__(self, name: str, workdir: Path, upstream_url: str, extra: str, env: dict, wait_healthy=True):
        self.port = free_port()
        self.upstream_url = upstream_url
        self.config_path = workdir / f"gateway-{name}.conf"
        self.config_path.write_text(render_config(self.port, upstream_url, [], extra=extra))
        Managed.__init__(self, f"gateway-{name}", [GATEHOUSE_BIN, "run", "--config", str(self.config_path)],
                         workdir / f"gateway-{name}.log", env=env, cwd=workdir)
        if wait_healthy:
            wait_until(lambda: not self.alive() or self.healthy(), 20, what=f"gateway {name} /healthz")
            assert self.alive(), self.tail()


@pytest.fixture(scope="module")
def echo():
    up = EchoUpstream()
    yield up
    up.close()


def hs256(secret: str, sub: str) -> str:
    return pyjwt.encode(js.claims(sub=sub), secret, algorithm="HS256")


def test_encrypted_jwt_secret_authenticates(workdir, echo):
    secret = js.new_secret()
    token_text = python_fernet().encrypt(secret.encode()).decode()
    gw = EncGateway("enc-jwt", workdir, echo.url, js.jwt_section(secret="enc:" + token_text), crypto_env())
    try:
        js.assert_accepted(gw, js.send(gw, hs256(secret, "alice")), "alice")
        # `gatehouse token` with the same configuration decrypts the same secret.
        minted = gatehouse(["token", "--sub", "bob", "--config", str(gw.config_path)])
        assert minted.returncode == 0, minted.stderr
        js.assert_accepted(gw, js.send(gw, minted.stdout.decode().strip()), "bob")
        # The enc: text itself is not the key.
        js.assert_refused(gw, js.send(gw, hs256("enc:" + token_text, "mallory")), "bad_signature")
        # Neither the plain secret nor the token appears in the log or in `check`.
        check = gatehouse(["check", "--config", str(gw.config_path)])
        assert check.returncode == 0, check.stderr
        assert any(line.split() == ["auth.jwt.secret", "=", "***", "(file)"] for line in check.stdout.decode().splitlines())
        for text in (check.stdout.decode(), gw.log_text()):
            assert secret not in text and token_text not in text

        # SIGHUP decrypts the new value.
        new_secret = js.new_secret()
        new_text = render_config(gw.port, echo.url, [], extra=js.jwt_section(
            secret="enc:" + encrypt_cli(new_secret.encode())))
        gw.config_path.write_text(new_text)
        gw.signal(signal.SIGHUP)
        wait_until(lambda: js.send(gw, hs256(new_secret, "carol")).status == 200, 10, what="the reloaded secret")
        js.assert_refused(gw, js.send(gw, hs256(secret, "alice")), "bad_signature")

        # A reload under which the value cannot be decrypted is rejected; the old secret stays.
        gw.config_path.write_text(render_config(gw.port, echo.url, [], extra=js.jwt_section(
            secret="enc:" + python_fernet("other password").encrypt(b"x" * 40).decode())))
        gw.signal(signal.SIGHUP)
        js.wait_for_event(gw, js.security_kind("config_rejected"), 10, "config_rejected")
        js.assert_accepted(gw, js.send(gw, hs256(new_secret, "carol")), "carol")
    finally:
        gw.stop()


@pytest.mark.parametrize("env, message", [
    (crypto_env(password="wrong password"),
     "auth.jwt.secret: cannot decrypt the enc: value: wrong MCP_ENCRYPTION_PASSWORD or MCP_ENCRYPTION_SALT, or an altered token"),
    (crypto_env(salt="another-salt"),
     "auth.jwt.secret: cannot decrypt the enc: value: wrong MCP_ENCRYPTION_PASSWORD or MCP_ENCRYPTION_SALT, or an altered token"),
    (crypto_env(password=None), "auth.jwt.secret: an encrypted (enc:) value needs MCP_ENCRYPTION_PASSWORD"),
    (crypto_env(salt=None),
     "auth.jwt.secret: an encrypted (enc:) value needs MCP_ENCRYPTION_SALT (there is no built-in salt)"),
], ids=["wrong-password", "wrong-salt", "no-password", "no-salt"])
def test_gateway_refuses_to_start_when_it_cannot_decrypt(workdir, echo, env, message):
    secret = js.new_secret()
    token_text = python_fernet().encrypt(secret.encode()).decode()
    gw = EncGateway(f"enc-bad-{secrets.token_hex(3)}", workdir, echo.url, js.jwt_section(secret="enc:" + token_text),
                    env, wait_healthy=False)
    try:
        assert gw.wait(20) == 2, gw.tail()
        lines = [line for line in gw.log_text().splitlines() if line.strip()]
        assert lines == [f"gatehouse: error: {gw.config_path}:{jwt_secret_line(gw.config_path)}: {message}"]
        assert secret not in gw.log_text() and token_text not in gw.log_text()
    finally:
        gw.stop()
    # `check` says the same, with the configuration error's exit code.
    proc = gatehouse(["check", "--production", "--config", str(gw.config_path)], env=env)
    assert proc.returncode == 2 and proc.stdout == b""
    assert errors(proc) == [f"gatehouse: error: {gw.config_path}:{jwt_secret_line(gw.config_path)}: {message}"]


def jwt_secret_line(path: Path) -> int:
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.startswith("secret = "):
            return number
    raise AssertionError("no secret line")


def test_encrypted_values_in_the_environment(workdir, echo):
    """MCP_JWT_SECRET may itself be an enc: value."""
    secret = js.new_secret()
    env = crypto_env(MCP_JWT_SECRET="enc:" + encrypt_cli(secret.encode()))
    gw = EncGateway("enc-env", workdir, echo.url, "", env)
    try:
        js.assert_accepted(gw, js.send(gw, hs256(secret, "dave")), "dave")
    finally:
        gw.stop()


# --- check --production ------------------------------------------------------------------------------------------


def make_certificate(directory: Path, days: float, key_mode: int = 0o600) -> tuple[Path, Path, int]:
    """A self-signed P-256 certificate valid until now + `days`; returns (cert, key, notAfter epoch)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    not_after = now + datetime.timedelta(days=days)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(not_after)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .sign(key, hashes.SHA256()))
    tag = secrets.token_hex(4)
    cert_path, key_path = directory / f"cert-{tag}.pem", directory / f"key-{tag}.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    os.chmod(key_path, key_mode)
    return cert_path, key_path, int(not_after.timestamp())


def utc(epoch: int) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def edited_example(directory: Path, edits: list[tuple[str, str]], mode: int = 0o600) -> Path:
    text = EXAMPLE.read_text()
    for old, new in edits:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path = directory / f"example-{secrets.token_hex(4)}.conf"
    path.write_text(text)
    os.chmod(path, mode)
    return path


def production(config: Path, env: dict) -> tuple[int, list[str]]:
    """Exit code and the lines from "production checklist:" on."""
    proc = gatehouse(["check", "--production", "--config", str(config)], env=env)
    lines = proc.stdout.decode().splitlines()
    assert "production checklist:" in lines, proc.stdout.decode() + proc.stderr.decode()
    return proc.returncode, lines[lines.index("production checklist:") + 1:]


API_KEY = "gh_" + secrets.token_urlsafe(32)
STRONG = secrets.token_urlsafe(32)

OK_API_KEYS = "[ok] API keys configured: 1 key"
OK_HTTPS = "[ok] HTTPS enforced: tls.require_https, TLS 1.2 or newer"
OK_RATE = "[ok] rate limiting enabled: 100 burst, 10/s per ip (local)"
OK_LOGGING = '[ok] security logging on: security events go to "stdout"'
OK_CORS = '[ok] CORS origins explicit: ["http://localhost:3000", "https://localhost:3000"]'
OK_HEADERS = "[ok] security headers complete: all 6 security headers are set"
FAIL_INPUT = ('[FAIL] input validation on: mcp.sanitize is "off"; fix: set mcp.sanitize = "reject" (or "escape") '
              'and list the MCP endpoints in mcp.paths')
FAIL_JWT = ('[FAIL] JWT secret strong or JWKS used: auth.methods lists "jwt" but no JWT key is configured; fix: set '
            'auth.jwt.jwks_url or jwks_file, or a secret of 32+ random bytes (MCP_JWT_SECRET or an enc: value), or '
            'remove "jwt" from auth.methods')


def ok_certificate(not_after: int, days: int) -> str:
    return f"[ok] certificate valid for more than 14 days: expires {utc(not_after)} (in {days} days)"


def test_production_checklist_on_the_example(workdir):
    cert, key, not_after = make_certificate(workdir, 40.5)
    config = edited_example(workdir, [])
    env = env_with(MCP_TLS_CERT_PATH=str(cert), MCP_TLS_KEY_PATH=str(key), MCP_API_KEYS=sha256_form(API_KEY))
    code, lines = production(config, env)
    assert code == 1
    assert lines == [
        OK_API_KEYS, FAIL_JWT, OK_HTTPS, OK_RATE, FAIL_INPUT, OK_LOGGING, OK_CORS, OK_HEADERS,
        f"[ok] no plain-text secret in the file: none in {config}",
        ok_certificate(not_after, 40),
        "production checklist: 2 of 10 items failed",
    ]
    # Without --production the same configuration is simply valid.
    assert gatehouse(["check", "--config", str(config)], env=env).returncode == 0


def test_production_checklist_all_ok(workdir):
    cert, key, not_after = make_certificate(workdir, 90.5)
    config = edited_example(workdir, [('sanitize = "off"', 'sanitize = "reject"')])
    env = env_with(MCP_TLS_CERT_PATH=str(cert), MCP_TLS_KEY_PATH=str(key), MCP_API_KEYS=sha256_form(API_KEY),
                   MCP_JWT_SECRET=STRONG)
    code, lines = production(config, env)
    assert (code, lines) == (0, [
        OK_API_KEYS, f"[ok] JWT secret strong or JWKS used: keys from auth.jwt.secret ({len(STRONG)} bytes)",
        OK_HTTPS, OK_RATE, '[ok] input validation on: mcp.paths ["/mcp"], sanitize "reject"', OK_LOGGING, OK_CORS,
        OK_HEADERS, f"[ok] no plain-text secret in the file: none in {config}", ok_certificate(not_after, 90),
        "production checklist: all 10 items ok",
    ])


def test_production_checklist_with_an_encrypted_secret_in_the_file(workdir):
    """An enc: JWT secret in the file is not a plain-text secret, and `methods` can declare JWT only."""
    cert, key, not_after = make_certificate(workdir, 30.5)
    secret = js.new_secret()
    config = edited_example(workdir, [
        ('sanitize = "off"', 'sanitize = "escape"'),
        ('methods = ["api_key", "jwt", "mtls"]', 'methods = ["jwt"]'),
        ('secret = ""', f'secret = "enc:{encrypt_cli(secret.encode())}"'),
    ])
    env = crypto_env(MCP_TLS_CERT_PATH=str(cert), MCP_TLS_KEY_PATH=str(key))
    code, lines = production(config, env)
    assert (code, lines) == (0, [
        '[ok] API keys configured: not used (auth.methods does not list "api_key")',
        f"[ok] JWT secret strong or JWKS used: keys from auth.jwt.secret ({len(secret)} bytes)",
        OK_HTTPS, OK_RATE, '[ok] input validation on: mcp.paths ["/mcp"], sanitize "escape"', OK_LOGGING, OK_CORS,
        OK_HEADERS, f"[ok] no plain-text secret in the file: none in {config}", ok_certificate(not_after, 30),
        "production checklist: all 10 items ok",
    ])


def test_production_checklist_on_a_weakened_configuration(workdir):
    """require_https off, CORS "*", no rate limit (and no certificate): exact lines, exit 1."""
    config = edited_example(workdir, [
        ("require_https = true", "require_https = false"),
        ('origins = ["http://localhost:3000", "https://localhost:3000"]', 'origins = ["*"]'),
        ("enabled = true                  # token buckets", "enabled = false                 # token buckets"),
    ])
    env = env_with(MCP_API_KEYS=sha256_form(API_KEY), MCP_JWT_SECRET=STRONG)
    code, lines = production(config, env)
    assert code == 1
    assert lines == [
        OK_API_KEYS,
        f"[ok] JWT secret strong or JWKS used: keys from auth.jwt.secret ({len(STRONG)} bytes)",
        "[FAIL] HTTPS enforced: tls.require_https is false and no certificate is set: plain HTTP; fix: set "
        "tls.require_https = true (or MCP_REQUIRE_HTTPS=true) with tls.cert and tls.key",
        "[FAIL] rate limiting enabled: rate_limit.enabled is false; fix: set rate_limit.enabled = true (capacity and "
        "refill_per_second size the buckets)",
        FAIL_INPUT,
        OK_LOGGING,
        '[FAIL] CORS origins explicit: cors.origins contains "*" (any web page may call); fix: list the exact origins '
        "of your web clients in cors.origins (or MCP_CORS_ORIGINS)",
        OK_HEADERS,
        f"[ok] no plain-text secret in the file: none in {config}",
        "[FAIL] certificate valid for more than 14 days: no certificate is configured; fix: set tls.cert and tls.key "
        "(or MCP_TLS_CERT_PATH and MCP_TLS_KEY_PATH)",
        "production checklist: 5 of 10 items failed",
    ]
    # The weakened file is still a valid configuration.
    assert gatehouse(["check", "--config", str(config)], env=env).returncode == 0


def test_production_checklist_short_certificate_plain_secrets_and_file_modes(workdir):
    cert, key, not_after = make_certificate(workdir, 5.5, key_mode=0o644)
    weak = "ab" * 20
    config = edited_example(workdir, [
        ('sanitize = "off"', 'sanitize = "reject"'),
        ("api_keys = []", f'api_keys = ["{API_KEY}"]'),
        ('secret = ""', f'secret = "{weak}"'),
    ], mode=0o644)
    env = env_with(MCP_TLS_CERT_PATH=str(cert), MCP_TLS_KEY_PATH=str(key))
    proc = gatehouse(["check", "--production", "--config", str(config)], env=env)
    text = proc.stdout.decode()
    assert proc.returncode == 1
    assert API_KEY not in text + proc.stderr.decode() and weak not in text + proc.stderr.decode()
    lines = text.splitlines()
    checklist = lines[lines.index("production checklist:") + 1:]
    assert checklist == [
        OK_API_KEYS,
        "[FAIL] JWT secret strong or JWKS used: auth.jwt.secret uses fewer than 8 distinct characters; fix: use 32 or "
        "more random bytes (e.g. the first line of `gatehouse key generate`), stored as an enc: value or in "
        "MCP_JWT_SECRET",
        OK_HTTPS, OK_RATE, '[ok] input validation on: mcp.paths ["/mcp"], sanitize "reject"', OK_LOGGING, OK_CORS,
        OK_HEADERS,
        f"[FAIL] no plain-text secret in the file: {config}:{line_of(config, 'api_keys = ')}: auth.api_keys "
        f"(1 plain key), {config}:{line_of(config, 'secret = ')}: auth.jwt.secret; fix: store API keys as sha256: "
        "hashes (gatehouse key hash) and other secrets as enc: values (gatehouse secret encrypt) or in the "
        "environment",
        f"[FAIL] certificate valid for more than 14 days: expires {utc(not_after)} (in 5 days); fix: renew the "
        "certificate (tls.cert) and send SIGHUP",
        f'warning: the configuration file "{config}" is readable by other users (mode 0644); fix: chmod o-rwx '
        f"{config}",
        f'warning: the private key (tls.key) "{key}" is readable by other users (mode 0644); fix: chmod o-rwx {key}',
        "production checklist: 3 of 10 items failed",
    ]
    # The loader's own warning about the plain key is printed with the settings, before the checklist.
    assert any(line.startswith("warning: ") and "plain-text API key" in line
               for line in lines[:lines.index("production checklist:")])


def line_of(path: Path, prefix: str) -> int:
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.startswith(prefix):
            return number
    raise AssertionError(prefix)


def test_production_checklist_with_a_mismatched_key(workdir):
    """A certificate that does not load is a configuration error (exit 2), before any checklist."""
    cert, _, _ = make_certificate(workdir, 30)
    _, other_key, _ = make_certificate(workdir, 30)
    config = edited_example(workdir, [])
    proc = gatehouse(["check", "--production", "--config", str(config)],
                     env=env_with(MCP_TLS_CERT_PATH=str(cert), MCP_TLS_KEY_PATH=str(other_key),
                                  MCP_API_KEYS=sha256_form(API_KEY)))
    assert proc.returncode == 2 and b"production checklist" not in proc.stdout
    assert len(errors(proc)) == 1 and errors(proc)[0].startswith("gatehouse: error: ")
