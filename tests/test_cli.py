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
