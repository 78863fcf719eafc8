"""The rows a check's metadata and `ops.validation_results` name: the frame's own rows,
looked up by the checkpoint's index columns from what GX reports."""

from dataclasses import replace

import pandas as pd

from orchestration.checks import gx_context
from orchestration.checks.gx_rows import FrameRows


def completeness_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "partner_id": ["P1", "P1", "P2", "P2", "P3", "P2"],
            "month_start": pd.to_datetime(
                ["2026-01-01", "2026-02-01", "2026-01-01", "2026-02-01", "2026-01-01", "2026-01-01"]
            ),
            "has_effective_report": [False, True, False, True, True, False],
            "erp_sales_usd": [10.0, 20.0, 30.0, None, 50.0, 60.0],
            "reason": ["late", None, "none sent", None, None, "withdrawn"],
        }
    )


def test_an_outcome_names_every_frame_row_of_its_keys_with_all_columns() -> None:
    frame = completeness_frame()
    run = gx_context.run_checkpoint("report_completeness", frame)
    (missing,) = [o for o in run.outcomes if o.rule == "report_missing"]
    rows = FrameRows(frame, run.index_columns)

    named = rows.rows_for(missing)

    # P2's January twice in the frame: both rows, once, in the order GX named the keys.
    assert [(r["partner_id"], r["erp_sales_usd"], r["reason"]) for r in named] == [
        ("P1", 10.0, "late"),
        ("P2", 30.0, "none sent"),
        ("P2", 60.0, "withdrawn"),
    ]
    assert all(r["month_start"] == pd.Timestamp("2026-01-01") for r in named)
    assert set(named[0]) == set(frame.columns)
    assert rows.rows_for(missing) == named  # asked again (the check's table, then storage)


def test_a_key_without_a_frame_row_is_named_as_reported_and_no_key_names_nothing() -> None:
    frame = completeness_frame()
    run = gx_context.run_checkpoint("report_completeness", frame)
    (missing,) = [o for o in run.outcomes if o.rule == "report_missing"]
    rows = FrameRows(frame, run.index_columns)
    # Dates as ISO text match the frame's timestamps; a key the frame lacks is kept as is.
    hits = [
        {"partner_id": "P3", "month_start": "2026-01-01"},
        {"partner_id": "P9", "month_start": "2026-01-01"},
    ]

    named = rows.rows_for(replace(missing, unexpected_rows=hits))

    assert [(r["partner_id"], r.get("erp_sales_usd")) for r in named] == [
        ("P3", 50.0),
        ("P9", None),
    ]
    assert rows.rows_for(replace(missing, unexpected_rows=[])) == []


def test_without_index_columns_every_row_is_named() -> None:
    frame = completeness_frame()
    run = gx_context.run_checkpoint("report_completeness", frame)
    (missing,) = [o for o in run.outcomes if o.rule == "report_missing"]

    named = FrameRows(frame, ()).rows_for(missing)

    assert [r["erp_sales_usd"] for r in named[:2]] == [10.0, 20.0]
    assert len(named) == len(frame)
