"""Fixtures for the stand-in source server tests: a small world and running servers."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
import requests

from source_servers.generator import generate_world
from source_servers.runtime import RunningSources, start_sources

AS_OF = dt.date(2024, 6, 30)


@pytest.fixture(scope="session")
def world_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small generated world (8 partners, 6 months), shared by every test."""
    out = tmp_path_factory.mktemp("world")
    generate_world(out, seed=7, partners=8, months=6, as_of=AS_OF)
    return out


@pytest.fixture
def sources(world_dir: Path, tmp_path: Path) -> Iterator[RunningSources]:
    """The three servers on ephemeral loopback ports, each test with its own world copy."""
    with start_sources(world_dir, landing_dir=tmp_path / "landing") as running:
        yield running


@pytest.fixture
def api(sources: RunningSources, world_dir: Path) -> Iterator[SourceClient]:
    """A client of the running servers (and of the world file behind them)."""
    with requests.Session() as http:
        yield SourceClient(sources, http, world_dir)


@pytest.fixture
def http(api: SourceClient) -> requests.Session:
    """The HTTP session of `api`, for raw requests."""
    return api.http


class SourceClient:
    """Small helpers speaking each system's protocol, for the tests."""

    def __init__(self, sources: RunningSources, http: requests.Session, world_dir: Path) -> None:
        self.sources = sources
        self.http = http
        self.world_dir = world_dir

    def world_rows(self, sql: str) -> list[tuple]:
        """Rows of a query on the world file itself (the ground truth the servers serve)."""
        con = duckdb.connect(str(self.world_dir / "world.duckdb"), read_only=True)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()

    def crm_token(self) -> tuple[str, str]:
        """(access token, instance_url) from the CRM's client-credentials flow."""
        c = self.sources.credentials
        r = self.http.post(
            f"{self.sources.crm_url}/services/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": c.crm_client_id,
                "client_secret": c.crm_client_secret,
            },
            timeout=10,
        )
        r.raise_for_status()
        body = r.json()
        return body["access_token"], body["instance_url"]

    def erp_token(self) -> str:
        c = self.sources.credentials
        r = self.http.post(
            f"{self.sources.erp_url}/services/rest/auth/oauth2/v1/token",
            data={
                "grant_type": "client_credentials",
                "client_id": c.erp_client_id,
                "client_secret": c.erp_client_secret,
            },
            timeout=10,
        )
        r.raise_for_status()
        return r.json()["access_token"]

    def suiteql(
        self,
        token: str,
        q: str,
        *,
        limit: int = 1000,
        offset: int = 0,
        prefer: str | None = "transient",
    ) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"}
        if prefer is not None:
            headers["Prefer"] = prefer
        return self.http.post(
            f"{self.sources.erp_url}/services/rest/query/v1/suiteql",
            params={"limit": limit, "offset": offset},
            json={"q": q},
            headers=headers,
            timeout=30,
        )

    def portal_get(self, resource: str, key: str | None = None, **params) -> requests.Response:
        key = key if key is not None else self.sources.credentials.portal_api_key
        return self.http.get(
            f"{self.sources.portal_url}/api/v2/{resource}",
            params=params,
            headers={"X-API-Key": key},
            timeout=10,
        )


def serve(world_dir: Path, *extra: str, stdout=subprocess.PIPE) -> subprocess.Popen:
    """`partnerpulse sources serve` of `world_dir` on ephemeral ports, as a process of its
    own (unbuffered, text, stderr piped)."""
    argv = [sys.executable, "-m", "source_servers.cli", "serve", "--world", str(world_dir)]
    argv += [*extra, "--crm-port", "0", "--erp-port", "0", "--portal-port", "0"]
    return subprocess.Popen(
        argv,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
