"""Read and write .thud model files (same layout as Sources/ThudModel/ModelFile.swift).

Layout, little-endian: b"THUDMODL", u32 version (1; 3 when the header's "requires" lists a feature a reader must
know, e.g. "outputDelay"; 2 is the old way of flagging the output delay, read only; the layout is the same), u32 header length, JSON header, u32 tensor count,
per tensor (u32 name length, name, u32 rank, rank x u32 dims, u64 byte offset into data), u64 data length,
float32 data (IEEE float16 when the header's "weightStorage" is "float16", which requires "float16Weights"), u32
CRC-32 (zlib.crc32) of everything before it. Tensors come back as float32 either way (every half is a float).
"""
import json
import struct
import zlib

import numpy as np

MAGIC = b"THUDMODL"
VERSION = 3  # the newest read; a file is written as 1 unless its header requires a feature
KNOWN_FEATURES = {"outputDelay", "float16Weights"}  # as ModelHeader.knownFeatures


def required_features(header):
    delay = ["outputDelay"] if (header.get("architecture", {}).get("outputDelaySteps") or 0) > 0 else []
    return delay + (["float16Weights"] if header.get("weightStorage") == "float16" else [])


def data_type(header):
    return "<f2" if header.get("weightStorage") == "float16" else "<f4"


def written_version(header):
    return 3 if required_features(header) else 1


def write_thud(path, header, tensors):
    """header: dict (ModelHeader JSON); tensors: list of (name, np.ndarray float32) in file order."""
    out = bytearray()
    out += MAGIC
    header = dict(header)
    header.pop("requires", None)
    if required_features(header):
        header["requires"] = required_features(header)
    out += struct.pack("<I", written_version(header))
    js = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    out += struct.pack("<I", len(js)) + js
    out += struct.pack("<I", len(tensors))
    offset = 0
    blobs = []
    for name, arr in tensors:
        arr = np.ascontiguousarray(np.asarray(arr, dtype=np.float32), dtype=data_type(header))
        nb = name.encode("utf-8")
        out += struct.pack("<I", len(nb)) + nb
        out += struct.pack("<I", arr.ndim) + b"".join(struct.pack("<I", d) for d in arr.shape)
        out += struct.pack("<Q", offset)
        blobs.append(arr.tobytes())
        offset += arr.nbytes
    out += struct.pack("<Q", offset)
    for b in blobs:
        out += b
    out += struct.pack("<I", zlib.crc32(bytes(out)) & 0xFFFFFFFF)
    with open(path, "wb") as f:
        f.write(out)


def read_thud(path):
    """Returns (header dict, {name: np.ndarray float32}). Raises ValueError on any inconsistency."""
    data = open(path, "rb").read()
    if data[:8] != MAGIC:
        raise ValueError(f"{path}: bad magic")
    (version,) = struct.unpack_from("<I", data, 8)
    if not 1 <= version <= VERSION:
        raise ValueError(f"{path}: unknown version {version}")
    (crc,) = struct.unpack_from("<I", data, len(data) - 4)
    if zlib.crc32(data[:-4]) & 0xFFFFFFFF != crc:
        raise ValueError(f"{path}: checksum mismatch")
    pos = 12
    (hl,) = struct.unpack_from("<I", data, pos)
    pos += 4
    header = json.loads(data[pos:pos + hl].decode("utf-8"))
    unknown = [f for f in header.get("requires", []) if f not in KNOWN_FEATURES] if version == 3 else []
    if unknown:
        raise ValueError(f"{path}: requires the feature {unknown[0]!r}, which this reader does not know")
    pos += hl
    (count,) = struct.unpack_from("<I", data, pos)
    pos += 4
    table = []
    for _ in range(count):
        (nl,) = struct.unpack_from("<I", data, pos)
        pos += 4
        name = data[pos:pos + nl].decode("utf-8")
        pos += nl
        (rank,) = struct.unpack_from("<I", data, pos)
        pos += 4
        shape = struct.unpack_from("<" + "I" * rank, data, pos)
        pos += 4 * rank
        (off,) = struct.unpack_from("<Q", data, pos)
        pos += 8
        table.append((name, shape, off))
    (dl,) = struct.unpack_from("<Q", data, pos)
    pos += 8
    if pos + dl + 4 != len(data):
        raise ValueError(f"{path}: truncated or trailing bytes")
    tensors = {}
    for name, shape, off in table:
        n = int(np.prod(shape)) if shape else 1
        raw = np.frombuffer(data, dtype=data_type(header), count=n, offset=pos + off)
        tensors[name] = raw.astype(np.float32).reshape(shape)
    return header, tensors
