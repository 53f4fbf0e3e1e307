"""The command line on incomplete and weighted data: ``--missing`` (fit, predict,
select), ``biglearn-em impute``, and ``--weight-column`` on streamed data."""

import gzip
import importlib.util

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from biglearn_em import BigLearnGaussianMixture, load
from biglearn_em.cli import main
from biglearn_em.io import open_lazy, read_table

# the tests' own calls of a model fitted on named columns pass plain arrays
pytestmark = pytest.mark.filterwarnings("ignore:X does not have valid feature names")

MEANS = np.array([[0.0, 0.0, 0.0], [6.0, 6.0, 0.0], [0.0, 6.0, 6.0]])
COMMON = ["-k", "3", "-q", "--random-state", "0"]
#: Spellings of a missing cell written into the test files, as people write them.
GAPS = ("", "NA", "NaN", "nan", "na")


def run(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(code, err):
    assert code == 2, err
    assert err.startswith("biglearn-em: error: ") and err.count("\n") == 1, err
    return err


def mixture(seed=0, n_per=200):
    """Three well-separated unit-variance clusters of MEANS, shuffled."""
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(m, 1.0, (n_per, 3)) for m in MEANS])
    return X[rng.permutation(len(X))]


def with_gaps(X, fraction=0.2, seed=1):
    """X with ``fraction`` of its entries removed completely at random, every
    row keeping at least one observed value."""
    rng = np.random.default_rng(seed)
    M = X.copy()
    M[rng.random(X.shape) < fraction] = np.nan
    empty = np.isnan(M).all(axis=1)
    M[empty, 0] = X[empty, 0]
    return M


def write_csv(path, M, names=("a", "b", "c")):
    """M as CSV, a NaN written in one of the spellings of GAPS (in turn), the
    values as repr so that they read back exactly."""
    lines = [",".join(names)] if names is not None else []
    n = 0
    for row in M.tolist():
        cells = []
        for v in row:
            if np.isnan(v):
                cells.append(GAPS[n % len(GAPS)])
                n += 1
            else:
                cells.append(repr(v))
        lines.append(",".join(cells))
    path.write_text("\n".join(lines) + "\n")
    return path


def matched_means(fitted, true=MEANS):
    """The fitted means in the order of the true ones (nearest first)."""
    order = [int(np.argmin(((fitted - m) ** 2).sum(1))) for m in true]
    assert sorted(order) == list(range(len(true)))
    return fitted[order]


@pytest.fixture(scope="module")
def incomplete():
    X = mixture()
    return X, with_gaps(X)


