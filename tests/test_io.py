"""Reading data files: every format, header detection, columns and clear errors."""

import gzip
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy.io import savemat
from sklearn.datasets import dump_svmlight_file

from biglearn_em.io import column_names, read_table

TABLE = np.array([[1.5, -2.0, 3.0], [4.0, 5.25, -6.0], [7.0, 8.0, 9.5], [0.0, 1e-3, 2e3]])


def write(path, text):
    path.write_text(text)
    return path


def csv_text(sep=",", header=("a", "b", "c")):
    lines = [sep.join(header)] if header else []
    lines += [sep.join(repr(float(v)) for v in row) for row in TABLE]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------ delimited text
def test_csv_with_header(tmp_path):
    X, names, labels = read_table(write(tmp_path / "d.csv", csv_text()))
    assert names == ["a", "b", "c"] and labels is None
    assert X.dtype == np.float64 and np.array_equal(X, TABLE)


def test_csv_without_header(tmp_path):
    X, names, _ = read_table(write(tmp_path / "d.csv", csv_text(header=None)))
    assert names is None and np.array_equal(X, TABLE)


def test_tsv_and_whitespace_and_semicolon_text(tmp_path):
    X, names, _ = read_table(write(tmp_path / "d.tsv", csv_text("\t")))
    assert names == ["a", "b", "c"] and np.array_equal(X, TABLE)
    X, names, _ = read_table(write(tmp_path / "d.txt", csv_text("  ", header=None)))
    assert names is None and np.array_equal(X, TABLE)
    X, names, _ = read_table(write(tmp_path / "e.txt", csv_text(";")))
    assert names == ["a", "b", "c"] and np.array_equal(X, TABLE)


def test_blank_lines_quotes_and_bom_are_handled(tmp_path):
    text = '\ufeff"a","b"\n\n"1.0", 2\n  \n3,"4"\n'
    X, names, _ = read_table(write(tmp_path / "d.csv", text))
    assert names == ["a", "b"] and np.array_equal(X, [[1.0, 2.0], [3.0, 4.0]])


def test_header_can_be_forced(tmp_path):
    path = write(tmp_path / "d.csv", "1,2\n3,4\n5,6\n")
    X, names, _ = read_table(path, header=True)
    assert names == ["1", "2"] and np.array_equal(X, [[3, 4], [5, 6]])
    with pytest.raises(ValueError, match=r"line 1, column 1: 'a' is not a number"):
        read_table(write(tmp_path / "h.csv", csv_text()), header=False)


def test_label_column_by_name_and_index(tmp_path):
    text = "x,species,y\n1,setosa,2\n3,virginica,4\n5,setosa,6\n"
    path = write(tmp_path / "d.csv", text)
    X, names, labels = read_table(path, label_column="species")
    assert names == ["x", "y"] and np.array_equal(X, [[1, 2], [3, 4], [5, 6]])
    assert labels.tolist() == ["setosa", "virginica", "setosa"]
    X2, names2, labels2 = read_table(path, label_column=1)
    assert names2 == names and np.array_equal(X2, X) and labels2.tolist() == labels.tolist()
    _, _, numeric = read_table(write(tmp_path / "n.csv", "1,2,0\n3,4,1\n"), label_column=-1)
    assert numeric.dtype.kind == "i" and numeric.tolist() == [0, 1]


def test_columns_pick_and_order(tmp_path):
    path = write(tmp_path / "d.csv", csv_text())
    X, names, _ = read_table(path, columns=["c", "0"])
    assert names == ["c", "a"] and np.array_equal(X, TABLE[:, [2, 0]])
    # a text column that is not picked is never parsed
    text = "name,u,v\nfirst,1,2\nsecond,3,4\n"
    X, names, _ = read_table(write(tmp_path / "t.csv", text), columns=["u", "v"])
    assert names == ["u", "v"] and np.array_equal(X, [[1, 2], [3, 4]])


def test_bad_cell_names_line_and_column(tmp_path):
    path = write(tmp_path / "d.csv", "a,b\n1,2\n3,oops\n")
    with pytest.raises(ValueError, match=r"d\.csv, line 3, column 2 \('b'\): 'oops' is not a nu"):
        read_table(path)


