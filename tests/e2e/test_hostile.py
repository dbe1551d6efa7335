"""Slow and hostile clients: slowloris, slow body and slow read (Debian's `slowhttptest`, each bounded
to a few seconds) while a normal client keeps asking; a client that opens an SSE stream and never
reads it; a burst of connections that are opened and dropped. The service stays available to the
normal client, memory and descriptors stay bounded and come back once the attack ends.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import statistics
import subprocess
import threading
import time

import pytest

from hostile_support import RecordingUpstream, fd_count, raw_exchange, rss_kib, split_responses
from support import Gateway, wait_until

pytestmark = pytest.mark.usefixtures("need_gateway")

SLOWHTTPTEST = shutil.which("slowhttptest")


def raise_descriptor_limit(wanted: int = 16384) -> int:
    """Raises this process's soft RLIMIT_NOFILE (inherited by the gateway and slowhttptest) towards the
    hard limit: 1,200 attack connections need more than the common default of 1,024."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


@pytest.fixture(scope="module")
def rig(workdir, keys):
    from support import DIRECT

    if DIRECT:
        pytest.skip("checks gateway behaviour (E2E_DIRECT=1)")
    if raise_descriptor_limit() < 4096:
        pytest.skip("RLIMIT_NOFILE hard limit under 4,096: cannot hold 1,200 attack connections")
    upstream = RecordingUpstream()
    gw = Gateway("hostile", upstream.url, workdir, keys.config_entries, response_timeout="3s",
                 server_extra='header_timeout = "10s"\nidle_timeout = "5s"')
    try:
        yield upstream, gw, keys.plain.encode()
    finally:
        gw.stop()
        upstream.close()


def need_slowhttptest():
    if SLOWHTTPTEST is None:
        if os.environ.get("CI"):
            pytest.fail("slowhttptest is missing (Debian package slowhttptest; .ci/run installs it)")
        pytest.skip("slowhttptest not installed (apt-get install slowhttptest)")


