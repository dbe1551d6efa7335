#!/usr/bin/env python3
"""Mints the JWT test vectors of GatehousePolicyTests/GatehouseCryptoTests with PyJWT and `cryptography`.

Run once and commit the output, so that `swift test` needs neither network nor PyJWT:

    python3 -m venv /tmp/jwtvenv && /tmp/jwtvenv/bin/pip install pyjwt cryptography
    /tmp/jwtvenv/bin/python Tests/GatehousePolicyTests/Fixtures/jwt/make_vectors.py

Keys are fresh on every run (the tests read them from the output), times are fixed around NOW.
Output, next to this script:
    jwks.json        the public JWK Set the tests configure (plus entries that must be skipped)
    keys/*.pem       the same public keys as PEM, and a 1024-bit RSA key that must be refused
    tokens.json      {now, secret, issuer, audience, tokens: [{name, token, expect, ...}]}
                     expect: "valid", a log reason word (`expired`, `bad_signature`, ...), or "unknown_kid"
    signatures.json  raw signature vectors for SignatureVerifier: {alg, key, message, signature, valid}
"""
import base64
import hashlib
import hmac
import json
import os

import jwt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils

HERE = os.path.dirname(os.path.abspath(__file__))
NOW = 1_750_000_000
SECRET = b"gatehouse-test-secret-0123456789-abcdef-0123456789-abcdef-012345"  # 64 bytes: enough for HS512
ISSUER = "https://issuer.example"
AUDIENCE = "https://mcp.example/mcp"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def pem(public_key) -> str:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def int_bytes(value: int, length: int = 0) -> bytes:
    length = length or (value.bit_length() + 7) // 8
    return value.to_bytes(length, "big")


rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
rsa_other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
rsa_enc = rsa.generate_private_key(public_exponent=65537, key_size=2048)
rsa_weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
ec256 = ec.generate_private_key(ec.SECP256R1())
ec384 = ec.generate_private_key(ec.SECP384R1())
ec256_other = ec.generate_private_key(ec.SECP256R1())
ed = ed25519.Ed25519PrivateKey.generate()


def rsa_jwk(key, kid, **extra):
    numbers = key.public_key().public_numbers()
    return {"kty": "RSA", "kid": kid, "n": b64(int_bytes(numbers.n)), "e": b64(int_bytes(numbers.e)), **extra}


def ec_jwk(key, kid, crv, size, **extra):
    numbers = key.public_key().public_numbers()
    return {"kty": "EC", "kid": kid, "crv": crv, "x": b64(int_bytes(numbers.x, size)),
            "y": b64(int_bytes(numbers.y, size)), **extra}


def ed_jwk(key, kid, **extra):
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "kid": kid, "crv": "Ed25519", "x": b64(raw), **extra}


jwks = {
    "keys": [
        rsa_jwk(rsa_key, "rsa-2048", use="sig"),
        ec_jwk(ec256, "ec-p256", "P-256", 32, use="sig", alg="ES256"),
        ec_jwk(ec384, "ec-p384", "P-384", 48, alg="ES384"),
        ed_jwk(ed, "ed-1", use="sig", alg="EdDSA"),
        # Entries the parser must skip: an encryption key, a symmetric key, an X25519 key.
        rsa_jwk(rsa_enc, "rsa-enc", use="enc", alg="RSA-OAEP"),
        {"kty": "oct", "kid": "sym", "k": b64(b"never-a-verification-key-from-a-jwks")},
        {"kty": "OKP", "kid": "x25519", "crv": "X25519", "x": b64(os.urandom(32))},
    ]
}

os.makedirs(os.path.join(HERE, "keys"), exist_ok=True)
for name, key in [("rsa", rsa_key), ("rsa-other", rsa_other), ("rsa1024", rsa_weak), ("ec256", ec256),
                  ("ec384", ec384), ("ed25519", ed)]:
    with open(os.path.join(HERE, "keys", name + ".pub.pem"), "w") as f:
        f.write(pem(key.public_key()))
with open(os.path.join(HERE, "jwks.json"), "w") as f:
    json.dump(jwks, f, indent=2)
    f.write("\n")

SIGNING = {
    "HS256": (SECRET, None), "HS384": (SECRET, None), "HS512": (SECRET, None),
    "RS256": (rsa_key, "rsa-2048"), "RS384": (rsa_key, "rsa-2048"), "RS512": (rsa_key, "rsa-2048"),
    "PS256": (rsa_key, "rsa-2048"), "PS384": (rsa_key, "rsa-2048"), "PS512": (rsa_key, "rsa-2048"),
    "ES256": (ec256, "ec-p256"), "ES384": (ec384, "ec-p384"), "EdDSA": (ed, "ed-1"),
}


