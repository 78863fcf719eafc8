"""The pipeline the operations tests share, and the `dagster dev` started on it.

A small world (16 partners, 14 months to 2026-11-22) is served by the stand-in servers and
the whole pipeline is built once, in-process, into a warehouse under a temporary
DAGSTER_HOME with the repository's dagster.yaml. test_ops_automation ticks schedules and
sensors against it; test_ops_webserver drives `dagster dev` on it through GraphQL. Both
modules carry the `ops_pipeline` group, so they run on one worker, one after the other.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.server
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import requests

from orchestration.definitions import defs
from orchestration.partitions import whole_history_tags
from orchestration.resources import patched_environ
from tests.conftest import dagster_home, seed_dbt_target

REPO = Path(__file__).resolve().parents[2]
AS_OF = dt.date(2026, 11, 22)
SECRETS = {
    "PARTNERPULSE_CRM_CLIENT_SECRET": "demo-crm-secret",
    "PARTNERPULSE_ERP_CLIENT_SECRET": "demo-erp-secret",
    "PARTNERPULSE_PORTAL_API_KEY": "demo-portal-key",
}

DAGSTER_DEV_LOCATION = "orchestration.definitions"
STARTUP_DEADLINE_S = 240
STOP_DEADLINE_S = 60
POLL_INTERVAL_S = 0.5  # between readiness and status polls, always under a deadline


@dataclass
class DagsterDev:
    """`dagster dev` (webserver, daemon, code server) on an ephemeral port, with a Dagster
    home and a dbt target folder of its own; stopped with SIGTERM (`env
    --default-signal=INT,TERM`, see docs/operations.md), and it must exit by itself."""

    url: str
    home: Path
    proc: subprocess.Popen = field(repr=False)

    @classmethod
    def start(cls, env: dict[str, str], root: Path) -> DagsterDev:
        home = dagster_home(root / "dagster_dev_home")
        target = root / "dagster_dev_dbt_target"
        target.mkdir()
        seed_dbt_target(target)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        bin_dir = Path(sys.executable).parent
        env = {
            **os.environ,
            **env,
            "DAGSTER_HOME": str(home),
            "DBT_TARGET_PATH": str(target),
            # `dagster dev` re-parses the dbt project with the `dbt` found on PATH.
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        argv = ["env", "--default-signal=INT,TERM", str(bin_dir / "dagster"), "dev"]
        argv += ["-m", DAGSTER_DEV_LOCATION, "-d", str(REPO), "-h", "127.0.0.1", "-p", str(port)]
        with (home / "dagster-dev.log").open("w") as log:
            proc = subprocess.Popen(
                argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        return cls(f"http://127.0.0.1:{port}", home, proc)

    def query(self, text: str, variables: dict | None = None) -> dict:
        response = requests.post(
            f"{self.url}/graphql", json={"query": text, "variables": variables or {}}, timeout=60
        )
        response.raise_for_status()
        body = response.json()
        assert "errors" not in body, body["errors"]
        return body["data"]

    def wait_until_loaded(self) -> None:
        """Polls GraphQL until the code location has loaded, within the deadline."""
        deadline = time.monotonic() + STARTUP_DEADLINE_S
        last: object = None
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"dagster dev exited with {self.proc.returncode}"
            try:
                data = self.query(
                    "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus "
                    "locationOrLoadError { __typename ... on PythonError { message } } } } } }"
                )
            except requests.RequestException as exc:  # not listening yet
                last = exc
            else:
                last = entries = data["workspaceOrError"]["locationEntries"]
                if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                    for entry in entries:
                        kind = entry["locationOrLoadError"]["__typename"]
                        assert kind == "RepositoryLocation", entry
                    return
            time.sleep(POLL_INTERVAL_S)
        pytest.fail(f"dagster dev not ready within {STARTUP_DEADLINE_S}s: {last}")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=STOP_DEADLINE_S)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            pytest.fail(f"dagster dev did not stop within {STOP_DEADLINE_S}s of SIGTERM")
        assert code == 0, (self.home / "dagster-dev.log").read_text()[-3000:]


@dataclass
class Pipeline:
    """The built pipeline: its environment, stand-in sources and Dagster instance, and the
    `dagster dev` started on it (None when no test of this session drives one)."""

    env: dict[str, str]
    sources: object  # source_servers.runtime.RunningSources
    instance: dg.DagsterInstance
    tmp: Path
    dagster_dev: DagsterDev | None = None

    @property
    def warehouse(self) -> Path:
        return Path(self.env["PARTNERPULSE_WAREHOUSE"])

    @property
    def landing(self) -> Path:
        return Path(self.env["PARTNERPULSE_LANDING_DIR"])

    @contextlib.contextmanager
    def environ(self, **extra: str) -> Iterator[None]:
        """The pipeline's PARTNERPULSE_* variables in os.environ while the block runs."""
        with patched_environ({**self.env, **extra}):
            yield

    def run(self, job_name: str, request: dg.RunRequest | None = None, **kwargs):
        """Executes `job_name` in-process as `request` asks (partition, tags)."""
        job = defs.resolve_job_def(job_name)
        tags = dict(request.tags) if request else {}
        partition_key = request.partition_key if request else None
        with self.environ():
            return job.execute_in_process(
                instance=self.instance,
                partition_key=partition_key,
                tags=tags,
                raise_on_error=False,
                **kwargs,
            )

    def sql(self, query: str) -> list[tuple]:
        con = duckdb.connect(str(self.warehouse), read_only=True)
        try:
            return con.sql(query).fetchall()
        finally:
            con.close()


