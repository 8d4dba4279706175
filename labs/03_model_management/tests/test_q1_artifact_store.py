"""Question q1: the content-addressed artifact store (put, get)."""

import hashlib

import pytest

from mlsys_edu.lab import question


def _error_names(info, *words):
    """The error is of the named class and its message names every word (digest, path)."""
    text = str(info.value)
    missing = [w for w in words if w not in text]
    assert not missing, f"the error {text!r} should name {missing}"


@question("q1", points=2)
def test_put_names_bytes_by_their_sha256_and_get_returns_them(sub):
    store = sub.ArtifactStore(sub.scratch_dir())
    data = b"weights of the spam filter\x00\x01\x02"
    digest = store.put(data)
    assert digest == hashlib.sha256(data).hexdigest(), "the name is the SHA-256 hex digest"
    assert store.get(digest) == data
    assert store.digests() == [digest], "one object under objects/ab/cdef..."
    assert sub.os.path.getsize(store.path(digest)) == len(data)
    assert store.partial_files() == [], "a finished put leaves nothing in tmp/"
    empty = store.put(b"")
    assert empty == hashlib.sha256(b"").hexdigest() and store.get(empty) == b""


@question("q1", points=2)
def test_the_same_bytes_are_stored_once(sub):
    store = sub.ArtifactStore(sub.scratch_dir())
    first = store.put(b"same weights")
    inode = sub.os.stat(store.path(first)).st_ino
    assert store.put(b"same weights") == first
    assert sub.os.stat(store.path(first)).st_ino == inode, \
        "putting bytes that are stored intact must not write them again"
    store.put(b"other weights")
    assert len(store.digests()) == 2 and store.partial_files() == []


@question("q1", points=2)
def test_get_refuses_corrupted_and_missing_artifacts(sub):
    store = sub.ArtifactStore(sub.scratch_dir())
    digest = store.put(b"0123456789" * 10)
    path = store.path(digest)
    sub.flip_byte(path, 37)
    with pytest.raises(Exception) as info:
        store.get(digest)
    assert type(info.value).__name__ == "ArtifactCorrupt", f"got {info.value!r}"
    _error_names(info, digest, path)
    sub.os.remove(path)
    with pytest.raises(Exception) as info:
        store.get(digest)
    assert type(info.value).__name__ == "ArtifactMissing", f"got {info.value!r}"
    _error_names(info, digest, path)


@question("q1", points=1)
def test_put_repairs_a_corrupted_copy(sub):
    store = sub.ArtifactStore(sub.scratch_dir())
    data = b"a model worth keeping"
    digest = store.put(data)
    sub.flip_byte(store.path(digest), -1)
    assert store.put(data) == digest
    assert store.get(digest) == data, "put() of the original bytes replaces a corrupted copy"
    assert store.partial_files() == []


@question("q1", points=3, hidden=True)
def test_random_artifacts_match_hashlib_and_survive_only_intact(sub, rng):
    store = sub.ArtifactStore(sub.scratch_dir())
    blobs = [rng.bytes(int(n)) for n in rng.integers(0, 5000, size=12)] + [b"", b"x"]
    blobs += [blobs[i] for i in rng.integers(0, len(blobs), size=6)]  # duplicates
    digests = [store.put(b) for b in blobs]
    assert digests == [hashlib.sha256(b).hexdigest() for b in blobs]
    assert store.digests() == sorted(set(digests)), "each distinct blob stored exactly once"
    distinct = sorted({d: b for d, b in zip(digests, blobs) if b}.items())
    broken = {distinct[i][0] for i in rng.choice(len(distinct), size=4, replace=False)}
    for digest in broken:
        size = sub.os.path.getsize(store.path(digest))
        sub.flip_byte(store.path(digest), int(rng.integers(0, size)))
    for digest, blob in distinct:
        if digest in broken:
            with pytest.raises(Exception) as info:
                store.get(digest)
            assert type(info.value).__name__ == "ArtifactCorrupt"
        else:
            assert store.get(digest) == blob
    assert store.partial_files() == []


@question("q1", points=2, hidden=True)
def test_put_writes_a_flushed_temporary_file_then_renames_it(sub):
    # Kill a put at the file's fsync, at the rename and at the folder's fsync: each must be
    # reached, in that order, and none may leave a partial file under a real name.
    root = sub.scratch_dir()
    store = sub.ArtifactStore(root)
    for seed, point in enumerate(["fsync", "rename", "fsync_dir"]):
        outcome = sub.crash_while_storing(sub.ArtifactStore, root, point, seed)
        assert outcome == f"killed at {point}", (
            f"put() never reached {point}: write a temporary file in tmp/, os.fsync it, "
            f"os.replace it onto its name, then fsync_dir its folder (got: {outcome})")
        if point == "fsync_dir":
            assert len(store.digests()) == 1, "killed after the rename: the object is in place"
        else:
            assert store.digests() == [], f"killed at {point}: nothing under objects/ yet"
            partial = store.partial_files()
            assert len(partial) == seed + 1, "the unfinished write stays in tmp/"
            assert [sub.os.path.getsize(p) for p in partial] == [4096] * len(partial), \
                "flush the file's buffer before fsync: fsync only flushes what the kernel has"