def test_empty_cell_and_non_finite_value_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"line 2, column 2: an empty cell is a missing value"):
        read_table(write(tmp_path / "e.csv", "1,2\n3,\n"))
    with pytest.raises(ValueError, match=r"line 3, column 1 \('a'\): 'nan' is a missing value"):
        read_table(write(tmp_path / "n.csv", "a,b\n1,2\nnan,4\n"))
    with pytest.raises(ValueError, match=r"line 1, column 2: inf is not a finite number"):
        read_table(write(tmp_path / "i.csv", "1,inf\n"))


@pytest.mark.parametrize("cell", ["NA", "na", "N/A", "NaN", "nan", "", "?", "null", "NULL",
                                  "None", ".", "#N/A", "<NA>"])
def test_missing_values_get_their_own_message(tmp_path, cell):
    path = write(tmp_path / "d.csv", f"a,b\n1,2\n3,{cell}\n5,6\n")
    with pytest.raises(ValueError) as exc:
        read_table(path)
    message = str(exc.value)
    assert "line 3, column 2 ('b'): " in message and " is a missing value; " in message
    # the hint names the option that reads them, and the way without it
    assert "rerun with --missing to read missing values as NaN" in message
    assert "drop the rows with missing values or impute them" in message
    assert "label column" not in message  # the hint for a column of text


def test_text_files_number_rows_by_their_line(tmp_path):
    # a NaN and an empty cell in the same place are named alike: the line an editor shows,
    # blank lines and the header counted
    for cell in ("nan", ""):
        path = write(tmp_path / "d.csv", f"a,b\n\n1,2\n3,{cell}\n")
        with pytest.raises(ValueError, match=r"d\.csv, line 4, column 2 \('b'\): "):
            read_table(path)


def test_a_first_row_with_a_missing_value_is_data_not_a_header(tmp_path):
    with pytest.raises(ValueError, match=r"line 1, column 1: 'NA' is a missing value"):
        read_table(write(tmp_path / "d.csv", "NA,1\n2,3\n"))


def test_plural_of_one_field(tmp_path):
    with pytest.raises(ValueError, match=r"line 3: 1 field, expected 2"):
        read_table(write(tmp_path / "d.csv", "a,b\n1,2\n3\n"))


@pytest.mark.parametrize(("text", "message"), [
    ("a,b\n1,2\n3,4,5\n", r"line 3: 3 fields, expected 2"),
    ("a,a\n1,2\n", r"column name 'a' is used twice \(columns 1 and 2\)"),
    ("", r"the file is empty"),
    ("a,b\n", r"no data rows"),
])
def test_malformed_text_files(tmp_path, text, message):
    with pytest.raises(ValueError, match=message):
        read_table(write(tmp_path / "d.csv", text))


def test_unknown_columns_are_refused(tmp_path):
    path = write(tmp_path / "d.csv", csv_text())
    with pytest.raises(ValueError, match=r"no column named 'z' \(columns: \['a', 'b', 'c'\]\)"):
        read_table(path, columns=["z"])
    with pytest.raises(ValueError, match=r"column index 3 is out of range for 3 columns"):
        read_table(path, label_column=3)
    with pytest.raises(ValueError, match=r"both the label column and a feature column"):
        read_table(path, label_column="a", columns=["a", "b"])
    with pytest.raises(ValueError, match=r"no column named 'a' \(the file has no column names\)"):
        read_table(write(tmp_path / "n.csv", csv_text(header=None)), columns=["a"])


