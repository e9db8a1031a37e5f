"""The file that carries arrays between the grader and a run: a run's inputs, and the student's tensors back.

One JSON manifest (each array's name, dtype and shape), then the arrays' bytes in that order. Not .npz: a run
reads one file and writes one, eight times per submission, and through zipfile and .npy headers that was about
5 ms each way, most of a trivial run's own time (its page faults, in a forked child, are copies of the zygote's
memory). Reading it also trusts less: the manifest is a closed form checked whole before anything is allocated
(known dtypes only, sizes capped, the bytes exactly as long as the manifest says), where np.load parses each
member's header text with ast.literal_eval and unpacks members whose size it learns only from the zip.
"""
import json

import numpy as np

MAGIC = b"backprop-ninja arrays 1\n"
# Little-endian numbers only: what a run needs in (token ids, floats, a generator's state) and what a gradient is.
DTYPES = frozenset({"<f4", "<f8", "<i8", "<i4", "|u1"})
MAX_MANIFEST_BYTES = 1_000_000
MAX_NAME_CHARS = 100


class NotAnArrayFile(ValueError):
    pass


def encode(arrays: dict[str, np.ndarray]) -> bytes:
    parts, manifest = [], []
    for name, array in arrays.items():
        array = array.astype(array.dtype.newbyteorder("<"), order="C", copy=False)  # ascontiguousarray makes 0-d 1-d
        manifest.append([name, array.dtype.str, list(array.shape)])
        parts.append(array.tobytes())
    head = json.dumps(manifest).encode()
    return b"".join([MAGIC, len(head).to_bytes(8, "little"), head, *parts])


def decode(data: bytes, max_elements: int) -> dict[str, np.ndarray]:
    """The arrays of `data`, writable, each of at most `max_elements`; NotAnArrayFile for anything else."""
    start = len(MAGIC) + 8
    if not data.startswith(MAGIC) or len(data) < start:
        raise NotAnArrayFile("no array file")
    size = int.from_bytes(data[len(MAGIC) : start], "little")
    if size > MAX_MANIFEST_BYTES:
        raise NotAnArrayFile("manifest too long")
    try:
        manifest = json.loads(data[start : start + size])
    except (ValueError, RecursionError):  # [[[[...]]]] nested past the interpreter's depth
        raise NotAnArrayFile("manifest is not JSON") from None
    layout, offset = [], start + size
    for entry in manifest if isinstance(manifest, list) else [None]:
        name, dtype, shape, count = _entry(entry, max_elements)
        layout.append((name, dtype, shape, offset, count))
        offset += count * dtype.itemsize
    if offset != len(data) or len({name for name, *_ in layout}) != len(layout):
        raise NotAnArrayFile("the bytes do not match the manifest")
    buffer = bytearray(data)  # one copy, so the arrays are writable (torch.from_numpy wants that)
    return {name: np.frombuffer(buffer, dtype, count, offset).reshape(shape)
            for name, dtype, shape, offset, count in layout}  # fmt: skip


def _entry(entry, max_elements: int):
    if not (isinstance(entry, list) and len(entry) == 3):
        raise NotAnArrayFile("a manifest entry of the wrong form")
    name, dtype, shape = entry
    if not (isinstance(name, str) and 0 < len(name) <= MAX_NAME_CHARS and name.isprintable()):
        raise NotAnArrayFile("an array's name")
    if dtype not in DTYPES:
        raise NotAnArrayFile("an array's dtype")
    if not (isinstance(shape, list) and len(shape) <= 64 and all(type(d) is int and d >= 0 for d in shape)):
        raise NotAnArrayFile("an array's shape")
    count = 1
    for d in shape:  # in Python integers: a product of crafted dimensions must not wrap around
        count *= d
    # Each dimension within the cap too: a zero among them makes the product 0, and numpy still refuses to shape
    # what the others multiply to.
    if count > max_elements or any(d > max_elements for d in shape):
        raise NotAnArrayFile("an array too large")
    return name, np.dtype(dtype), tuple(shape), count
