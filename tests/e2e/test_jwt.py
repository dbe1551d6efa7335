"""JWT authentication at the gateway (contract §5), end to end: tokens minted by PyJWT and joserfc (and by
hand for the malformed ones) against a running `gatehouse`, for every accept and every refusal. Each
refusal is checked for the exact 401 body, the `WWW-Authenticate` challenge and the `auth` event's
reason in the gateway's log; each accept for the principal the upstream sees in the identity header
(and for the `Authorization` header it must not see).

Keys come from `auth.jwt.secret`, a `jwks_file`, and a `jwks_url` served by a local HTTP server that is
rotated, rate-limited, broken and stopped while the gateway runs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

import jwt_support as js
from jwt_support import (HMAC_ALGS, KEY_ALGS, MINTERS, JWKSServer, KeyPair, assert_accepted, assert_refused,
                         b64url, claims, hand_token, header_values, jwt_section, mint, new_keypair, new_secret, send,
                         upstream_saw, wait_for_event, write_jwks)
from support import (DIRECT, GATEHOUSE_BIN, GATEWAY_ENV_VARS, EchoUpstream, Gateway, free_port, render_config,
                     wait_until)

pytestmark = pytest.mark.skipif(DIRECT, reason="checks gateway behaviour (E2E_DIRECT=1)")

ISSUER = "https://issuer.example"
AUDIENCE = "https://mcp.example.com/mcp"
IDENTITY = "X-Gatehouse-Principal"


# --- gateways shared by the module -------------------------------------------------------------------


@dataclass
class HSGateway:
    """A gateway with an HMAC secret, HS256/384/512, issuer, audience and a 30 s leeway (API keys too)."""

    gw: Gateway
    secret: str

    def good(self, **extra) -> dict:
        """Claims that pass every check of this gateway, changed by `extra` (None removes a claim)."""
        return claims(**{"iss": ISSUER, "aud": AUDIENCE, **extra})

    def token(self, alg: str = "HS256", minter: str = "pyjwt", headers: dict | None = None, **extra) -> str:
        return mint(minter, self.good(**extra), alg, self.secret, headers)


@dataclass
class KeyGateway:
    """A JWT-only gateway whose public keys come from a JWK Set (file or URL)."""

    gw: Gateway
    keys: dict[str, KeyPair]          # by algorithm
    second_es256: KeyPair             # a second P-256 key, so that ES256 without kid is ambiguous
    server: JWKSServer | None = None


@pytest.fixture(scope="module")
def echo():
    up = EchoUpstream()
    yield up
    up.close()


@pytest.fixture(scope="module")
def hs(workdir, echo, keys):
    secret = new_secret()
    gw = Gateway("jwt-hs", echo.url, workdir, api_keys=keys.config_entries,
                 extra=js.jwt_section(secret=secret, algorithms=HMAC_ALGS, issuer=ISSUER, audience=AUDIENCE,
                                      leeway="30s"))
    yield HSGateway(gw, secret)
    gw.stop()


@pytest.fixture(scope="module")
def public_keys() -> tuple[dict[str, KeyPair], KeyPair]:
    return {alg: new_keypair(alg) for alg in KEY_ALGS}, new_keypair("ES256", "es256-second")


@pytest.fixture(scope="module")
def key_gateways(workdir, echo, public_keys):
    """Two JWT-only gateways with the same keys: one from a jwks_file, one from a jwks_url."""
    keys, second = public_keys
    path = write_jwks(workdir / "jwt-keys.json", *keys.values(), second)
    server = JWKSServer(js.jwks(*keys.values(), second))
    started = []
    try:
        by_file = Gateway("jwt-file", echo.url, workdir, api_keys=[],
                          extra=jwt_section(jwks_file=path, algorithms=KEY_ALGS))
        started.append(by_file)
        by_url = Gateway("jwt-url", echo.url, workdir, api_keys=[],
                         extra=jwt_section(jwks_url=server.url(), algorithms=KEY_ALGS, refresh="1h",
                                           refetch_min="1s"))
        started.append(by_url)
        wait_for_event(by_url, js.security_kind("jwks_fetched"), 10, "the first JWKS fetch")
        yield {"file": KeyGateway(by_file, keys, second), "url": KeyGateway(by_url, keys, second, server)}
    finally:
        for gw in started:
            gw.stop()
        server.stop()


@pytest.fixture
def jwks_server():
    server = JWKSServer()
    yield server
    server.stop()


def fwd(resp) -> dict:
    """What the echo upstream received; asserts it never saw the client's Authorization."""
    seen = upstream_saw(resp)
    assert header_values(seen, "Authorization") == [], f"the upstream saw Authorization: {seen}"
    return seen


# --- HMAC: accepts ---------------------------------------------------------------------------------


@pytest.mark.parametrize("minter", MINTERS)
@pytest.mark.parametrize("alg", HMAC_ALGS)
def test_hmac_tokens_are_accepted(hs, alg, minter):
    token = hs.token(alg, minter, sub=f"user-{alg}-{minter}")
    resp = send(hs.gw, token)
    assert_accepted(hs.gw, resp, f"user-{alg}-{minter}")
    seen = fwd(resp)
    assert header_values(seen, IDENTITY) == [f"user-{alg}-{minter}"], seen
    assert token not in hs.gw.log_text(), "the token was written to the log"


