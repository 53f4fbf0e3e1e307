"""The ``biglearn-em`` command: a parser whose sub-commands live in
:mod:`biglearn_em.commands`, and one place that turns errors into one line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import __version__
from .commands import COMMANDS


class UsageError(Exception):
    """A problem with what the user asked for: printed as one line, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="biglearn-em",
        description="Fit Gaussian mixtures with BigLearn-EM and reproduce the paper's results.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for register in COMMANDS:
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "run", None) is None:
        parser.print_help()
        return 0
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("biglearn-em: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one clear line unless --debug
        if args.debug:
            raise
        print(f"biglearn-em: error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, (UsageError, FileNotFoundError, ValueError, ImportError)) \
            else 1


if __name__ == "__main__":
    sys.exit(main())