def claims(**overrides):
    base = {"sub": "alice", "iss": ISSUER, "aud": AUDIENCE, "iat": NOW - 10, "nbf": NOW - 10,
            "exp": NOW + 3600, "permissions": ["tools:call"], "scope": "read write"}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def mint(alg, payload, headers=None, key=None, kid="default"):
    signing_key, default_kid = SIGNING[alg]
    headers = dict(headers or {})
    if kid == "default":
        kid = default_kid
    if kid is not None:
        headers["kid"] = kid
    return jwt.encode(payload, key if key is not None else signing_key, algorithm=alg, headers=headers)


def raw_sign(alg, signing_input: bytes, key) -> bytes:
    """A signature made without PyJWT, for tokens PyJWT refuses to mint."""
    if alg.startswith("HS"):
        return hmac.new(key, signing_input, getattr(hashlib, "sha" + alg[2:])).digest()
    if alg == "RS256":
        return key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    if alg == "ES256":
        r, s = utils.decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        return int_bytes(r, 32) + int_bytes(s, 32)
    raise ValueError(alg)


def handmade(header_text: str, payload_text: str, alg=None, key=None) -> str:
    signing_input = (b64(header_text.encode()) + "." + b64(payload_text.encode())).encode()
    signature = raw_sign(alg, signing_input, key) if alg else b""
    return signing_input.decode() + "." + b64(signature)


def flip_bit(token: str) -> str:
    head, payload, signature = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[len(raw) // 2] ^= 0x01
    return ".".join([head, payload, b64(bytes(raw))])


tokens = []


def add(name, token, expect, **info):
    tokens.append({"name": name, "token": token, "expect": expect, **info})


# Every algorithm verifies.
for alg in SIGNING:
    add("valid-" + alg, mint(alg, claims(sub="alice-" + alg)), "valid", alg=alg, sub="alice-" + alg,
        permissions=["tools:call", "read", "write"])
add("valid-RS256-no-kid", mint("RS256", claims(), kid=None), "valid", alg="RS256", sub="alice")
add("valid-ES256-no-kid", mint("ES256", claims(), kid=None), "valid", alg="ES256", sub="alice")
add("valid-aud-array", mint("HS256", claims(aud=["other", AUDIENCE])), "valid", alg="HS256", sub="alice")
add("valid-user-id", mint("HS256", claims(sub=None, user_id="bob")), "valid", alg="HS256", sub="bob")
add("valid-typ-at-jwt", mint("HS256", claims(), headers={"typ": "at+jwt"}), "valid", alg="HS256", sub="alice")
add("valid-typ-lowercase", mint("HS256", claims(), headers={"typ": "jwt"}), "valid", alg="HS256", sub="alice")
add("valid-jku-ignored", mint("RS256", claims(), headers={"jku": "https://attacker.example/jwks.json"}), "valid",
    alg="RS256", sub="alice")
add("valid-x5u-ignored", mint("RS256", claims(), headers={"x5u": "https://attacker.example/cert.pem"}), "valid",
    alg="RS256", sub="alice")
add("valid-no-permissions", mint("HS256", claims(permissions=None, scope=None)), "valid", alg="HS256", sub="alice",
    permissions=[])
# An embedded jwk header naming the attacker's key: never used, the configured key decides.
attacker_jwk = rsa_jwk(rsa_other, "rsa-2048")
add("embedded-jwk-ignored", mint("RS256", claims(), headers={"jwk": attacker_jwk}, key=rsa_other), "bad_signature",
    alg="RS256")
add("jku-to-attacker-key", mint("RS256", claims(), headers={"jku": "https://attacker.example/jwks.json"},
                                key=rsa_other), "bad_signature", alg="RS256")

# alg none, in three spellings.
payload_text = json.dumps(claims())
for spelling in ["none", "None", "NONE"]:
    add("alg-" + spelling, handmade(json.dumps({"alg": spelling, "typ": "JWT"}), payload_text), "alg_none")

# Key confusion: HS256 signed with the RSA public key's PEM as the HMAC secret (PyJWT refuses to, so by hand).
confusion = handmade(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "rsa-2048"}), payload_text, "HS256",
                     pem(rsa_key.public_key()).encode())
add("key-confusion-hs256-rsa-pem", confusion, "key_confusion", alg="HS256")

# Time claims.
add("expired", mint("HS256", claims(exp=NOW - 3600)), "expired", alg="HS256")
add("nbf-future", mint("HS256", claims(nbf=NOW + 3600)), "not_yet_valid", alg="HS256")
add("iat-future", mint("HS256", claims(iat=NOW + 3600)), "iat_future", alg="HS256")
add("missing-exp", mint("HS256", claims(exp=None)), "missing_exp", alg="HS256")
add("exp-string", handmade('{"alg":"HS256"}', json.dumps(claims(exp=str(NOW + 3600))), "HS256", SECRET), "malformed")
add("exp-bool", handmade('{"alg":"HS256"}', json.dumps(claims(exp=True)), "HS256", SECRET), "malformed")

