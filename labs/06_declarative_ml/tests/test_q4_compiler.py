"""Question q4: the compiler, schema -> nn.Module."""

import numpy as np
import pandas as pd
import torch

from mlsys_edu.lab import question

SCHEMA = {
    "payloads": [{"name": "words", "type": "sequence", "column": "text", "dim": 5,
                  "char_ngrams": None, "word_ngrams": [1, 1], "min_count": 1},
                 {"name": "who", "type": "category", "column": "author", "dim": 3,
                  "min_count": 1},
                 {"name": "row", "type": "singleton", "base": ["words", "who"], "dim": 6,
                  "dropout": 0.0}],
    "tasks": [{"name": "spam", "payload": "row", "classes": ["ham", "spam"]},
              {"name": "topic", "payload": "words", "classes": ["a", "b", "c"]}],
}
FRAME = pd.DataFrame({"text": ["buy now", "nice song", "buy my song", "love it"],
                      "author": ["ann", "bob", "ann", "cy"]})


def _outputs(model, batch):
    out = model(batch)
    return {task: {k: np.asarray(v.detach()) for k, v in heads.items()}
            for task, heads in out.items()}


def _n_params(module) -> int:
    return sum(int(p.numel()) for p in module.parameters())


@question("q4", points=2)
def test_baseline_has_one_head_per_task(sub):
    schema = sub.parse_schema(SCHEMA)  # built in the submission, like everything it is given
    featurizer = sub.Featurizer(schema).fit_vocabularies(FRAME)
    model = sub.compile_schema(schema, featurizer)
    model.eval()
    out = _outputs(model, featurizer.transform(FRAME))
    assert set(out) == {"spam", "topic"}
    assert out["spam"]["logits"].shape == (4, 2) and out["topic"]["logits"].shape == (4, 3)
    assert "indicators" not in out["spam"], "no slices in the schema: a plain linear head"
    V = featurizer.sizes["words"]  # words: V x 5, who: 4 x 3, row: (5 + 3 + 1) x 6, heads
    assert _n_params(model) == V * 5 + 4 * 3 + 9 * 6 + 7 * 2 + 6 * 3


@question("q4", points=2)
def test_seeded_and_slice_aware(sub):
    sliced = sub.parse_schema({**SCHEMA, "slices": [
        {"name": "buy", "column": "text", "pattern": "buy"}]})
    featurizer = sub.Featurizer(sliced).fit_vocabularies(FRAME)
    batch = featurizer.transform(FRAME)
    one, two = sub.compile_schema(sliced, featurizer, seed=3), sub.compile_schema(
        sliced, featurizer, seed=3)
    other = sub.compile_schema(sliced, featurizer, seed=4)
    for m in (one, two, other):
        m.eval()
    a, b, c = (_outputs(m, batch) for m in (one, two, other))
    np.testing.assert_array_equal(a["spam"]["logits"], b["spam"]["logits"],
                                  err_msg="the same schema and seed give the same model")
    assert not np.allclose(a["spam"]["logits"], c["spam"]["logits"]), "the seed matters"
    assert a["spam"]["indicators"].shape == (4, 2) and a["topic"]["attention"].shape == (4, 2)


@question("q4", points=4, hidden=True)
def test_random_schemas_match_reference(sub, ref, rng):
    words = np.array(["buy", "now", "song", "love", "my", "channel", "free", "it"])
    n = 50
    frame = pd.DataFrame({
        "text": [" ".join(rng.choice(words, size=rng.integers(0, 7))) for _ in range(n)],
        "author": rng.choice(["a", "b", "c", "d"], size=n),
        "video": rng.integers(1, 4, size=n),
        "date": pd.Timestamp("2014-01-01") + pd.to_timedelta(rng.integers(0, 10**8, n), "s")})
    for trial in range(3):
        payloads = [{"name": "t", "type": "sequence", "column": "text",
                     "dim": int(rng.integers(2, 9))},
                    {"name": "v", "type": "category", "column": "video", "dim": 2},
                    {"name": "d", "type": "date", "column": "date", "dim": 3},
                    {"name": "a", "type": "category", "column": "author", "dim": 4}]
        base = [str(p["name"]) for p in rng.permutation(payloads) if rng.random() < 0.7] or ["t"]
        payloads.insert(int(rng.integers(0, 4)), {"name": "s", "type": "singleton",
                                                  "base": base, "dim": 5, "dropout": 0.0})
        tasks = [{"name": f"task{j}", "payload": str(rng.choice(["s", "t", "s"])),
                  "classes": [f"c{i}" for i in range(int(rng.integers(2, 4)))]}
                 for j in range(int(rng.integers(1, 3)))]
        slices = [{"name": f"sl{j}", "column": "text", "pattern": str(rng.choice(words))}
                  for j in range(int(rng.integers(0, 3)))]
        spec = {"payloads": payloads, "tasks": tasks, "slices": slices}
        schema = ref.parse_schema(spec)
        featurizer = ref.Featurizer(schema).fit_vocabularies(frame)
        batch = featurizer.transform(frame)
        theirs = ref.compile_schema(schema, featurizer, seed=trial)
        ours_schema = sub.parse_schema(spec)
        ours = sub.compile_schema(ours_schema, sub.Featurizer(ours_schema).fit_vocabularies(frame), seed=trial)
        ours.load_state_dict({k: v.clone() for k, v in theirs.state_dict().items()})
        ours.eval()
        theirs.eval()
        with torch.no_grad():
            expected = {t: {k: v.numpy() for k, v in o.items()} for t, o in theirs(batch).items()}
        got = _outputs(ours, batch)
        assert set(got) == set(expected)
        for task in expected:
            assert set(got[task]) >= set(expected[task]), f"{task}: outputs {set(got[task])}"
            for key in expected[task]:
                np.testing.assert_allclose(got[task][key], expected[task][key], atol=1e-5,
                                           err_msg=f"trial {trial}, {task}.{key}")