@pytest.mark.parametrize("variant", ["aud as array", "user_id instead of sub", "typ at+jwt", "no typ",
                                     "float exp", "scope and permissions"])
def test_hmac_token_variants_are_accepted(hs, variant):
    principal = "alice"
    if variant == "aud as array":
        token = hs.token(aud=["https://other.example", AUDIENCE])
    elif variant == "user_id instead of sub":
        principal = "uid-42"
        token = hs.token(sub=None, user_id="uid-42")
    elif variant == "typ at+jwt":
        token = hs.token(headers={"typ": "at+jwt"})
    elif variant == "no typ":
        token = hand_token({"alg": "HS256"}, hs.good(), secret=hs.secret)
    elif variant == "float exp":
        token = hs.token(exp=time.time() + 120.5)
    else:
        token = hs.token(permissions=["tools:call"], scope="read write")
    resp = send(hs.gw, token)
    assert_accepted(hs.gw, resp, principal)
    assert header_values(fwd(resp), IDENTITY) == [principal]


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
def test_times_within_the_leeway_are_accepted(hs, claim):
    t = js.now()
    value = {"exp": t - 10, "nbf": t + 10, "iat": t + 10}[claim]
    resp = send(hs.gw, hs.token(**{claim: value}))
    assert_accepted(hs.gw, resp, "alice")


def test_api_keys_still_work_beside_jwt(hs, keys):
    resp = send(hs.gw, keys.plain)
    assert resp.status == 200, resp
    assert header_values(fwd(resp), IDENTITY)[0].startswith("key:")


def test_reused_token_is_accepted_again(hs):
    token = hs.token(sub="reuser")
    for _ in range(3):
        assert_accepted(hs.gw, send(hs.gw, token), "reuser")


def test_token_of_exactly_8_kib_is_accepted(hs):
    token = js.sized_hs256(hs.secret, 8192, hs.good(sub="big"))
    assert len(token) == 8192
    assert_accepted(hs.gw, send(hs.gw, token), "big")


# --- HMAC: refusals ----------------------------------------------------------------------------------


