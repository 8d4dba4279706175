"""Question q1: the spam filter's schema."""

from mlsys_edu.lab import question
from mlsys_edu.labkit.declarative import parse_schema
from mlsys_edu.labkit.weak_labels import SPAM_PATTERN_LFS


def _schema(sub):
    return parse_schema(sub.SPAM_SCHEMA)  # raises SchemaError, naming the field, if malformed


@question("q1", points=2)
def test_payloads_and_task(sub):
    schema = _schema(sub)
    kinds = {p.name: (p.type, p.column) for p in schema.payloads}
    assert kinds.get("tokens") == ("sequence", "text"), "tokens: a sequence of the text column"
    assert kinds.get("author") == ("category", "author")
    assert kinds.get("video") == ("category", "video")
    assert kinds.get("date") == ("date", "date")
    comment = schema.payload("comment")
    assert comment.type == "singleton"
    assert sorted(comment.base) == ["author", "date", "tokens", "video"]
    assert [(t.name, t.payload, t.classes) for t in schema.tasks] == [
        ("spam", "comment", ("ham", "spam"))]
    assert schema.slices == (), "no slices yet: this is the baseline's schema"


@question("q1", points=2)
def test_every_source_is_named(sub):
    schema = _schema(sub)
    gold = [s for s in schema.sources if s.column is not None]
    assert [(s.name, s.column, s.task) for s in gold] == [("gold", "gold", "spam")]
    lfs = {s.name: s.lf for s in schema.sources if s.lf is not None}
    assert lfs == {lf.name: lf.name for lf in SPAM_PATTERN_LFS}, \
        "one source per labeling function, named like it"
    assert all(s.task == "spam" for s in schema.sources)


@question("q1", points=1, hidden=True)
def test_schema_compiles_and_reads_the_data(sub, ref, rng):
    import numpy as np
    import pandas as pd
    import torch

    from mlsys_edu.labkit.payloads import Featurizer

    schema = _schema(sub)
    words = np.array(["check", "my", "channel", "love", "this", "song", "http://x.co", "free"])
    n = 60
    frame = pd.DataFrame({
        "text": [" ".join(rng.choice(words, size=rng.integers(1, 9))) for _ in range(n)],
        "author": rng.choice(["ann", "bob", "cy"], size=n), "video": rng.integers(1, 5, n),
        "date": pd.Timestamp("2014-06-01") + pd.to_timedelta(rng.integers(0, 10**7, n), "s"),
        "gold": rng.integers(-1, 2, n)})
    featurizer = Featurizer(schema).fit_vocabularies(frame)
    model = ref.compile_schema(schema, featurizer)
    with torch.no_grad():
        logits = model(featurizer.transform(frame))["spam"]["logits"]
    assert tuple(logits.shape) == (n, 2)
