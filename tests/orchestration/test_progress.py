"""What a command-line run prints about dbt while a dbt step runs: every line goes to the
run's log file, and each quarter of an invocation's nodes done is said."""

from __future__ import annotations

import io

from orchestration.progress import EngineLog


def _node_lines(total: int, status: str = "OK created sql table model marts.x") -> str:
    return "".join(
        f"{n} of {total} START x [RUN]\n{n} of {total} {status}\n" for n in range(1, total + 1)
    )


def test_each_quarter_of_a_dbt_invocation_is_said_and_every_line_logged() -> None:
    said: list[str] = []
    sink = io.StringIO()
    log = EngineLog(sink, said.append)
    log.write(_node_lines(8))
    log.write("2026-12-04 - dagster - INFO - a log line\n")
    log.write(_node_lines(4, "PASS not_null_x"))  # the next invocation
    assert said == [f"    dbt: {n} of 8 nodes done" for n in (2, 4, 6, 8)] + [
        f"    dbt: {n} of 4 nodes done" for n in (1, 2, 3, 4)
    ]
    assert sink.getvalue().count("\n") == 2 * 8 + 1 + 2 * 4


def test_a_second_invocation_of_the_same_size_counts_from_zero() -> None:
    said: list[str] = []
    log = EngineLog(io.StringIO(), said.append)
    log.write(_node_lines(4))
    log.write(_node_lines(4, "FAIL unique_x"))
    assert said == [f"    dbt: {n} of 4 nodes done" for n in (1, 2, 3, 4)] * 2