def _noncanonical(seg: str) -> str:
    """The same bytes spelt with non-zero trailing bits in the last character (strict base64url refuses it)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    assert len(seg) % 4 in (2, 3), "needs a segment whose length leaves spare bits"
    return seg[:-1] + alphabet[alphabet.index(seg[-1]) | 1]


def _hs_refusal(hs: HSGateway, case: str) -> tuple[str, str]:
    """(token, expected reason) for one refusal case on the HMAC gateway."""
    t = js.now()
    s = hs.secret
    good = hs.good()
    other = new_secret()
    if case == "alg none":
        return hand_token({"alg": "none", "typ": "JWT"}, good), "alg_none"
    if case == "alg None with a signature":
        return hand_token({"alg": "None"}, good, secret=s), "alg_none"
    if case == "alg NONE":
        return hand_token({"alg": "NONE"}, good, signature=b""), "alg_none"
    if case == "alg not in the list (RS256)":
        return mint("pyjwt", good, "RS256", new_keypair("RS256")), "alg_not_allowed"
    if case == "alg in lower case":
        return hand_token({"alg": "hs256"}, good, secret=s), "alg_not_allowed"
    if case == "alg unknown":
        return hand_token({"alg": "HS1024"}, good, secret=s), "alg_not_allowed"
    if case == "signed with another secret":
        return mint("pyjwt", good, "HS256", other), "bad_signature"
    if case == "signed with another secret (joserfc)":
        return mint("joserfc", good, "HS512", other), "bad_signature"
    if case == "payload changed after signing":
        token = hs.token(sub="alice")
        h, _, sig = token.split(".")
        return h + "." + b64url(json.dumps({**good, "sub": "admin"}).encode()) + "." + sig, "bad_signature"
    if case == "signature of another alg":
        token = hs.token("HS384")
        h, p, _ = token.split(".")
        return h + "." + p + "." + b64url(js.hmac_sign(f"{h}.{p}".encode(), s, "HS256")), "bad_signature"
    if case == "signature stripped":
        h, p, _ = hs.token().split(".")
        return f"{h}.{p}.", "bad_signature"
    if case == "expired beyond the leeway":
        return hs.token(iat=t - 600, exp=t - 60), "expired"
    if case == "expired long ago":
        return hs.token(iat=t - 90000, exp=t - 86400), "expired"
    if case == "nbf beyond the leeway":
        return hs.token(nbf=t + 60), "not_yet_valid"
    if case == "iat beyond the leeway":
        return hs.token(iat=t + 60), "iat_future"
    if case == "missing exp":
        return hs.token(exp=None), "missing_exp"
    if case == "wrong iss":
        return hs.token(iss="https://evil.example"), "wrong_issuer"
    if case == "missing iss":
        return hs.token(iss=None), "wrong_issuer"
    if case == "wrong aud":
        return hs.token(aud="https://other.example/mcp"), "wrong_audience"
    if case == "wrong aud array":
        return hs.token(aud=["https://a.example", "https://b.example"]), "wrong_audience"
    if case == "missing aud":
        return hs.token(aud=None), "wrong_audience"
    if case == "crit header":
        return hand_token({"alg": "HS256", "crit": ["exp"]}, good, secret=s), "crit"
    if case == "empty crit header":
        return hand_token({"alg": "HS256", "crit": []}, good, secret=s), "crit"
    if case == "crit via joserfc-style extension":
        return hand_token({"alg": "HS256", "crit": ["b64"], "b64": False}, good, secret=s), "crit"
    if case == "token over 8 KiB":
        return js.sized_hs256(s, 8193, good), "too_large"
    if case == "token of 12 KiB":
        return js.sized_hs256(s, 12 * 1024, good), "too_large"
    if case == "typ not a JWT":
        return hand_token({"alg": "HS256", "typ": "JWE"}, good, secret=s), "typ"
    if case == "no subject":
        return hs.token(sub=None), "missing_subject"
    # Malformed, built by hand (each is three base64url segments, so it is judged as a JWT).
    if case == "header not JSON":
        return hand_token(b"not json at all", good, secret=s), "malformed"
    if case == "header a JSON array":
        return hand_token(b'["HS256"]', good, secret=s), "malformed"
    if case == "header with a duplicate alg":
        return hand_token(b'{"alg":"none","alg":"HS256"}', good, secret=s), "malformed"
    if case == "header without alg":
        return hand_token({"typ": "JWT"}, good, secret=s), "malformed"
    if case == "alg not a string":
        return hand_token({"alg": 256}, good, secret=s), "malformed"
    if case == "kid not a string":
        return hand_token({"alg": "HS256", "kid": 7}, good, secret=s), "malformed"
    if case == "header base64 with non-zero trailing bits":
        header = js.segment({"alg": "HS256", "typ": "JWT", "x": "a"})
        if len(header) % 4 == 0:
            header = js.segment({"alg": "HS256", "typ": "JWT", "x": "ab"})
        return hand_token(_noncanonical(header), good, secret=s), "malformed"
    if case == "payload of impossible base64 length":
        return hand_token({"alg": "HS256"}, js.segment(good) + "AAAAA", secret=s), "malformed"
    if case == "payload not JSON (signed)":
        return hand_token({"alg": "HS256"}, b"sub=alice", secret=s), "malformed"
    if case == "payload a JSON array (signed)":
        return hand_token({"alg": "HS256"}, b"[1,2,3]", secret=s), "malformed"
    if case == "payload with a duplicate sub (signed)":
        raw = json.dumps(good, separators=(",", ":"))[:-1] + ',"sub":"admin"}'
        return hand_token({"alg": "HS256"}, raw.encode(), secret=s), "malformed"
    if case == "exp a string (signed)":
        return hs.token(exp=str(t + 300)), "malformed"
    if case == "aud a number (signed)":
        return hs.token(aud=42), "malformed"
    if case == "permissions not an array (signed)":
        return hs.token(permissions="admin"), "malformed"
    if case == "sub not a string (signed)":
        return hs.token(sub=12345), "malformed"
    raise AssertionError(case)


HS_REFUSALS = [
    "alg none", "alg None with a signature", "alg NONE", "alg not in the list (RS256)", "alg in lower case",
    "alg unknown", "signed with another secret", "signed with another secret (joserfc)",
    "payload changed after signing", "signature of another alg", "signature stripped",
    "expired beyond the leeway", "expired long ago", "nbf beyond the leeway", "iat beyond the leeway",
    "missing exp", "wrong iss", "missing iss", "wrong aud", "wrong aud array", "missing aud", "crit header",
    "empty crit header", "crit via joserfc-style extension", "token over 8 KiB", "token of 12 KiB",
    "typ not a JWT", "no subject", "header not JSON", "header a JSON array", "header with a duplicate alg",
    "header without alg", "alg not a string", "kid not a string", "header base64 with non-zero trailing bits",
    "payload of impossible base64 length", "payload not JSON (signed)", "payload a JSON array (signed)",
    "payload with a duplicate sub (signed)", "exp a string (signed)", "aud a number (signed)",
    "permissions not an array (signed)", "sub not a string (signed)",
]


@pytest.mark.parametrize("case", HS_REFUSALS)
def test_hmac_gateway_refuses(hs, echo, case):
    token, reason = _hs_refusal(hs, case)
    before = len(echo.requests)
    resp = send(hs.gw, token)
    assert_refused(hs.gw, resp, reason, token=token)
    assert len(echo.requests) == before, "a refused request reached the upstream"


def test_refusal_keeps_the_connection_and_sent_request_id(hs):
    """A refused JWT does not cost the connection, and the client's X-Request-Id names the refusal."""
    from mcp_raw import post_rpc
    from rawhttp import Conn

    with Conn(hs.gw.port) as conn:
        bad = post_rpc(conn, js.PING, js.bearer(hs.token(exp=js.now() - 3600)), extra={"X-Request-Id": "e2e-jwt-1"})
        assert bad.json() == {"error": "Invalid or expired token", "request_id": "e2e-jwt-1"}, bad
        assert_refused(hs.gw, bad, "expired")
        ok = post_rpc(conn, js.PING, js.bearer(hs.token(sub="after")))
        assert_accepted(hs.gw, ok, "after")


