"""Command line: ``python -m tfcourse fetch`` fills the data cache for an offline workshop day."""

from __future__ import annotations

import argparse
import sys

from tfcourse import data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tfcourse", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    fetch = sub.add_parser("fetch", help="download and verify Fashion-MNIST into data/fashion-mnist")
    fetch.add_argument("--dest", default=None, help="cache directory (default: data/fashion-mnist)")
    strip = sub.add_parser("strip", help="strip notebook outputs (but checked cells) and fix cell ids")
    strip.add_argument("notebooks", nargs="+")
    args = parser.parse_args(argv)

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
        from tfcourse.notebooks import strip_file

        for path in args.notebooks:
            print(("stripped  " if strip_file(path) else "clean     ") + path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
