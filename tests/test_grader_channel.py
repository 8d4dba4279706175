"""The judge <-> child channel: data round-trips, non-data becomes handles, pickles and oversize
answers are refused."""

from __future__ import annotations

import io
import pickle
import socket
import threading

import numpy as np
import pandas as pd
import pytest

from mlsys_edu.grader import channel


def roundtrip(value, handle=None, max_bytes=channel.MAX_ANSWER_BYTES):
    tree, blobs = channel.encode(value, handle, max_bytes)
    a, b = socket.socketpair()
    with a, b:
        sender = threading.Thread(target=channel.send_message, args=(a, {"value": tree}, blobs))
        sender.start()
        header, got = channel.recv_message(b, timeout_s=10, max_bytes=max_bytes)
        sender.join()
    return channel.decode(header["value"], got, lambda node: ("handle", node["id"]))


@pytest.mark.parametrize("dtype", ["float64", "float32", "int64", "bool", "complex128", "<U5"])
def test_arrays_roundtrip_with_dtype_and_shape(dtype):
    arr = np.arange(24).reshape(2, 3, 4).astype(dtype)
    out = roundtrip(arr)
    assert out.dtype == arr.dtype and out.shape == arr.shape
    np.testing.assert_array_equal(out, arr)


def test_scalars_containers_and_special_floats():
    value = {"a": [1, 2.5, None, True], "b": (np.float32(1.5), "x"), 3: {1, 2},
             "nan": float("nan"), "inf": float("-inf"), "bytes": b"\x00\x01"}
    out = roundtrip(value)
    assert out["a"] == [1, 2.5, None, True]
    assert isinstance(out["b"], tuple) and out["b"][0] == np.float32(1.5)
    assert out["b"][0].dtype == np.float32
    assert out[3] == {1, 2} and out["bytes"] == b"\x00\x01"
    assert np.isnan(out["nan"]) and out["inf"] == float("-inf")


def test_dataframes_and_series_roundtrip_through_arrow():
    frame = pd.DataFrame({"word": ["a", "b", "c"], "count": [3, 1, 2], "p": [0.5, 0.25, 0.25]},
                         index=[10, 20, 30])
    pd.testing.assert_frame_equal(roundtrip(frame), frame)
    series = pd.Series([1.0, 2.0], index=["x", "y"], name="score")
    pd.testing.assert_series_equal(roundtrip(series), series)


def test_non_data_becomes_a_handle_in_the_child_and_is_refused_by_the_judge():
    seen = []

    def handle(obj):
        seen.append(obj)
        return {"t": "handle", "id": len(seen)}

    func = lambda x: x  # noqa: E731
    out = roundtrip([func, np.array([object()], dtype=object)], handle)
    assert out == [("handle", 1), ("handle", 2)]
    with pytest.raises(channel.NotData, match="cannot send"):
        channel.encode(func)  # the judge side has no handle maker: functions never travel


def test_pickled_npy_is_never_loaded():
    buf = io.BytesIO()
    np.save(buf, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="allow_pickle"):
        channel.decode({"t": "ndarray", "blob": 0}, [buf.getvalue()])
    with pytest.raises(ValueError, match="unknown value kind"):
        channel.decode({"t": "pickle", "blob": 0}, [pickle.dumps(1)])


def test_oversize_answers_are_refused_when_encoding_and_receiving():
    big = np.zeros(2**20)  # 8 MiB
    with pytest.raises(channel.TooLarge):
        channel.encode(big, max_bytes=2**20)
    with pytest.raises(channel.TooLarge):
        channel.encode(["x" * 1000] * 2000, max_bytes=2**20)
    tree, blobs = channel.encode(big)
    a, b = socket.socketpair()
    with a, b:
        sender = threading.Thread(target=lambda: _send_quietly(a, tree, blobs))
        sender.start()
        with pytest.raises(channel.TooLarge):
            channel.recv_message(b, timeout_s=10, max_bytes=2**20)
        b.close()
        sender.join()


def _send_quietly(sock, tree, blobs):
    try:
        channel.send_message(sock, {"value": tree}, blobs)
    except OSError:
        pass


def test_recv_times_out_and_notices_a_closed_peer():
    a, b = socket.socketpair()
    with pytest.raises(channel.ChannelTimeout):
        channel.recv_message(b, timeout_s=0.05)
    a.close()
    with pytest.raises(channel.ChannelClosed):
        channel.recv_message(b, timeout_s=1)
    b.close()
