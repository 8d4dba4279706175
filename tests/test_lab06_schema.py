"""Lab 06's given plumbing (mlsys_edu.labkit.declarative): the schema parser's errors name
the field and what to do, the featurizer's tensors are what the encoders assume, slicing
functions are checked, and nothing is lost on bad input."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from mlsys_edu.labkit.declarative import (DATE_FEATURES, Schema, SchemaError,
                                          SliceFunctionError, config_lines, parse_schema)
from mlsys_edu.labkit.payloads import (Featurizer, date_features, markdown_table,
                                       slice_membership, take)

torch = pytest.importorskip("torch")

SPEC = {
    "payloads": [{"name": "tokens", "type": "sequence", "column": "text"},
                 {"name": "author", "type": "category", "column": "author"},
                 {"name": "video", "type": "category"},
                 {"name": "date", "type": "date"},
                 {"name": "comment", "type": "singleton",
                  "base": ["tokens", "author", "video", "date"]}],
    "tasks": [{"name": "spam", "payload": "comment", "classes": ["ham", "spam"]}],
    "sources": [{"name": "gold", "task": "spam", "column": "label"},
                {"name": "link", "task": "spam", "lf": "link"}],
    "slices": [{"name": "has_link", "column": "text", "pattern": "https?://"},
               {"name": "short", "function": "short"}],
}
FRAME = pd.DataFrame({
    "text": ["check http://x.co now", "nice song", "I love this song", "sub to my channel",
             "", "song song song"],
    "author": ["ann", "bob", "ann", "cy", "bob", "dee"],
    "video": [1, 1, 2, 3, 2, 1],
    "date": pd.to_datetime(["2014-01-01 10:00", "2014-06-01 23:30", None, "2015-02-03 00:00",
                            "2013-01-01 00:00", "2014-01-01 10:00"]),
    "label": [1, 0, 0, 1, -1, 0],
})


def _problems(spec) -> list[str]:
    with pytest.raises(SchemaError) as info:
        parse_schema(spec)
    return info.value.problems


def _with(path: str, value, spec=SPEC):
    """A copy of ``spec`` with ``section[i].field`` set (or removed, for value=...)."""
    spec = copy.deepcopy(spec)
    section, rest = path.split("[")
    index, key = rest.split("].")
    if value is ...:
        del spec[section][int(index)][key]
    else:
        spec[section][int(index)][key] = value
    return spec


# ------------------------------------------------------------------------------ parsing
def test_yaml_and_dict_give_the_same_schema_and_round_trip():
    yaml = pytest.importorskip("yaml")
    schema = parse_schema(SPEC)
    assert parse_schema(yaml.safe_dump(SPEC)) == schema
    assert parse_schema(schema.to_dict()) == schema
    assert [p.name for p in schema.order()] == ["tokens", "author", "video", "date", "comment"]
    assert schema.payload("video").column == "video", "a payload reads the column of its name"
    assert [s.name for s in schema.without_slices().slices] == []
    more = schema.with_slices({"name": "long", "function": "long"})
    assert [s.name for s in more.slices] == ["has_link", "short", "long"]
    assert isinstance(more, Schema) and schema.slices == parse_schema(SPEC).slices


def test_ludwig_style_defaults():
    schema = parse_schema({"payloads": [{"name": "text", "type": "sequence"},
                                        {"name": "author", "type": "category"},
                                        {"name": "all", "type": "singleton"}],
                           "tasks": [{"name": "label", "classes": ["ham", "spam"]}]})
    assert schema.payload("all").base == ("text", "author"), "the combiner reads every input"
    assert schema.tasks[0].payload == "all", "a task reads the only singleton"
    assert [(s.name, s.column) for s in schema.sources] == [("label", "label")], \
        "a task without sources learns from the column of its name"


@pytest.mark.parametrize("path, value, expected", [
    ("payloads[0].type", "seq", "payloads[0].type: unknown payload type 'seq' for 'tokens'; "
                                "types: sequence, category, date, singleton"),
    ("tasks[0].payload", "comment_text", "tasks[0].payload: no payload named 'comment_text'; "
                                         "payloads: tokens, author, video, date, comment"),
    ("payloads[4].base", ["tokens", "body"], "payloads[4].base: no payload named 'body'"),
    ("payloads[0].column", 3, "payloads[0].column: a sequence payload reads one column"),
    ("payloads[0].dim", 0, "payloads[0].dim: expected an integer in [1, 4096], got 0"),
    ("payloads[0].char_ngrams", [5, 2], "payloads[0].char_ngrams: expected [low, high]"),
    ("tasks[0].classes", ["spam"], "tasks[0].classes: expected two or more distinct class"),
    ("sources[1].task", "ham", "sources[1].task: no task named 'ham'; tasks: spam"),
    ("sources[1].column", "label", "sources[1]: a source is a gold-label column"),
    ("slices[0].pattern", "(", "slices[0].pattern: '(' is not a valid regular expression"),
    ("slices[1].column", "text", "slices[1]: a slice is a pattern on a column"),
    ("slices[1].name", "has_link", "slices[1].name: 'has_link' is used twice in slices"),
    ("slices[1].name", "2short", "slices[1].name: expected an identifier"),
    ("payloads[1].colour", "red", "payloads[1]: unknown field(s) colour in 'author'"),
])
def test_every_problem_names_its_field(path, value, expected):
    problems = _problems(_with(path, value))
    assert any(p.startswith(expected) for p in problems), problems


def test_all_problems_are_reported_at_once_and_the_input_is_kept():
    spec = _with("payloads[0].type", "seq", _with("tasks[0].classes", ["x"]))
    before = copy.deepcopy(spec)
    problems = _problems(spec)
    assert len(problems) == 2 and "payloads[0].type" in problems[0]
    assert "tasks[0].classes" in problems[1]
    assert spec == before, "parsing never changes what it was given"
    text = str(SchemaError(problems))
    assert text.startswith("the schema has 2 problems:") and "tasks[0].classes" in text


def test_cycles_sections_and_yaml_errors():
    spec = copy.deepcopy(SPEC)
    spec["payloads"] += [{"name": "a", "type": "singleton", "base": ["b"]},
                         {"name": "b", "type": "singleton", "base": ["a"]}]
    assert any("cycle (a -> b -> a)" in p for p in _problems(spec))
    assert _problems({**SPEC, "model": {}})[0].startswith("schema: unknown section(s) model")
    assert _problems({"tasks": SPEC["tasks"]})[0].startswith("payloads: missing")
    assert _problems("payloads: [\n  - x")[0].startswith("schema: not valid YAML at line 2")
    assert _problems("just text")[0].startswith("schema: expected a mapping")
    assert _problems(42)[0].startswith("schema: expected YAML text or a dict")


def test_config_lines_counts_what_a_person_writes():
    assert config_lines("a: 1\n\n# comment\nb:\n  - 2\n") == 3
    assert config_lines({"a": 1, "b": [2, 3]}) == 4  # dumped block style: a, b, - 2, - 3


# ------------------------------------------------------------------------------ featurizing
def _rows(bag) -> list[tuple[np.ndarray, np.ndarray]]:
    """A bag's (ids, weights) row by row, split at its offsets."""
    ends = [*bag["offsets"].tolist()[1:], len(bag["ids"])]
    return [(bag["ids"][a:b].numpy(), bag["weights"][a:b].numpy())
            for a, b in zip(bag["offsets"].tolist(), ends)]


