"""The Redis rate-limit backend end to end (issue 6 item 2; PRODUCT.md §2 [rate_limit] backend = "redis"):
two gateway processes on one redis-server enforce one combined limit, keys stay independent, the
failure mode (`redis_failure = "allow" | "deny"`) applies and is logged when Redis is down, and the
gateway recovers by itself when Redis comes back.

Each test starts its own `redis-server` (Debian's package) on a free loopback port with persistence
off — never the system service — and stops it by its pid. Buckets refill slowly (one token every
20 s or slower) where a test counts, so nothing comes back during a test.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from pathlib import Path

import pytest

from browser_support import DEFAULT_HEADERS, get, touch
from browser_support import policy_gateway  # noqa: F401 (a fixture)
from support import EchoUpstream, Managed, free_port, port_accepts, wait_until

pytestmark = pytest.mark.usefixtures("need_gateway")

REDIS_SERVER = os.environ.get("E2E_REDIS_SERVER") or shutil.which("redis-server") or (
    "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None)


# --- a private redis-server and a tiny RESP client ---------------------------------------------------------


def resp_encode(*args) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


def resp_read(reader):
    line = reader.readline()
    if not line.endswith(b"\r\n"):
        raise ConnectionError(f"truncated reply {line!r}")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        return RedisReplyError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = reader.read(n + 2)
        return data[:-2]
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [resp_read(reader) for _ in range(n)]
    raise ConnectionError(f"bad reply {line!r}")


class RedisReplyError(str):
    """An error reply (`-ERR ...`)."""


class RedisServer(Managed):
    """`redis-server` on 127.0.0.1:<free port>, no persistence, stopped by pid; `restart` keeps the port."""

    def __init__(self, workdir: Path, name: str, extra: list[str] | None = None):
        self.port = free_port()
        self.workdir = workdir
        self.redis_name = name
        self.extra = extra or []
        self.password = None
        if "--requirepass" in self.extra:
            self.password = self.extra[self.extra.index("--requirepass") + 1]
        self._start()

    def _start(self) -> None:
        data = self.workdir / f"redis-{self.redis_name}"
        data.mkdir(exist_ok=True)
        argv = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", str(data), *self.extra]
        super().__init__(f"redis-{self.redis_name}", argv, self.workdir / f"redis-{self.redis_name}.log")
        try:
            wait_until(lambda: not self.alive() or port_accepts(self.port), 10, what="redis-server to listen")
        except TimeoutError:
            self.stop()
            raise
        if not self.alive():
            raise RuntimeError(f"redis-server exited:\n{self.tail()}")

    def restart(self) -> None:
        self.stop()
        wait_until(lambda: not port_accepts(self.port), 5, what="the old redis-server to go")
        self._start()

    def url(self, database: int = 0) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/{database}"

    def command(self, *args, database: int = 0):
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            reader = s.makefile("rb")
            prefix = []
            if self.password:
                prefix.append(("AUTH", self.password))
            if database:
                prefix.append(("SELECT", database))
            s.sendall(b"".join(resp_encode(*c) for c in prefix) + resp_encode(*args))
            for _ in prefix:
                reply = resp_read(reader)
                assert not isinstance(reply, RedisReplyError), reply
            return resp_read(reader)

    def bucket_keys(self, database: int = 0) -> list[str]:
        keys = self.command("KEYS", "gatehouse:rl:*", database=database)
        return sorted(k.decode() for k in keys)


@pytest.fixture
def redis_factory(workdir):
    if REDIS_SERVER is None:
        if os.environ.get("E2E_REQUIRE_REDIS") == "1":
            pytest.fail("redis-server is not installed (apt-get install redis-server)")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    started: list[RedisServer] = []

    def make(extra: list[str] | None = None) -> RedisServer:
        server = RedisServer(workdir, f"{len(started)}-{free_port()}", extra)
        started.append(server)
        touch(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def echo():
    up = EchoUpstream()
    yield up
    up.close()


def redis_table(url: str, capacity: int, refill: float, failure: str = "allow", per: str = "ip") -> str:
    return (f'enabled = true\ncapacity = {capacity}\nrefill_per_second = {refill}\nper = "{per}"\n'
            f'backend = "redis"\nredis_url = "{url}"\nredis_failure = "{failure}"')


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def remaining(resp) -> int:
    values = resp.header_all("RateLimit-Remaining")
    assert len(values) == 1 and values[0].isdigit(), resp
    return int(values[0])


def backend_events(gw) -> list[dict]:
    """Security events about the rate-limit backend failing (`rate_limit_backend_failed`; any kind naming
    Redis or the backend counts, not `rate_limited` refusals nor the `started` summary)."""
    out = []
    for e in gw.events():
        kind = str((e.get("details") or {}).get("kind", "")).lower()
        if e.get("event_type") == "security" and ("backend" in kind or "redis" in kind):
            out.append(e)
    return out


# --- one limit for every replica ----------------------------------------------------------------------------


def test_two_gateways_on_one_redis_enforce_one_limit(policy_gateway, redis_factory, echo, keys):
    redis = redis_factory()
    capacity = 6
    table = redis_table(redis.url(), capacity, 0.05)
    a = policy_gateway("redis-a", echo.url, {"rate_limit": table})
    b = policy_gateway("redis-b", echo.url, {"rate_limit": table, "server": "workers = 2"})
    before = len(echo.requests)
    answers = []
    start = time.monotonic()
    for i in range(2 * capacity):
        gw = a if i % 2 == 0 else b
        answers.append(get(gw.port, f"/shared/{i}", bearer(keys.plain)))
    elapsed = time.monotonic() - start
    assert elapsed < 10, f"{2 * capacity} requests took {elapsed:.1f}s"
    statuses = [r.status for r in answers]
    assert statuses == [200] * capacity + [429] * capacity, answers
    # One bucket, whichever gateway answered: the count goes down across both.
    assert [remaining(r) for r in answers[:capacity]] == list(range(capacity - 1, -1, -1)), answers
    for r in answers:
        assert r.header_all("RateLimit-Limit") == [str(capacity)], r
    for r in answers[capacity:]:
        assert r.json()["error"] == "Rate limit exceeded", r
        retry = r.header_all("Retry-After")
        assert len(retry) == 1 and 1 <= int(retry[0]) <= 20, r    # one token every 20 s
        for name, value in DEFAULT_HEADERS.items():
            assert r.header_all(name) == [value], (name, r)
    assert len(echo.requests) - before == capacity, "refused requests never reached the upstream"
    # The bucket lives in Redis, with a TTL (an idle bucket expires once it would be full again).
    names = redis.bucket_keys()
    assert any("127.0.0.1" in k for k in names), names
    for name in names:
        ttl = redis.command("PTTL", name)
        assert 0 < ttl <= (capacity / 0.05 + 1) * 1000, (name, ttl)


def test_two_clients_are_limited_independently_through_redis(policy_gateway, redis_factory, echo, keys):
    redis = redis_factory()
    gw = policy_gateway("redis-keys", echo.url, {"rate_limit": redis_table(redis.url(), 2, 0.01)})
    first = [get(gw.port, f"/one/{i}", bearer(keys.plain), source="127.0.0.2").status for i in range(3)]
    second = [get(gw.port, f"/two/{i}", bearer(keys.plain), source="127.0.0.3").status for i in range(3)]
    assert first == [200, 200, 429]
    assert second == [200, 200, 429]
    names = redis.bucket_keys()
    assert any("127.0.0.2" in k for k in names) and any("127.0.0.3" in k for k in names), names


def test_redis_url_with_password_and_database(policy_gateway, redis_factory, echo, keys):
    redis = redis_factory(["--requirepass", "e2e-redis-pw"])
    gw = policy_gateway("redis-auth", echo.url, {"rate_limit": redis_table(redis.url(database=5), 3, 0.01)})
    statuses = [get(gw.port, f"/auth/{i}", bearer(keys.plain)).status for i in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert redis.bucket_keys(database=5), "the bucket is in database 5"
    assert redis.bucket_keys(database=0) == []
    # The password is never logged.
    assert "e2e-redis-pw" not in gw.log_text()


# --- Redis down: the configured failure mode -----------------------------------------------------------------


@pytest.mark.parametrize("mode", ["allow", "deny"])
def test_redis_down_applies_the_failure_mode_and_logs_it(policy_gateway, redis_factory, echo, keys, mode):
    redis = redis_factory()
    gw = policy_gateway(f"redis-down-{mode}", echo.url, {"rate_limit": redis_table(redis.url(), 100, 0.01, mode)})
    assert get(gw.port, "/up", bearer(keys.plain)).status == 200
    redis.stop()
    before = len(echo.requests)
    answers = []
    for i in range(5):
        t0 = time.monotonic()
        answers.append(get(gw.port, f"/down/{i}", bearer(keys.plain)))
        took = time.monotonic() - t0
        assert took < 2.0, f"a request while Redis is down took {took:.2f}s (must not hang)"
    if mode == "allow":
        assert [r.status for r in answers] == [200] * 5, answers
        assert len(echo.requests) - before == 5
    else:
        assert all(r.status == 429 for r in answers), answers
        for r in answers:
            assert r.json()["error"] == "Rate limit exceeded", r
            assert r.header("Retry-After") is not None, r
        assert len(echo.requests) == before, "denied requests never reach the upstream"
    try:
        events = wait_until(lambda: backend_events(gw) or None, 5, what="the Redis failure event")
    except TimeoutError:
        raise AssertionError(f"no security event about the Redis failure:\n{gw.tail(30)}")
    e = events[0]
    assert e["ip_address"] == "127.0.0.1", e
    assert e["severity"] in ("medium", "high"), e
    assert mode in str(e["details"]), e          # the failure mode applied is in the event


def test_redis_never_reachable_at_start_still_serves_by_the_failure_mode(policy_gateway, echo, keys):
    """A Redis that is not there when the gateway starts is not a start-up error: the gateway serves by
    the failure mode until Redis appears."""
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed")
    url = f"redis://127.0.0.1:{free_port()}/0"
    gw = policy_gateway("redis-absent", echo.url, {"rate_limit": redis_table(url, 10, 0.01, "allow")})
    t0 = time.monotonic()
    assert get(gw.port, "/absent", bearer(keys.plain)).status == 200
    assert time.monotonic() - t0 < 2.0


def test_redis_restart_recovers_without_restarting_the_gateway(policy_gateway, redis_factory, echo, keys):
    redis = redis_factory()
    capacity = 12
    gw = policy_gateway("redis-restart", echo.url, {"rate_limit": redis_table(redis.url(), capacity, 0.01, "deny")})
    assert [get(gw.port, f"/a/{i}", bearer(keys.plain)).status for i in range(2)] == [200, 200]
    redis.stop()
    assert get(gw.port, "/b", bearer(keys.plain)).status == 429      # deny while Redis is down
    redis.restart()                                                   # empty: no buckets, no script
    passed = 0

    def recovered():
        nonlocal passed
        r = get(gw.port, "/c", bearer(keys.plain))
        assert r.status in (200, 429), r
        if r.status == 200:
            passed += 1
            return r
        return None

    try:
        first = wait_until(recovered, 10, interval=0.1, what="the gateway to use the restarted Redis")
    except TimeoutError:
        raise AssertionError(f"no recovery after the Redis restart:\n{gw.tail(30)}")
    assert remaining(first) == capacity - 1, first                  # a fresh bucket in the new Redis
    # Each event loop has its own connection and reconnects on its own back-off (at most a few seconds).
    time.sleep(2.5)
    answers = []
    while True:
        r = get(gw.port, "/d", bearer(keys.plain))
        answers.append(r)
        if r.status != 200 or len(answers) > capacity:
            break
        passed += 1
    # Every request after the recovery was counted in the new Redis, whichever loop took it, and the
    # limit bites there (a real 429 with the bucket's Retry-After, not the failure mode's).
    assert [r.status for r in answers[:-1]] == [200] * (len(answers) - 1) and answers[-1].status == 429, answers
    assert passed == capacity, answers
    assert int(answers[-1].header("Retry-After")) > 1, answers[-1]  # one token every 100 s
    assert redis.bucket_keys(), "the bucket is in the restarted Redis"
