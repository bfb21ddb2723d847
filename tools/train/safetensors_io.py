"""Minimal reader/writer for the safetensors format (Debian has no python3-safetensors).

Layout (Hugging Face safetensors): 8-byte little-endian unsigned header length N, then N bytes of UTF-8 JSON
  {"<name>": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ..., "__metadata__": {str: str}}
then the raw little-endian data; offsets are relative to the first byte after the header.

Reading accepts F32, F16 and BF16 and returns float32 numpy arrays. It validates strictly, like the reference
implementation: the header must fit in the file, every tensor's byte range must lie inside the data region,
match dtype x shape, and the ranges must tile the data region exactly (no overlap, no hole, nothing after).
Every error is a SafetensorsError naming the file and, where there is one, the tensor.
Writing produces F32 tensors in name order, the header padded with spaces to a multiple of 8 bytes.
"""
import json
import struct

import numpy as np

__all__ = ["SafetensorsError", "read_safetensors", "write_safetensors"]

_ITEMSIZE = {"F32": 4, "F16": 2, "BF16": 2}
_MAX_HEADER = 100 * 1024 * 1024  # the reference refuses headers above 100 MB too


class SafetensorsError(ValueError):
    """A malformed or unsupported safetensors file."""


def _decode(raw, dtype, shape):
    if dtype == "F32":
        arr = np.frombuffer(raw, dtype="<f4")
    elif dtype == "F16":
        arr = np.frombuffer(raw, dtype="<f2").astype(np.float32)
    else:  # BF16: the upper 16 bits of a float32
        arr = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
    return arr.astype(np.float32, copy=True).reshape(shape)


def read_safetensors(path):
    """Returns (tensors, metadata): {name: float32 ndarray}, {str: str} (empty when absent)."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise SafetensorsError(f"{path}: truncated: {len(blob)} bytes, need at least 8 for the header length")
    (n,) = struct.unpack("<Q", blob[:8])
    if n > _MAX_HEADER or 8 + n > len(blob):
        raise SafetensorsError(f"{path}: header length {n} runs past the end of the file ({len(blob)} bytes)")
    try:
        header = json.loads(blob[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SafetensorsError(f"{path}: header is not valid UTF-8 JSON: {e}") from None
    if not isinstance(header, dict):
        raise SafetensorsError(f"{path}: header must be a JSON object")
    data = memoryview(blob)[8 + n:]
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                 for k, v in metadata.items()):
        raise SafetensorsError(f"{path}: __metadata__ must map strings to strings")
    spans = []
    for name, info in header.items():
        where = f"{path}: tensor '{name}'"
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise SafetensorsError(f"{where}: entry must have exactly dtype, shape, data_offsets")
        dtype, shape, offs = info["dtype"], info["shape"], info["data_offsets"]
        if dtype not in _ITEMSIZE:
            raise SafetensorsError(f"{where}: unsupported dtype {dtype!r} (supported: F32, F16, BF16)")
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise SafetensorsError(f"{where}: shape must be a list of non-negative integers, got {shape!r}")
        if (not isinstance(offs, list) or len(offs) != 2 or not all(isinstance(o, int) for o in offs)
                or not 0 <= offs[0] <= offs[1] <= len(data)):
            raise SafetensorsError(f"{where}: data_offsets {offs!r} outside the data region of {len(data)} bytes")
        nbytes = int(np.prod(shape, dtype=np.int64)) * _ITEMSIZE[dtype]
        if offs[1] - offs[0] != nbytes:
            raise SafetensorsError(f"{where}: data_offsets {offs} span {offs[1] - offs[0]} bytes, "
                                   f"dtype {dtype} x shape {shape} needs {nbytes}")
        spans.append((offs[0], offs[1], name))
    spans.sort()
    end = 0
    for begin, stop, name in spans:
        if begin < end:
            raise SafetensorsError(f"{path}: tensor '{name}' overlaps the previous tensor's bytes "
                                   f"(begins at {begin}, previous ends at {end})")
        if begin > end:
            raise SafetensorsError(f"{path}: hole in the data region before tensor '{name}' (bytes {end}..{begin})")
        end = stop
    if end != len(data):
        raise SafetensorsError(f"{path}: {len(data) - end} unused bytes after the last tensor")
    tensors = {}
    for name, info in header.items():
        b, e = info["data_offsets"]
        tensors[name] = _decode(data[b:e], info["dtype"], info["shape"])
    return tensors, dict(metadata)


def write_safetensors(path, tensors, metadata=None):
    """Writes {name: array-like} as F32 (numpy arrays or torch tensors; converted to float32)."""
    header = {}
    chunks = []
    offset = 0
    for name in sorted(tensors):
        t = tensors[name]
        if hasattr(t, "detach"):  # torch tensor
            t = t.detach().cpu().numpy()
        arr = np.ascontiguousarray(np.asarray(t, dtype="<f4"))
        raw = arr.tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    hbytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hbytes += b" " * (-len(hbytes) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hbytes)))
        f.write(hbytes)
        for raw in chunks:
            f.write(raw)