def test_featurizer_tensors():
    schema = parse_schema(SPEC)
    featurizer = Featurizer(schema).fit_vocabularies(FRAME)
    batch = featurizer.transform(FRAME)
    assert set(batch) == {"tokens", "author", "video", "date"}, "singletons have no input"
    bag = batch["tokens"]
    assert bag["ids"].shape == bag["weights"].shape and bag["ids"].dtype == torch.int64
    assert bag["offsets"].shape == (len(FRAME),) and bag["offsets"][0] == 0
    assert bag["ids"].min() >= 1, "id 0 is left free for padding"
    assert bag["ids"].max() < featurizer.sizes["tokens"]
    rows = _rows(bag)
    for i in (0, 1, 2, 3, 5):
        ids, weights = rows[i]
        assert len(np.unique(ids)) == len(ids), "each n-gram once per row"
        np.testing.assert_allclose((weights.astype(np.float64) ** 2).sum(), 1.0, atol=1e-5)
        assert (weights > 0).all()
    assert len(rows[4][0]) == 0, "an empty comment has no n-grams"
    np.testing.assert_array_equal(rows[1][0], rows[1][0][np.argsort(rows[1][0])])
    # categories seen once (cy, dee; video 3) are unknown (0), the others 1..
    np.testing.assert_array_equal(batch["author"], [1, 2, 1, 0, 2, 0])
    np.testing.assert_array_equal(batch["video"], [1, 1, 2, 0, 2, 1])
    assert featurizer.sizes["author"] == 3 and featurizer.sizes["date"] == len(DATE_FEATURES)
    unseen = featurizer.transform(FRAME.assign(author="zed", text="zzz qqq"))
    assert (unseen["author"] == 0).all() and len(unseen["tokens"]["ids"]) == 0


