"""Packing Python values into the flat bit vectors Amaranth emits for ``data.Layout`` ports.

Amaranth emits a port of a layout shape (a stream payload, say) as one flat Verilog vector,
``i__payload``; a field at ``offset`` with ``width`` bits occupies bits ``[offset+width-1:offset]``.
These helpers convert between that vector (a Python ``int``) and nested dicts::

    layout = data.StructLayout({"a": 16, "b": 16, "sub": 1})
    bits = pack(layout, {"a": 0x3F80, "b": 0x4000, "sub": 1})       # -> int
    unpack(layout, bits)                                             # -> {"a": 0x3F80, ...}

Rules, recursively for nested layouts:

- a field may be given as a dict (its sub-fields) or directly as an ``int`` (its raw bits);
  missing fields pack as 0; unknown keys raise ``KeyError``; values that do not fit raise
  ``ValueError`` (negative values are accepted, as two's complement, for any field);
- :func:`unpack` returns signed fields as negative ints, ``depth`` limits the recursion
  (``depth=1``: top-level fields as raw ints, whatever their layout);
- ``ArrayLayout`` elements are given as a list/tuple (or a dict keyed by index) and unpacked
  as a list;
- any shape that is not a layout (``unsigned(n)``, ``signed(n)``, an enum) is a plain integer.

Vectorised forms for whole test sets: :func:`pack_array` (columns of numpy arrays -> a list of
Python ints, ready for :class:`~sim.tb.stream.StreamDriver`) and :func:`unpack_array` (a
sequence of ints -> columns of numpy arrays). Fields wider than 64 bits, or payloads wider than
64 bits, go through Python integers (numpy ``object`` arrays), narrower ones stay in ``uint64``.

A layout crosses the pytest -> cocotb process boundary as JSON with :func:`layout_to_json` /
:func:`layout_from_json` (offsets, widths and signedness are kept exactly).
"""

from collections.abc import Mapping

import numpy as np
from amaranth.hdl import Shape
from amaranth.lib import data

__all__ = ["width", "fields", "pack", "unpack", "pack_array", "unpack_array", "pack_lanes",
           "split_lanes", "layout_to_json", "layout_from_json"]


def _as_shape(shape):
    return Shape.cast(shape)


def width(shape):
    """Bit width of a layout or any shape-castable."""
    return _as_shape(shape).width


def _is_layout(shape):
    return isinstance(shape, data.Layout)


def _signed(shape):
    return _as_shape(shape).signed


def fields(shape, depth=None, _prefix=(), _offset=0):
    """Leaf fields of ``shape`` as a list of ``(path, offset, width, signed)``.

    ``path`` is a tuple of keys; ``depth`` stops the recursion (a nested layout at the
    limit is one raw field). A non-layout shape is a single field with path ``()``.
    """
    if not _is_layout(shape) or (depth is not None and len(_prefix) >= depth):
        return [(_prefix, _offset, width(shape), _signed(shape) if not _is_layout(shape) else False)]
    out = []
    for key, field in shape:
        out.extend(fields(field.shape, depth, _prefix + (key,), _offset + field.offset))
    return out


def _fit(value, w, signed, where):
    """Two's complement bits of an integer ``value`` in ``w`` bits; ValueError if it does not fit."""
    if isinstance(value, bool):
        value = int(value)
    try:
        value = int(value)  # numpy integers, IntEnum members
    except TypeError:
        value = int(value.value)  # amaranth enum members
    lo = -(1 << (w - 1)) if w else 0
    hi = (1 << w) - 1
    if not lo <= value <= hi:
        raise ValueError(f"{where}: value {value} does not fit in {w} bits")
    return value & hi


def _where(path):
    return "payload" + "".join(f"[{k!r}]" for k in path)


def pack(shape, value, _path=()):
    """Flat integer of ``value`` (int, dict or, for arrays, list) laid out as ``shape``."""
    w = width(shape)
    if not _is_layout(shape) or not isinstance(value, (Mapping, list, tuple)):
        if isinstance(value, (Mapping, list, tuple)):
            raise TypeError(f"{_where(_path)}: {type(value).__name__} given for a {w}-bit integer field")
        return _fit(value, w, _signed(shape) if not _is_layout(shape) else False, _where(_path))
    if isinstance(value, (list, tuple)):
        if not isinstance(shape, data.ArrayLayout):
            raise TypeError(f"{_where(_path)}: a sequence can only be packed into an ArrayLayout")
        if len(value) != shape.length:
            raise ValueError(f"{_where(_path)}: {len(value)} elements given for ArrayLayout of {shape.length}")
        value = dict(enumerate(value))
    keys = {key for key, _ in shape}
    unknown = [k for k in value if k not in keys]
    if unknown:
        raise KeyError(f"{_where(_path)}: no field {unknown[0]!r} in {shape!r}")
    bits = 0
    for key, field in shape:
        if key in value:
            bits |= pack(field.shape, value[key], _path + (key,)) << field.offset
    return bits


