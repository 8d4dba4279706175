"""Question q4: lineage queries, backward to the sources and forward to any artifact."""

import numpy as np

from mlsys_edu.lab import question

# s (5 rows) --filter--> f (3) --aggregate--> g (2); j (3) = f joined with g; t (2) --> j too
EDGES = {"f": {"s": [[0, 1, 2], [1, 3, 4]]},
         "g": {"f": [[0, 0, 1], [0, 2, 1]]},
         "j": {"f": [[0, 1, 2], [0, 1, 2]], "g": [[0, 1, 2], [0, 1, 0]], "t": [[1], [1]]}}
N_ROWS = {"s": 5, "t": 2, "f": 3, "g": 2, "j": 3}


def _lineage(sub, edges=EDGES, n_rows=N_ROWS):
    return sub.Lineage({a: {i: np.array(e) for i, e in inputs.items()}
                        for a, inputs in edges.items()}, dict(n_rows))


def _as_lists(found):
    return {source: list(np.asarray(rows)) for source, rows in found.items()}


@question("q4", points=2)
def test_trace_back_to_the_sources(sub):
    lin = _lineage(sub)
    assert _as_lists(sub.trace_back(lin, "j", [2])) == {"s": [1, 4]}, \
        "j row 2 = f row 2 (s row 4) joined with g row 0 (f rows 0 and 2: s rows 1 and 4)"
    assert _as_lists(sub.trace_back(lin, "j", [1])) == {"s": [3], "t": [1]}
    assert _as_lists(sub.trace_back(lin, "g", [1, 1])) == {"s": [3]}


@question("q4", points=2)
def test_trace_forward_to_an_artifact(sub):
    lin = _lineage(sub)
    assert list(sub.trace_forward(lin, "s", [1], "j")) == [0, 2]
    assert list(sub.trace_forward(lin, "s", [0, 2], "j")) == [], "rows the filter dropped"
    assert list(sub.trace_forward(lin, "t", None, "j")) == [1]
    assert list(sub.trace_forward(lin, "f", [1], "j")) == [1], "from an intermediate artifact"


def _random_dag(rng, n_sources=2, n_steps=5):
    """Layered artifacts with random relations, and the brute-force parents of every row."""
    n_rows = {f"s{k}": int(rng.integers(1, 30)) for k in range(n_sources)}
    edges = {}
    for k in range(n_steps):
        name, n = f"a{k}", int(rng.integers(1, 40))
        inputs = rng.choice(list(n_rows), size=min(len(n_rows), rng.integers(1, 3)),
                            replace=False)
        edges[name] = {}
        for source in inputs:
            out = np.sort(rng.integers(0, n, rng.integers(0, 2 * n)))
            edges[name][str(source)] = np.stack([out, rng.integers(0, n_rows[source], len(out))])
        if rng.random() < 0.5:  # a map-like, dense relation too
            source = str(inputs[0])
            edges[name][source] = np.stack([np.arange(n), rng.integers(0, n_rows[source], n)])
        n_rows[name] = n
    return edges, n_rows


def _parents(edges, name, row):
    if name not in edges:
        return {(name, row)}
    found = set()
    for source, (out, into) in edges[name].items():
        for i in into[out == row]:
            found |= _parents(edges, source, int(i))
    return found


@question("q4", points=3, hidden=True)
def test_trace_back_matches_brute_force(sub, rng):
    for _ in range(15):
        edges, n_rows = _random_dag(rng)
        lin, target = _lineage(sub, edges, n_rows), f"a{len(edges) - 1}"
        rows = rng.choice(n_rows[target], size=rng.integers(1, 4))
        expected = set().union(*(_parents(edges, target, int(r)) for r in rows))
        found = {(s, int(r)) for s, rs in sub.trace_back(lin, target, rows).items() for r in rs}
        assert found == expected
        assert all(len(r) for r in sub.trace_back(lin, target, rows).values()), "no empty lists"


@question("q4", points=3, hidden=True)
def test_trace_forward_matches_brute_force(sub, rng):
    for _ in range(15):
        edges, n_rows = _random_dag(rng)
        lin, target = _lineage(sub, edges, n_rows), f"a{len(edges) - 1}"
        source = "s0"
        rows = sorted(set(rng.integers(0, n_rows[source], rng.integers(1, 5)).tolist()))
        expected = [r for r in range(n_rows[target])
                    if any((source, x) in _parents(edges, target, r) for x in rows)]
        assert list(sub.trace_forward(lin, source, rows, target)) == expected


@question("q4", points=3, hidden=True)
def test_lineage_finds_the_rows_the_join_drops(sub, ref):
    """On the planted pipeline: the export-04 rows lost at with_volume are its undated ones."""
    folder = ref.tempfile.mkdtemp()
    pipe = ref.Pipeline(ref.sp.spam_pipeline(ref.sp.write_exports(folder, ref.raw_youtube_spam())), f"{folder}/p")
    pipe.reproduce()
    truth = pipe.lineage()
    lin = _lineage(sub, truth.edges, truth.n_rows)
    export = ref.sp.EXPORTS[3]
    reached = {a: set(np.asarray(sub.trace_back(lin, a, np.arange(truth.n_rows[a])).get(
        export, [])).tolist()) for a in ("features", "with_volume")}
    raw = ref.read_csv_source(open(pipe.nodes[3].path, "rb").read())
    undated = set(np.flatnonzero(raw["DATE"].to_numpy() == "").tolist())
    assert reached["features"] - reached["with_volume"] == undated & reached["features"]
    assert len(undated & reached["features"]) > 200
    forward = sub.trace_forward(lin, export, sorted(undated), "training_set")
    assert list(forward) == [], "no training row comes from an undated comment"
