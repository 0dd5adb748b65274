"""The SR content tree as parsed: content items with their concept keys,
the DICOM tags they are made of, and the decoding of their text values.
"""

from __future__ import annotations

from .concepts import _K, SRT_EQUIVALENTS

_VALUE_TYPE, _CONCEPT_NAME, _CONTENT = 0x0040A040, 0x0040A043, 0x0040A730
_CONCEPT_CODE, _MEASURED, _UNITS = 0x0040A168, 0x0040A300, 0x004008EA
_NUMERIC, _FLOAT_VALUE = 0x0040A30A, 0x0040A161
_TEXT_VALUE, _UID_VALUE, _DATETIME = 0x0040A160, 0x0040A124, 0x0040A120
_CODE_VALUE, _SCHEME, _MEANING, _LONG_CODE, _URN_CODE = 0x00080100, 0x00080102, 0x00080104, 0x00080119, 0x00080120


#: Pseudo-tag under which a parsed content item keeps its concept key.
_KEY = -1


def _text_ascii(raw: bytes | None) -> str:
    """A value of an ASCII VR (UI, CS, DA, DT, TM, AS, DS, IS), padding removed."""
    if not raw:
        return ""
    text = raw.decode("latin-1").strip(" \x00")
    # A NUL inside a value is no character of these VRs (and PostgreSQL refuses it in text).
    return text.replace("\x00", "") if "\x00" in text else text


class _Text:
    """Decodes text values in the data set's character set."""

    def __init__(self, specific_character_set: bytes | None):
        terms = [t.strip() for t in _text_ascii(specific_character_set).split("\\")] if specific_character_set else []
        self.terms = [t for t in terms] or [""]
        self.simple = self.terms in ([""], ["ISO_IR 6"], ["ISO_IR 100"], ["ISO_IR 192"])
        self.codec = "utf-8" if self.terms == ["ISO_IR 192"] else "latin-1"
        self._encodings = None

    def __call__(self, raw: bytes | None) -> str:
        if not raw:
            return ""
        if self.simple:
            text = raw.decode(self.codec, "replace")
        else:
            from pydicom.charset import convert_encodings, decode_bytes

            if self._encodings is None:
                self._encodings = convert_encodings(list(self.terms))
            text = decode_bytes(raw, self._encodings, set())
        text = text.strip(" \x00")
        return text.replace("\x00", "") if "\x00" in text else text


_CODE_KEYS: dict = {}


def _code_key(item: dict | None) -> tuple[str, str] | None:
    """(scheme, value) of a code item; SNOMED RT mapped to SNOMED CT."""
    if not item:
        return None
    value = item.get(_CODE_VALUE) or item.get(_LONG_CODE) or item.get(_URN_CODE)
    raw = (item.get(_SCHEME), value)
    key = _CODE_KEYS.get(raw)
    if key is not None:
        return key
    key = (_text_ascii(raw[0]), _text_ascii(value))
    if key[0] in ("SRT", "SNM3") and key[1] in SRT_EQUIVALENTS:
        key = ("SCT", SRT_EQUIVALENTS[key[1]])
    if len(_CODE_KEYS) < 50_000:
        _CODE_KEYS[raw] = key
    return key


def _first(seq) -> dict | None:
    return seq[0] if isinstance(seq, list) and seq else None


class Item:
    """One content item: its concept ``key``, value type and raw elements."""

    __slots__ = ("key", "vtype", "raw", "children")

    def __init__(self, key, vtype, raw, children):
        self.key = key
        self.vtype = vtype
        self.raw = raw
        self.children = children

    def find(self, name: str) -> Item | None:
        key = _K[name]
        for child in self.children:
            if child.key == key:
                return child
        return None

    def find_all(self, name: str) -> list[Item]:
        key = _K[name]
        return [c for c in self.children if c.key == key]

    @property
    def code(self) -> tuple[str, str] | None:
        """The value of a CODE item."""
        return _code_key(_first(self.raw.get(_CONCEPT_CODE)))

    @property
    def meaning(self) -> str:
        """The code meaning of a CODE item's value (for messages only)."""
        item = _first(self.raw.get(_CONCEPT_CODE))
        return _text_ascii(item.get(_MEANING)) if item else ""


_VALUE_TYPES: dict[bytes, str] = {}


def _as_item(raw: dict) -> Item:
    """A content item read (its content sequence read into items already)."""
    vtype = raw.get(_VALUE_TYPE) or b""
    name = _VALUE_TYPES.get(vtype)
    if name is None:
        name = _text_ascii(vtype)
        if len(_VALUE_TYPES) < 64:
            _VALUE_TYPES[vtype] = name
    key = raw.get(_KEY) or _code_key(_first(raw.get(_CONCEPT_NAME)))
    return Item(key, name, raw, raw.get(_CONTENT) or ())


def _read_text(item: Item) -> str:
    mv = _first(item.raw.get(_MEASURED))
    unit = _first(mv.get(_UNITS)) if mv else None
    return f"{_text_ascii(mv.get(_NUMERIC)) if mv else ''} {_text_ascii(unit.get(_CODE_VALUE)) if unit else ''}".strip()


def _codes_of(seq) -> list[str]:
    out = []
    for item in seq or ():
        key = _code_key(item)
        if key and key[1]:
            out += [key[1], f"{key[0]}:{key[1]}"]
    return out


def _has_agd(items: list[Item], depth: int = 0) -> bool:
    """Whether an accumulated X-ray dose container (directly under the report or
    in a private container) holds an accumulated average glandular dose."""
    agd, acc = _K["accumulated_agd"], _K["accumulated_xray"]
    for it in items:
        if it.key == acc and any(c.key == agd for c in it.children):
            return True
        private = it.vtype == "CONTAINER" and it.key and it.key[0][:2] == "99"
        if private and depth < 4 and _has_agd(it.children, depth + 1):
            return True
    return False


def _walk_keys(items: list[Item], key: tuple[str, str]):
    for it in items:
        if it.key == key:
            yield it
        if it.children:
            yield from _walk_keys(it.children, key)