def _drives_dagster_dev(session: pytest.Session) -> bool:
    return any(item.path.name == "test_ops_webserver.py" for item in session.items)


@pytest.fixture(scope="session")
def pipeline(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pipeline]:
    """The world served and the whole pipeline built once; then `dagster dev` is started
    on it if test_ops_webserver runs in this session.

    `dagster dev` starts as soon as the pipeline is built, while test_ops_automation's
    in-process tests run: its start-up is two thirds waiting (processes importing, the
    code location loading), and on a busy CI machine it took 110 s of this worker's time
    when it began only once the webserver tests did.
    """
    from source_servers.generator import ensure_world
    from source_servers.runtime import start_sources

    tmp = tmp_path_factory.mktemp("ops")
    home = dagster_home(tmp / "dagster_home")
    world = ensure_world(tmp / "worlds", seed=7, partners=16, months=14, scale=1.0, as_of=AS_OF)
    with start_sources(world, landing_dir=tmp / "landing") as running:
        env = {
            **running.env(),
            "PARTNERPULSE_WAREHOUSE": str(tmp / "warehouse.duckdb"),
            "PARTNERPULSE_AS_OF": AS_OF.isoformat(),
            "PARTNERPULSE_STANDIN_MONTHS": "14",
            "PARTNERPULSE_HTTP_MAX_RETRIES": "1",
            "PARTNERPULSE_HTTP_BACKOFF_FACTOR": "0.01",
            "PARTNERPULSE_SOURCE_STEP_RETRIES": "0",
        }
        assert {k: env[k] for k in SECRETS} == SECRETS
        with dg.DagsterInstance.from_config(str(home)) as instance:
            built = Pipeline(env, running, instance, tmp)
            job = defs.resolve_implicit_global_asset_job_def()
            with built.environ():
                result = job.execute_in_process(
                    instance=instance, tags=whole_history_tags(), raise_on_error=False
                )
            assert result.success, "the initial build failed"
            if not _drives_dagster_dev(request.session):
                yield built
                return
            built.dagster_dev = DagsterDev.start(env, tmp)
            try:
                yield built
            finally:
                built.dagster_dev.stop()


HOOK_TOKEN = "T0KEN-in-the-webhook-path"


@pytest.fixture()
def webhook() -> Iterator[tuple[str, queue.Queue]]:
    """A Slack-style webhook receiver on 127.0.0.1: (URL, queue of the JSON bodies)."""
    bodies: queue.Queue = queue.Queue()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length", 0))
            bodies.put((self.path, self.rfile.read(length).decode()))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/services/{HOOK_TOKEN}", bodies
    finally:
        server.shutdown()
        server.server_close()
