"""The ``biglearn-em`` command: a parser whose sub-commands live in
:mod:`biglearn_em.commands`, and one place that turns errors into one line."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from ._version import __version__
from .commands import model, reproduce, select

#: Each sub-command's ``register(subparsers)``, in the order ``--help`` lists them.
COMMANDS = (reproduce.register, model.register, select.register)


class UsageError(Exception):
    """A problem with what the user asked for: printed as one line, exit code 2."""


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, as the command's other
    errors are: the usage of a command with thirty options would bury the
    line that says what is wrong. Sub-commands get this class too (argparse
    gives subparsers the class of their parent)."""

    def error(self, message: str):
        listed = "commands" if self._subparsers is not None else "options"
        self.exit(2, f"{self.prog}: error: {message} ({self.prog} --help lists the "
                     f"{listed})\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
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
    args, extra = parser.parse_known_args(argv)
    if extra:  # named by the sub-command they were given to, whose --help lists its options
        _command_parser(parser, args).error(f"unrecognized arguments: {' '.join(extra)}")
    if getattr(args, "run", None) is None:
        parser.print_help()
        return 0
    try:
        code = int(args.run(args) or 0)
        sys.stdout.flush()  # a reader of stdout gone is met here, not in Python's exit
        return code
    except KeyboardInterrupt:
        print("biglearn-em: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError as exc:
        # the reader of stdout stopped early (| head); what Python still flushes at exit goes
        # to /dev/null, not into a second broken pipe
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        if getattr(args, "output_on_stdout", False):
            return 0  # predict, impute, info: the reader took what it wanted
        if args.debug:
            raise
        # any other command (a fit, a reproduction) stopped before its end
        print(f"biglearn-em: error: standard output closed before the command ended ({exc})",
              file=sys.stderr)
        return 1
    except Exception as exc:  # one clear line unless --debug
        if args.debug:
            raise
        print(f"biglearn-em: error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, (UsageError, FileNotFoundError, ValueError, ImportError)) \
            else 1


def _command_parser(parser: argparse.ArgumentParser,
                    args: argparse.Namespace) -> argparse.ArgumentParser:
    """The parser of the (sub-)sub-command that ``args`` ran."""
    while parser._subparsers is not None:
        action = next(a for a in parser._subparsers._group_actions
                      if isinstance(a, argparse._SubParsersAction))
        name = getattr(args, action.dest, None)
        if name not in action.choices:
            break
        parser = action.choices[name]
    return parser


if __name__ == "__main__":
    sys.exit(main())
