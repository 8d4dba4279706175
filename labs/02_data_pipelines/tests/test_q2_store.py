"""Question q2: the content-addressed store and the cache key."""

import hashlib

import numpy as np

from mlsys_edu.lab import question


@question("q2", points=2)
def test_put_stores_bytes_under_their_hash(sub):
    store = sub.ArtifactStore(sub.tempfile.mkdtemp())
    data = b"comment_id,text\n1,hello\n"
    digest = store.put(data)
    assert digest == hashlib.sha256(data).hexdigest()
    assert store.read(digest) == data
    assert store.listing() == [f"objects/{digest[:2]}/{digest[2:]}"], \
        "one file at objects/<2 hex>/<62 hex>, and no temporary file left behind"
    assert store.put(data) == digest and len(store.listing()) == 1, "putting twice stores once"


@question("q2", points=2)
def test_step_key_is_unambiguous(sub):
    key = sub.step_key("code", {"a": 1, "b": [2, 3]}, ["h1", "h2"])
    assert len(key) == 64 and int(key, 16) >= 0, "a SHA-256 hex digest"
    assert key == sub.step_key("code", {"b": [2, 3], "a": 1}, ["h1", "h2"]), "params' order"
    assert key != sub.step_key("code", {"a": 1, "b": [2, 3]}, ["h2", "h1"]), "inputs' order"
    assert sub.step_key("ab", {}, ["c"]) != sub.step_key("a", {}, ["bc"])
    assert sub.step_key("a", {}, ["b", "c"]) != sub.step_key("a", {}, ["bc"])
    assert sub.step_key("a", {"x": 1}, []) != sub.step_key("a", {"x": "1"}, [])


@question("q2", points=2, hidden=True)
def test_store_on_random_bytes(sub, rng):
    store = sub.ArtifactStore(sub.tempfile.mkdtemp())
    blobs = [rng.integers(0, 256, int(n), dtype=np.uint8).tobytes()
             for n in rng.integers(0, 5000, 30)] + [b""]
    digests = [store.put(b) for b in blobs]
    for blob, digest in zip(blobs, digests):
        assert digest == hashlib.sha256(blob).hexdigest()
        assert store.read(digest) == blob
    assert sorted(store.listing()) == sorted({f"objects/{d[:2]}/{d[2:]}" for d in digests})


@question("q2", points=1, hidden=True)
def test_failed_put_leaves_nothing(sub):
    store = sub.ArtifactStore(sub.tempfile.mkdtemp())
    digest = store.put(b"kept")
    for bad in ("a string, not bytes", 12345, None):
        try:
            store.put(bad)
        except Exception:  # noqa: BLE001 - any error is fine; a stray file is not
            pass
    assert store.listing() == [f"objects/{digest[:2]}/{digest[2:]}"], \
        "a failed put must leave no file behind"


@question("q2", points=2, hidden=True)
def test_step_key_changes_with_every_part(sub, rng):
    keys = set()
    for _ in range(40):
        code = "".join(rng.choice(list("abc:"), size=rng.integers(0, 4)))
        inputs = ["".join(rng.choice(list("xy,"), size=rng.integers(0, 3)))
                  for _ in range(rng.integers(0, 3))]
        params = {str(k): int(rng.integers(0, 3)) for k in range(rng.integers(0, 3))}
        keys.add((code, tuple(inputs), tuple(sorted(params.items())),
                  sub.step_key(code, params, inputs)))
    by_parts = {k[:3]: k[3] for k in keys}
    assert len(set(by_parts.values())) == len(by_parts), "different parts, different keys"
