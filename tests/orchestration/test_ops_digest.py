"""The run summary: a successful run is tagged with its failed warning checks and what is
new, and the digest alert names each new mis-reporting partner by name, once.

The pipeline is the one tests/orchestration/conftest.py builds; each run here publishes
into a Parquet folder of its own, so that its first publication has no predecessor.
"""

from __future__ import annotations

import json
import queue
from pathlib import Path

import duckdb
import pytest

from orchestration.assets.publish import SERVING_MARTS
from orchestration.digest import DIGEST_TAG, SUMMARY_TAG, WARNINGS_TAG
from orchestration.sensors import run_summary
from tests.orchestration.conftest import Pipeline
from tests.orchestration.test_ops_automation import DEADLINE_S, tick

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ops_pipeline")]


def _mis_reports(world: Path) -> set[str]:
    """'Name (id)' of every partner the generator made mis-report a month (its truth)."""
    truth = json.loads((world / "truth.json").read_text())
    ids = {
        c["partner_id"]
        for c in truth["cases"]
        if c["detail"].get("expected_status") in ("over_reported", "under_reported")
    }
    con = duckdb.connect(str(world / "world.duckdb"), read_only=True)
    try:
        names = dict(con.sql("select Id, Name from crm.account").fetchall())
    finally:
        con.close()
    return {f"{names[i]} ({i})" for i in ids}


def test_a_run_is_tagged_and_its_digest_names_the_new_mis_reports_once(
    pipeline: Pipeline,
    webhook: tuple[str, queue.Queue],
    tmp_path: Path,
) -> None:
    url, bodies = webhook
    (world,) = (pipeline.tmp / "worlds").iterdir()
    expected = _mis_reports(world)
    assert expected  # the world plants mis-reports
    env = {
        "PARTNERPULSE_SERVING_PARQUET_DIR": str(tmp_path / "parquet"),
        "PARTNERPULSE_SERVING_WAREHOUSE": str(tmp_path / "serving.duckdb"),
        "PARTNERPULSE_ALERT_WEBHOOK_URL": url,
    }
    cursor = tick(run_summary, pipeline, None).cursor  # watches from now
    runs = []
    for _ in range(2):
        with pipeline.environ(**env):
            result = pipeline.run("__ASSET_JOB", asset_selection=[SERVING_MARTS])
            assert result.success
            cursor = tick(run_summary, pipeline, cursor).cursor
        runs.append(pipeline.instance.get_run_by_id(result.run_id))

    # The first publication: every mis-report is new, named in the digest and the tag.
    _, body = bodies.get(timeout=DEADLINE_S)
    text = json.loads(body)["text"]
    named = {
        line.split(": ", 1)[1].split(")", 1)[0] + ")"
        for line in text.splitlines()
        if line.startswith(("• over reported", "• under reported"))
    }
    # Exactly the partners mis-reporting in the publication (earlier tests of this pipeline
    # may have added to the world's own), the world's planted ones among them.
    con = duckdb.connect()
    try:
        published = {
            f"{name} ({pid})"
            for pid, name in con.sql(
                f"select r.partner_id, p.partner_name from read_parquet("
                f"'{tmp_path}/parquet/current/rpt_partner_reconciliation.parquet') r join "
                f"read_parquet('{tmp_path}/parquet/current/dim_partners.parquet') p "
                "using (partner_id) where r.status in ('over_reported', 'under_reported')"
            ).fetchall()
        }
    finally:
        con.close()
    assert named == published and expected <= named
    first, second = (r.tags for r in runs)
    assert first[DIGEST_TAG] == "sent"
    assert all(name in first[SUMMARY_TAG] for name in expected)
    assert int(first[WARNINGS_TAG]) == 0  # only serving/marts ran: no check ran in it
    # The second: nothing changed, nothing is sent.
    assert bodies.empty()
    assert second[DIGEST_TAG] == "no" and "nothing new" in second[SUMMARY_TAG]
