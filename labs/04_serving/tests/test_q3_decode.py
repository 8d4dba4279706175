"""Question q3: decoding and validating Open Inference Protocol v2 infer requests."""

import json

import numpy as np
import pytest

from mlsys_edu.lab import question


def request(data, shape=(2, 3), datatype="FP32", name="features", **extra):
    return {"inputs": [{"name": name, "shape": list(shape), "datatype": datatype,
                        "data": data}], **extra}


ROWS = [[0.5, -1.0, 2.0], [3.0, 4.25, -0.125]]
FLAT = [v for row in ROWS for v in row]


def rejects(sub, body, *words, n_features=3, max_rows=4):
    """The decoder raises a ValueError whose message names each of ``words``."""
    with pytest.raises(ValueError) as info:
        sub.decode_infer_request(body, "features", n_features, max_rows)
    message = str(info.value).lower()
    missing = [w for w in words if w.lower() not in message]
    assert not missing, f"the error {str(info.value)!r} should mention {missing}"


@question("q3", points=2)
def test_flat_and_nested_data_decode_alike(sub):
    for data in (FLAT, ROWS):
        x, request_id, timeout_s = sub.decode_infer_request(request(data), "features", 3, 4)
        assert isinstance(x, np.ndarray) and x.dtype == np.float32 and x.shape == (2, 3)
        np.testing.assert_array_equal(x, np.array(ROWS, dtype=np.float32))
        assert request_id is None and timeout_s is None
    x, request_id, timeout_s = sub.decode_infer_request(
        request(FLAT, id="r-7", parameters={"timeout": 50_000}), "features", 3, 4)
    assert request_id == "r-7" and timeout_s == pytest.approx(0.05), "timeout is in µs"
    x, _, _ = sub.decode_infer_request(request([1, 2, 3, 4, 5, 6], datatype="INT64"),
                                       "features", 3, 4)
    np.testing.assert_array_equal(x, [[1, 2, 3], [4, 5, 6]])


@question("q3", points=3)
def test_bad_requests_say_what_is_wrong(sub):
    rejects(sub, {"inputs": []}, "inputs")
    rejects(sub, ["not", "an", "object"], "inputs")
    rejects(sub, request(FLAT, name="pixels"), "features")
    rejects(sub, request(FLAT, datatype="BYTES"), "BYTES")
    rejects(sub, request(FLAT[:-1]), "6", "5")                     # shape needs 6 values
    rejects(sub, request(FLAT * 2, shape=(4, 3)), "3", n_features=2)  # rows of 2 features
    rejects(sub, request(FLAT * 3, shape=(6, 3)), "4")             # over max_rows = 4
    rejects(sub, request(FLAT[:-1] + ["7"]), "number")
    rejects(sub, request(FLAT[:-1] + [True]), "number")
    rejects(sub, json.loads(json.dumps(request(FLAT[:4] + [float("nan"), 1.0]))), "nan")
    rejects(sub, request([1, 2, 3, 4, 5, 6.5], datatype="INT32"), "INT32")
    rejects(sub, request(FLAT, parameters={"timeout": -1}), "timeout")
    body = request(FLAT)
    del body["inputs"][0]["shape"]
    rejects(sub, body, "shape")


@question("q3", points=3, hidden=True)
def test_random_valid_requests_match_reference(sub, ref, rng):
    for _ in range(25):
        n, d = int(rng.integers(1, 9)), int(rng.integers(1, 7))
        datatype = str(rng.choice(["FP16", "FP32", "FP64", "INT8", "INT32", "UINT16"]))
        values = rng.integers(0, 100, (n, d)) if "INT" in datatype else rng.normal(size=(n, d))
        data = values.tolist() if rng.random() < 0.5 else values.ravel().tolist()
        body = request(data, (n, d), datatype, id=str(rng.integers(100)))
        if rng.random() < 0.5:
            body["parameters"] = {"timeout": int(rng.integers(1, 10**7))}
        ours = sub.decode_infer_request(body, "features", d, 8)
        theirs = ref.decode_infer_request(body, "features", d, 8)
        np.testing.assert_array_equal(ours[0], theirs[0])
        assert ours[0].dtype == np.float32 and ours[1] == theirs[1]
        assert (ours[2] is None) == (theirs[2] is None)
        assert theirs[2] is None or ours[2] == pytest.approx(theirs[2])


@question("q3", points=3, hidden=True)
def test_random_corruptions_are_all_refused(sub, ref, rng):
    def corruptions(n, d):
        good = rng.normal(size=(n, d)).ravel().tolist()
        bad_at = int(rng.integers(0, n * d))
        yield request(good[:bad_at] + [float(rng.choice([np.nan, np.inf, -np.inf]))]
                      + good[bad_at + 1:], (n, d))
        yield request(good[:bad_at] + [None] + good[bad_at + 1:], (n, d))
        yield request(good + [0.0], (n, d))
        yield request(good, (n, d + 1))
        yield request(good, (n * d,))
        yield request(good, (n, d), datatype=str(rng.choice(["BOOL", "BYTES", "fp32", "FLOAT"])))
        yield request(good, (n, d), name="input0")
        yield request(good, (n, d), parameters={"timeout": str(rng.integers(1, 100))})
        yield {"inputs": {"name": "features"}}

    for _ in range(6):
        n, d = int(rng.integers(1, 5)), int(rng.integers(1, 5))
        for body in corruptions(n, d):
            with pytest.raises(ValueError):
                ref.decode_infer_request(body, "features", d, 8)
            with pytest.raises(ValueError):
                sub.decode_infer_request(body, "features", d, 8)


@question("q3", points=2, hidden=True, memory_mb=4096)  # threads: see test_q1_batcher.py
def test_the_server_refuses_bad_input_and_keeps_serving(sub):
    batcher = sub.DynamicBatcher(sub.RecordingModel(), 8, 0.002)
    app = sub.make_app([sub.ServedModel("toy", batcher, 3)], sub.decode_infer_request)
    good = request(FLAT)
    path = "/v2/models/toy/infer"
    nan = json.dumps(request(FLAT[:-1] + [float("nan")]))  # the JSON text holds NaN
    answers = sub.serve_and_ask(app, [("POST", path, good), ("POST", path, "{broken"),
                                      ("POST", path, request(FLAT[:-1])), ("POST", path, nan),
                                      ("POST", path, good)])
    assert [status for status, _ in answers] == [200, 400, 400, 400, 200], answers
    out = json.loads(answers[-1][1])["outputs"][0]
    np.testing.assert_allclose(np.reshape(out["data"], out["shape"]), 2 * np.array(ROWS) + 1)
    assert all("error" in json.loads(text) for _, text in answers[1:4])
