"""Reading users' data files: :mod:`.tables` reads a file into a float matrix
(delimited text, ``.npy``, Parquet, ``.mat``, LIBSVM), :mod:`.lazy` opens data
too large for memory as a lazy dask array (Parquet, Zarr, ``.npy``)."""

from .lazy import BLOCK_BYTES, LAZY_FORMATS, lazy_format, open_lazy
from .tables import (
    EXTENSIONS,
    FORMATS,
    INDEX_MIN_ROWS,
    MISSING,
    MISSING_HINT,
    TEXT_FORMATS,
    IndexColumn,
    column_names,
    data_format,
    find_index_column,
    install_hint,
    plural,
    read_table,
    write_table,
)

__all__ = [
    "BLOCK_BYTES", "EXTENSIONS", "FORMATS", "INDEX_MIN_ROWS", "LAZY_FORMATS", "MISSING",
    "MISSING_HINT", "TEXT_FORMATS", "IndexColumn", "column_names", "data_format",
    "find_index_column", "install_hint", "lazy_format", "open_lazy", "plural", "read_table",
    "write_table",
]
