"""A Spark server on loopback started from pyspark's own jars (`spark-submit --class ...`),
keeping its tables in a given folder: what the Spark Connect and Thrift server fixtures
share (connect_server.py, thrift_server.py)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pyspark


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def spark_server(
    name: str,
    main_class: str,
    spark_dir: Path,
    args: Sequence[str],
    ready: Callable[[Path], bool],
    *,
    metastore: str = "metastore",
    timeout_s: float = 300.0,
) -> Iterator[None]:
    """Runs `main_class` on `local[2]` with its warehouse folder `<spark_dir>/warehouse`, its
    Derby metastore `<spark_dir>/<metastore>`, and `args`; returns once `ready(log)` says so,
    and stops it on exit. Its output goes to `<spark_dir>/<name>.log`."""
    home = Path(pyspark.__file__).parent
    spark_dir.mkdir(parents=True, exist_ok=True)
    log = spark_dir / f"{name.lower().replace(' ', '-')}.log"
    argv = [
        str(home / "bin" / "spark-submit"),
        "--class", main_class,
        "--master", "local[2]",
        "--conf", f"spark.sql.warehouse.dir={spark_dir / 'warehouse'}",
        "--conf", "spark.hadoop.javax.jdo.option.ConnectionURL="
        f"jdbc:derby:;databaseName={spark_dir / metastore};create=true",
        "--conf", "spark.ui.enabled=false",
        "--conf", "spark.sql.session.timeZone=UTC",
        "--driver-java-options", f"-Dderby.stream.error.file={spark_dir / 'derby.log'}",
        *args,
        "spark-internal",
    ]  # fmt: skip
    with log.open("wb") as out:
        server = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "SPARK_HOME": str(home)}
        )
    try:
        deadline = time.monotonic() + timeout_s
        while not ready(log):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {name} after {timeout_s} s: see {log}")
            # Waits for the JVM to exit, at most a fifth of a second, between two looks.
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.wait(timeout=0.2)
                raise RuntimeError(f"the {name} exited: {log.read_text()[-2000:]}")
        yield
    finally:
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