def test_featurizer_keeps_the_heaviest_n_grams():
    spec = copy.deepcopy(SPEC)
    spec["payloads"][0].update(max_tokens=3, min_count=1)
    featurizer = Featurizer(parse_schema(spec)).fit_vocabularies(FRAME)
    full = copy.deepcopy(SPEC)
    full["payloads"][0].update(max_tokens=10**6, min_count=1)
    everything = Featurizer(parse_schema(full)).fit_vocabularies(FRAME)
    for (ids, weights), (all_ids, all_weights) in zip(_rows(featurizer.transform(FRAME)["tokens"]),
                                                      _rows(everything.transform(FRAME)["tokens"])):
        assert len(ids) == min(3, len(all_ids))
        if len(ids):  # the three of highest TF-IDF weight, renormalised
            assert set(ids) <= set(all_ids)
            assert np.sort(all_weights)[-len(ids)] <= all_weights[np.isin(all_ids, ids)].min() + 1e-6
            np.testing.assert_allclose((weights.astype(np.float64) ** 2).sum(), 1.0, atol=1e-5)


def test_featurizer_reads_pandas_2_and_3_strings_alike():
    schema = parse_schema(SPEC)
    featurizer = Featurizer(schema).fit_vocabularies(FRAME)
    arrow = FRAME.astype({"text": "string", "author": "string"})
    a, b = featurizer.transform(FRAME), featurizer.transform(arrow)
    for key in ("ids", "weights"):
        assert torch.equal(a["tokens"][key], b["tokens"][key])
    assert torch.equal(a["author"], b["author"])


def test_featurizer_names_a_missing_column():
    featurizer = Featurizer(parse_schema(SPEC))
    with pytest.raises(KeyError, match="payload 'video' reads column 'video'"):
        featurizer.fit_vocabularies(FRAME.drop(columns="video"))
    with pytest.raises(RuntimeError, match="fit"):
        Featurizer(parse_schema(SPEC)).transform(FRAME)


def test_date_features():
    out = date_features(pd.Series(pd.to_datetime(["2013-01-01 06:00", None])))
    assert out.shape == (2, 6) and out.dtype == np.float32
    # six hours after 2013-01-01; 6 am is a quarter turn of the day: sin 1, cos 0
    np.testing.assert_allclose(out[0, :3], [6 / (365.25 * 24), 1.0, 0.0], atol=1e-6)
    np.testing.assert_array_equal(out[1], [0, 0, 0, 0, 0, 1])


def test_take_selects_rows_of_every_payload():
    featurizer = Featurizer(parse_schema(SPEC)).fit_vocabularies(FRAME)
    batch = featurizer.transform(FRAME)
    part = take(batch, np.array([True, False, False, True, False, False]))
    assert torch.equal(part["author"], batch["author"][[0, 3]])
    rows, picked = _rows(batch["tokens"]), _rows(part["tokens"])
    assert len(picked) == 2
    for (ids, weights), i in zip(picked, (0, 3)):
        np.testing.assert_array_equal(ids, rows[i][0])
        np.testing.assert_array_equal(weights, rows[i][1])
    assert torch.equal(take(batch, np.array([3, 0]))["video"], batch["video"][[3, 0]])
    empty = take(batch, np.zeros(6, bool))
    assert len(empty["tokens"]["ids"]) == 0 and len(empty["author"]) == 0


