"""The array file between the grader and a run (array_file.py): what it carries, and what it refuses whole."""
import json

import numpy as np
import pytest

from autograder.array_file import MAGIC, NotAnArrayFile, decode, encode


def forged(manifest, payload: bytes = b"") -> bytes:
    head = json.dumps(manifest).encode()
    return MAGIC + len(head).to_bytes(8, "little") + head + payload


def test_every_kind_a_run_needs_comes_back_equal_and_writable():
    arrays = {"Xb": np.arange(96, dtype=np.int64).reshape(32, 3), "0/dC": np.ones((27, 10), np.float32),
              "dlogits": np.linspace(0, 1, 64).reshape(8, 8).T,  # not contiguous: written in C order
              "generator_state": np.arange(16, dtype=np.uint8), "loss": np.array(2.5), "empty": np.zeros((0, 4))}
    back = decode(encode(arrays), max_elements=1000)
    assert list(back) == list(arrays)
    for name, array in arrays.items():
        assert back[name].dtype == array.dtype and back[name].shape == array.shape
        np.testing.assert_array_equal(back[name], array)
        assert back[name].flags.writeable
    back["dlogits"][0, 0] = 7.0  # the arrays share one buffer but not each other's bytes
    assert back["loss"] == 2.5


@pytest.mark.parametrize("data, why", [
    (b"PK\x03\x04 an npz", "no array file"),
    (forged([["dlogits", "<f4", [1000]]], bytes(1024)), "the bytes do not match the manifest"),
    (forged([["dlogits", "<f4", [4]]], bytes(17)), "the bytes do not match the manifest"),
    (forged([["dlogits", "<f4", [1]], ["dlogits", "<f4", [1]]], bytes(8)), "the bytes do not match the manifest"),
    (forged([["dlogits", "|O", [1]]], bytes(8)), "an array's dtype"),
    (forged([["dlogits", ">f8", [1]]], bytes(8)), "an array's dtype"),
    (forged([["dh", "<f8", [2**62, 2**62, 2]]]), "an array too large"),
    (forged([["dh", "<f8", [2001]]], bytes(8 * 2001)), "an array too large"),
    (forged([["dh", "<f8", [-1, -1]]]), "an array's shape"),
    (forged([["dh", "<f8", [True]]], bytes(8)), "an array's shape"),
    (forged([["<b>dh</b>\n", "<f8", [1]]], bytes(8)), "an array's name"),
    (forged({"dh": 1}), "a manifest entry of the wrong form"),
    (MAGIC + (10**9).to_bytes(8, "little"), "manifest too long"),
    (MAGIC + (5).to_bytes(8, "little") + b"[1, 2", "manifest is not JSON"),
])  # fmt: skip
def test_a_crafted_file_is_refused_whole_before_anything_is_allocated(data, why):
    with pytest.raises(NotAnArrayFile, match=f"^{why}$"):
        decode(data, max_elements=2000)
