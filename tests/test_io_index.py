"""Index columns: row names or row numbers written by R or pandas are left out."""

import warnings

import numpy as np
import pandas as pd
import pytest

from biglearn_em.io import IndexColumn, read_table

# Old Faithful's first rows, as R's write.csv(faithful) writes them: quoted row
# names under an empty header
R_CSV = ('"","eruptions","waiting"\n"1",3.6,79\n"2",1.8,54\n"3",3.333,74\n"4",2.283,62\n'
         '"5",4.533,85\n')
FAITHFUL = np.array([[3.6, 79], [1.8, 54], [3.333, 74], [2.283, 62], [4.533, 85]])


def write(path, text):
    path.write_text(text)
    return path


def test_r_write_csv_row_names_are_left_out(tmp_path):
    X, names, _, index = read_table(write(tmp_path / "f.csv", R_CSV), return_index=True)
    assert names == ["eruptions", "waiting"] and np.array_equal(X, FAITHFUL)
    assert index == IndexColumn(0, "", "an empty header")
    assert index.note("--index-column none") == (
        "column 1 ('') read as a row index (an empty header) and left out; "
        "--index-column none keeps it")


def test_index_column_none_keeps_it(tmp_path):
    X, names, _, index = read_table(write(tmp_path / "f.csv", R_CSV), index_column=None,
                                    return_index=True)
    assert names == ["", "eruptions", "waiting"] and index is None
    assert np.array_equal(X[:, 0], np.arange(1, 6)) and np.array_equal(X[:, 1:], FAITHFUL)


def test_row_names_that_are_not_numbers(tmp_path):
    # write.csv(mtcars): the car names under an empty header
    text = '"","mpg","cyl"\n"Mazda RX4",21,6\n"Datsun 710",22.8,4\n"Valiant",18.1,6\n'
    X, names, _, _ = read_table(write(tmp_path / "m.csv", text), return_index=True)
    assert names == ["mpg", "cyl"] and np.array_equal(X, [[21, 6], [22.8, 4], [18.1, 6]])


def test_r_write_table_header_without_the_row_names_column(tmp_path):
    # write.table(faithful): space-separated, quoted, and the header one field short
    text = '"eruptions" "waiting"\n"1" 3.6 79\n"2" 1.8 54\n"3" 3.333 74\n'
    X, names, _, index = read_table(write(tmp_path / "f.txt", text), return_index=True)
    assert names == ["eruptions", "waiting"] and np.array_equal(X, FAITHFUL[:3])
    assert index.position == 0 and index.why == "an empty header"


@pytest.mark.parametrize(("start", "why"), [(1, "values 1..N"), (0, "values 0..N-1")])
def test_a_first_column_counting_the_rows_is_an_index(tmp_path, start, why):
    rows = [f"{i + start},{a},{b}" for i, (a, b) in enumerate(FAITHFUL)]
    X, names, _, index = read_table(write(tmp_path / "n.csv", "\n".join(rows) + "\n"),
                                    return_index=True)
    assert names is None and np.array_equal(X, FAITHFUL)
    assert index == IndexColumn(0, None, why)


def test_pandas_to_csv_index_is_left_out(tmp_path):
    frame = pd.DataFrame(FAITHFUL, columns=["eruptions", "waiting"])
    frame.to_csv(tmp_path / "p.csv")  # a first column with an empty header: 0..N-1
    X, names, _, _ = read_table(tmp_path / "p.csv", return_index=True)
    assert names == ["eruptions", "waiting"] and np.array_equal(X, FAITHFUL)


def test_a_named_first_column_counting_the_rows_is_an_index(tmp_path):
    text = "id,a,b\n" + "".join(f"{i + 1},{a},{b}\n" for i, (a, b) in enumerate(FAITHFUL))
    X, names, _, index = read_table(write(tmp_path / "d.csv", text), return_index=True)
    assert names == ["a", "b"] and index == IndexColumn(0, "id", "values 1..N")


def test_only_the_first_column_is_looked_at(tmp_path):
    # a feature that happens to count 1..N elsewhere (a time step, say) stays a feature:
    # row names are written first, so no other column is guessed to be one
    text = "a,t,b\n" + "".join(f"{a},{i + 1},{b}\n" for i, (a, b) in enumerate(FAITHFUL))
    X, names, _, index = read_table(write(tmp_path / "d.csv", text), return_index=True)
    assert names == ["a", "t", "b"] and index is None
    assert np.array_equal(X[:, 1], np.arange(1, 6))


@pytest.mark.parametrize("first", [[1, 2, 4, 5, 6], [2, 3, 4, 5, 6], [1, 3, 2, 4, 5],
                                   [1.5, 2.5, 3.5, 4.5, 5.5]])