# ------------------------------------------------------------------------------ slices
def test_slice_membership_patterns_and_functions():
    schema = parse_schema(SPEC)
    members = slice_membership(schema, FRAME, {"short": lambda df: df.text.str.len() < 10})
    np.testing.assert_array_equal(members[:, 0], [True, False, False, False, False, False])
    np.testing.assert_array_equal(members[:, 1], [False, True, False, False, True, False])


@pytest.mark.parametrize("function, message", [
    (lambda df: 1 / 0, "slices[1] 'short': the slicing function raised ZeroDivisionError"),
    (lambda df: df.text.str.len(), "slices[1] 'short': the slicing function returned int64"),
    (lambda df: np.ones(3, bool), "slices[1] 'short': the slicing function returned shape (3,)"),
    (lambda df: pd.Series([True, None] * 3, dtype="boolean"), "returned missing values (row 1)"),
])
def test_bad_slicing_functions_are_named(function, message):
    with pytest.raises(SliceFunctionError) as info:
        slice_membership(parse_schema(SPEC), FRAME, {"short": function})
    assert message in str(info.value)


def test_missing_function_or_column_is_named():
    with pytest.raises(SliceFunctionError, match="no slicing function named 'short'; given: none"):
        slice_membership(parse_schema(SPEC), FRAME)
    with pytest.raises(SliceFunctionError, match="slices\\[0\\] 'has_link': the data has no"):
        slice_membership(parse_schema(SPEC), FRAME.drop(columns="text"), {"short": len})


def test_markdown_table():
    frame = pd.DataFrame({"count": [3, 0], "acc": [0.91234, float("nan")]},
                         index=pd.Index(["all", "a|b"], name="slice"))
    assert markdown_table(frame).splitlines() == [
        "| slice | count | acc |", "|---|---|---|", "| all | 3 | 0.912 |", "| a\\|b | 0 |  |"]


def test_pattern_slices_are_case_sensitive_as_written():
    schema = parse_schema({**SPEC, "slices": [
        {"name": "shouting", "column": "text", "pattern": "[A-Z]{4}"},
        {"name": "song", "column": "text", "pattern": "(?i)SONG"}]})
    frame = pd.DataFrame({"text": ["LOVE it", "love it", "Song!", None]})
    np.testing.assert_array_equal(slice_membership(schema, frame),
                                  [[True, False], [False, False], [False, True], [False, False]])


hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies


@hypothesis.settings(max_examples=25, deadline=None)
@hypothesis.given(texts=st.lists(st.text(alphabet="ab c!", max_size=12), min_size=1, max_size=8),
                  data=st.data())
def test_take_is_transforming_the_chosen_rows(texts, data):
    """take(transform(df), rows) == transform(df.iloc[rows]), for any rows in any order."""
    frame = pd.DataFrame({"text": texts, "author": [t[:1] for t in texts]})
    spec = {"payloads": [{"name": "tokens", "type": "sequence", "column": "text",
                          "min_count": 1, "char_ngrams": [1, 2]},
                         {"name": "author", "type": "category", "min_count": 1}],
            "tasks": [{"name": "spam", "payload": "tokens", "classes": ["ham", "spam"]}]}
    featurizer = Featurizer(parse_schema(spec)).fit_vocabularies(frame)
    rows = data.draw(st.lists(st.integers(0, len(texts) - 1), max_size=10))
    part = take(featurizer.transform(frame), np.array(rows, dtype=np.int64))
    direct = featurizer.transform(frame.iloc[rows])
    assert torch.equal(part["author"], direct["author"])
    for key in ("ids", "offsets", "weights"):
        assert torch.equal(part["tokens"][key], direct["tokens"][key]), key