def test_no_credential_challenge_has_no_error(hs):
    resp = send(hs.gw, None)
    assert resp.status == 401 and resp.json()["error"] == "Missing Authorization header", resp
    assert resp.header_all("WWW-Authenticate") == ['Bearer realm="gatehouse"'], resp


def test_verified_token_cache_ends_at_exp(gateway_factory, echo):
    """A token verified (and cached) while valid is refused as expired once exp passes (leeway 0)."""
    secret = new_secret()
    gw = gateway_factory("jwt-cache", echo.url, api_keys=[], extra=jwt_section(secret=secret, leeway="0s"))
    exp = js.now() + 3
    token = mint("pyjwt", claims(sub="brief", exp=exp), "HS256", secret)
    for _ in range(3):
        assert_accepted(gw, send(gw, token), "brief")
    wait_until(lambda: time.time() >= exp + 0.2, 6, what="the token's exp")
    assert_refused(gw, send(gw, token), "expired")
    # Leeway 0: one second past exp is refused at once, a token expiring now is refused too (now >= exp).
    assert_refused(gw, send(gw, mint("pyjwt", claims(exp=js.now() - 1), "HS256", secret)), "expired")
    assert_refused(gw, send(gw, mint("pyjwt", claims(nbf=js.now() + 5), "HS256", secret)), "not_yet_valid")


@pytest.mark.parametrize("file_secret", [False, True])
def test_secret_from_mcp_jwt_secret(workdir, echo, file_secret):
    """MCP_JWT_SECRET is a credential on its own, and overrides a secret written in the file."""
    env_secret, written = new_secret(), new_secret()
    gw = js.start_gateway_with_env(f"jwt-env-{file_secret}", echo.url, workdir, {"MCP_JWT_SECRET": env_secret}, [],
                                   extra=jwt_section(secret=written) if file_secret else "")
    try:
        assert_accepted(gw, send(gw, mint("pyjwt", claims(sub="env"), "HS256", env_secret)), "env")
        assert_refused(gw, send(gw, mint("pyjwt", claims(sub="file"), "HS256", written)), "bad_signature")
    finally:
        gw.stop()


# --- identity and token passthrough ------------------------------------------------------------------


def test_upstream_never_sees_authorization_but_sees_the_subject(hs, echo):
    token = hs.token(sub="carol@example.com")
    resp = send(hs.gw, token, extra={IDENTITY: "admin", "Authorization-Extra": "x"})
    assert_accepted(hs.gw, resp, "carol@example.com")
    seen = fwd(resp)
    assert header_values(seen, IDENTITY) == ["carol@example.com"], "the client's own identity header got through"
    assert token not in json.dumps(seen), "the token reached the upstream"
    record = echo.requests[-1]
    assert not any(k.lower() == "authorization" for k, _ in record["headers"]), record


def test_forward_authorization_passes_the_token(gateway_factory, echo):
    secret = new_secret()
    gw = gateway_factory("jwt-forward", echo.url, api_keys=[], extra=jwt_section(secret=secret))
    # forward_authorization lives in [upstream], which the suite's config writer owns: add it and reload.
    text = gw.config_path.read_text().replace("[upstream]\n", "[upstream]\nforward_authorization = true\n", 1)
    gw.config_path.write_text(text)
    gw.signal(signal.SIGHUP)
    token = mint("pyjwt", claims(sub="dave"), "HS256", secret)

    def forwarded():
        resp = send(gw, token)
        return resp.status == 200 and header_values(upstream_saw(resp), "Authorization") == [f"Bearer {token}"]

    wait_until(forwarded, 5, interval=0.2, what="forward_authorization after the reload")
    seen = upstream_saw(send(gw, token))
    assert header_values(seen, IDENTITY) == ["dave"], seen


# --- public keys: every algorithm, from a file and from a URL ---------------------------------------


@pytest.mark.parametrize("minter", MINTERS)
@pytest.mark.parametrize("alg", KEY_ALGS)
@pytest.mark.parametrize("source", ["file", "url"])
def test_public_key_tokens_are_accepted(key_gateways, source, alg, minter):
    kg = key_gateways[source]
    sub = f"{alg}-{minter}-{source}"
    fetches = kg.server.count() if kg.server else 0
    resp = send(kg.gw, mint(minter, claims(sub=sub), alg, kg.keys[alg]))
    assert_accepted(kg.gw, resp, sub)
    assert header_values(fwd(resp), IDENTITY) == [sub]
    if kg.server:
        assert kg.server.count() == fetches, "a known kid caused a JWKS fetch"


@pytest.mark.parametrize("source", ["file", "url"])
def test_the_only_key_of_a_type_needs_no_kid(key_gateways, source):
    kg = key_gateways[source]
    token = mint("pyjwt", claims(sub="nokid"), "EdDSA", kg.keys["EdDSA"].private)   # a bare key: no kid header
    assert "kid" not in pyjwt.get_unverified_header(token)
    assert_accepted(kg.gw, send(kg.gw, token), "nokid")


