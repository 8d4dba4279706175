"""Artifacts as bytes: the canonical Arrow IPC form of a DataFrame, its hash, code fingerprints.

A content-addressed pipeline names every artifact by ``sha256(canonical bytes)``, so the bytes
must not depend on anything but the data: not on the pandas version (pandas 3 stores strings
as Arrow ``large_string``, pandas 2.2 as Python objects), nor on pandas' schema metadata (which
records the pandas version), nor on the index. :func:`canonical_bytes` therefore maps every
column to one of five *logical types* with one fixed Arrow type each, drops the index and the
metadata, and writes one uncompressed IPC stream. The same frame hashes the same under
pandas 2.2 / 3 and pyarrow 18 / 26 (the project's tests check it). Uses numpy, pandas and
pyarrow.
"""

from __future__ import annotations

import functools
import hashlib
import re
import sys
import types
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

#: logical type -> the one Arrow type that stores it
ARROW_TYPES = {"bool": pa.bool_(), "int": pa.int64(), "float": pa.float64(),
               "datetime": pa.timestamp("ns"), "string": pa.string()}


def logical_type(series: pd.Series) -> str:
    """``bool``, ``int``, ``float``, ``datetime`` or ``string`` (the same on pandas 2 and 3);
    ``object`` for a column of mixed Python objects."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return logical_type(pd.Series(dtype.categories))
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_integer_dtype(dtype):
        return "int"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if pd.api.types.is_string_dtype(dtype) and dtype != object:
        return "string"
    inferred = pd.api.types.infer_dtype(series, skipna=True)
    return {"string": "string", "empty": "string", "boolean": "bool", "integer": "int",
            "floating": "float", "mixed-integer-float": "float"}.get(inferred, "object")


def _arrow_column(name: str, series: pd.Series) -> pa.Array:
    kind = logical_type(series)
    if kind == "object":
        raise TypeError(f"column {name!r} holds mixed Python objects "
                        f"({pd.api.types.infer_dtype(series)}); an artifact holds plain "
                        "columns: convert it (e.g. .astype(str)) or drop it")
    if isinstance(series.dtype, pd.CategoricalDtype):
        series = series.astype(series.dtype.categories.dtype)
    missing = series.isna().to_numpy()
    if kind == "string":
        try:  # Arrow-backed strings (pandas 3, string[pyarrow]): no Python objects
            array = pa.array(series.array, from_pandas=True)
        except (TypeError, pa.ArrowInvalid):
            array = pa.array(series.to_numpy(dtype=object, na_value=None), type=pa.string())
        array = array.cast(pa.string())
        return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array
    if kind == "datetime":
        if getattr(series.dt, "tz", None) is not None:
            series = series.dt.tz_convert("UTC").dt.tz_localize(None)
        values = series.to_numpy(dtype="datetime64[ns]")
    elif kind == "float":
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)  # NaN stays a value
        return pa.array(values, type=pa.float64())
    else:
        dtype = np.bool_ if kind == "bool" else np.int64
        values = series.to_numpy(dtype=dtype, na_value=0) if missing.any() else \
            series.to_numpy(dtype=dtype)
    return pa.array(values, type=ARROW_TYPES[kind], mask=missing if missing.any() else None)


def canonical_table(frame: pd.DataFrame) -> pa.Table:
    """The frame as an Arrow table with one fixed type per logical type, no index, no metadata."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"an artifact is a pandas DataFrame, got {type(frame).__name__}")
    names = [str(c) for c in frame.columns]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate column names {names}: rename them before storing")
    columns = [_arrow_column(n, frame.iloc[:, j]) for j, n in enumerate(names)]
    fields = [pa.field(n, c.type) for n, c in zip(names, columns)]
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))