def test_a_first_column_that_is_not_exactly_a_count_is_a_feature(tmp_path, first):
    text = "".join(f"{f},{a},{b}\n" for f, (a, b) in zip(first, FAITHFUL))
    X, _, _, index = read_table(write(tmp_path / "d.csv", text), return_index=True)
    assert index is None and X.shape == (5, 3)


def test_no_guess_in_too_few_rows_or_when_no_feature_would_remain(tmp_path):
    X, _, _, index = read_table(write(tmp_path / "two.csv", "1,5\n2,7\n"), return_index=True)
    assert index is None and X.shape == (2, 2)
    X, _, _, index = read_table(write(tmp_path / "one.csv", "1\n2\n3\n4\n"), return_index=True)
    assert index is None and X.shape == (4, 1)
    X, _, labels, index = read_table(write(tmp_path / "l.csv", "1,a\n2,b\n3,a\n"),
                                     label_column=1, header=False, return_index=True)
    assert index is None and X.shape == (3, 1)


def test_columns_and_label_column_decide_before_any_guess(tmp_path):
    path = write(tmp_path / "f.csv", R_CSV)
    X, names, _, index = read_table(path, columns=["", "waiting"], return_index=True)
    assert index is None and names == ["", "waiting"]
    X, names, labels, index = read_table(path, label_column=0, return_index=True)
    assert index is None and names == ["eruptions", "waiting"]
    assert labels.tolist() == [1, 2, 3, 4, 5]
    # an index and a label together
    text = '"","x","kind"\n"1",0.5,a\n"2",1.5,b\n"3",2.5,a\n'
    X, names, labels, index = read_table(write(tmp_path / "k.csv", text), label_column="kind",
                                         return_index=True)
    assert names == ["x"] and labels.tolist() == ["a", "b", "a"] and index.position == 0


def test_an_index_column_can_be_named(tmp_path):
    text = "a,id,b\n1,x,2\n3,y,4\n"
    path = write(tmp_path / "d.csv", text)
    for spec in ("id", 1, "1"):
        X, names, _, index = read_table(path, index_column=spec, return_index=True)
        assert names == ["a", "b"] and np.array_equal(X, [[1, 2], [3, 4]])
        assert index == IndexColumn(1, "id", "given")
    with pytest.raises(ValueError, match=r"no column named 'z'"):
        read_table(path, index_column="z")
    with pytest.raises(ValueError, match=r"column 2 \('id'\) is both the index column and the "
                                         r"label column"):
        read_table(path, index_column="id", label_column="id")
    with pytest.raises(ValueError, match=r"column 2 \('id'\) is both the index column and a "
                                         r"feature column"):
        read_table(path, index_column="id", columns=["a", "id"])


def test_npy_and_parquet_indexes(tmp_path):
    np.save(tmp_path / "d.npy", np.column_stack([np.arange(5), FAITHFUL]))
    X, _, _, index = read_table(tmp_path / "d.npy", return_index=True)
    assert np.array_equal(X, FAITHFUL) and index == IndexColumn(0, None, "values 0..N-1")
    assert read_table(tmp_path / "d.npy", index_column=None)[0].shape == (5, 3)
    frame = pd.DataFrame(FAITHFUL, columns=["eruptions", "waiting"],
                         index=pd.Index([f"r{i}" for i in range(5)]))
    frame.to_parquet(tmp_path / "d.parquet")  # the index as a column __index_level_0__
    X, names, _, index = read_table(tmp_path / "d.parquet", return_index=True)
    assert names == ["eruptions", "waiting"] and np.array_equal(X, FAITHFUL)
    assert index == IndexColumn(2, "__index_level_0__", "a pandas index")


def test_without_return_index_a_guess_is_a_warning(tmp_path):
    path = write(tmp_path / "f.csv", R_CSV)
    with pytest.warns(UserWarning, match=r"column 1 \(''\) read as a row index \(an empty "
                                         r"header\) and left out; index_column=None keeps it"):
        X, names, _ = read_table(path)
    assert X.shape == (5, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing guessed, nothing said
        read_table(path, index_column=None)
        read_table(path, index_column=0)


def test_pandas_csv_of_a_frame_without_column_names(tmp_path):
    # pandas writes the header ",0,1,2": numbers only, yet a header (its default
    # column names), and an index column under the empty name
    X = np.random.default_rng(0).normal(size=(20, 3))
    path = tmp_path / "frame.csv"
    pd.DataFrame(X).to_csv(path)
    with pytest.warns(UserWarning, match="row index"):
        data, names, _ = read_table(path)
    np.testing.assert_allclose(data, X)
    assert names == ["0", "1", "2"]
