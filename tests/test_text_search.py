"""labkit.text_search: the fast column search has exactly Python re's meaning, on every row."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from mlsys_edu.labkit.text_search import _re2_reads_it_alike, search_texts

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

# Patterns where RE2 and Python's re disagree somewhere, and plain ones.
PATTERNS = [r"\bsong\b", r"\d{3}", r"\w+é", r"\s", r"\S\s\S", r"out$", r"^check", r"a{,2}b",
            r"[[:alpha:]]", r"a(?=b)", r"(?<!x)y", r"(a)\1", r"\Z", r"check.*out", r"(?i)MY",
            r"ｈｔｔｐ", r"k", r"ß", r"[^a-z]", r"\W\B", r"\$\d", r"(?:my|plz)\b", r"a++", r"a{1001}",
            "my", "."]
ALPHABET = "ab kysongoutéÉ٣5$\n\x0b\x1c\tKkßSｈＨ_.\u212a"


def _python(texts, pattern, ignore_case):
    compiled = re.compile(pattern, re.IGNORECASE if ignore_case else 0)
    return np.array([isinstance(t, str) and compiled.search(t) is not None for t in texts])


@given(st.lists(st.text(alphabet=ALPHABET, max_size=12), max_size=25),
       st.sampled_from(PATTERNS), st.booleans())
@settings(max_examples=300, deadline=None)
@pytest.mark.filterwarnings("ignore:Possible nested set:FutureWarning")
def test_search_texts_is_python_re(texts, pattern, ignore_case):
    expected = _python(texts, pattern, ignore_case)
    for column in (texts, pd.Series(texts, dtype=object), pd.Series(texts, dtype="string"),
                   pd.Series(texts, dtype="string[pyarrow]")):
        np.testing.assert_array_equal(search_texts(column, pattern, ignore_case), expected)


def test_the_cases_that_split_the_engines():
    texts = ["ésong", "a song", "٣٣٣", "123", "check out\n", "x\x0by"]
    assert search_texts(texts, r"\bsong\b").tolist() == [False, True, False, False, False, False]
    assert search_texts(texts, r"\d{3}").tolist() == [False, False, True, True, False, False]
    assert search_texts(texts, r"out$").tolist() == [False, False, False, False, True, False]
    assert search_texts(texts, r"x\sy").tolist() == [False] * 5 + [True]


def test_missing_texts_never_match_and_bad_patterns_are_named():
    assert search_texts(pd.Series(["my", None, np.nan], dtype=object), "my").tolist() == [
        True, False, False]
    assert search_texts([], "x").shape == (0,)
    with pytest.raises(ValueError, match="not a valid regular expression"):
        search_texts(["a"], "(")
    with pytest.raises(TypeError, match="string"):
        search_texts(["a"], re.compile("a"))


def test_which_patterns_go_to_re2():
    assert _re2_reads_it_alike(r"\bmy\b|https?://") and _re2_reads_it_alike(r"(?i)check.*out")
    for python_only in (r"a(?=b)", r"(a)\1", r"a{,3}", r"[[:digit:]]", r"x\Z", r"(?x) a", r"a++"):
        assert not _re2_reads_it_alike(python_only), python_only
