"""Fixtures of the connector tests: a scripted HTTP stub, fast HTTP settings."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from conn_http_stub import StubServer  # noqa: E402
from conn_world import AS_OF, FAST_HTTP, settings_for  # noqa: E402

from connectors.config import HttpSettings, Settings  # noqa: E402
from source_servers.runtime import RunningSources, start_sources  # noqa: E402


@pytest.fixture
def stub():
    server = StubServer()
    yield server
    server.close()


@pytest.fixture
def other_host():
    """A second scripted server: another host (loopback, another port) than `stub`'s."""
    server = StubServer()
    yield server
    server.close()


@pytest.fixture
def fast_http() -> HttpSettings:
    return FAST_HTTP


# -- the stand-in sources on loopback, with a small generated world ----------------------


@pytest.fixture(scope="session")
def world_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small generated world (8 partners, 6 months), shared by every test."""
    from source_servers.generator import generate_world

    out = tmp_path_factory.mktemp("connectors_world")
    generate_world(out, seed=7, partners=8, months=6, as_of=AS_OF)
    return out


@pytest.fixture
def sources(world_dir: Path, tmp_path: Path) -> Iterator[RunningSources]:
    """The three servers on ephemeral loopback ports; each test gets its own world copy."""
    with start_sources(world_dir, landing_dir=tmp_path / "landing") as running:
        yield running


@pytest.fixture
def settings(sources: RunningSources, tmp_path: Path) -> Settings:
    """Settings pointing at the stand-ins, with tiny backoffs and small pages."""
    return settings_for(sources, tmp_path)


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[[RunningSources], Settings]:
    """`settings` for stand-ins a test starts itself (with other credentials, say)."""
    return lambda running: settings_for(running, tmp_path)