# ---------------------------------------------------------------- reading
def test_read_table_reads_every_spelling_of_a_gap_as_nan_only_when_asked(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,b\n1,NA\n,2\nNaN,3\nna,4\n5,n/a\n6,?\n7,8\n")
    X, names, _ = read_table(path, missing=True)
    assert names == ["a", "b"]
    gaps = [[False, True], [True, False], [True, False], [True, False], [False, True],
            [False, True], [False, False]]
    np.testing.assert_array_equal(np.isnan(X), gaps)
    np.testing.assert_array_equal(X[~np.isnan(X)], [1, 2, 3, 4, 5, 6, 7, 8])
    with pytest.raises(ValueError, match=r"line 2, column 2 \('b'\): 'NA' is a missing value; "
                                         r"rerun with --missing"):
        read_table(path)


def test_missing_reads_nan_in_npy_and_nulls_in_parquet(tmp_path):
    M = np.array([[1.0, np.nan], [np.nan, 4.0], [5.0, 6.0]])
    np.save(tmp_path / "d.npy", M)
    np.testing.assert_array_equal(read_table(tmp_path / "d.npy", missing=True)[0], M)
    pq.write_table(pa.table({"a": [1.0, None, 5.0], "b": pa.array([None, 4, 6], pa.int64())}),
                   tmp_path / "d.parquet")
    X, names, _ = read_table(tmp_path / "d.parquet", missing=True)
    np.testing.assert_array_equal(X, M)
    assert names == ["a", "b"]


def test_missing_still_refuses_infinity_text_and_rows_with_nothing_observed(tmp_path):
    cases = [("1,2\n3,inf\n", r"line 2, column 2: inf is not a finite number"),
             ("1,2\n3,x\n", r"line 2, column 2: 'x' is not a number"),
             ("a,b\n1,2\n\nNA,\n", r"line 4: every feature is missing; a row needs at least "
                                   r"one observed value")]
    for i, (text, message) in enumerate(cases):
        path = tmp_path / f"d{i}.csv"
        path.write_text(text)
        with pytest.raises(ValueError, match=message):
            read_table(path, missing=True)
    np.save(tmp_path / "e.npy", np.array([[1.0, 2.0], [np.nan, np.nan]]))
    with pytest.raises(ValueError, match=r"data row 2: every feature is missing"):
        read_table(tmp_path / "e.npy", missing=True)
    np.save(tmp_path / "i.npy", np.array([[1.0, np.nan], [np.inf, 2.0]]))
    with pytest.raises(ValueError, match=r"data row 2, column 1: inf is not a finite number"):
        read_table(tmp_path / "i.npy", missing=True)


# -------------------------------------------------------------------- fit
def test_fit_with_missing_finds_the_true_means(tmp_path, incomplete, capsys):
    X, M = incomplete
    path = write_csv(tmp_path / "d.csv", M)
    model_path = tmp_path / "m.npz"
    code, out, err = run(["fit", path, *COMMON, "--missing", "-o", model_path], capsys)
    assert code == 0, err
    gaps = np.isnan(M)
    assert (f"missing: {gaps.sum()} values ({gaps.mean():.1%}) in {gaps.any(1).sum()} rows, "
            "read as NaN") in out
    model = load(model_path)
    # 600 rows of unit variance, a fifth of the entries gone: the means to ~0.2
    np.testing.assert_allclose(matched_means(model.means_), MEANS, atol=0.25)
    assert list(model.feature_names_in_) == ["a", "b", "c"]
    # the command's model is the library's on the same incomplete rows
    api = BigLearnGaussianMixture(3, random_state=0).fit(M)
    np.testing.assert_allclose(model.means_, api.means_, rtol=0, atol=1e-10)
    bic = float(out.split("BIC: ")[1].split()[0])
    assert bic == pytest.approx(api.bic(M), rel=1e-5)


@pytest.mark.parametrize("kind", ["csv", "npy", "parquet"])
def test_fit_without_missing_names_the_option(tmp_path, incomplete, capsys, kind):
    _, M = incomplete
    path = tmp_path / f"d.{kind}"
    if kind == "csv":
        write_csv(path, M)
    elif kind == "npy":
        np.save(path, M)
    else:
        pq.write_table(pa.table({n: pa.array(M[:, j], from_pandas=True)
                                 for j, n in enumerate("abc")}), path)
    err = one_line_error(*run(["fit", path, *COMMON], capsys)[::2])
    assert "is a missing value" in err or "is missing (null)" in err
    assert "rerun with --missing" in err


def test_a_column_never_observed_is_named(tmp_path, incomplete, capsys):
    _, M = incomplete
    M = M.copy()
    M[:, 1] = np.nan
    M[np.isnan(M).all(1), 0] = 0.0
    path = write_csv(tmp_path / "d.csv", M)
    for command in (["fit", path, *COMMON], ["select", path, "-k", "2:3", "-q"]):
        err = one_line_error(*run([*command, "--missing"], capsys)[::2])
        assert "feature column 2 ('b') has no observed value" in err
        assert "--columns" in err


def test_select_reads_missing_values_with_the_option(tmp_path, incomplete, capsys):
    _, M = incomplete
    path = write_csv(tmp_path / "d.csv", M)
    err = one_line_error(*run(["select", path, "-k", "2:4", "-q", "--seed", "0"], capsys)[::2])
    assert "rerun with --missing" in err
    code, out, err = run(["select", path, "-k", "2:4", "-q", "--seed", "0", "--missing"],
                         capsys)
    assert code == 0, err
    assert "chosen: K = 3," in out, out


# ---------------------------------------------------------------- predict
def test_predict_with_missing_is_the_models_prediction_of_the_incomplete_rows(
        tmp_path, incomplete, capsys):
    X, M = incomplete
    model_path = tmp_path / "m.npz"
    assert main(["fit", str(write_csv(tmp_path / "train.csv", X)), *COMMON, "-o",
                 str(model_path)]) == 0
    capsys.readouterr()
    test = write_csv(tmp_path / "test.csv", M[:100])
    err = one_line_error(*run(["predict", model_path, test], capsys)[::2])
    assert "rerun with --missing" in err
    out_path = tmp_path / "p.csv"
    code, _, err = run(["predict", model_path, test, "--missing", "--proba", "-o", out_path],
                       capsys)
    assert code == 0, err
    written = np.loadtxt(out_path, delimiter=",", skiprows=1)
    model = load(model_path)
    expected = model.predict_proba(M[:100])
    np.testing.assert_array_equal(written[:, 0], model.predict(M[:100]))
    np.testing.assert_allclose(written[:, 1:], expected, rtol=1e-7, atol=1e-12)
    # the rows' observed parts decide: the labels of the complete rows, mostly
    assert (written[:, 0] == model.predict(X[:100])).mean() > 0.9


# ----------------------------------------------------------------- impute
@pytest.fixture
def fitted(tmp_path, incomplete, capsys):
    """A model fitted with --missing on a CSV with gaps, and that file."""
    _, M = incomplete
    path = write_csv(tmp_path / "d.csv", M)
    model_path = tmp_path / "m.npz"
    assert main(["fit", str(path), *COMMON, "--missing", "-o", str(model_path)]) == 0
    capsys.readouterr()
    return model_path, path


def read_written(path):
    X, names, _ = read_table(path, index_column=None)
    return X, names


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".txt", ".csv.gz", ".npy", ".parquet"])
def test_impute_fills_the_gaps_with_the_conditional_means(tmp_path, incomplete, fitted, capsys,
                                                          suffix):
    _, M = incomplete
    model_path, data = fitted
    out = tmp_path / f"filled{suffix}"
    code, text, err = run(["impute", model_path, data, "--out", out], capsys)
    assert code == 0, err
    gaps = np.isnan(M)
    assert (f"{out}: 600 rows x 3 columns written; {gaps.sum()} missing values in "
            f"{gaps.any(1).sum()} rows filled with the conditional mean") in text
    filled, names = read_written(out)
    assert not np.isnan(filled).any()
    # observed values come back bit for bit, the gaps as the model's conditional means
    np.testing.assert_array_equal(filled[~gaps], M[~gaps])
    np.testing.assert_allclose(filled, load(model_path).impute(M), rtol=1e-15, atol=0)
    assert names == (None if suffix == ".npy" else ["a", "b", "c"])
    if suffix == ".csv.gz":
        with gzip.open(out, "rt") as fh:
            assert fh.readline() == "a,b,c\n"