# Issuer and audience.
add("wrong-aud", mint("HS256", claims(aud="https://other.example/mcp")), "wrong_audience", alg="HS256")
add("wrong-aud-array", mint("HS256", claims(aud=["a", "b"])), "wrong_audience", alg="HS256")
add("missing-aud", mint("HS256", claims(aud=None)), "wrong_audience", alg="HS256")
add("wrong-iss", mint("HS256", claims(iss="https://evil.example")), "wrong_issuer", alg="HS256")
add("missing-iss", mint("HS256", claims(iss=None)), "wrong_issuer", alg="HS256")

# Signatures.
add("bad-signature-bit-flip-HS256", flip_bit(mint("HS256", claims())), "bad_signature", alg="HS256")
add("bad-signature-bit-flip-RS256", flip_bit(mint("RS256", claims())), "bad_signature", alg="RS256")
add("bad-signature-bit-flip-PS256", flip_bit(mint("PS256", claims())), "bad_signature", alg="PS256")
add("bad-signature-bit-flip-ES256", flip_bit(mint("ES256", claims())), "bad_signature", alg="ES256")
add("bad-signature-bit-flip-EdDSA", flip_bit(mint("EdDSA", claims())), "bad_signature", alg="EdDSA")
for alg in ["HS256", "RS256", "ES384"]:
    good = mint(alg, claims())
    forged_payload = b64(json.dumps(claims(permissions=["*"])).encode())
    head, _, signature = good.split(".")
    add("payload-changed-" + alg, ".".join([head, forged_payload, signature]), "bad_signature", alg=alg)
add("wrong-secret", mint("HS256", claims(), key=b"another-secret-of-32-bytes-or-more!!"), "bad_signature",
    alg="HS256")
add("wrong-key-known-kid", mint("RS256", claims(), key=rsa_other), "bad_signature", alg="RS256")
add("empty-signature", ".".join(mint("HS256", claims()).split(".")[:2]) + ".", "bad_signature", alg="HS256")
# ES256 with the signature in DER (what a naive signer emits) instead of raw r||s.
es_input = handmade(json.dumps({"alg": "ES256", "kid": "ec-p256"}), payload_text).rsplit(".", 1)[0]
der = ec256.sign(es_input.encode(), ec.ECDSA(hashes.SHA256()))
add("es256-der-signature", es_input + "." + b64(der), "bad_signature", alg="ES256")
add("es256-wrong-curve-kid", handmade(json.dumps({"alg": "ES256", "kid": "ec-p384"}), payload_text, "ES256", ec256),
    "key_mismatch", alg="ES256")

# Header problems.
add("crit", mint("HS256", claims(), headers={"crit": ["exp"]}), "crit", alg="HS256")
add("crit-empty", handmade('{"alg":"HS256","crit":[]}', payload_text, "HS256", SECRET), "crit")
add("typ-other", mint("HS256", claims(), headers={"typ": "JOSE+JSON"}), "typ", alg="HS256")
add("typ-number", handmade('{"alg":"HS256","typ":1}', payload_text, "HS256", SECRET), "typ")
add("alg-unknown", handmade('{"alg":"HS1"}', payload_text, "HS256", SECRET), "alg_not_allowed")
add("alg-lowercase", handmade('{"alg":"hs256"}', payload_text, "HS256", SECRET), "alg_not_allowed")
add("alg-missing", handmade('{"typ":"JWT"}', payload_text, "HS256", SECRET), "malformed")
add("alg-number", handmade('{"alg":256}', payload_text, "HS256", SECRET), "malformed")
add("kid-number", handmade('{"alg":"RS256","kid":7}', payload_text, "RS256", rsa_key), "malformed")
add("header-array", handmade('["HS256"]', payload_text, "HS256", SECRET), "malformed")
add("header-not-json", handmade('{"alg":"HS256"', payload_text, "HS256", SECRET), "malformed")
add("duplicate-alg-header", handmade('{"alg":"HS256","alg":"none"}', payload_text, "HS256", SECRET), "malformed")
add("duplicate-sub-payload",
    handmade('{"alg":"HS256"}', '{"sub":"alice","sub":"admin","exp":%d}' % (NOW + 3600), "HS256", SECRET),
    "malformed")
add("payload-array", handmade('{"alg":"HS256"}', "[1,2]", "HS256", SECRET), "malformed")
add("payload-not-json", handmade('{"alg":"HS256"}', "exp=1", "HS256", SECRET), "malformed")

