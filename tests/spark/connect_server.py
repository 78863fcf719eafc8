"""A Spark Connect server on loopback, as a cluster's driver would serve one: the JVM that
pyspark's own jars start (`SparkConnectServer`), keeping its tables in a given folder."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from tests.spark.spark_submit import free_port, spark_server

STARTED = "Spark Connect server started at"


@contextlib.contextmanager
def connect_server(spark_dir: Path, timeout_s: float = 300.0) -> Iterator[str]:
    """Runs a server whose warehouse folder is `<spark_dir>/warehouse` (its metastore
    beside it) and yields its URL, `sc://127.0.0.1:<port>`."""
    port = free_port()
    args = [
        "--conf", "spark.connect.grpc.binding.address=127.0.0.1",
        "--conf", f"spark.connect.grpc.binding.port={port}",
        "--conf", "spark.sql.catalogImplementation=hive",
    ]  # fmt: skip
    with spark_server(
        "Spark Connect server",
        "org.apache.spark.sql.connect.service.SparkConnectServer",
        spark_dir,
        args,
        # The line the server writes to its log when it listens.
        lambda log: STARTED in log.read_text(errors="replace"),
        timeout_s=timeout_s,
    ):
        yield f"sc://127.0.0.1:{port}"