def _sign_extend(bits, w):
    return bits - (1 << w) if w and bits >> (w - 1) & 1 else bits


def unpack(shape, bits, depth=None, _level=0):
    """Inverse of :func:`pack`: a dict (recursively) for layouts, an int otherwise."""
    bits = int(bits)
    w = width(shape)
    if bits < 0 or bits >> w:
        raise ValueError(f"value {bits:#x} does not fit in the {w}-bit {shape!r}")
    if not _is_layout(shape) or (depth is not None and _level >= depth):
        return _sign_extend(bits, w) if not _is_layout(shape) and _signed(shape) else bits
    out = {key: unpack(field.shape, (bits >> field.offset) & ((1 << field.width) - 1), depth, _level + 1)
           for key, field in shape}
    return list(out.values()) if isinstance(shape, data.ArrayLayout) else out


def _flatten_columns(shape, columns, path=()):
    """{path: column} of the leaves named in nested dict ``columns``."""
    if not isinstance(columns, Mapping):
        return {path: columns}
    if not _is_layout(shape):
        raise TypeError(f"{_where(path)}: dict given for a non-layout field")
    keys = {key for key, _ in shape}
    out = {}
    for key, sub in columns.items():
        if key not in keys:
            raise KeyError(f"{_where(path)}: no field {key!r} in {shape!r}")
        out.update(_flatten_columns(shape[key].shape, sub, path + (key,)))
    return out


def _locate(shape, path):
    """(offset, width, signed) of the field at ``path`` (an intermediate layout is raw bits)."""
    offset = 0
    for key in path:
        field = shape[key]
        offset += field.offset
        shape = field.shape
    return offset, width(shape), (_signed(shape) if not _is_layout(shape) else False)


def _column_bits(col, n, w, signed, where):
    """uint64 array (w <= 64) or object array (w > 64) of the two's complement bits of a column."""
    arr = col if isinstance(col, np.ndarray) else np.asarray(col)
    if arr.ndim == 0:
        arr = np.full(n, arr.item(), dtype=arr.dtype if arr.dtype.kind in "iub" else object)
    if arr.dtype.kind == "b":
        arr = arr.astype(np.uint8)
    if arr.dtype == object or w > 64 or arr.dtype.kind not in "iu":
        if arr.dtype.kind not in "iuO":
            raise TypeError(f"{where}: integer values expected, got {arr.dtype}")
        vals = [_fit(v, w, signed, where) for v in arr.tolist()]
        return np.array(vals, dtype=object if w > 64 else np.uint64)
    mask = (1 << w) - 1
    if arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < (-(1 << (w - 1)) if w else 0) or hi > mask:
            raise ValueError(f"{where}: values in [{lo}, {hi}] do not fit in {w} bits")
    return arr.astype(np.uint64) & np.uint64(mask)


def pack_array(shape, columns, *, as_numpy=False):
    """Pack many payloads at once.

    ``columns`` is a (nested) dict of equal-length array-likes or scalars (broadcast), or a
    single array for a non-layout shape. Returns a list of Python ints (``as_numpy=True``:
    a ``uint64`` array, payloads of at most 64 bits only). Values are checked to fit.
    """
    total = width(shape)
    leaves = _flatten_columns(shape, columns)
    n = None
    for col in leaves.values():
        a = col if isinstance(col, np.ndarray) else np.asarray(col)
        if a.ndim:
            if n is not None and len(a) != n:
                raise ValueError("pack_array: columns of different lengths")
            n = len(a)
    n = 1 if n is None else n
    wide = total > 64
    acc = np.zeros(n, dtype=object if wide else np.uint64)
    for path, col in leaves.items():
        offset, w, signed = _locate(shape, path)
        bits = _column_bits(col, n, w, signed, _where(path))
        if wide:
            acc = acc | (bits.astype(object) << offset)
        else:
            acc |= bits << np.uint64(offset)
    if as_numpy:
        if wide:
            raise ValueError(f"pack_array(as_numpy=True) needs a payload of <= 64 bits, not {total}")
        return acc
    return acc.tolist()