def test_rs_and_ps_384_and_512(gateway_factory, echo, workdir):
    """The other RSA algorithms of §5, each with its own key, from both minters; each refused where the
    list leaves it out."""
    algs = ["RS384", "RS512", "PS384", "PS512"]
    pairs = {alg: new_keypair(alg) for alg in algs}
    path = write_jwks(workdir / "jwt-rsa-more.json", *pairs.values())
    gw = gateway_factory("jwt-rsa-more", echo.url, api_keys=[], extra=jwt_section(jwks_file=path, algorithms=algs))
    for alg, key in pairs.items():
        for minter in MINTERS:
            assert_accepted(gw, send(gw, mint(minter, claims(sub=f"{alg}-{minter}"), alg, key)), f"{alg}-{minter}")
    narrow = gateway_factory("jwt-rsa-narrow", echo.url, api_keys=[],
                             extra=jwt_section(jwks_file=path, algorithms=["RS512"]))
    assert_accepted(narrow, send(narrow, mint("pyjwt", claims(sub="ok"), "RS512", pairs["RS512"])), "ok")
    for alg in ("RS384", "PS384", "PS512"):
        assert_refused(narrow, send(narrow, mint("pyjwt", claims(), alg, pairs[alg])), "alg_not_allowed")


def _der(token: str) -> str:
    """The same ES256 token with its raw r‖s signature re-encoded as DER (JWS forbids DER)."""
    h, p, sig = token.split(".")
    raw = pyjwt.utils.base64url_decode(sig)
    r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    return f"{h}.{p}.{b64url(encode_dss_signature(r, s))}"


def _key_refusal(kg: KeyGateway, case: str) -> tuple[str, str | set]:
    k = kg.keys
    good = claims()
    rsa_pem = k["RS256"].public_pem
    if case == "key confusion: HS256 signed with the RSA public key PEM":
        return hand_token({"alg": "HS256", "typ": "JWT", "kid": k["RS256"].kid}, good, secret=rsa_pem), \
            {"alg_not_allowed", "key_confusion"}
    if case == "key confusion: HS256 with the PEM, no kid":
        return hand_token({"alg": "HS256"}, good, secret=rsa_pem), {"alg_not_allowed", "key_confusion"}
    if case == "key confusion: HS256 with the JWK n as secret":
        return hand_token({"alg": "HS256", "kid": k["RS256"].kid}, good,
                          secret=k["RS256"].jwk["n"].encode()), {"alg_not_allowed", "key_confusion"}
    if case == "alg none":
        return hand_token({"alg": "none", "kid": k["RS256"].kid}, good), "alg_none"
    if case == "alg not in the list (RS384)":
        return mint("pyjwt", good, "RS384", k["RS256"]), "alg_not_allowed"
    if case == "alg not in the list (ES512)":
        return hand_token({"alg": "ES512", "kid": k["ES256"].kid}, good, signature=b"\0" * 132), "alg_not_allowed"
    if case == "unknown kid":
        return mint("pyjwt", good, "RS256", new_keypair("RS256", "stranger")), "unknown_kid"
    if case == "kid of another key type":
        return mint("pyjwt", good, "ES256", k["ES256"], headers={"kid": k["EdDSA"].kid}), "key_mismatch"
    if case == "PS256 with the RS256 key's kid":
        return mint("pyjwt", good, "PS256", k["RS256"]), "key_mismatch"
    if case == "ES384 with the ES256 key's kid":
        return mint("joserfc", good, "ES384", k["ES384"], headers={"kid": k["ES256"].kid}), "key_mismatch"
    if case == "right kid, another key's signature":
        forged = KeyPair("RS256", k["RS256"].kid, new_keypair("RS256").private)
        return mint("pyjwt", good, "RS256", forged), "bad_signature"
    if case == "EdDSA right kid, another key's signature":
        forged = KeyPair("EdDSA", k["EdDSA"].kid, new_keypair("EdDSA").private)
        return mint("joserfc", good, "EdDSA", forged), "bad_signature"
    if case == "ES256 signature in DER":
        return _der(mint("pyjwt", good, "ES256", k["ES256"])), "bad_signature"
    if case == "payload changed after signing":
        h, _, sig = mint("pyjwt", good, "PS256", k["PS256"]).split(".")
        return f"{h}.{b64url(json.dumps({**good, 'sub': 'root'}).encode())}.{sig}", "bad_signature"
    if case == "ES256 without kid, two P-256 keys":
        return mint("pyjwt", good, "ES256", k["ES256"].private), "unknown_kid"
    if case == "expired":
        t = js.now()
        return mint("joserfc", claims(iat=t - 600, exp=t - 120), "ES384", k["ES384"]), "expired"
    if case == "missing exp":
        return mint("pyjwt", claims(exp=None), "RS256", k["RS256"]), "missing_exp"
    if case == "crit":
        return hand_token({"alg": "RS256", "kid": k["RS256"].kid, "crit": ["exp"]}, good, key=k["RS256"]), "crit"
    raise AssertionError(case)