def test_impute_with_a_seed_draws_from_the_conditional_law(tmp_path, incomplete, fitted,
                                                           capsys):
    _, M = incomplete
    model_path, data = fitted
    draws = []
    for i, seed in enumerate((7, 7, 8)):
        out = tmp_path / f"draw{i}.npy"
        code, text, err = run(["impute", model_path, data, "-o", out, "--random-state", seed],
                              capsys)
        assert code == 0, err
        assert f"one draw from the conditional law (--random-state {seed})" in text
        draws.append(np.load(out))
    gaps = np.isnan(M)
    model = load(model_path)
    for d in draws:
        np.testing.assert_array_equal(d[~gaps], M[~gaps])
    np.testing.assert_array_equal(draws[0], model.impute(M, random_state=7))
    np.testing.assert_array_equal(draws[0], draws[1])  # the seed repeats the draw
    assert not np.allclose(draws[0][gaps], draws[2][gaps])  # another seed, another draw
    # a draw, not the conditional mean, at every gap
    assert (draws[0][gaps] != model.impute(M)[gaps]).all()


def test_impute_matches_the_models_columns_by_name(tmp_path, incomplete, fitted, capsys):
    _, M = incomplete
    model_path, _ = fitted
    # the columns shuffled and a text column added: read by the model's names
    path = tmp_path / "shuffled.csv"
    lines = ["note,c,a,b"] + [
        "x," + ",".join("" if np.isnan(v) else repr(v) for v in (r[2], r[0], r[1]))
        for r in M[:50].tolist()]
    path.write_text("\n".join(lines) + "\n")
    out = tmp_path / "f.csv"
    code, _, err = run(["impute", model_path, path, "-o", out], capsys)
    assert code == 0, err
    filled, names = read_written(out)
    assert names == ["a", "b", "c"]
    np.testing.assert_allclose(filled, load(model_path).impute(M[:50]), rtol=1e-15, atol=0)