class Prober:
    """A normal client asking every 0.2 s on a fresh connection while an attack runs."""

    def __init__(self, port: int, key: bytes):
        self.port = port
        self.request = (b"GET /probe HTTP/1.1\r\nHost: gw\r\nConnection: close\r\nAuthorization: Bearer " + key
                        + b"\r\n\r\n")
        self.results: list[tuple[bool, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "Prober":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            start = time.monotonic()
            ok = False
            try:
                data, _ = raw_exchange(self.port, self.request, timeout=3, quiet=3)
                responses = split_responses(data)
                ok = bool(responses) and responses[0][0] == 200
            except OSError:
                ok = False
            self.results.append((ok, time.monotonic() - start))
            self._stop.wait(0.2)

    def check(self, what: str) -> None:
        assert len(self.results) >= 10, f"{what}: only {len(self.results)} probes ran"
        failures = [r for r in self.results if not r[0]]
        latencies = sorted(r[1] for r in self.results if r[0])
        p95 = latencies[int(len(latencies) * 0.95) - 1] if latencies else None
        assert len(failures) <= len(self.results) // 20, (
            f"{what}: {len(failures)} of {len(self.results)} normal requests failed")
        assert p95 is not None and p95 < 1.5, f"{what}: p95 latency {p95}s (median {statistics.median(latencies)}s)"


def run_attack(args: list[str], seconds: int) -> str:
    proc = subprocess.run([SLOWHTTPTEST, *args, "-l", str(seconds)], capture_output=True, timeout=seconds + 30,
                          stdin=subprocess.DEVNULL)
    return proc.stdout.decode(errors="replace") + proc.stderr.decode(errors="replace")


def max_connected(out: str) -> int:
    """The most connections slowhttptest reported open at once."""
    plain = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", out)
    return max((int(n) for n in re.findall(r"connected:\s+(\d+)", plain)), default=0)


def settle(gw, fds: int, slack: int = 4, seconds: float = 10) -> int:
    try:
        return wait_until(lambda: (n := fd_count(gw.pid)) <= fds + slack and n, seconds, what="descriptors")
    except TimeoutError:
        return fd_count(gw.pid)


def warm(upstream, gw, key) -> tuple[int, int]:
    upstream.mode = "ok"
    for _ in range(3):
        data, _ = raw_exchange(gw.port, b"GET /probe HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n"
                               b"Authorization: Bearer " + key + b"\r\n\r\n")
        assert split_responses(data)[0][0] == 200
    time.sleep(0.3)
    return fd_count(gw.pid), rss_kib(gw.pid)


def test_slowloris_1200_connections(rig):
    need_slowhttptest()
    upstream, gw, key = rig
    fds, rss = warm(upstream, gw, key)
    peak = [0, 0]

    def watch():
        while not done.is_set():
            peak[0] = max(peak[0], fd_count(gw.pid))
            peak[1] = max(peak[1], rss_kib(gw.pid))
            done.wait(0.25)

    done = threading.Event()
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    with Prober(gw.port, key) as prober:
        out = run_attack(["-H", "-c", "1200", "-r", "600", "-i", "1", "-x", "10", "-p", "2",
                          "-u", f"http://127.0.0.1:{gw.port}/mcp"], 10)
    done.set()
    watcher.join()
    prober.check("slowloris")
    assert max_connected(out) >= 1000, f"slowhttptest held fewer than 1,000 connections\n{out[-1500:]}"
    assert peak[0] >= fds + 1100, f"the attack did not get going (peak {peak[0]} descriptors)\n{out[-1500:]}"
    assert peak[1] - rss < 200 * 1024, f"RSS grew by {(peak[1] - rss) // 1024} MiB under slowloris"
    after = settle(gw, fds)
    assert after <= fds + 4, f"{after} descriptors after slowloris, {fds} before"
    assert gw.alive()


def test_slow_body(rig):
    need_slowhttptest()
    upstream, gw, key = rig
    fds, _ = warm(upstream, gw, key)
    with Prober(gw.port, key) as prober:
        out = run_attack(["-B", "-c", "400", "-r", "400", "-i", "1", "-s", "8192", "-x", "10", "-p", "2",
                          "-u", f"http://127.0.0.1:{gw.port}/mcp"], 8)
    prober.check("slow body")
    assert max_connected(out) >= 200, f"the attack did not get going\n{out[-1500:]}"
    after = settle(gw, fds)
    assert after <= fds + 4, f"{after} descriptors after the slow-body attack, {fds} before\n{out[-800:]}"


def test_slow_read(rig):
    need_slowhttptest()
    upstream, gw, key = rig
    fds, _ = warm(upstream, gw, key)
    with Prober(gw.port, key) as prober:
        out = run_attack(["-X", "-c", "400", "-r", "400", "-w", "1", "-y", "16", "-n", "2", "-z", "4", "-k", "10",
                          "-p", "2", "-u", f"http://127.0.0.1:{gw.port}/healthz"], 8)
    prober.check("slow read")
    assert max_connected(out) >= 200, f"the attack did not get going\n{out[-1500:]}"
    after = settle(gw, fds, seconds=15)
    assert after <= fds + 4, f"{after} descriptors after the slow-read attack, {fds} before\n{out[-800:]}"


def test_sse_client_that_never_reads_does_not_grow_memory(workdir, keys):
    """An upstream writes 4 KiB events as fast as it can to a client that never reads: the gateway
    stops reading the upstream once its buffers are full (back-pressure) instead of queueing."""
    upstream = RecordingUpstream(mode="sse_forever", event_size=4096, interval=0.0)
    gw = Gateway("sse-stall", upstream.url, workdir, keys.config_entries, response_timeout="3s")
    key = keys.plain.encode()
    try:
        fds = fd_count(gw.pid)
        rss_before = rss_kib(gw.pid)
        clients = []
        for _ in range(4):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.connect(("127.0.0.1", gw.port))
            s.sendall(b"GET /events HTTP/1.1\r\nHost: gw\r\nAccept: text/event-stream\r\nAuthorization: Bearer "
                      + key + b"\r\n\r\n")
            clients.append(s)
        samples = []
        for _ in range(12):
            time.sleep(0.5)
            samples.append((upstream.sse_bytes_sent, rss_kib(gw.pid)))
        sent_mid, rss_mid = samples[5]
        sent_end, rss_end = samples[-1]
        assert sent_end < 64 * 1024 * 1024, f"the upstream could write {sent_end} bytes to a stalled client"
        assert sent_end - sent_mid < 4 * 1024 * 1024, (
            f"the gateway kept reading the upstream: {sent_mid} -> {sent_end} bytes while nobody read")
        assert rss_end - rss_before < 64 * 1024, f"RSS {rss_before} -> {rss_end} KiB"
        assert rss_end - rss_mid < 8 * 1024, f"RSS still growing: {rss_mid} -> {rss_end} KiB"
        for s in clients:
            s.close()
        after = settle(gw, fds)
        assert after <= fds + 4, f"{after} descriptors after the stalled SSE clients left, {fds} before"
        assert gw.alive()
    finally:
        gw.stop()
        upstream.close()


def test_connection_flood_opened_and_dropped(rig):
    """2,000 connections opened and dropped at once (half with a partial head, some reset): nothing leaks."""
    upstream, gw, key = rig
    fds, _ = warm(upstream, gw, key)
    socks = []
    for i in range(2000):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", gw.port))
        except BlockingIOError:
            pass
        socks.append(s)
    time.sleep(0.5)
    for i, s in enumerate(socks):
        try:
            if i % 2:
                s.send(b"GET /mcp HTTP/1.1\r\nHost: gw\r\nX-Partial: ")
            if i % 7 == 0:
                from hostile_support import reset
                reset(s)
                continue
        except OSError:
            pass
        s.close()
    after = settle(gw, fds, seconds=10)
    assert after <= fds + 4, f"{after} descriptors after the flood, {fds} before"
    data, _ = raw_exchange(gw.port, b"GET /probe HTTP/1.1\r\nHost: gw\r\nConnection: close\r\nAuthorization: Bearer "
                           + key + b"\r\n\r\n")
    assert split_responses(data)[0][0] == 200


# --- resource limits -----------------------------------------------------------------------------------


def test_out_of_descriptors_backs_off_and_recovers(workdir, keys):
    """With RLIMIT_NOFILE at 256, 400 idle clients exhaust the gateway's descriptors: it must neither
    crash nor spin on the ready listener, and serve again as soon as descriptors come back."""
    import resource

    import psutil

    upstream = RecordingUpstream()
    gw = Gateway("nofile", upstream.url, workdir, keys.config_entries, server_extra='header_timeout = "30s"')
    key = keys.plain.encode()
    held: list[socket.socket] = []
    try:
        resource.prlimit(gw.pid, resource.RLIMIT_NOFILE, (256, 256))
        fds = fd_count(gw.pid)
        for _ in range(400):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(2)
            s.connect(("127.0.0.1", gw.port))
            held.append(s)
        wait_until(lambda: fd_count(gw.pid) >= 250, 10, what="the gateway to run out of descriptors")
        proc = psutil.Process(gw.pid)
        proc.cpu_percent(None)
        time.sleep(2)
        cpu = proc.cpu_percent(None)
        assert gw.alive(), gw.tail(20)
        assert cpu < 60, f"{cpu}% CPU while out of descriptors: the listener is spinning"
        for s in held:
            s.close()
        held.clear()
        start = time.monotonic()
        request = (b"GET /probe HTTP/1.1\r\nHost: gw\r\nConnection: close\r\nAuthorization: Bearer " + key
                   + b"\r\n\r\n")

        def serves() -> bool:
            try:
                data, _ = raw_exchange(gw.port, request, timeout=2, quiet=1)
                return bool(split_responses(data)) and split_responses(data)[0][0] == 200
            except OSError:
                return False

        wait_until(serves, 15, interval=0.2, what="the gateway to serve again")
        assert time.monotonic() - start < 15
        assert settle(gw, fds, seconds=10) <= fds + 4
    finally:
        for s in held:
            s.close()
        gw.stop()
        upstream.close()


class Load:
    """`threads` clients sending keep-alive requests back to back until stopped; every request must be
    answered 200 (a request written and not answered is counted as dropped)."""

    def __init__(self, port: int, key: bytes, threads: int = 4):
        self.port = port
        self.request = b"GET /probe HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer " + key + b"\r\n\r\n"
        self.ok = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def __enter__(self) -> "Load":
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=15)

    def _run(self) -> None:
        import rawhttp

        conn = None
        while not self._stop.is_set():
            try:
                if conn is None:
                    conn = rawhttp.Conn(self.port, timeout=5)
                conn.send(self.request)
                resp = conn.read_response()
                if resp.status == 200:
                    self.ok += 1
                else:
                    self.failures.append(f"status {resp.status}")
                if (resp.header("connection") or "").lower() == "close":
                    conn.close()
                    conn = None
            except Exception as error:  # noqa: BLE001 - every failure is a dropped request
                self.failures.append(repr(error))
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()


