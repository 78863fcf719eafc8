"""A Spark Thrift Server on loopback (HiveServer2's protocol, as a cluster serves it to JDBC,
ODBC and dbt-spark's `thrift` method): the JVM that pyspark's own jars start
(`HiveThriftServer2`), keeping its tables in a given folder."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pyspark
from pyhive import hive
from thrift.transport.TTransport import TTransportException

from tests.spark.connect_server import _free_port


def _answers(port: int) -> bool:
    """True once the server runs a statement for a new session on `port`."""
    try:  # a bare connection first: pyhive's transport logs every refusal as an error
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except OSError:
        return False
    try:
        connection = hive.connect(host="127.0.0.1", port=port, username="partnerpulse")
    except TTransportException:  # listening, not yet serving sessions
        return False
    try:
        cursor = connection.cursor()
        cursor.execute("select 1")
        return cursor.fetchall() == [(1,)]
    finally:
        connection.close()


@contextlib.contextmanager
def thrift_server(spark_dir: Path, timeout_s: float = 300.0) -> Iterator[int]:
    """Runs a server whose warehouse folder is `<spark_dir>/warehouse` (its Derby metastore
    in `<spark_dir>/server-metastore`) and yields its port on 127.0.0.1."""
    home = Path(pyspark.__file__).parent
    port = _free_port()
    spark_dir.mkdir(parents=True, exist_ok=True)
    log = spark_dir / "thrift-server.log"
    argv = [
        str(home / "bin" / "spark-submit"),
        "--class", "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2",
        "--master", "local[2]",
        "--conf", f"spark.sql.warehouse.dir={spark_dir / 'warehouse'}",
        "--conf", "spark.hadoop.javax.jdo.option.ConnectionURL="
        f"jdbc:derby:;databaseName={spark_dir / 'server-metastore'};create=true",
        "--conf", "spark.ui.enabled=false",
        "--conf", "spark.sql.session.timeZone=UTC",
        "--hiveconf", "hive.server2.thrift.bind.host=127.0.0.1",
        "--hiveconf", f"hive.server2.thrift.port={port}",
        "--driver-java-options", f"-Dderby.stream.error.file={spark_dir / 'derby.log'}",
        "spark-internal",
    ]  # fmt: skip
    with log.open("wb") as out:
        server = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "SPARK_HOME": str(home)}
        )
    try:
        deadline = time.monotonic() + timeout_s
        while not _answers(port):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no Spark Thrift Server after {timeout_s} s: see {log}")
            # Waits for the JVM to exit, at most half a second, between two connections.
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.wait(timeout=0.5)
                raise RuntimeError(f"the Spark Thrift Server exited: {log.read_text()[-2000:]}")
        yield port
    finally:
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
