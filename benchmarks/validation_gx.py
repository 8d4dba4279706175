"""Data validation: lab 02's ``validate`` against Great Expectations on the same constraints.

The same 1M x 20 frame and constraints as ``validation.py`` (imported from there), as a
Great Expectations 1.x suite on an ephemeral context with a pandas data source, validated
with ``result_format="COMPLETE"`` so that, like ours, it returns the offending rows. The
suite is built outside the timing; ``batch.validate(suite)`` is timed.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from typing import Any

ANCHOR = "great_expectations"
TITLE = "Validation: 20 columns, ~50 constraints, rows/s (ours vs Great Expectations)"
_spec = importlib.util.spec_from_file_location("_validation_bench",
                                               Path(__file__).with_name("validation.py"))
_base = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_base)  # type: ignore[union-attr]
cases, prepare = _base.cases, _base.prepare


def gx_side(frame: Any, rows: list) -> tuple[float, int]:
    import great_expectations as gx
    import great_expectations.expectations as gxe
    import pandas as pd

    context = gx.get_context(mode="ephemeral")
    batch = (context.data_sources.add_pandas("bench").add_dataframe_asset("frame")
             .add_batch_definition_whole_dataframe("all")
             .get_batch(batch_parameters={"dataframe": frame}))
    dtypes = {"float": "float64", "int": "int64", "bool": "bool", "datetime": "datetime64[ns]"}
    suite = gx.ExpectationSuite(name="bench")
    for column, kind, value, _ in rows:
        if kind == "type" and value in dtypes:
            suite.add_expectation(gxe.ExpectColumnValuesToBeOfType(column=column,
                                                                  type_=dtypes[value]))
        elif kind == "max_null_fraction":
            suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column=column,
                                                                   mostly=1.0 - value))
        elif kind == "range":
            low, high = (pd.Timestamp(v) for v in value) if column == "d0" else value
            suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column=column,
                                                                   min_value=low, max_value=high))
        elif kind == "domain":
            suite.add_expectation(gxe.ExpectColumnValuesToBeInSet(column=column, value_set=value))
        elif kind == "length":
            suite.add_expectation(gxe.ExpectColumnValueLengthsToBeBetween(
                column=column, min_value=value[0], max_value=value[1]))
        elif kind == "unique":
            suite.add_expectation(gxe.ExpectColumnValuesToBeUnique(column=column))
    start = time.perf_counter()
    result = batch.validate(suite, result_format="COMPLETE")
    seconds = time.perf_counter() - start
    bad: set[int] = set()
    for outcome in result.results:
        if not outcome.success:
            bad.update(int(i) for i in outcome.result.get("unexpected_index_list") or []
                       if isinstance(i, (int, float)))
    return seconds, len(bad)


def run(side: str, case: dict[str, Any]) -> dict[str, float]:
    frame = _base.read(case)
    if side == "ours":
        seconds, bad = _base.ours(frame, case["constraints"])
    elif side == "anchor":
        seconds, bad = gx_side(frame, case["constraints"])
    else:
        raise ValueError(f"unknown side {side!r}")
    return {"seconds": seconds, "rows_per_s": len(frame) / seconds, "bad_rows": float(bad)}
