"""POS CSV drops of the generated world (plus hand-made bad files) through `sync_object`."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

from conn_world import pos_csv_rows, query

from connectors.sync import sync_object


def truth_cases(world_dir: Path, prefix: str) -> list[dict]:
    cases = json.loads((world_dir / "truth.json").read_text())["cases"]
    return [c for c in cases if c["case"].startswith(prefix)]


def data_rows(paths: list[Path]) -> int:
    total = 0
    for path in paths:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            total += sum(1 for r in list(csv.reader(fh))[1:] if r)
    return total


def derive(src: Path, dest: Path, edit) -> None:
    """Copy a good CSV, changing its second data row with `edit(row) -> row`."""
    with src.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    rows[2] = edit(list(rows[2]))
    with dest.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)


def test_world_pos_files_land_or_are_quarantined_whole(sources, settings, world_dir):
    landing = sources.landing_dir
    result = sync_object(settings, settings.warehouse, "pos", "pos_reports")
    files, rows = pos_csv_rows(landing)
    assert result.rows_read == rows == result.rows_merged + result.rows_quarantined
    assert result.details["files_seen"] == files

    bad = {c["detail"]["file"]: c for c in truth_cases(world_dir, "pos_")}
    assert bad, "the generated world carries bad POS files"
    assert sorted(Path(p).name for p in result.details["rejected_files"]) == sorted(bad)
    assert result.details["files_rejected"] == len(bad)
    wh = settings.warehouse
    for name, case in bad.items():
        detail = case["detail"]
        reasons = query(
            wh,
            "SELECT row_number, reason FROM raw_portal.pos_quarantine "
            f"WHERE file_name = '{name}' ORDER BY row_number",
        )
        assert len(reasons) == detail["rows"]
        assert query(
            wh,
            f"SELECT status, rows_read, rows_quarantined FROM raw_portal.pos_files "
            f"WHERE file_name = '{name}'",
        ) == [("rejected", detail["rows"], detail["rows"])]
        if case["case"] == "pos_bad_row":
            n = detail["row_number"]
            own = dict(reasons)[n]
            assert own.startswith("non-numeric quantity")
            assert {r for k, r in reasons if k != n} == {f"file rejected: row {n} {own}"}
        else:
            assert {r for _, r in reasons} == {
                "wrong header: missing column(s) quantity; unexpected column(s) 'qty'"
            }
    # loaded files: every row, with its amounts
    good = [p for p in landing.iterdir() if p.is_file() and p.name not in bad]
    expected_amount = 0.0
    for path in good:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            expected_amount += sum(float(r["amount"]) for r in csv.DictReader(fh))
    got = query(
        wh, "SELECT count(DISTINCT file_name), sum(amount) FROM raw_portal.pos_report_lines"
    )
    assert got[0][0] == len(good)
    assert abs(got[0][1] - expected_amount) < 1e-6


def test_bad_files_dropped_later_are_rejected_with_reasons(sources, settings):
    landing = sources.landing_dir
    first = sync_object(settings, settings.warehouse, "pos", "pos_reports")
    good = sorted(
        p
        for p in landing.iterdir()
        if p.name not in {Path(r).name for r in first.details["rejected_files"]}
    )[0]
    partner, period = good.stem.split("_")[1:3]
    other_period = "2023-01"
    cases = {
        f"pos_{partner}_{period}_r2.csv": (
            lambda r: [r[0], other_period, *r[2:]],
            f"period '{other_period}' disagrees with the file name",
        ),
        f"pos_{partner}_{period}_r3.csv": (
            lambda r: ["0018d0000399999AAA", *r[1:]],
            "partner_id '0018d0000399999AAA' disagrees",
        ),
        f"pos_{partner}_{period}_r4.csv": (
            lambda r: [*r[:8], "31/01/2024"],
            "unparseable sold_on date '31/01/2024'",
        ),
        f"pos_{partner}_{period}_r5.csv": (
            lambda r: [*r[:3], "1,5", *r[4:]],
            "non-numeric quantity '1,5'",
        ),
        f"pos_{partner}_{period}_r6.csv": (lambda r: r[:5], "missing column: 5 fields"),
    }
    for name, (edit, _) in cases.items():
        derive(good, landing / name, edit)
    misnamed = landing / f"POS-{partner}-{period}.csv"
    shutil.copy(good, misnamed)

    result = sync_object(settings, settings.warehouse, "pos", "pos_reports")
    assert result.details["files_unchanged"] == first.details["files_seen"]
    assert result.details["files_rejected"] == len(cases) + 1
    assert result.rows_merged == 0
    new_rows = data_rows([landing / n for n in cases] + [misnamed])
    assert result.rows_read == result.rows_quarantined == new_rows
    for name, (_, fault) in cases.items():
        own = query(
            settings.warehouse,
            "SELECT reason FROM raw_portal.pos_quarantine "
            f"WHERE file_name = '{name}' AND row_number = 2",
        )[0][0]
        assert fault in own, name
        others = query(
            settings.warehouse,
            "SELECT DISTINCT reason FROM raw_portal.pos_quarantine "
            f"WHERE file_name = '{name}' AND row_number <> 2",
        )
        assert others == [(f"file rejected: row 2 {own}",)]
    assert query(
        settings.warehouse,
        "SELECT status, partner_id, reason FROM raw_portal.pos_files "
        f"WHERE file_name = '{misnamed.name}'",
    ) == [
        ("rejected", None, "file name does not match pos_<partner_id>_<YYYY-MM>[_r<revision>].csv")
    ]
    runs = query(
        settings.warehouse,
        "SELECT rows_read, rows_merged, rows_quarantined FROM ops.sync_runs ORDER BY started_at",
    )
    assert all(read == merged + quarantined for read, merged, quarantined in runs)

    # The orchestrator moves the rejected files aside: they are not listed again.
    (landing / "rejected").mkdir()
    for path in result.details["rejected_files"]:
        shutil.move(path, landing / "rejected" / Path(path).name)
    after = sync_object(settings, settings.warehouse, "pos", "pos_reports")
    assert after.details["rejected_files"] == [] and after.rows_read == 0
