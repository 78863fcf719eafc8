"""`python -m benchmarks.pos_memory [--mb 5,50]`: peak memory of a POS sync of one big file.

For each size, one file of that many MB of good lines, and the same file with a bad last
row (the whole file is then quarantined), is synced into a new warehouse in a child
process; its peak RSS comes from `os.wait4` (benchmarks/proc.py). The figure must not grow
with the file: BENCHMARKS.md, "POS files".
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from benchmarks.proc import PYTHON, run
from connectors.pos_files import HEADER

PARTNER = "0015g00000AbCdEAAZ"
SYNC = (
    "import sys; from pathlib import Path; from connectors.config import Settings; "
    "from connectors.sync import sync_object; "
    "r = sync_object(Settings(landing_dir=Path(sys.argv[1]), spool_dir=Path(sys.argv[3]), "
    "warehouse_memory_limit=sys.argv[4]), "
    "Path(sys.argv[2]), 'pos', 'pos_reports'); "
    "print(r.rows_read, r.rows_merged, r.rows_quarantined)"
)


def write_file(path: Path, megabytes: int, bad_last_row: bool) -> int:
    """A POS file of about `megabytes` MB; returns its number of data rows."""
    rows = 0
    with path.open("w") as out:
        out.write(",".join(HEADER) + "\n")
        while out.tell() < megabytes * 1_000_000:
            rows += 1
            out.write(
                f"{PARTNER},2024-05,SKU-{rows % 997},2,150.50,EUR,End customer {rows % 50},"
                f"INV-{rows},2024-05-03\n"
            )
        if bad_last_row:
            rows += 1
            out.write(f"{PARTNER},2024-05,SKU-1,two,150.50,EUR,x,INV-x,2024-05-03\n")
    return rows


def measure(
    megabytes: int, bad_last_row: bool, work: Path, memory_limit: str
) -> tuple[int, float, float]:
    """(rows, peak RSS MB, wall s) of one sync of one file in a child process."""
    case = work / f"{megabytes}mb-{'bad' if bad_last_row else 'good'}-{memory_limit}"
    landing = case / "landing"
    landing.mkdir(parents=True)
    rows = write_file(landing / f"pos_{PARTNER}_2024-05.csv", megabytes, bad_last_row)
    done = run(
        [
            PYTHON,
            "-c",
            SYNC,
            str(landing),
            str(case / "w.duckdb"),
            str(case / "spool"),
            memory_limit,
        ],
        log=case / "sync.log",
    )
    read = int(done.log.read_text().splitlines()[-1].split()[0]) if done.log else 0
    assert read == rows, f"{read} rows read of {rows}"
    return rows, done.max_rss_mb, done.wall_s


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pos_memory", description=__doc__)
    parser.add_argument("--mb", default="5,50", help="file sizes in MB (comma-separated)")
    parser.add_argument(
        "--memory-limit",
        default="1GB,256MB",
        help="PARTNERPULSE_WAREHOUSE_MEMORY_LIMIT values to measure with (comma-separated)",
    )
    args = parser.parse_args(argv)
    print("| DuckDB memory limit | file | rows | last row | peak RSS | wall |")
    print("|---|---|---:|---|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="partnerpulse-pos-bench-") as tmp:
        for limit in args.memory_limit.split(","):
            for megabytes in (int(m) for m in args.mb.split(",")):
                for bad in (False, True):
                    rows, rss, wall = measure(megabytes, bad, Path(tmp), limit)
                    last = "bad (file quarantined)" if bad else "good"
                    print(
                        f"| {limit} | {megabytes} MB | {rows:,} | {last} | {rss:,.0f} MB "
                        f"| {wall:.1f} s |"
                    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
