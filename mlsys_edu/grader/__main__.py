"""``python -m mlsys_edu.grader grade ...`` (until the main CLI wires the subcommand in)."""

from __future__ import annotations

import argparse
import sys

from mlsys_edu.grader.cli import add_parser


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlsys_edu.grader")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
