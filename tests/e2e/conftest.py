"""Fixtures of the end-to-end suite.

- `stacks.get(name)`: an official SDK upstream (see support.UPSTREAMS) with a gateway in front, started
  once per session on first use. With E2E_DIRECT=1 the "gateway" is the upstream itself (for
  developing the suite before the gateway serves); tests of gateway behaviour are then skipped.
- `gateway_factory(...)`: a dedicated gateway for tests that signal, reconfigure or break it.
- `keys`: the API keys of every test gateway (one plain in the file, one as its sha256 form).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
for extra in (HERE, HERE / "clients"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

import support  # noqa: E402
from support import DIRECT, UPSTREAMS, Direct, Gateway, Upstream, new_key, sha256_form  # noqa: E402

# Managed processes the running test touched: their log tails are attached to a failure report.
_TOUCHED: list = []


@dataclass(frozen=True)
class Keys:
    """The API keys accepted by every test gateway."""

    plain: str           # written in the config file as is
    hashed: str          # written in the config file as sha256:<hex>

    @property
    def config_entries(self) -> list[str]:
        return [self.plain, sha256_form(self.hashed)]


@dataclass
class Stack:
    """An upstream and the gateway (or Direct stand-in) in front of it."""

    name: str
    upstream: Upstream
    gateway: Gateway | Direct

    @property
    def url(self) -> str:
        """The MCP endpoint as a client sees it (through the gateway)."""
        return self.gateway.url + self.upstream.spec.path


class Stacks:
    def __init__(self, workdir: Path, keys: Keys):
        self.workdir = workdir
        self.keys = keys
        self._upstreams: dict[str, Upstream] = {}
        self._stacks: dict[str, Stack] = {}

    def upstream(self, name: str) -> Upstream:
        if name not in self._upstreams:
            self._upstreams[name] = Upstream(name, UPSTREAMS[name], self.workdir)
        up = self._upstreams[name]
        _TOUCHED.append(up)
        return up

    def get(self, name: str) -> Stack:
        if name not in self._stacks:
            up = self.upstream(name)
            if DIRECT:
                gw: Gateway | Direct = Direct(up)
            else:
                gw = Gateway(name, up.url, self.workdir, self.keys.config_entries)
            self._stacks[name] = Stack(name, up, gw)
        stack = self._stacks[name]
        if isinstance(stack.gateway, Gateway):
            _TOUCHED.append(stack.gateway)
            assert stack.gateway.alive(), f"shared gateway {name} died:\n{stack.gateway.tail()}"
        return stack

    def close(self) -> None:
        for stack in self._stacks.values():
            if isinstance(stack.gateway, Gateway):
                stack.gateway.stop()
        for up in self._upstreams.values():
            up.stop()


@pytest.fixture(scope="session")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="session")
def keys() -> Keys:
    return Keys(plain=new_key(), hashed=new_key())


@pytest.fixture(scope="session")
def stacks(workdir, keys):
    s = Stacks(workdir, keys)
    yield s
    s.close()


@pytest.fixture
def need_gateway():
    """Skip in E2E_DIRECT mode: the test checks what the gateway itself does."""
    if DIRECT:
        pytest.skip("checks gateway behaviour (E2E_DIRECT=1)")


@pytest.fixture
def gateway_factory(workdir, keys, need_gateway):
    """Start dedicated gateways: gateway_factory(name, upstream_url, **Gateway kwargs)."""
    started: list[Gateway] = []

    def make(name: str, upstream_url: str, **kwargs) -> Gateway:
        kwargs.setdefault("api_keys", keys.config_entries)
        gw = Gateway(name, upstream_url, workdir, **kwargs)
        started.append(gw)
        _TOUCHED.append(gw)
        return gw

    yield make
    for gw in started:
        gw.stop()


@pytest.fixture
def auth(keys) -> dict:
    """The Authorization header of a valid key (empty in direct mode, where no gateway checks it)."""
    return {} if DIRECT else {"Authorization": f"Bearer {keys.plain}"}


@pytest.fixture(autouse=True)
def _reset_touched():
    _TOUCHED.clear()
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and call.when in ("setup", "call"):
        seen = set()
        for m in _TOUCHED:
            if id(m) in seen:
                continue
            seen.add(id(m))
            report.sections.append((f"log of {m.name} (last lines)", m.tail(30)))


def pytest_report_header(config):
    mode = "DIRECT to upstreams (E2E_DIRECT=1)" if DIRECT else f"through {support.GATEHOUSE_BIN}"
    return [f"gatehouse e2e: {mode}; 1.x python: {support.V1_PYTHON}"]
