"""A Spark Thrift Server on loopback (HiveServer2's protocol, as a cluster serves it to JDBC,
ODBC and dbt-spark's `thrift` method): the JVM that pyspark's own jars start
(`HiveThriftServer2`), keeping its tables in a given folder."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path

from pyhive import hive
from thrift.transport.TTransport import TTransportException

from tests.spark.spark_submit import free_port, spark_server


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
    port = free_port()
    args = [
        "--hiveconf", "hive.server2.thrift.bind.host=127.0.0.1",
        "--hiveconf", f"hive.server2.thrift.port={port}",
    ]  # fmt: skip
    with spark_server(
        "Spark Thrift Server",
        "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2",
        spark_dir,
        args,
        lambda _log: _answers(port),
        metastore="server-metastore",
        timeout_s=timeout_s,
    ):
        yield port