def test_non_utf8_text_is_refused(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(b"a,b\n1,\xff\n")
    with pytest.raises(ValueError, match=r"not a UTF-8 text file"):
        read_table(path)


# --------------------------------------------------------------------- npy
def test_npy_nan_is_a_missing_value_in_its_data_row(tmp_path):
    np.save(tmp_path / "d.npy", np.array([[1.0, 2.0], [3.0, np.nan]]))
    with pytest.raises(ValueError, match=r"data row 2, column 2: NaN is a missing value; "):
        read_table(tmp_path / "d.npy")
    np.save(tmp_path / "i.npy", np.array([[1.0, -np.inf]]))
    with pytest.raises(ValueError, match=r"data row 1, column 2: -inf is not a finite number"):
        read_table(tmp_path / "i.npy")


def test_npy(tmp_path):
    np.save(tmp_path / "d.npy", TABLE.astype(np.float32))
    X, names, labels = read_table(tmp_path / "d.npy")
    assert names is None and labels is None and X.dtype == np.float64
    assert np.array_equal(X, TABLE.astype(np.float32))
    np.save(tmp_path / "l.npy", np.column_stack([TABLE, [0, 1, 1, 2]]))
    X, _, labels = read_table(tmp_path / "l.npy", label_column=-1)
    assert np.array_equal(X, TABLE) and labels.tolist() == [0, 1, 1, 2]


def test_npy_refuses_objects_and_wrong_shapes(tmp_path):
    np.save(tmp_path / "o.npy", np.array([[1, "a"]], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match=r"o\.npy holds Python objects \(dtype object\), which "
                                         r"are never read: save an array of numbers$") as exc:
        read_table(tmp_path / "o.npy")
    assert "pickle" not in str(exc.value).replace(str(tmp_path), "")
    # numpy takes a file without its header for a pickle; the refusal must not say so
    write(tmp_path / "t.npy", "a,b\n1,2\n")
    with pytest.raises(ValueError, match=r"t\.npy is not a \.npy array file \(no NumPy header"
                       ) as exc:
        read_table(tmp_path / "t.npy")
    assert "pickle" not in str(exc.value).replace(str(tmp_path), "")
    np.save(tmp_path / "v.npy", np.arange(3.0))
    with pytest.raises(ValueError, match=r"expected a 2-D array .* got shape \(3,\)"):
        read_table(tmp_path / "v.npy")
    np.save(tmp_path / "s.npy", np.array([["a", "b"]]))
    with pytest.raises(ValueError, match=r"expected an array of numbers"):
        read_table(tmp_path / "s.npy")


# ----------------------------------------------------------------- parquet
def test_parquet(tmp_path):
    table = pa.table({"a": TABLE[:, 0], "b": TABLE[:, 1].astype(np.float32),
                      "n": pa.array([1, 2, 3, 4], pa.int32()),
                      "kind": ["x", "y", "x", "z"]})
    pq.write_table(table, tmp_path / "d.parquet")
    X, names, labels = read_table(tmp_path / "d.parquet", label_column="kind")
    assert names == ["a", "b", "n"] and labels.tolist() == ["x", "y", "x", "z"]
    assert np.array_equal(X, np.column_stack([TABLE[:, 0], TABLE[:, 1].astype(np.float32),
                                              [1, 2, 3, 4]]))
    assert column_names(tmp_path / "d.parquet") == ["a", "b", "n", "kind"]


def test_parquet_errors_name_the_column(tmp_path):
    pq.write_table(pa.table({"a": [1.0, 2.0], "kind": ["x", "y"]}), tmp_path / "t.parquet")
    with pytest.raises(ValueError, match=r"column 2 \('kind'\) has type string"):
        read_table(tmp_path / "t.parquet")
    pq.write_table(pa.table({"a": [1.0, None, 3.0]}), tmp_path / "n.parquet")
    with pytest.raises(ValueError, match=r"data row 2, column 1 \('a'\) is missing \(null\); "
                                         r"rerun with --missing"):
        read_table(tmp_path / "n.parquet")
    write(tmp_path / "junk.parquet", "not parquet at all\n")
    with pytest.raises(ValueError, match=r"junk\.parquet is not a readable Parquet file"):
        read_table(tmp_path / "junk.parquet")


def test_parquet_without_pyarrow_says_what_to_install(tmp_path, monkeypatch):
    pq.write_table(pa.table({"a": [1.0, 2.0]}), tmp_path / "d.parquet")
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)  # import now fails
    with pytest.raises(ValueError, match=r"needs pyarrow: pip install pyarrow \(from a "
                                         r"biglearn-em clone: pip install -e '\.\[io\]'\)"):
        read_table(tmp_path / "d.parquet")


# --------------------------------------------------------------------- mat
def test_mat(tmp_path):
    labels = np.array([1, 2, 2, 3])
    savemat(tmp_path / "d.mat", {"DataSet": np.column_stack([labels, TABLE])})
    X, names, y = read_table(tmp_path / "d.mat")
    assert names is None and np.array_equal(X, TABLE) and y.tolist() == labels.tolist()
    X, _, _ = read_table(tmp_path / "d.mat", columns=[2, 0])
    assert np.array_equal(X, TABLE[:, [2, 0]])
    with pytest.raises(ValueError, match=r"holds its labels itself"):
        read_table(tmp_path / "d.mat", label_column=0)
    savemat(tmp_path / "other.mat", {"X": TABLE})
    with pytest.raises(ValueError, match=r"no 'DataSet' variable"):
        read_table(tmp_path / "other.mat")


# ------------------------------------------------------------------ libsvm
def test_libsvm(tmp_path):
    y = np.array([0, 1, 0, 1])
    dump_svmlight_file(TABLE, y, str(tmp_path / "d.libsvm"))
    X, names, labels = read_table(tmp_path / "d.libsvm")
    assert names is None and np.array_equal(X, TABLE) and labels.tolist() == y.tolist()
    # a file that never uses the last feature is widened to n_features
    dump_svmlight_file(np.array([[1.0, 0.0], [2.0, 0.0]]), [0, 1], str(tmp_path / "n.svm"))
    assert read_table(tmp_path / "n.svm")[0].shape == (2, 1)
    assert np.array_equal(read_table(tmp_path / "n.svm", n_features=2)[0], [[1, 0], [2, 0]])
    # LIBSVM files named .txt: the format can be named
    dump_svmlight_file(TABLE, y, str(tmp_path / "d.txt"))
    assert np.array_equal(read_table(tmp_path / "d.txt", fmt="libsvm")[0], TABLE)
    write(tmp_path / "bad.svm", "1 a:b\n")
    with pytest.raises(ValueError, match=r"bad\.svm is not a readable LIBSVM file"):
        read_table(tmp_path / "bad.svm")


# ------------------------------------------------------------------ general
def test_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no such data file: .*nope\.csv"):
        read_table(tmp_path / "nope.csv")
    write(tmp_path / "d.xlsx", "")
    with pytest.raises(ValueError, match=r"unknown data format '\.xlsx'"):
        read_table(tmp_path / "d.xlsx")
    with pytest.raises(ValueError, match=r"unknown data format 'xls'"):
        read_table(write(tmp_path / "d.csv", "1\n"), fmt="xls")


def test_gzipped_text_reads_as_the_plain_file(tmp_path):
    plain = write(tmp_path / "d.csv", csv_text())
    packed = tmp_path / "d.csv.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    X, names, labels = read_table(packed, label_column="b")
    ref = read_table(plain, label_column="b")
    assert names == ref[1] and np.array_equal(X, ref[0]) and np.array_equal(labels, ref[2])
    assert column_names(packed) == ["a", "b", "c"]
    tsv = tmp_path / "d.data.gz"
    tsv.write_bytes(gzip.compress(csv_text().replace(",", "\t").encode()))
    assert np.array_equal(read_table(tsv, fmt="tsv")[0], TABLE)


def test_gzipped_files_that_cannot_be_read(tmp_path):
    (tmp_path / "d.npy.gz").write_bytes(gzip.compress(b"x"))
    with pytest.raises(ValueError, match="only text files .* gzip-compressed"):
        read_table(tmp_path / "d.npy.gz")
    (tmp_path / "d.xyz.gz").write_bytes(gzip.compress(b"x"))
    with pytest.raises(ValueError, match=r"unknown data format '\.xyz\.gz'"):
        read_table(tmp_path / "d.xyz.gz")
    (tmp_path / "bad.csv.gz").write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match="not a readable gzip file"):
        read_table(tmp_path / "bad.csv.gz")
    (tmp_path / "cut.csv.gz").write_bytes(gzip.compress(csv_text().encode())[:-12])
    with pytest.raises(ValueError, match="not a readable gzip file"):
        read_table(tmp_path / "cut.csv.gz")


def test_column_names_reads_only_the_header(tmp_path):
    assert column_names(write(tmp_path / "h.csv", csv_text())) == ["a", "b", "c"]
    assert column_names(write(tmp_path / "n.csv", csv_text(header=None))) is None
    assert column_names(tmp_path / "h.csv", header=False) is None
    np.save(tmp_path / "d.npy", TABLE)
    assert column_names(tmp_path / "d.npy") is None