def table_bytes(table: pa.Table) -> bytes:
    """One uncompressed Arrow IPC stream holding ``table`` as a single record batch."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        for batch in table.combine_chunks().to_batches():
            writer.write_batch(batch)
    return sink.getvalue().to_pybytes()


def canonical_bytes(frame: pd.DataFrame) -> bytes:
    """The bytes that name a frame: ``table_bytes(canonical_table(frame))``."""
    return table_bytes(canonical_table(frame))


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def frame_hash(frame: pd.DataFrame) -> str:
    """``sha256`` of the canonical bytes: equal data, equal hash, on every supported version."""
    return sha256_hex(canonical_bytes(frame))


def read_frame(source: bytes | str | Path) -> pd.DataFrame:
    """A frame back from canonical bytes (or a file holding them); memory-mapped for a file."""
    if isinstance(source, (str, Path)):
        with pa.memory_map(str(source)) as mapped:
            return pa.ipc.open_stream(mapped).read_all().to_pandas()
    return pa.ipc.open_stream(pa.py_buffer(source)).read_all().to_pandas()


def read_int_columns(path: str | Path) -> dict[str, np.ndarray]:
    """The int64 columns of a stored artifact as numpy arrays, zero-copy from a memory map."""
    table = pa.ipc.open_stream(pa.memory_map(str(path))).read_all().combine_chunks()
    return {name: table.column(name).chunk(0).to_numpy(zero_copy_only=True)
            if table.num_rows else np.zeros(0, np.int64) for name in table.column_names}


# ----------------------------------------------------------------------------- code
def _constant(value: object) -> str:
    """A stable text for a constant: frozensets sorted (their order changes per process)."""
    if isinstance(value, frozenset):
        return "frozenset(" + ",".join(sorted(map(_constant, value))) + ")"
    if isinstance(value, tuple):
        return "(" + ",".join(map(_constant, value)) + ")"
    if isinstance(value, re.Pattern):
        return f"re({value.pattern!r},{value.flags})"
    if value is None or isinstance(value, (bool, int, float, complex, str, bytes)):
        return repr(value)
    return type(value).__qualname__  # objects: their type only (a repr may hold an address)


def _code_names(code: types.CodeType) -> list[str]:
    names = list(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names += _code_names(const)
    return names


def _feed_code(h: "hashlib._Hash", code: types.CodeType) -> None:
    h.update(code.co_code)
    h.update(repr(code.co_names).encode())
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            _feed_code(h, const)
        else:
            h.update(_constant(const).encode())


def _is_ours(helper: types.FunctionType, caller: object) -> bool:
    module = helper.__module__ or ""
    return module in ("__main__", getattr(caller, "__module__", None)) or \
        module.startswith("mlsys_edu")


def _feed(h: "hashlib._Hash", obj: object, seen: set[int]) -> None:
    if isinstance(obj, functools.partial):
        _feed(h, obj.func, seen)
        h.update((_constant(obj.args) + _constant(tuple(sorted(obj.keywords.items())))).encode())
        return
    obj = getattr(obj, "__func__", obj)  # a bound method: its function
    code = getattr(obj, "__code__", None)
    if not isinstance(code, types.CodeType):
        h.update(f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', obj)}".encode())
        return
    if id(code) in seen:
        return
    seen.add(id(code))
    _feed_code(h, code)
    h.update(_constant(obj.__defaults__).encode())
    h.update(_constant(tuple(sorted((obj.__kwdefaults__ or {}).items()))).encode())
    for cell in obj.__closure__ or ():
        value = cell.cell_contents
        _feed(h, value, seen) if callable(value) else h.update(_constant(value).encode())
    scope = obj.__globals__
    for name in sorted(set(_code_names(code))):
        value = scope.get(name)
        if isinstance(value, types.FunctionType) and _is_ours(value, obj):
            _feed(h, value, seen)  # a helper of the notebook or the course: its code counts
        elif isinstance(value, (re.Pattern, bool, int, float, str, tuple, frozenset)):
            h.update(f"{name}={_constant(value)}".encode())  # a module constant


def code_fingerprint(func: Callable) -> str:
    """A hash of what a step's function computes: its bytecode and constants, its defaults and
    closure, the module constants it reads and, recursively, the helper functions it calls by
    name from its own module, the notebook or ``mlsys_edu``. Not seen: methods, and code in
    other libraries, so a change there needs a changed step parameter (e.g. ``version=2``). The hash depends on the
    Python version (bytecode does), and not on line numbers or comments."""
    h = hashlib.sha256(f"python{sys.version_info[0]}.{sys.version_info[1]}".encode())
    _feed(h, func, set())
    return h.hexdigest()


def file_sha256(path: str | Path, chunk_bytes: int = 1 << 20) -> str:
    """``sha256`` of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk_bytes), b""):
            h.update(block)
    return h.hexdigest()
