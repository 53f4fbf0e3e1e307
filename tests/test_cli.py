import subprocess
import sys

import biglearn_em
from biglearn_em.cli import main


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


def test_reproduce_grid25_small(capsys):
    assert main(["reproduce", "grid25", "--seeds", "1", "--max-iter", "20"]) == 0
    out = capsys.readouterr().out
    assert "BigLearn-EM (block)" in out and "EM (plain)" in out
    assert "5079" in out  # the first of the paper's seeds
