"""Command line of the course.

``python -m tfcourse fetch`` fills the data cache for an offline workshop day;
``strip`` cleans notebooks for commit; ``student``, ``slides`` and ``course`` build the student
versions, the slide decks and the rendered course into ``build/``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tfcourse import data
from tfcourse.config import PATHS, PROFILE_NAMES


def _notebooks(given: list[str]) -> list[Path]:
    """The notebooks named on the command line, or every ``notebooks/NN_*.ipynb``."""
    if given:
        missing = [p for p in given if not Path(p).is_file()]
        if missing:
            raise FileNotFoundError(f"no such notebook: {', '.join(missing)}")
        return [Path(p) for p in given]
    found = sorted(PATHS.notebooks.glob("[0-9][0-9]_*.ipynb"))
    if not found:
        raise FileNotFoundError(f"no notebooks matching {PATHS.notebooks}/NN_*.ipynb")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tfcourse", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    fetch = sub.add_parser("fetch", help="download and verify Fashion-MNIST into data/fashion-mnist")
    fetch.add_argument("--dest", default=None, help="cache directory (default: data/fashion-mnist)")
    strip = sub.add_parser("strip", help="strip notebook outputs (but checked cells) and fix cell ids")
    strip.add_argument("notebooks", nargs="+")

    nb_help = "notebooks (default: every notebooks/NN_*.ipynb)"
    student = sub.add_parser("student", help="write student versions (solutions -> stubs) to build/student")
    student.add_argument("notebooks", nargs="*", help=nb_help)
    student.add_argument("--out", type=Path, default=PATHS.build / "student", help="output directory")
    student.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if --out differs from what would be written",
    )
    slides = sub.add_parser("slides", help="build reveal.js slide decks in build/slides")
    slides.add_argument("notebooks", nargs="*", help=nb_help)
    slides.add_argument("--out", type=Path, default=PATHS.build / "slides", help="output directory")
    slides.add_argument(
        "--source",
        choices=("auto", "executed", "committed"),
        default="auto",
        help="build from the executed notebooks in build/course (auto: when present and up to date)",
    )
    slides.add_argument(
        "--cdn",
        action="store_true",
        help="load reveal.js from a CDN instead of a local npm copy (needs a network)",
    )
    course = sub.add_parser("course", help="execute every notebook into build/course, with results.json")
    course.add_argument("notebooks", nargs="*", help=nb_help)
    course.add_argument(
        "--profile", default="full", help=f"one of {', '.join(PROFILE_NAMES)} (default: full)"
    )
    course.add_argument("--out", type=Path, default=PATHS.build / "course", help="output directory")
    course.add_argument(
        "--timeout", type=int, default=None, help="per-cell timeout in seconds (default: none)"
    )
    course.add_argument(
        "--table", action="store_true", help="only print the results table of --out/results.json"
    )
    course.add_argument(
        "--record",
        type=Path,
        default=None,
        help="also merge this full-profile run into a committed record, e.g. results/full.json",
    )
    readme = sub.add_parser(
        "readme", help="regenerate the README's full-profile table from results/full.json"
    )
    readme.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if the README's table is out of date"
    )
    args = parser.parse_args(argv)

    try:
        return _run(args)
    except (FileNotFoundError, ValueError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    if args.command == "fetch":
        try:
            paths = data.fetch(args.dest)
        except data.DataError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        for path in paths:
            print(f"ok  {path}")
        print("Fashion-MNIST is cached and verified; the notebooks can now run offline.")
    elif args.command == "strip":
        from tfcourse.build.hygiene import strip_file

        for path in args.notebooks:
            print(("stripped  " if strip_file(path) else "clean     ") + path)
    elif args.command == "student":
        from tfcourse.build.student import generate

        paths = generate(_notebooks(args.notebooks), args.out, check=args.check)
        if args.check:
            for path in paths:
                print(f"out of date  {path}")
            if paths:
                print(
                    f"run `python -m tfcourse student --out {args.out}` (or `make student`)", file=sys.stderr
                )
                return 1
            print(f"student versions in {args.out} are up to date")
        else:
            for path in paths:
                print(f"student  {path}")
    elif args.command == "slides":
        from tfcourse.build.slides import build_slides

        build_slides(_notebooks(args.notebooks), args.out, source=args.source, cdn=args.cdn)
    elif args.command == "course":
        import json

        from tfcourse.build.course import results_table, run_course

        if args.table:
            path = args.out / "results.json"
            if not path.is_file():
                raise FileNotFoundError(f"no {path}: run `make course` (python -m tfcourse course) first")
            print(results_table(json.loads(path.read_text())), end="")
            return 0
        if args.record is not None and args.profile != "full":
            raise ValueError(f"--record keeps full-profile runs only. Received: --profile {args.profile}")
        notebooks = _notebooks(args.notebooks)
        results = run_course(notebooks, args.out, profile=args.profile, timeout=args.timeout)
        print(results_table(results), end="")
        if args.record is not None:
            from tfcourse.build.record import merge_record

            ran = {p.stem for p in notebooks}  # results.json also keeps earlier runs: record this one only
            merge_record(
                {**results, "notebooks": {k: v for k, v in results["notebooks"].items() if k in ran}},
                args.record,
            )
            print(f"recorded in {args.record}; `python -m tfcourse readme` updates the README's table")
        return 0 if all(e["status"] == "ok" for e in results["notebooks"].values()) else 1
    elif args.command == "readme":
        from tfcourse.build.record import README_PATH, RECORD_PATH, update_readme

        stale = update_readme(check=args.check)
        if args.check and stale:
            print(f"{README_PATH.name} is out of date with {RECORD_PATH}: run `python -m tfcourse readme`")
            return 1
        print(f"{README_PATH.name}: table {'updated' if stale else 'up to date'} from {RECORD_PATH}")
    return 0
