"""bench/run [converge|readiness|server|serving ...] [--runs N] [--quick]: run benchmarks, write bench/results/<part>.json.

`bench/run report` prints the markdown tables of the results already there (docs/performance.md).
"""

import argparse
import importlib
import json
import sys
import time
import traceback

from bench.common import RESULTS_DIR, LoadSampler, envelope, log, write_result

PARTS = ("converge", "readiness", "server", "serving")
DEFAULT_RUNS = {"converge": 3, "readiness": 10, "server": 3, "serving": 3}
QUICK_RUNS = {"converge": 1, "readiness": 3, "server": 1, "serving": 1}


def parse(argv):
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__)
    parser.add_argument("parts", nargs="*", metavar="part", help=f"any of {', '.join(PARTS)} (default: all)")
    parser.add_argument(
        "--runs", type=int, help="repetitions (default: converge 3, readiness 10 per contender, server 3 rounds)"
    )
    parser.add_argument("--quick", action="store_true", help="reduced sizes, to check that the benchmark works")
    parser.add_argument(
        "--results-dir", default=str(RESULTS_DIR), help="where the JSON results go (default: bench/results)"
    )
    args = parser.parse_args(argv)
    for part in args.parts:
        if part not in PARTS:
            parser.error(f"unknown part {part!r}; choose from {', '.join(PARTS)}")
    args.parts = args.parts or list(PARTS)
    return args


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["report"]:
        from bench import report

        args = argparse.ArgumentParser(prog="bench/run report")
        args.add_argument("report")
        args.add_argument("--results-dir", default=str(RESULTS_DIR))
        return report.main(args.parse_args(argv).results_dir)
    args = parse(argv)
    failed = []
    for part in args.parts:
        part_args = argparse.Namespace(**vars(args))
        part_args.runs = args.runs if args.runs is not None else (QUICK_RUNS if args.quick else DEFAULT_RUNS)[part]
        module = importlib.import_module(f"bench.{part}")
        log(f"{part}: starting (runs={part_args.runs}, quick={args.quick})")
        started = time.time()
        try:
            with LoadSampler() as load:
                body = module.run(part_args)
        except Exception:  # noqa: BLE001 - one part failing must not hide the others
            log(f"{part}: FAILED\n{traceback.format_exc()}")
            failed.append(part)
            continue
        result = envelope(part, part_args, started, load, body)
        path = write_result(part, result, args.results_dir)
        log(f"{part}: done in {result['duration_s']}s -> {path}")
        print(json.dumps({"part": part, "targets": body.get("targets"), "load": result["load"]}, indent=2), flush=True)
    if failed:
        log(f"failed parts: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
