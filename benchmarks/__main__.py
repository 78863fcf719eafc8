"""`python -m benchmarks [--scale small|medium|large|tiny] [--reps 3] [--out DIR]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks.harness import Options, run_benchmarks
from benchmarks.report import STAGES
from benchmarks.scales import SCALES, get_scale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument("--partners", type=int, help="override the scale's partners")
    parser.add_argument("--months", type=int, help="override the scale's months")
    parser.add_argument(
        "--reps", type=int, default=3, help="runs per measurement (>= 3 for figures)"
    )
    parser.add_argument(
        "--e2e-reps", type=int, help="runs of partnerpulse run (default: --reps; 0 skips them)"
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--workdir", type=Path, help="working folder (default: a new temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the working folder")
    parser.add_argument(
        "--latencies", default="0,100", help="injected latency per request, ms (comma-separated)"
    )
    parser.add_argument("--no-profile", action="store_true", help="skip the profiling pass")
    parser.add_argument(
        "--no-dlt", action="store_true", help="skip the dlt peer (its goal is then not measured)"
    )
    parser.add_argument(
        "--stages",
        default=",".join(STAGES),
        help=f"the stages to measure, comma-separated (default: all of {','.join(STAGES)});"
        " a subset names the results files after it",
    )
    parser.add_argument(
        "--engine",
        choices=("duckdb", "spark"),
        default="duckdb",
        help="spark: the e2e runs on DuckDB, then on a local Spark session, side by side",
    )
    parser.add_argument(
        "--parallel-e2e",
        action="store_true",
        help="run partnerpulse run alongside the other stages (smoke tests only: timings skew)",
    )
    args = parser.parse_args(argv)
    stages = tuple(x.strip() for x in args.stages.split(",") if x.strip())
    try:
        opts = Options(
            scale=get_scale(args.scale, args.partners, args.months),
            reps=args.reps,
            out_dir=args.out,
            workdir=args.workdir,
            keep=args.keep,
            latencies=tuple(float(x) for x in args.latencies.split(",") if x.strip()),
            e2e_reps=args.e2e_reps,
            parallel_e2e=args.parallel_e2e,
            profile=not args.no_profile,
            dlt=not args.no_dlt,
            stages=stages,
            engine=args.engine,
            command=["python", "-m", "benchmarks", *(argv if argv is not None else sys.argv[1:])],
        )
    except ValueError as exc:
        parser.error(str(exc))
    md, js = run_benchmarks(opts)
    print(f"wrote {md}\nwrote {js}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