def test_impute_writes_neither_the_label_nor_the_index_column(tmp_path, incomplete, fitted,
                                                              capsys):
    """A label column and a row-number column of DATA are left out: the output
    holds the model's features only (matched by name), and nothing but the
    summary goes to stdout."""
    _, M = incomplete
    model_path, _ = fitted
    path = tmp_path / "labelled.csv"
    lines = ["id,a,b,c,kind"] + [
        f"{i + 1}," + ",".join("" if np.isnan(v) else repr(v) for v in r) + ",x"
        for i, r in enumerate(M[:40].tolist())]
    path.write_text("\n".join(lines) + "\n")
    out = tmp_path / "f.csv"
    code, text, err = run(["impute", model_path, path, "-o", out, "--label-column", "kind"],
                          capsys)
    assert code == 0, err
    assert text.count("\n") == 1 and text.startswith(f"{out}: 40 rows x 3 columns written")
    filled, names = read_written(out)
    assert names == ["a", "b", "c"]
    np.testing.assert_allclose(filled, load(model_path).impute(M[:40]), rtol=1e-15, atol=0)


def test_impute_errors_are_one_line_and_name_the_problem(tmp_path, fitted, capsys):
    model_path, data = fitted
    err = one_line_error(*run(["impute", model_path, data, "-o", tmp_path / "f.mat"],
                              capsys)[::2])
    assert "--out" in err and "cannot write '.mat' files" in err and ".parquet" in err
    err = one_line_error(*run(["impute", model_path, data, "-o", tmp_path / "no" / "f.csv"],
                              capsys)[::2])
    assert "no such directory for --out" in err
    empty_row = tmp_path / "empty_row.csv"
    empty_row.write_text("a,b,c\n1,2,3\nNA,,nan\n")
    err = one_line_error(*run(["impute", model_path, empty_row, "-o", tmp_path / "f.csv"],
                              capsys)[::2])
    assert f"{empty_row}, line 3: every feature is missing" in err
    narrow = tmp_path / "narrow.csv"
    narrow.write_text("a,b\n1,2\n")
    err = one_line_error(*run(["impute", model_path, narrow, "-o", tmp_path / "f.csv"],
                              capsys)[::2])
    assert "lacks the model's feature column(s) ['c']" in err
    err = one_line_error(*run(["impute", tmp_path / "nothing.npz", data, "-o",
                               tmp_path / "f.csv"], capsys)[::2])
    assert "nothing.npz" in err
    with pytest.raises(SystemExit):  # argparse: the option is required
        main(["impute", str(model_path), str(data)])
    assert "--out" in capsys.readouterr().err
    assert not (tmp_path / "f.csv").exists()


# --------------------------------------------------------- streamed data
needs_dask = pytest.mark.skipif(importlib.util.find_spec("dask") is None,
                                reason='Dask is not installed: pip install -e ".[test]"')


