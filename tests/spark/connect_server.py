"""A Spark Connect server on loopback, as a cluster's driver would serve one: the JVM that
pyspark's own jars start (`SparkConnectServer`), keeping its tables in a given folder."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pyspark

STARTED = "Spark Connect server started at"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def connect_server(spark_dir: Path, timeout_s: float = 300.0) -> Iterator[str]:
    """Runs a server whose warehouse folder is `<spark_dir>/warehouse` (its metastore
    beside it) and yields its URL, `sc://127.0.0.1:<port>`."""
    home = Path(pyspark.__file__).parent
    port = _free_port()
    spark_dir.mkdir(parents=True, exist_ok=True)
    log = spark_dir / "connect-server.log"
    argv = [
        str(home / "bin" / "spark-submit"),
        "--class", "org.apache.spark.sql.connect.service.SparkConnectServer",
        "--master", "local[2]",
        "--conf", "spark.connect.grpc.binding.address=127.0.0.1",
        "--conf", f"spark.connect.grpc.binding.port={port}",
        "--conf", f"spark.sql.warehouse.dir={spark_dir / 'warehouse'}",
        "--conf", "spark.sql.catalogImplementation=hive",
        "--conf", "spark.hadoop.javax.jdo.option.ConnectionURL="
        f"jdbc:derby:;databaseName={spark_dir / 'metastore'};create=true",
        "--conf", "spark.ui.enabled=false",
        "--conf", "spark.sql.session.timeZone=UTC",
        "--driver-java-options", f"-Dderby.stream.error.file={spark_dir / 'derby.log'}",
        "spark-internal",
    ]  # fmt: skip
    with log.open("wb") as out:
        server = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "SPARK_HOME": str(home)}
        )
    try:
        deadline = time.monotonic() + timeout_s
        while STARTED not in log.read_text(errors="replace"):
            if server.poll() is not None:
                raise RuntimeError(f"the Spark Connect server exited: {log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"no Spark Connect server after {timeout_s} s: see {log}")
            time.sleep(0.2)  # polling the server's log for the line it writes when ready
        yield f"sc://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