KEY_REFUSALS = [
    "key confusion: HS256 signed with the RSA public key PEM", "key confusion: HS256 with the PEM, no kid",
    "key confusion: HS256 with the JWK n as secret", "alg none", "alg not in the list (RS384)",
    "alg not in the list (ES512)", "unknown kid", "kid of another key type",
    "PS256 with the RS256 key's kid", "ES384 with the ES256 key's kid", "right kid, another key's signature",
    "EdDSA right kid, another key's signature", "ES256 signature in DER", "payload changed after signing",
    "ES256 without kid, two P-256 keys", "expired", "missing exp", "crit",
]


@pytest.mark.parametrize("case", KEY_REFUSALS)
@pytest.mark.parametrize("source", ["file", "url"])
def test_public_key_gateway_refuses(key_gateways, echo, source, case):
    kg = key_gateways[source]
    token, reason = _key_refusal(kg, case)
    before = len(echo.requests)
    # On the URL gateway an unknown kid costs one (rate-limited) refetch first; the answer is the same.
    assert_refused(kg.gw, send(kg.gw, token), reason, token=token)
    assert len(echo.requests) == before, "a refused request reached the upstream"


def test_key_confusion_with_secret_and_rsa_keys(gateway_factory, echo, workdir):
    """HS256 and RS256 both allowed, secret and RSA key both configured: an HS256 token signed with the
    RSA public key PEM is checked against the secret only, and refused."""
    rsa = new_keypair("RS256")
    secret = new_secret()
    path = write_jwks(workdir / "jwt-mixed.json", rsa)
    gw = gateway_factory("jwt-mixed", echo.url, api_keys=[],
                         extra=jwt_section(secret=secret, jwks_file=path, algorithms=["HS256", "RS256"]))
    assert_accepted(gw, send(gw, mint("pyjwt", claims(sub="rs"), "RS256", rsa)), "rs")
    assert_accepted(gw, send(gw, mint("joserfc", claims(sub="hs"), "HS256", secret)), "hs")
    for header in ({"alg": "HS256", "kid": rsa.kid}, {"alg": "HS256"}):
        for secret_bytes in (rsa.public_pem, rsa.public_pem.strip(), rsa.jwk["n"].encode()):
            token = hand_token(header, claims(sub="mallory"), secret=secret_bytes)
            assert_refused(gw, send(gw, token), {"bad_signature", "key_confusion"})


def test_hmac_in_the_list_without_a_secret_is_a_config_error(workdir, echo):
    path = write_jwks(workdir / "jwt-nosecret.json", new_keypair("RS256"))
    conf = workdir / "jwt-nosecret.conf"
    conf.write_text(render_config(free_port(), echo.url, [],
                                  extra=jwt_section(jwks_file=path, algorithms=["RS256", "HS256"])))
    proc = _gatehouse(["check", "--config", str(conf)])
    assert proc.returncode == 2, proc
    assert "auth.jwt.algorithms" in proc.stderr and "gatehouse: error:" in proc.stderr, proc.stderr


# --- jku / x5u / jwk are never followed -------------------------------------------------------------


@pytest.mark.parametrize("source", ["file", "url"])
def test_jku_x5u_and_jwk_headers_are_never_fetched(key_gateways, source):
    kg = key_gateways[source]
    attacker = JWKSServer()
    try:
        evil = new_keypair("RS256", "attacker")
        attacker.publish(evil)
        jku, x5u = attacker.url("/jwks.json"), attacker.url("/cert.pem")
        rs_kid = kg.keys["RS256"].kid
        cases = [
            ({"jku": jku}, "attacker", "unknown_kid"),
            ({"jku": jku}, rs_kid, "bad_signature"),
            ({"x5u": x5u}, "attacker", "unknown_kid"),
            ({"x5u": x5u}, rs_kid, "bad_signature"),
            ({"jwk": evil.jwk}, "attacker", "unknown_kid"),
            ({"jwk": evil.jwk, "jku": jku, "x5u": x5u}, rs_kid, "bad_signature"),
        ]
        for extra, kid, reason in cases:
            # On the URL gateway an unknown kid may refetch the gateway's own jwks_url: that one is allowed.
            token = mint("pyjwt", claims(sub="mallory"), "RS256", evil, headers={**extra, "kid": kid})
            assert_refused(kg.gw, send(kg.gw, token), reason)
        # An embedded jwk without kid: the configured key is the one used, and it does not verify.
        token = mint("pyjwt", claims(sub="mallory"), "RS256", evil.private, headers={"jwk": evil.jwk})
        assert_refused(kg.gw, send(kg.gw, token), {"bad_signature", "unknown_kid"})
        time.sleep(1.0)   # anything the gateway would fetch has had time to arrive
        assert attacker.requests == [], f"the gateway fetched a URL named in a token: {attacker.requests}"
    finally:
        attacker.stop()


# --- jwks_url: rotation, rate-limited refetch, failures ------------------------------------------------


def _rs(key: KeyPair, sub: str = "alice") -> str:
    return mint("pyjwt", claims(sub=sub), key.alg, key)