def weighted_files(tmp_path, X, w, M=None):
    """The same weighted table (columns a, w, b, c) as a CSV file, a folder
    of Parquet files of several row groups, a Zarr array and a .npy file."""
    M = X if M is None else M
    table = np.column_stack([M[:, 0], w, M[:, 1], M[:, 2]])
    write_csv(tmp_path / "d.csv", table, names=("a", "w", "b", "c"))
    folder = tmp_path / "parts"
    folder.mkdir()
    arrow = pa.table({n: pa.array(table[:, j], from_pandas=True)  # NaN as a null
                      for j, n in enumerate(("a", "w", "b", "c"))})
    pq.write_table(arrow.slice(0, 250), folder / "p0.parquet", row_group_size=100)
    pq.write_table(arrow.slice(250), folder / "p1.parquet", row_group_size=120)
    np.save(tmp_path / "d.npy", table)
    paths = {"csv": tmp_path / "d.csv", "parquet": folder, "npy": tmp_path / "d.npy"}
    if _has_zarr():
        import dask.array as da

        da.from_array(table, chunks=(128, 4)).to_zarr(str(tmp_path / "d.zarr"))
        paths["zarr"] = tmp_path / "d.zarr"
    return paths


def _has_zarr():
    try:
        import zarr  # noqa: F401
    except ImportError:
        return False
    return True


@needs_dask
def test_open_lazy_reads_the_weights_in_the_row_blocks_of_x(tmp_path):
    X, w = mixture(n_per=100), np.arange(300) % 4
    paths = weighted_files(tmp_path, X, w.astype(float))
    for fmt in ("parquet", "npy", "zarr"):
        if fmt not in paths:
            continue
        weight = "w" if fmt == "parquet" else "1"
        lazy, names, weights = open_lazy(paths[fmt], fmt, weight_column=weight)
        assert weights.chunks[0] == lazy.chunks[0]
        np.testing.assert_array_equal(lazy.compute(), X)
        np.testing.assert_array_equal(weights.compute(), w)
        assert names == (["a", "b", "c"] if fmt == "parquet" else None)


@needs_dask
def test_streamed_weighted_fits_are_the_in_memory_weighted_fit(tmp_path, capsys):
    X = mixture(seed=2, n_per=150)
    w = np.random.default_rng(3).integers(0, 4, len(X)).astype(float)
    paths = weighted_files(tmp_path, X, w)
    recipe = [*COMMON, "--n-init", "1", "--max-iter", "40"]
    code, reference_out, err = run(["fit", paths["csv"], *recipe, "--weight-column", "w",
                                    "-o", tmp_path / "ref.npz"], capsys)
    assert code == 0, err
    reference = load(tmp_path / "ref.npz")
    # the in-memory fit is the library's weighted fit
    api = BigLearnGaussianMixture(3, random_state=0, n_init=1, max_iter=40).fit(
        X, sample_weight=w)
    np.testing.assert_allclose(reference.means_, api.means_, rtol=0, atol=1e-10)
    runs = [("parquet", "w", []), ("npy", "1", ["--stream"]), ("zarr", "1", [])]
    for fmt, column, extra in runs:
        if fmt not in paths:
            continue
        model_path = tmp_path / f"{fmt}.npz"
        code, out, err = run(["fit", paths[fmt], *recipe, *extra, "--weight-column", column,
                              "-o", model_path], capsys)
        assert code == 0, (fmt, err)
        assert f"weights, {w.sum():.6g} in all" in out
        model = load(model_path)
        for name in ("weights_", "means_", "covariances_"):
            np.testing.assert_allclose(getattr(model, name), getattr(reference, name),
                                       rtol=0, atol=1e-8, err_msg=f"{fmt} {name}")
        # the same summary: weighted likelihood, BIC and cluster sizes
        assert _summary(out) == _summary(reference_out), fmt


def _summary(out):
    return [line for line in out.splitlines()
            if line.startswith(("log-likelihood", "BIC")) or line.strip()[:1].isdigit()]