def pack_lanes(shape, columns, lanes):
    """Beats of ``lanes`` payloads each, as Python ints: payload ``i`` of ``columns`` (see
    :func:`pack_array`) is lane ``i % lanes`` of beat ``i // lanes``, at bits
    ``(i % lanes) * width(shape)`` and up; the last beat is padded with copies of its first
    payload. Vectorised over 64-bit words (fields of at most 64 bits), so wide beats cost
    about as much as narrow payloads."""
    total = width(shape)
    leaves = _flatten_columns(shape, columns)
    n = max((len(c) for c in leaves.values() if np.ndim(c)), default=1)
    beats = -(-n // lanes)
    words = (total * lanes + 63) // 64 + 1        # a spare word for a field's overflow
    mat = np.zeros((beats, words), dtype=np.uint64)
    for path, col in leaves.items():
        offset, w, signed = _locate(shape, path)
        if w > 64:
            raise ValueError(f"pack_lanes: {_where(path)} is wider than 64 bits")
        bits = np.asarray(_column_bits(col, n, w, signed, _where(path)), dtype=np.uint64)
        bits = np.concatenate([bits, np.full(beats * lanes - n, bits[(beats - 1) * lanes],
                                             dtype=np.uint64)])
        for k in range(lanes):
            pos = k * total + offset
            word, shift = divmod(pos, 64)
            lane = bits[k::lanes]
            mat[:, word] |= lane << np.uint64(shift)
            if shift and shift + w > 64:
                mat[:, word + 1] |= lane >> np.uint64(64 - shift)
    raw, row = mat.tobytes(), 8 * words
    return [int.from_bytes(raw[i:i + row], "little") for i in range(0, len(raw), row)]


def split_lanes(shape, beats, lanes, count=None):
    """Inverse of :func:`pack_lanes` for payloads of at most 64 bits: a ``uint64`` array of
    the first ``count`` payloads (default all) of ``beats``, lane by lane (for
    :func:`unpack_array`)."""
    total = width(shape)
    if total > 64:
        raise ValueError(f"split_lanes: payloads of {total} bits (at most 64)")
    words = (total * lanes + 63) // 64 + 1
    row = 8 * words
    mat = np.frombuffer(b"".join(int(b).to_bytes(row, "little") for b in beats),
                        dtype=np.uint64).reshape(-1, words)
    out = np.empty((len(mat), lanes), dtype=np.uint64)
    mask = np.uint64((1 << total) - 1) if total < 64 else np.uint64(0xFFFF_FFFF_FFFF_FFFF)
    for k in range(lanes):
        word, shift = divmod(k * total, 64)
        lane = mat[:, word] >> np.uint64(shift)
        if shift and shift + total > 64:
            lane |= mat[:, word + 1] << np.uint64(64 - shift)
        out[:, k] = lane & mask
    out = out.reshape(-1)
    return out if count is None else out[:count]


def unpack_array(shape, values, depth=None):
    """Unpack a sequence of payload ints into a (nested) dict of numpy arrays.

    Fields of up to 64 bits come back as ``uint64`` (``int64`` if signed), wider ones as
    ``object`` arrays of Python ints; ``ArrayLayout`` elements as a list. A non-layout shape
    gives a single array.
    """
    total = width(shape)
    if total <= 64:
        if isinstance(values, np.ndarray) and values.dtype != object:
            raw = values.astype(np.uint64)
        else:
            raw = np.array([int(v) for v in values] if not isinstance(values, list) else values,
                           dtype=np.uint64).reshape(-1)
    else:
        raw = np.array([int(v) for v in values], dtype=object).reshape(-1)
    return _unpack_columns(shape, raw, 0, depth, 0)


def _unpack_columns(shape, raw, offset, depth, level):
    if _is_layout(shape) and (depth is None or level < depth):
        items = [(key, _unpack_columns(field.shape, raw, offset + field.offset, depth, level + 1))
                 for key, field in shape]
        if isinstance(shape, data.ArrayLayout):
            return [col for _, col in items]
        return dict(items)
    w = width(shape)
    signed = _signed(shape) if not _is_layout(shape) else False
    if raw.dtype == object:
        col = (raw >> offset) & ((1 << w) - 1)
        if w <= 64:
            col = np.array(col.tolist(), dtype=np.uint64).reshape(-1)
    else:
        col = (raw >> np.uint64(offset)) & np.uint64((1 << w) - 1)
    if signed:
        if col.dtype == object:
            col = np.array([_sign_extend(int(v), w) for v in col], dtype=object).reshape(-1)
        else:
            col = col.astype(np.int64)
            if w < 64:
                col = np.where((col >> (w - 1)) & 1, col - (1 << w), col)
    return col


def layout_to_json(shape):
    """A JSON-able description of ``shape`` (nested fields with offsets, widths, signedness)."""
    if not _is_layout(shape):
        s = _as_shape(shape)
        return {"width": s.width, "signed": s.signed}
    kind = "array" if isinstance(shape, data.ArrayLayout) else "flexible"
    return {"size": shape.size, "kind": kind,
            "fields": [[key, field.offset, layout_to_json(field.shape)] for key, field in shape]}


def layout_from_json(desc):
    """Rebuild a layout from :func:`layout_to_json` (as a ``FlexibleLayout``, or an
    ``ArrayLayout`` of evenly spaced elements); ``pack``/``unpack`` treat both the same."""
    if "fields" not in desc:
        w = desc["width"]
        return Shape(w, signed=desc["signed"])
    members = {}
    for key, offset, sub in desc["fields"]:
        members[key] = data.Field(layout_from_json(sub), offset)
    if desc.get("kind") == "array" and members:
        elem = members[0].shape
        length = len(members)
        if all(members[i].offset == i * width(elem) for i in range(length)) and desc["size"] == length * width(elem):
            return data.ArrayLayout(elem, length)
    return data.FlexibleLayout(desc["size"], members)
