"""Search a column of texts with a regular expression: C++ speed, Python ``re`` semantics.

Two engines can run a pattern over many strings, and they disagree:

* Python's ``re`` is Unicode-aware: ``\\d`` matches "٣" (an Arabic-Indic digit), ``\\w``
  matches "é", so ``\\bsong\\b`` does *not* match inside "ésong". It runs in a Python loop.
* RE2 (Google's engine, behind ``pyarrow.compute.match_substring_regex`` and pandas' Arrow
  strings) runs in C++, 10-50x faster, but its ``\\d``, ``\\w``, ``\\b`` and ``\\s`` are
  ASCII-only, its ``$`` ignores a trailing newline, and it refuses look-arounds and
  back-references.

pandas hands a pattern to one or the other depending on its version: pandas 2.2 gives
Arrow-backed strings to RE2 (and fails on a compiled ``re.Pattern``); pandas 3 falls back to
Python's ``re`` whenever the two could disagree, which is correct but slow. A labeling
function whose votes change with the pandas version is training/serving skew in miniature.

:func:`search_texts` has one meaning on every version, Python's: it runs RE2 on the rows where
the two engines provably agree (printable ASCII: no control character such as the "\\n"
that Python's ``$`` may match before, or the "\\x0b" that only Python's ``\\s`` knows) and Python's ``re`` on the others, and uses Python's ``re`` alone for
a pattern whose syntax RE2 reads differently (or not at all).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

# Syntax both engines accept with different meanings: `a{,3}` (Python: 0 to 3 a's; RE2: the
# literal text "a{,3}") and `[[:alpha:]]` (RE2: a POSIX class; Python: a set of characters).
_READ_DIFFERENTLY = re.compile(r"\{,|\[:")


def _re2_reads_it_alike(pattern: str) -> bool:
    """Whether RE2 gives ``pattern`` Python's meaning on ASCII text (a conservative check:
    ``False`` only costs speed). Python's own parser lists the pattern's parts; any part
    outside plain literals, sets, groups, repeats, branches and anchors (look-arounds,
    back-references, flags other than i, possessive and atomic forms) sends it to Python."""
    if _READ_DIFFERENTLY.search(pattern) or "\\Z" in pattern:
        return False
    try:
        from re import _parser  # type: ignore[attr-defined]  # CPython 3.11+
    except ImportError:  # pragma: no cover - another Python: be safe, not fast
        return False
    simple = {_parser.LITERAL, _parser.NOT_LITERAL, _parser.ANY, _parser.IN, _parser.RANGE,
              _parser.NEGATE, _parser.CATEGORY, _parser.BRANCH, _parser.SUBPATTERN,
              _parser.MAX_REPEAT, _parser.MIN_REPEAT, _parser.AT}
    allowed_flags = re.IGNORECASE | re.UNICODE

    def walk(items: object) -> bool:
        for op, argument in items:  # type: ignore[attr-defined]
            if op not in simple:
                return False
            if op == _parser.SUBPATTERN:
                _, add_flags, del_flags, body = argument
                if (add_flags | del_flags) & ~allowed_flags or not walk(body):
                    return False
            elif op == _parser.BRANCH:
                if not all(walk(branch) for branch in argument[1]):
                    return False
            elif op in (_parser.MAX_REPEAT, _parser.MIN_REPEAT):
                if not walk(argument[2]):
                    return False
        return True

    try:
        parsed = _parser.parse(pattern)
    except re.error:
        return False
    return not parsed.state.flags & ~allowed_flags and walk(parsed)


def _as_arrow(texts: Sequence[str] | pd.Series | np.ndarray):
    """The texts as one pyarrow string array (zero-copy for Arrow-backed pandas strings)."""
    import pyarrow as pa

    if isinstance(texts, pd.Series):
        try:
            array = pa.array(texts.array) if hasattr(texts.array, "__arrow_array__") else None
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            array = None
        if array is None:
            array = pa.array(texts.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
    else:
        array = pa.array(list(texts), type=pa.string(), from_pandas=True)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if not pa.types.is_string(array.type):
        array = array.cast(pa.string())
    return array


def search_texts(texts: Sequence[str] | pd.Series | np.ndarray, pattern: str,
                 ignore_case: bool = True) -> np.ndarray:
    """``[re.search(pattern, t, flags) is not None for t in texts]`` as a bool array, fast.

    ``flags`` is ``re.IGNORECASE`` unless ``ignore_case=False``. A missing text (None, NaN)
    never matches. An invalid pattern raises ``ValueError`` naming it.
    """
    if isinstance(pattern, re.Pattern):
        raise TypeError("pass the pattern as a string (compiled.pattern), with ignore_case= "
                        "for the flag: a compiled pattern's flags would be lost")
    flags = re.IGNORECASE if ignore_case else 0
    try:
        compiled = re.compile(pattern, flags)
    except re.error as err:
        raise ValueError(f"{pattern!r} is not a valid regular expression: {err}") from None
    search = compiled.search
    try:
        import pyarrow.compute as pc
    except ImportError:  # no pyarrow: Python's loop is the only engine
        return np.array([isinstance(t, str) and search(t) is not None for t in texts], bool)
    array = _as_arrow(texts)
    if len(array) == 0:
        return np.zeros(0, dtype=bool)
    hits = None
    if _re2_reads_it_alike(pattern):
        try:
            matched = pc.match_substring_regex(array, pattern, ignore_case=ignore_case)
            hits = np.array(pc.fill_null(matched, False).to_numpy(zero_copy_only=False), bool)
        except ValueError:  # pyarrow.ArrowInvalid: beyond RE2's limits (e.g. a{2000})
            hits = None
    if hits is not None:
        # printable ASCII (0x20-0x7e) is where the engines agree: everything else, non-ASCII
        # text and control characters alike, goes to Python's re
        agree = pc.fill_null(pc.ascii_is_printable(array), True)
        recheck = np.flatnonzero(~agree.to_numpy(zero_copy_only=False))
    else:
        hits = np.zeros(len(array), dtype=bool)
        recheck = np.flatnonzero(array.is_valid().to_numpy(zero_copy_only=False))
    if len(recheck):
        values = array.take(recheck).to_pylist()
        hits[recheck] = [search(t) is not None for t in values]
    return hits