@needs_dask
def test_streamed_missing_values_need_the_option_and_then_fit_as_in_memory(tmp_path,
                                                                           incomplete, capsys):
    X, M = incomplete
    w = np.ones(len(X))
    paths = weighted_files(tmp_path, X, w, M)
    recipe = [*COMMON, "--n-init", "1", "--max-iter", "40", "--weight-column", "w"]
    code, _, err = run(["fit", paths["csv"], *recipe, "--missing", "-o", tmp_path / "ref.npz"],
                       capsys)
    assert code == 0, err
    reference = load(tmp_path / "ref.npz")
    runs = [("parquet", "w", []), ("npy", "1", ["--stream"]), ("zarr", "1", [])]
    for fmt, column, extra in runs:
        if fmt not in paths:
            continue
        args = ["fit", paths[fmt], *recipe[:-1], column, *extra]
        err = one_line_error(*run(args, capsys)[::2])
        assert "rerun with --missing" in err and ("NaN is a missing value" in err
                                                  or "is missing (null)" in err)
        code, out, err = run([*args, "--missing", "-o", tmp_path / "s.npz"], capsys)
        assert code == 0, (fmt, err)
        gaps = np.isnan(M)
        assert f"missing: {gaps.sum()} values" in out
        np.testing.assert_allclose(load(tmp_path / "s.npz").means_, reference.means_,
                                   rtol=0, atol=1e-8, err_msg=fmt)


@needs_dask
def test_streamed_weight_errors_name_the_row_and_the_column(tmp_path, capsys):
    X = mixture(n_per=100)
    w = np.ones(len(X))
    w[123] = -2.0
    paths = weighted_files(tmp_path, X, w)
    err = one_line_error(*run(["fit", paths["parquet"], *COMMON, "--weight-column", "w"],
                              capsys)[::2])
    assert "p0.parquet: row 24 of row group 1, column 2 ('w') (the weights): expected a " \
           "number >= 0; got -2" in err
    err = one_line_error(*run(["fit", paths["npy"], *COMMON, "--stream", "--weight-column",
                               "1"], capsys)[::2])
    assert "data row 124, column 2 (the weights): expected a number >= 0; got -2" in err
    for extra, message in [(["--weight-column", "z"], "no column named 'z'"),
                           (["--weight-column", "w", "--label-column", "w"],
                            "is both the weight column and the label column"),
                           (["--weight-column", "w", "--columns", "a,w"],
                            "is both the weight column and a feature column")]:
        err = one_line_error(*run(["fit", paths["parquet"], *COMMON, *extra], capsys)[::2])
        assert message in err


@needs_dask
@pytest.mark.skipif(not _has_zarr(), reason='zarr is not installed: pip install -e ".[test]"')
def test_zarr_chunked_across_columns_is_checked_by_whole_rows(tmp_path):
    """A row's check needs all its features, and errors name the file's column,
    whatever the chunks of the Zarr array."""
    import dask.array as da

    X = mixture(n_per=40)
    M = X.copy()
    M[::3, 1] = np.nan
    M[1::3, 2] = np.nan
    da.from_array(M, chunks=(64, 1)).to_zarr(str(tmp_path / "cols.zarr"))
    da.from_array(M, chunks=(64, 3)).to_zarr(str(tmp_path / "rows.zarr"))
    lazy = open_lazy(tmp_path / "cols.zarr", "zarr", missing=True)[0]
    np.testing.assert_array_equal(lazy.compute(), M)
    bad = M.copy()
    bad[4, 2] = np.inf
    errors = []
    for chunks, name in (((64, 1), "bad_cols.zarr"), ((64, 3), "bad_rows.zarr")):
        da.from_array(bad, chunks=chunks).to_zarr(str(tmp_path / name))
        with pytest.raises(ValueError) as caught:
            open_lazy(tmp_path / name, "zarr", missing=True)[0].compute()
        errors.append(str(caught.value).split(": ", 1)[1])
    assert errors[0] == errors[1] and "data row 5" in errors[0]


@pytest.mark.parametrize("cell, shown", [("", "''"), ("NA", "'NA'"), ("inf", "inf"),
                                         ("-2", "-2")])
def test_a_bad_weight_in_memory_names_its_row(tmp_path, capsys, cell, shown):
    rows = [[1.0, 2.0, "1"], [2.0, 3.0, "2"], [3.0, 1.0, cell], [4.0, 5.0, "1"]] * 5
    path = tmp_path / "w.csv"
    path.write_text("a,b,w\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n")
    for extra in ([], ["--missing"]):
        code, _, err = run(["fit", str(path), "-k", "2", "--weight-column", "w", *extra],
                           capsys)
        err = one_line_error(code, err)
        assert "--weight-column 'w'" in err and "data row 3 holds" in err and shown in err