def _wait_window(server: JWKSServer, seconds: float) -> None:
    """Sleep until `seconds` after the server's last request (the gateway's last fetch attempt)."""
    last = max(t for _, _, t in server.requests)
    delay = last + seconds - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def test_jwks_url_rotation_without_restart_and_rate_limited_refetch(gateway_factory, echo, jwks_server):
    a, b, c, d = (new_keypair("RS256", f"rot-{n}") for n in "abcd")
    jwks_server.publish(a)
    gw = gateway_factory("jwt-rotate", echo.url, api_keys=[],
                         extra=jwt_section(jwks_url=jwks_server.url(), algorithms=["RS256"], refresh="1h",
                                           refetch_min="2s"))
    pid = gw.pid
    wait_for_event(gw, js.security_kind("jwks_fetched"), 10, "the first JWKS fetch")
    assert jwks_server.count() == 1
    assert_accepted(gw, send(gw, _rs(a)), "alice")
    assert jwks_server.count() == 1, "a known kid caused a fetch"

    # Rotation: key b appears at the URL; its first token triggers one refetch and is accepted.
    jwks_server.publish(a, b)
    _wait_window(jwks_server, 2.3)
    assert_accepted(gw, send(gw, _rs(b, "bob")), "bob")
    assert jwks_server.count() == 2
    assert gw.alive() and gw.pid == pid

    # Within jwks_refetch_min_interval, an unknown kid is refused without a fetch, even once published.
    jwks_server.publish(a, b, c)
    for _ in range(5):
        assert_refused(gw, send(gw, _rs(c)), "unknown_kid")
    assert jwks_server.count() == 2, "the refetch is not rate-limited"

    # After the interval, one refetch: c is accepted.
    _wait_window(jwks_server, 2.3)
    assert_accepted(gw, send(gw, _rs(c, "carol")), "carol")
    assert jwks_server.count() == 3

    # Concurrent requests naming a new kid share one fetch and all succeed.
    jwks_server.publish(a, b, c, d)
    _wait_window(jwks_server, 2.3)
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: send(gw, _rs(d, f"d{i}")), range(8)))
    assert [r.status for r in answers] == [200] * 8, answers
    assert jwks_server.count() == 4, f"{jwks_server.count() - 3} fetches for one new kid"

    # An unknown kid after the window: one more fetch, then refused.
    _wait_window(jwks_server, 2.3)
    assert_refused(gw, send(gw, _rs(new_keypair("RS256", "rot-never"))), "unknown_kid")
    assert jwks_server.count() == 5
    # Every key still works, no restart happened.
    for key in (a, b, c, d):
        assert_accepted(gw, send(gw, _rs(key, key.kid)), key.kid)
    assert gw.pid == pid and jwks_server.count() == 5


@pytest.mark.parametrize("failure", ["down", "http_500", "garbage"])
def test_jwks_fetch_failure_keeps_the_old_keys(gateway_factory, echo, jwks_server, failure):
    a, b = new_keypair("ES256", "keep-a"), new_keypair("EdDSA", "keep-b")
    jwks_server.publish(a, b)
    gw = gateway_factory(f"jwt-keep-{failure}", echo.url, api_keys=[],
                         extra=jwt_section(jwks_url=jwks_server.url(), algorithms=["ES256", "EdDSA"],
                                           refresh="1s", refetch_min="1s"))
    wait_for_event(gw, js.security_kind("jwks_fetched"), 10, "the first JWKS fetch")
    # The periodic refresh runs on its own, with no request asking for it.
    wait_until(lambda: jwks_server.count() >= 3, 8, what="two periodic JWKS refreshes")
    assert_accepted(gw, send(gw, _rs(a, "a1")), "a1")

    if failure == "down":
        jwks_server.stop()
    else:
        jwks_server.mode = failure
    failed = js.count_kind(gw, "jwks_fetch_failed")
    wait_until(lambda: js.count_kind(gw, "jwks_fetch_failed") >= failed + 2, 10, what="two failed refreshes")
    # Fresh tokens (nothing cached): the old keys still verify.
    assert_accepted(gw, send(gw, _rs(a, "a2")), "a2")
    assert_accepted(gw, send(gw, _rs(b, "b2")), "b2")
    # A new kid cannot be learnt while the URL fails.
    time.sleep(1.1)
    assert_refused(gw, send(gw, _rs(new_keypair("ES256", "keep-new"))), "unknown_kid")
    assert_accepted(gw, send(gw, _rs(a, "a3")), "a3")
    assert gw.alive()

    # Back up with only b: a is dropped at the next refresh (its cached verdicts too), b goes on.
    if failure == "down":
        jwks_server.start()
    jwks_server.publish(b)
    cached = _rs(a, "cached")
    assert_accepted(gw, send(gw, cached), "cached")
    wait_until(lambda: send(gw, cached).status == 401, 10, interval=0.3, what="key a to be dropped")
    assert_refused(gw, send(gw, _rs(a, "a4")), "unknown_kid")
    assert_accepted(gw, send(gw, _rs(b, "b3")), "b3")


