"""DICOM bytes to plain dicts: the file meta and the data set of an RDSR.

pydicom reads a file lazily; its per-attribute access costs some 36 times
the read when a whole SR tree is walked. This module therefore parses the
file's bytes itself (explicit and implicit VR little endian, deflated; big
endian through pydicom) and builds the content items the reader needs while
parsing (:class:`drl_analysis.ingest.rdsr.tree.Item`), skipping the others.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from .concepts import _WANTED
from .tree import _CONCEPT_NAME, _CONTENT, _KEY, _as_item, _code_key, _text_ascii


class NotDicom(Exception):
    """A file that is not DICOM, or that is truncated or corrupt; the message says which."""


_HDR = struct.Struct("<HH2sH")
_IMPLICIT_HDR = struct.Struct("<HHI")
_U32 = struct.Struct("<I")
_LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"})
_SHORT_VRS = frozenset({b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FD", b"FL", b"IS", b"LO", b"LT", b"PN",
                        b"SH", b"SL", b"SS", b"ST", b"TM", b"UI", b"UL", b"US"})
_ITEM, _ITEM_END, _SEQ_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_UNDEFINED = 0xFFFFFFFF
_PIXEL_DATA = 0x7FE00010
_MAX_DEPTH = 48
#: Sequences read where the VR is not written (implicit VR) or written UN.
_SQ_TAGS = frozenset({
    0x00081032,  # Procedure Code Sequence
    0x00321064,  # Requested Procedure Code Sequence
    0x00400275,  # Request Attributes Sequence
    0x004008EA,  # Measurement Units Code Sequence
    0x0040A043,  # Concept Name Code Sequence
    0x0040A168,  # Concept Code Sequence
    0x0040A300,  # Measured Value Sequence
    0x0040A370,  # Referenced Request Sequence
    0x0040A372,  # Performed Procedure Code Sequence
    0x0040A504,  # Content Template Sequence
    0x0040A730,  # Content Sequence
})

_IMPLICIT_LE = "1.2.840.10008.1.2"
_EXPLICIT_BE = "1.2.840.10008.1.2.2"
_DEFLATED = "1.2.840.10008.1.2.1.99"
_MAX_INFLATED = 256 * 2**20


#: Sequences of codes (concept name, concept code, measurement units), parsed
#: once per distinct encoding and shared (read-only) between reports.
_CODE_SEQUENCES = frozenset({0x0040A043, 0x0040A168, 0x004008EA})
_SEQUENCE_CACHE: dict = {}


def _is_sequence(tag: int, vr: bytes | None, length: int) -> bool:
    # A sequence written UN is encoded in implicit VR little endian.
    return vr == b"SQ" or (vr == b"UN" and (length == _UNDEFINED or tag in _SQ_TAGS))


def _sequence_value(buf: bytes, pos: int, tag: int, vr: bytes, length: int, explicit: bool, depth: int,
                    content: bool):
    """A sequence element's items and the position after it (``content``: read its
    items as SR content items)."""
    inner = explicit and vr == b"SQ"
    if content:
        return _sequence(buf, pos, length, inner, depth + 1, sr=True)
    if tag in _CODE_SEQUENCES and length != _UNDEFINED:
        # Code sequences repeat from report to report, byte for byte.
        stop = pos + length
        raw = (inner, buf[pos:stop])
        hit = _SEQUENCE_CACHE.get(raw)
        if hit is None:
            hit, _ = _sequence(buf, pos, length, inner, depth + 1)
            if len(_SEQUENCE_CACHE) < 20_000:
                _SEQUENCE_CACHE[raw] = hit
        return hit, stop
    return _sequence(buf, pos, length, inner, depth + 1)


def _unwanted(item: dict) -> bool:
    """Whether a content item, its concept name just read, is one the reader never needs."""
    names = item[_CONCEPT_NAME]
    key = item[_KEY] = _code_key(names[0] if names else None)
    return key not in _WANTED and not (key and key[0][:2] == "99")


def _dataset(buf: bytes, pos: int, end: int, explicit: bool, depth: int, delimited: bool, top: bool = False,
             sr: bool = False):
    """Elements from ``pos`` to ``end`` (or to an item delimiter when ``delimited``):
    ``({tag: bytes or list of dicts}, position after)``.

    With ``sr`` the elements are those of an SR content item: once its
    concept name is read, an item whose concept the reader never needs is
    skipped (returned as None) when its length is known; a content sequence
    inside is read the same way. (The hot loop of the reader: the common
    explicit-VR element is handled inline, everything else in helpers.)
    """
    out: dict = {}
    n = len(buf)
    unpack, unpack_u32 = _HDR.unpack_from, _U32.unpack_from
    while pos < end:
        if pos + 12 > n:
            return _tail(buf, pos, end, explicit, out, delimited)
        group, elem, vr, length = unpack(buf, pos)
        tag = group << 16 | elem
        if not explicit or group == 0xFFFE:
            tag, vr, length, pos = _other_header(buf, pos, explicit, out, delimited)
            if vr is _END:
                return out, pos
        elif vr in _LONG_VRS:
            length, pos = unpack_u32(buf, pos + 8)[0], pos + 12
        elif vr in _SHORT_VRS:
            pos += 8
        else:
            raise NotDicom(f"corrupt (element ({group:04X},{elem:04X}) has no value representation)")
        if top and tag >= _PIXEL_DATA:
            return out, end
        if (vr == b"SQ" or vr == b"UN") and _is_sequence(tag, vr, length):
            out[tag], pos = _sequence_value(buf, pos, tag, vr, length, explicit, depth, tag == _CONTENT and (sr or top))
            if sr and tag == _CONCEPT_NAME and not delimited and _unwanted(out):
                return None, end
            continue
        stop = pos + length
        if stop > n or length == _UNDEFINED:
            _bad_length(tag, length)
        out[tag] = buf[pos:stop]
        pos = stop
    if delimited or pos != end:
        raise NotDicom("truncated (an item has no end)" if delimited
                       else "corrupt (an element runs past the end of its item)")
    return out, pos


#: Marks the end of an item met where an element header was expected.
_END = object()


def _other_header(buf: bytes, pos: int, explicit: bool, out: dict, delimited: bool):
    """Tag, VR, length and value position of an element in implicit VR, or of an
    item tag (``_END`` as VR for the item delimiter that ends a delimited item)."""
    group, elem, length = _IMPLICIT_HDR.unpack_from(buf, pos)
    tag = group << 16 | elem
    if group == 0xFFFE:
        if tag == _ITEM_END and delimited:
            return tag, _END, 0, pos + 8
        raise NotDicom(f"corrupt (an item tag ({group:04X},{elem:04X}) where an element belongs)")
    if explicit:  # pragma: no cover - explicit headers of group FFFE only come here
        raise NotDicom(f"corrupt (element ({group:04X},{elem:04X}))")
    return tag, (b"SQ" if (length == _UNDEFINED or tag in _SQ_TAGS) else None), length, pos + 8


def _tail(buf: bytes, pos: int, end: int, explicit: bool, out: dict, delimited: bool):
    """The last elements of a buffer, where fewer than 12 bytes are left: only an
    item delimiter or a short element fits."""
    n = len(buf)
    while pos < end:
        if pos + 8 > n:
            raise NotDicom("truncated (the file ends inside an element)")
        group, elem, vr, length = _HDR.unpack_from(buf, pos)
        if not explicit or group == 0xFFFE:
            tag, vr, length, pos = _other_header(buf, pos, explicit, out, delimited)
            if vr is _END:
                return out, pos
        elif vr in _SHORT_VRS:
            tag, pos = group << 16 | elem, pos + 8
        else:
            raise NotDicom("truncated (the file ends inside an element)")
        stop = pos + length
        if stop > n or length == _UNDEFINED:
            raise NotDicom("truncated (the file ends inside an element)")
        out[tag] = [] if vr == b"SQ" else buf[pos:stop]  # a sequence here is empty: its length is 0
        pos = stop
    if delimited or pos != end:
        raise NotDicom("truncated (an item has no end)" if delimited
                       else "corrupt (an element runs past the end of its item)")
    return out, pos


def _bad_length(tag: int, length: int) -> None:
    if length == _UNDEFINED:
        raise NotDicom(f"corrupt (element ({tag >> 16:04X},{tag & 0xFFFF:04X}) of undefined length)")
    raise NotDicom("truncated (the file ends inside an element)")


def _sequence(buf: bytes, pos: int, length: int, explicit: bool, depth: int, sr: bool = False):
    if depth > _MAX_DEPTH:
        raise NotDicom("corrupt (sequences nested too deeply)")
    n = len(buf)
    end = n if length == _UNDEFINED else pos + length
    if end > n:
        raise NotDicom("truncated (a sequence runs past the end of the file)")
    items = []
    unpack = _IMPLICIT_HDR.unpack_from
    while pos < end:
        if pos + 8 > n:
            raise NotDicom("truncated (the file ends inside a sequence)")
        group, elem, item_length = unpack(buf, pos)
        tag = group << 16 | elem
        pos += 8
        if tag == _SEQ_END and length == _UNDEFINED:
            return items, pos
        if tag != _ITEM:
            raise NotDicom(f"corrupt (({group:04X},{elem:04X}) where a sequence item belongs)")
        if item_length == _UNDEFINED:
            item, pos = _dataset(buf, pos, n, explicit, depth, delimited=True, sr=sr)
        else:
            stop = pos + item_length
            if stop > end:
                raise NotDicom("truncated (an item runs past the end of its sequence)")
            item, pos = _dataset(buf, pos, stop, explicit, depth, delimited=False, sr=sr)
        if item is not None:
            items.append(_as_item(item) if sr else item)
    if length == _UNDEFINED:
        raise NotDicom("truncated (a sequence has no end)")
    return items, pos


def parse_dicom(data: bytes, path: Path | None = None) -> tuple[dict, dict]:
    """File meta and data set of a DICOM file's bytes: ``(meta, dataset)``.

    Values are raw bytes, sequences lists of dicts; nothing is decoded. Big
    endian files are read through pydicom (``path`` needed).

    Raises
    ------
    NotDicom
        Not a DICOM file (no ``DICM`` at byte 128), truncated or corrupt.
    """
    if len(data) < 132 or data[128:132] != b"DICM":
        raise NotDicom("not a DICOM file (no 'DICM' marker at byte 128)")
    meta: dict = {}
    pos, n = 132, len(data)
    while pos + 8 <= n:
        group, elem, vr, length = _HDR.unpack_from(data, pos)
        if group != 0x0002:
            break
        if vr in _LONG_VRS:
            length = _U32.unpack_from(data, pos + 8)[0]
            pos += 12
        else:
            pos += 8
        if pos + length > n:
            raise NotDicom("truncated (the file ends inside its file meta information)")
        meta[group << 16 | elem] = data[pos:pos + length]
        pos += length
    syntax = _text_ascii(meta.get(0x00020010, b""))
    if not syntax:
        raise NotDicom("corrupt (no transfer syntax in the file meta information)")
    explicit = syntax != _IMPLICIT_LE
    body, start = data, pos
    if syntax == _DEFLATED:
        try:
            inflater = zlib.decompressobj(-15)
            body = inflater.decompress(data[pos:], _MAX_INFLATED)
        except zlib.error as exc:
            raise NotDicom(f"corrupt (its deflated data set does not inflate: {exc})") from None
        if inflater.unconsumed_tail:
            raise NotDicom("refused: its deflated data set inflates beyond 256 MB")
        start = 0
    elif syntax == _EXPLICIT_BE:
        body, start, explicit = _reencoded(path), 0, True
    dataset, _ = _dataset(body, start, len(body), explicit, 0, delimited=False, top=True)
    return meta, dataset


def _reencoded(path: Path | None) -> bytes:
    """The data set of a big endian file, written again in explicit VR little endian by pydicom."""
    import io

    import pydicom

    if path is None:  # pragma: no cover - callers pass the path
        raise NotDicom("big endian data set without a file to read it from")
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.1"
        buf = io.BytesIO()
        try:
            pydicom.dcmwrite(buf, ds, little_endian=True, implicit_vr=False, force_encoding=True)
        except TypeError:  # pragma: no cover - pydicom < 3
            ds.is_little_endian, ds.is_implicit_VR = True, False
            pydicom.dcmwrite(buf, ds, write_like_original=False)
    except Exception as exc:  # noqa: BLE001 - any failure of the library is a corrupt file
        raise NotDicom(f"corrupt ({exc.__class__.__name__}: {exc})") from None
    data = buf.getvalue()
    return data[_meta_end(data):]


def _meta_end(data: bytes) -> int:
    """Where the data set starts: after the preamble and the file meta group."""
    pos = 132
    while pos + 8 <= len(data):
        group, _, vr, length = _HDR.unpack_from(data, pos)
        if group != 0x0002:
            break
        if vr in _LONG_VRS:
            length = _U32.unpack_from(data, pos + 8)[0]
            pos += 12 + length
        else:
            pos += 8 + length
    return pos
