import argparse
import subprocess
import sys

import biglearn_em
from biglearn_em.cli import build_parser, main


def test_version(capsys):
    try:
        main(["--version"])
    except SystemExit as exc:
        assert exc.code == 0
    assert biglearn_em.__version__ in capsys.readouterr().out


def test_help_lists_commands():
    out = subprocess.run([sys.executable, "-m", "biglearn_em.cli", "--help"],
                         capture_output=True, text=True, check=True).stdout
    assert "reproduce" in out and "--version" in out


def _parsers(parser, prog=()):
    """Every parser under ``parser``: itself and its sub-commands', recursively."""
    yield prog, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, (*prog, name))


def test_every_command_has_a_help_that_formats():
    # argparse %-formats each help text when --help asks for it: a literal % there (a rate
    # written with :.0%) raised TypeError in `reproduce missing --help`
    found = {prog: parser.format_help() for prog, parser in _parsers(build_parser())}
    assert ("reproduce", "missing") in found and ("fit",) in found
    assert "10% and 30%" in found[("reproduce", "missing")]


def test_reproduce_grid25_small(capsys, tmp_path):
    assert main(["reproduce", "grid25", "--seeds", "1", "--max-iter", "20",
                 "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for method in ("EM", "BigLearn-EM (block)", "BigLearn-EM (conditional)",
                   "sklearn k-means init, n_init=1", "sklearn k-means init, n_init=10"):
        assert f"| {method} |" in out
    report = (tmp_path / "report.md").read_text()
    assert "5079" in report  # the first of the paper's seeds
    assert "scikit-learn" in report and "numpy" in report  # settings and versions
    figures = ["kl_boxplot.png", "contours_seed5079.png", "ll_trace.png"]
    for name in figures:
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
        assert f"({name})" in report