def test_sighup_rereads_jwks_file_and_refetches_jwks_url(gateway_factory, echo, workdir, jwks_server):
    old, new = new_keypair("PS256", "file-old"), new_keypair("PS256", "file-new")
    url_old, url_new = new_keypair("RS256", "url-old"), new_keypair("RS256", "url-new")
    path = write_jwks(workdir / "jwt-hup.json", old)
    jwks_server.publish(url_old)
    gw = gateway_factory("jwt-hup", echo.url, api_keys=[],
                         extra=jwt_section(jwks_file=path, jwks_url=jwks_server.url(), algorithms=["PS256", "RS256"],
                                           refresh="1h", refetch_min="1h"))
    wait_for_event(gw, js.security_kind("jwks_fetched"), 10, "the first JWKS fetch")
    pid = gw.pid
    assert_accepted(gw, send(gw, _rs(old, "old")), "old")
    assert_accepted(gw, send(gw, _rs(url_old, "url-old")), "url-old")
    assert_refused(gw, send(gw, _rs(new)), "unknown_kid")

    write_jwks(path, new)
    jwks_server.publish(url_new)
    fetches = jwks_server.count()
    gw.signal(signal.SIGHUP)
    wait_until(lambda: send(gw, _rs(new, "new")).status == 200, 5, interval=0.2, what="the re-read jwks_file")
    wait_until(lambda: jwks_server.count() > fetches, 5, what="the JWKS refetch on SIGHUP")
    wait_until(lambda: send(gw, _rs(url_new, "url-new")).status == 200, 5, interval=0.2, what="the refetched keys")
    assert_refused(gw, send(gw, _rs(old)), "unknown_kid")
    assert_refused(gw, send(gw, _rs(url_old)), "unknown_kid")
    assert gw.pid == pid and gw.alive()


# --- gatehouse token ---------------------------------------------------------------------------------


def _gatehouse(args: list[str], env_extra: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in GATEWAY_ENV_VARS}
    env.update(env_extra or {})
    return subprocess.run([GATEHOUSE_BIN, *args], capture_output=True, text=True, timeout=30, env=env,
                          stdin=subprocess.DEVNULL, cwd=str(cwd) if cwd else None)


def test_gatehouse_token_is_accepted(hs):
    proc = _gatehouse(["token", "--sub", "ops-bot", "--permissions", "tools:call, admin", "--ttl", "1h",
                       "--config", str(hs.gw.config_path)])
    assert proc.returncode == 0, proc
    token = proc.stdout.strip()
    assert len(proc.stdout.strip().splitlines()) == 1
    assert pyjwt.get_unverified_header(token)["alg"] == "HS256"
    decoded = pyjwt.decode(token, hs.secret, algorithms=["HS256"], audience=AUDIENCE, issuer=ISSUER)
    assert decoded["sub"] == "ops-bot" and decoded["permissions"] == ["tools:call", "admin"], decoded
    assert decoded["exp"] - decoded["iat"] == 3600 and abs(decoded["iat"] - time.time()) < 30, decoded
    resp = send(hs.gw, token)
    assert_accepted(hs.gw, resp, "ops-bot")
    assert header_values(fwd(resp), IDENTITY) == ["ops-bot"]


def test_gatehouse_token_with_the_secret_from_the_environment(workdir, gateway_factory, echo, keys):
    secret = new_secret()
    conf = workdir / "jwt-envsecret.conf"
    conf.write_text(render_config(free_port(), echo.url, keys.config_entries))
    proc = _gatehouse(["token", "--sub", "env-user", "--config", str(conf)], {"MCP_JWT_SECRET": secret})
    assert proc.returncode == 0, proc
    token = proc.stdout.strip()
    decoded = pyjwt.decode(token, secret, algorithms=["HS256"])
    assert decoded["sub"] == "env-user" and decoded["exp"] - decoded["iat"] == 86400, decoded
    gw = gateway_factory("jwt-envsecret", echo.url, api_keys=[], extra=jwt_section(secret=secret))
    assert_accepted(gw, send(gw, token), "env-user")


@pytest.mark.parametrize("case", ["api keys only", "no config at all", "secret too short"])
def test_gatehouse_token_without_a_secret_exits_2(workdir, echo, keys, case):
    empty = workdir / f"jwt-token-{case.replace(' ', '-')}"
    empty.mkdir(exist_ok=True)
    if case == "api keys only":
        conf = empty / "gateway.conf"
        conf.write_text(render_config(free_port(), echo.url, keys.config_entries))
        args = ["token", "--sub", "x", "--config", str(conf)]
    elif case == "no config at all":
        args = ["token", "--sub", "x"]   # no ./gateway.conf in cwd, nothing in the environment
    else:
        conf = empty / "gateway.conf"
        conf.write_text(render_config(free_port(), echo.url, keys.config_entries,
                                      extra=jwt_section(secret="only-31-bytes-long-0123456789ab")))
        args = ["token", "--sub", "x", "--config", str(conf)]
    proc = _gatehouse(args, cwd=empty)
    assert proc.returncode == 2, proc
    assert proc.stdout == "", "a token was printed"
    lines = proc.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("gatehouse: error:"), proc.stderr


def test_gatehouse_token_needs_a_subject(hs):
    proc = _gatehouse(["token", "--config", str(hs.gw.config_path)])
    assert proc.returncode == 2 and proc.stdout == "", proc
    assert "gatehouse: error:" in proc.stderr
