#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/corpus/<Target>/ (committed; run again after changing a seed).

Each file is one input: the fuzz target's selector byte (see the target's doc comment) followed by
the bytes it reads. File names are the first 16 hex digits of the content's SHA-256, as libFuzzer
names its own finds.
"""
import base64
import hashlib
import hmac
import json
import os
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def write(target, items):
    folder = os.path.join(HERE, "corpus", target)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    for data in items:
        name = hashlib.sha256(data).hexdigest()[:16]
        with open(os.path.join(folder, name), "wb") as f:
            f.write(data)


REQUESTS = [
    b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /mcp?x=1&y=%20 HTTP/1.1\r\nHost: gw.example:8443\r\nAccept: text/event-stream\r\nMcp-Session-Id: abc\r\n\r\n",
    b"POST /mcp HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
    b"POST /mcp HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nX-T: 1\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1;a=\"q\\\"x\" ; b\r\nx\r\n0\r\n\r\n",
    b"GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n",
    b"GET http://example.com/p?q HTTP/1.1\r\nHost: example.com\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: a\r\nOrigin: http://localhost:3000\r\nAccess-Control-Request-Method: POST\r\n\r\n",
    b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
    b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
    # Refusals the fuzzer should grow from.
    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 1\r\n\r\na",
    b"GET / HTTP/1.1\nHost: a\n\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nX : b\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFF\r\n",
    b"GET /#frag HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nX: \xc3\xa9\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nX: \xff\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
]

RESPONSES = [
    (0, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}"),
    (0, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/event-stream\r\n\r\n"
        b"1c\r\nevent: message\ndata: {\"a\":1}\n\n\r\n0\r\n\r\n"),
    (8, b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n: ping\r\n\r\nid: 1\r\ndata: x\r\ndata: y\r\nretry: 100\r\n\r\ndata: cut"),
    (0, b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n"),
    (2, b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx"),
    (8, b"HTTP/1.0 200 OK\r\n\r\nuntil close"),
    (0, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n"),
    (4, b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
    (0, b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"),
    (0, b"HTTP/1.1 101 Switching Protocols\r\n\r\n"),
    (0, b"HTTP/1.1 200 OK\nContent-Length: 0\n\n"),
    (1, b"event: message\ndata: {\"jsonrpc\":\"2.0\"}\n\n"),
    (1, b"\xef\xbb\xbfdata: a\r\rdata: b\r\n\r\nid: \x00\nretry: 99999999999999999999\n\n"),
    (1, b": comment\n\nfoo: bar\n\ndata\ndata:\n\n"),
]

JSON_DOCS = [
    b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}',
    b'[{"jsonrpc":"2.0","method":"notifications/initialized"},{"jsonrpc":"2.0","id":"a","result":{}}]',
    b'{"a":[1,-0.0,1e400,2.5E-3,true,false,null,"\\u00e9\\ud83d\\ude00\\n\\"\\\\\\/"]}',
    b' "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80" ',
    b'[[[[[[[[[[]]]]]]]]]]',
    b'{"a":1,"\\u0061":2}',
    b'{"k":"\\ud800"}',
    b'123',
    b'"\xed\xa0\x80"',
]

TOML_DOCS = [
    b'[server]\nlisten = "0.0.0.0:8080"\nmax_body_bytes = "1MiB"\n',
    b'a.b.c = 1\n[[t]]\nx = [1, 2.5, -inf, nan]\n[[t]]\ny = { z = true, w = 1979-05-27T07:32:00Z }\n',
    b"s1 = 'lit'\ns2 = \"\"\"multi\\\n  line\"\"\"\ns3 = '''raw\nx'''\nd = 1979-05-27\nt = 07:32:00.5\n",
    b'n = 0x_1\nm = 1_000\no = 0o17\nb = 0b101\nf = 6.02e+23\n',
    b'rules = [\n  { match = "tools/call:delete_*", require = ["admin"] },\n  { match = "*", require = [] },\n]\n',
    b'"quoted key" = "\\u00e9\\U0001F600"\n[headers]\n"X-Frame-Options" = "DENY"\n',
    b'a = 1\na = 2\n',
    b'\xef\xbb\xbfk = "v" # comment\n',
]


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=")


SECRET = b"fuzz-secret-0123456789abcdef-0123456789"
RFC_PAYLOAD = b"eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
RFC_A3 = (b"eyJhbGciOiJFUzI1NiJ9." + RFC_PAYLOAD
          + b".DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q")
RFC_A2 = (b"eyJhbGciOiJSUzI1NiJ9." + RFC_PAYLOAD
          + b".cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr"
            b"7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--"
            b"xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_Io"
            b"ypGlUPQGe77Rw")


def hs256(header, claims):
    signing = b64u(json.dumps(header, separators=(",", ":")).encode()) + b"." + b64u(
        json.dumps(claims, separators=(",", ":")).encode())
    return signing + b"." + b64u(hmac.new(SECRET, signing, hashlib.sha256).digest())


NOW = 1_300_819_000
JWT_ITEMS = [
    b"\x00" + RFC_A3,
    b"\x00" + RFC_A2,
    b"\x00" + hs256({"alg": "HS256", "typ": "JWT"}, {"iss": "alice", "exp": NOW + 60, "permissions": ["tools:call"]}),
    b"\x00" + hs256({"alg": "HS256", "kid": "k"}, {"iss": "bob", "exp": NOW - 60}),
    b"\x00" + b"eyJhbGciOiJub25lIn0." + b64u(b'{"iss":"x","exp":9999999999}') + b".",
    b"\x00" + b"a.b.c",
    b"\x01" + json.dumps({"iss": "carol", "exp": NOW + 10, "nbf": NOW, "iat": NOW, "scope": "a b"}).encode(),
    b"\x01" + json.dumps({"user_id": "dave", "exp": NOW + 10.5, "aud": ["x", "y"], "permissions": ["*"]}).encode(),
    b"\x01" + b'{"iss":1,"exp":"soon"}',
    b"\x02" + b'{"alg":"HS256","typ":"at+jwt","kid":"x"}',
    b"\x02" + b'{"alg":"nOnE"}',
    b"\x02" + b'{"alg":"HS384","crit":["exp"]}',
    b"\x02" + b'{"alg":"RS256","jku":"https://evil/"}',
]

BASE64_ITEMS = [b"", b"AA", b"AAA", b"AAAA", b"_-8", b"YWJj", b"YWI=", b"YQ==", b"YR", b"00ff", b"0G", b"a+/b", b"\xff\x00"]

DICTS = {
    "http.dict": [
        "GET", "POST", "HEAD", "OPTIONS", "CONNECT", "DELETE", " HTTP/1.1\r\n", " HTTP/1.0\r\n", "HTTP/1.1 ", "\r\n",
        "\r\n\r\n", "Host: ", "Content-Length: ", "Transfer-Encoding: ", "chunked", "gzip", "identity", "Connection: ",
        "close", "keep-alive", "Expect: 100-continue", "Content-Type: text/event-stream", ";ext=", "0\r\n\r\n",
        "FFFFFFFFFFFFFFFF", "http://", "https://", "*", "/mcp", "?", "#", "\t", " ", ",", "\"", "\\", "\x00", "\x7f",
        "\xc3\xa9", "\xff", "data: ", "event: ", "id: ", "retry: ", ": ", "\xef\xbb\xbf", "100 Continue", "204",
        "304", "101",
    ],
    "json.dict": [
        "{", "}", "[", "]", ":", ",", "\"", "\\u", "\\ud83d\\ude00", "\\ud800", "true", "false", "null", "-0", "1e400",
        "0.5E-3", "\"jsonrpc\"", "\"2.0\"", "\"method\"", "\"params\"", "\"id\"", "\xef\xbb\xbf", "\xc3\xa9", "\xed\xa0\x80",
    ],
    "toml.dict": [
        "[", "]", "[[", "]]", "{", "}", "=", ".", ",", "\"", "'", "\"\"\"", "'''", "\\u", "\\U", "#", "\n", "\r\n",
        "true", "false", "inf", "nan", "+inf", "-nan", "0x", "0o", "0b", "_", "1979-05-27", "T07:32:00", "Z", "+07:00",
        ".999999", "e+", "E-",
    ],
    "jwt.dict": [
        ".", "eyJ", "eyJhbGciOiJIUzI1NiJ9", "\"alg\"", "\"HS256\"", "\"HS384\"", "\"RS256\"", "\"ES256\"", "\"EdDSA\"",
        "\"none\"", "\"kid\"", "\"ec1\"", "\"rsa1\"", "\"ed1\"", "\"typ\"", "\"JWT\"", "\"crit\"", "\"exp\"", "\"nbf\"",
        "\"iat\"", "\"iss\"", "\"aud\"", "\"sub\"", "\"user_id\"", "\"scope\"", "\"permissions\"", "1300819000",
        "1300819380", "-", "_", "=",
    ],
}


def write_dict(name, tokens):
    def quote(token):
        out = ""
        for byte in token.encode("latin-1") if any(ord(c) > 127 for c in token) and all(ord(c) < 256 for c in token) \
                else token.encode():
            if byte in (0x22, 0x5C) or byte < 0x20 or byte > 0x7E:
                out += "\\x%02X" % byte
            else:
                out += chr(byte)
        return '"' + out + '"'
    os.makedirs(os.path.join(HERE, "dict"), exist_ok=True)
    with open(os.path.join(HERE, "dict", name), "w") as f:
        f.write("# libFuzzer dictionary, written by fuzz/make_seeds.py\n")
        for token in tokens:
            f.write(quote(token) + "\n")


def main():
    write("FuzzHTTPRequest", [bytes([sel]) + r for r in REQUESTS for sel in (0, 1)])
    write("FuzzHTTPResponse", [bytes([sel]) + r for sel, r in RESPONSES] + [bytes([4 | sel]) + r for sel, r in RESPONSES if sel != 1])
    write("FuzzJSON", [bytes([sel]) + d for d in JSON_DOCS for sel in (0x3F, 0xC0)])
    with open(os.path.join(ROOT, "gateway.conf.example"), "rb") as f:
        example = f.read()
    write("FuzzTOML", TOML_DOCS + [example])
    write("FuzzJWT", JWT_ITEMS)
    write("FuzzBase64URL", BASE64_ITEMS)
    for name, tokens in DICTS.items():
        write_dict(name, tokens)


if __name__ == "__main__":
    main()