# Subject and permissions claims.
add("missing-subject", mint("HS256", claims(sub=None)), "missing_subject", alg="HS256")
add("empty-subject", mint("HS256", claims(sub="")), "missing_subject", alg="HS256")
add("sub-number", handmade('{"alg":"HS256"}', json.dumps(claims(sub=42)), "HS256", SECRET), "malformed")
add("permissions-string", mint("HS256", claims(permissions="admin")), "malformed", alg="HS256")
add("permissions-mixed", mint("HS256", claims(permissions=["a", 1])), "malformed", alg="HS256")
add("scope-array", mint("HS256", claims(scope=["admin"])), "malformed", alg="HS256")

# Keys.
add("unknown-kid", mint("RS256", claims(), key=rsa_other, kid="rotated-2"), "unknown_kid", alg="RS256",
    kid="rotated-2")
add("enc-key-kid", mint("RS256", claims(), key=rsa_enc, kid="rsa-enc"), "unknown_kid", alg="RS256", kid="rsa-enc")

# Oversized: just over 8 KiB in total.
big = mint("HS256", claims(padding="x" * 8200))
assert len(big) > 8192
add("too-large", big, "too_large", alg="HS256")

with open(os.path.join(HERE, "tokens.json"), "w") as f:
    json.dump({"now": NOW, "secret": SECRET.decode(), "issuer": ISSUER, "audience": AUDIENCE, "tokens": tokens},
              f, indent=1)
    f.write("\n")

# Raw signature vectors for SignatureVerifier (GatehouseCryptoTests).
message = b"eyJhbGciOiJQUzI1NiJ9.eyJzdWIiOiJ2ZWN0b3IifQ"
signatures = []


def sig(alg, key_file, signature, valid, note=""):
    signatures.append({"alg": alg, "key": key_file, "message": message.decode(), "signature": b64(signature),
                       "valid": valid, "note": note})


for bits, hash_cls in [(256, hashes.SHA256), (384, hashes.SHA384), (512, hashes.SHA512)]:
    sig("RS%d" % bits, "rsa.pub.pem", rsa_key.sign(message, padding.PKCS1v15(), hash_cls()), True)
    pss = padding.PSS(mgf=padding.MGF1(hash_cls()), salt_length=hash_cls.digest_size)
    sig("PS%d" % bits, "rsa.pub.pem", rsa_key.sign(message, pss, hash_cls()), True)
    # A PSS signature with a salt of another length is not RFC 7518 PS*.
    short_salt = padding.PSS(mgf=padding.MGF1(hash_cls()), salt_length=hash_cls.digest_size - 8)
    sig("PS%d" % bits, "rsa.pub.pem", rsa_key.sign(message, short_salt, hash_cls()), False, "salt length")
    # PKCS#1 v1.5 and PSS must not stand in for each other.
    sig("PS%d" % bits, "rsa.pub.pem", rsa_key.sign(message, padding.PKCS1v15(), hash_cls()), False, "v1.5 as PSS")
    sig("RS%d" % bits, "rsa.pub.pem", rsa_key.sign(message, pss, hash_cls()), False, "PSS as v1.5")
    sig("RS%d" % bits, "rsa-other.pub.pem", rsa_key.sign(message, padding.PKCS1v15(), hash_cls()), False,
        "other key")
sig("RS256", "rsa.pub.pem", rsa_key.sign(message, padding.PKCS1v15(), hashes.SHA384()), False, "hash mismatch")
for alg, key, key_file, size, hash_cls in [("ES256", ec256, "ec256.pub.pem", 32, hashes.SHA256),
                                           ("ES384", ec384, "ec384.pub.pem", 48, hashes.SHA384)]:
    der = key.sign(message, ec.ECDSA(hash_cls()))
    r, s = utils.decode_dss_signature(der)
    sig(alg, key_file, int_bytes(r, size) + int_bytes(s, size), True)
    sig(alg, key_file, der, False, "DER form")
    sig(alg, key_file, int_bytes(r, size) + int_bytes(s, size) + b"\x00", False, "one byte too long")
    sig(alg, key_file, int_bytes(r, size)[1:] + int_bytes(s, size), False, "one byte too short")
ed_sig = ed.sign(message)
sig("EdDSA", "ed25519.pub.pem", ed_sig, True)
sig("EdDSA", "ed25519.pub.pem", ed_sig[:-1] + bytes([ed_sig[-1] ^ 1]), False, "bit flip")
sig("ES256", "ec384.pub.pem", b"\x01" * 64, False, "key of the wrong curve")
with open(os.path.join(HERE, "signatures.json"), "w") as f:
    json.dump(signatures, f, indent=1)
    f.write("\n")

print("wrote %d tokens, %d signatures" % (len(tokens), len(signatures)))