def test_repeated_sighup_under_load_drops_no_request(workdir, keys):
    import signal

    upstream = RecordingUpstream()
    gw = Gateway("hup-load", upstream.url, workdir, keys.config_entries)
    try:
        with Load(gw.port, keys.plain.encode()) as load:
            for _ in range(15):
                time.sleep(0.3)
                gw.signal(signal.SIGHUP)
            time.sleep(0.5)
        assert gw.alive(), gw.tail(20)
        assert not load.failures, f"{len(load.failures)} failed of {load.ok}: {load.failures[:5]}"
        assert load.ok > 100, f"only {load.ok} requests in 5 s"
        reloads = [e for e in gw.log_events() if e.get("details", {}).get("kind") == "config_reloaded"]
        assert len(reloads) >= 10, f"{len(reloads)} reloads logged for 15 SIGHUPs"
    finally:
        gw.stop()
        upstream.close()


def test_sigterm_under_load_drains(workdir, keys):
    """30 requests in flight (the upstream takes 1 s each) when SIGTERM arrives: all are answered, new
    connections are refused, and the gateway exits 0 once they are done."""
    import signal

    upstream = RecordingUpstream(delay=1.0)
    gw = Gateway("term-load", upstream.url, workdir, keys.config_entries, drain_timeout="10s")
    key = keys.plain.encode()
    request = b"GET /probe HTTP/1.1\r\nHost: gw\r\nConnection: close\r\nAuthorization: Bearer " + key + b"\r\n\r\n"
    results: list[int | None] = []

    def one() -> None:
        data, _ = raw_exchange(gw.port, request, timeout=8, quiet=8)
        responses = split_responses(data)
        results.append(responses[0][0] if responses else None)

    try:
        threads = [threading.Thread(target=one) for _ in range(30)]
        for t in threads:
            t.start()
        wait_until(lambda: upstream.accepted >= 1, 5, what="the first request to reach the upstream")
        time.sleep(0.4)
        gw.signal(signal.SIGTERM)
        time.sleep(0.2)
        try:
            late, _ = raw_exchange(gw.port, request, timeout=3, quiet=1)
        except OSError:
            late = b""
        assert not late.startswith(b"HTTP/1.1 200"), "a connection opened during the drain was served"
        for t in threads:
            t.join(timeout=15)
        assert results.count(200) == 30, f"answers during the drain: {results}"
        code = gw.wait(15)
        assert code == 0, f"exit status {code} after the drain\n{gw.tail(20)}"
    finally:
        gw.stop()
        upstream.close()
