"""Keyed pseudonyms for data sources and facilities.

The pseudonymised edition of a report replaces every data source ("medical
body") and every facility by a pseudonym made with a keyed hash
(HMAC-SHA-256): the same key gives the same pseudonym in every run, so a
reader can follow one facility across years, and without the key nobody can
go back from the pseudonym to the name (nor confirm a guess).

Pseudonyms are made of letters only (``S-KXWRTMPQ`` for a data source,
``F-HBNQZEAV`` for a facility), so they never look like the small integer
facility IDs the medical bodies assign, nor like exam codes or years.

The key is a text of at least :data:`MIN_KEY_CHARS` characters, taken from,
in this order,

1. a key file given explicitly (``drl-analysis run --pseudonym-key-file``);
2. the environment variable :data:`ENV_VAR`;
3. the user's key file :func:`default_key_file`, created once with a random
   key and readable only by its owner.

The key is never written into an output. A run's manifest (internal, never
published) records a :meth:`PseudonymKey.fingerprint`, which tells whether two
runs used the same key: it is made with scrypt and a random salt, so testing a
guessed key against it costs as much as scrypt, and no published file carries
it. Weak keys (short, few distinct characters, one repeated pattern, a run
such as ``abcdefgh...``) are refused with the reason (:func:`key_weakness`).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..core.errors import UserError

logger = logging.getLogger(__name__)

#: Environment variable holding the key.
ENV_VAR = "DRL_ANALYSIS_PSEUDONYM_KEY"
#: Set beside :data:`ENV_VAR` by ``drl-analysis run`` for its notebooks: where
#: the run took the key from (a key file, say), so that a notebook does not
#: call the environment variable the key's source.
SOURCE_ENV_VAR = "DRL_ANALYSIS_PSEUDONYM_KEY_SOURCE"
#: A shorter key could be found by trying.
MIN_KEY_CHARS = 16
#: A key of fewer distinct characters is too easy to guess.
MIN_DISTINCT_CHARS = 8
#: scrypt cost of the key fingerprint: about 16 MB and tens of milliseconds per guess.
FINGERPRINT_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
#: Bytes of the fingerprint's random salt.
FINGERPRINT_SALT_BYTES = 16
#: Letters of a pseudonym: no digits (so no pseudonym reads like a facility ID),
#: no I, L, O (easily confused with 1 and 0 in print).
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ"
#: Letters per pseudonym: 23**8 = 7.8e10 values, so two of a few thousand
#: facilities share one with a probability below 1e-4 (and that is checked).
LETTERS = 8
#: Prefix of each kind of pseudonym.
PREFIXES = {"data_source": "S-", "facility": "F-"}


def default_key_file() -> Path:
    """The user's key file: ``$XDG_CONFIG_HOME/drl-analysis/pseudonym.key``.

    Without ``XDG_CONFIG_HOME``, ``~/.config/drl-analysis/pseudonym.key``.
    """
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "drl-analysis" / "pseudonym.key"


@dataclass(frozen=True)
class PseudonymKey:
    """A secret key and where it came from.

    Attributes
    ----------
    secret : bytes
        The key (UTF-8 of the key text); never printed.
    source : str
        Where it came from, for messages: ``"environment variable ..."`` or
        ``"key file <path>"``.
    created : bool
        True when this call created the user's key file.
    """

    secret: bytes = field(repr=False)
    source: str
    created: bool = False

    @property
    def short_source(self) -> str:
        """:attr:`source` without folders ("key file pseudonym.key"), for the outputs of a run."""
        if self.source.startswith("key file "):
            return "key file " + Path(self.source[len("key file "):]).name
        return self.source

    def fingerprint(self, salt: str | None = None) -> dict[str, object]:
        """A record that tells whether another key is this one, for internal outputs only.

        Parameters
        ----------
        salt : str, optional
            The salt as hex digits, to recompute a recorded fingerprint;
            default a new random salt.

        Returns
        -------
        dict
            ``kdf`` ("scrypt"), its ``n``, ``r``, ``p``, the ``salt`` and the
            ``fingerprint`` (32 hex digits). Testing a guessed key against it
            costs one scrypt evaluation.
        """
        salt = salt if salt is not None else secrets.token_hex(FINGERPRINT_SALT_BYTES)
        digest = hashlib.scrypt(self.secret, salt=bytes.fromhex(salt), dklen=16, **FINGERPRINT_SCRYPT)
        return {"kdf": "scrypt", **FINGERPRINT_SCRYPT, "salt": salt, "fingerprint": digest.hex()}

    def matches(self, record: Mapping[str, object] | None) -> bool:
        """Whether ``record`` (a :meth:`fingerprint` of a manifest) was made from this key.

        Records of older runs, a bare HMAC fingerprint without salt, are
        still recognised.
        """
        if not record or not record.get("fingerprint"):
            return False
        if record.get("kdf") == "scrypt":
            params = {k: int(record[k]) for k in FINGERPRINT_SCRYPT}
            digest = hashlib.scrypt(self.secret, salt=bytes.fromhex(str(record["salt"])), dklen=16, **params)
            return hmac.compare_digest(digest.hex(), str(record["fingerprint"]))
        legacy = hmac.new(self.secret, b"drl-analysis key fingerprint", hashlib.sha256).hexdigest()[:12]
        return hmac.compare_digest(legacy, str(record["fingerprint"]))

    @classmethod
    def from_text(cls, text: str, source: str = "text") -> PseudonymKey:
        """A key from its text (surrounding whitespace is ignored).

        Raises
        ------
        UserError
            When the key is weak (:func:`key_weakness`), naming ``source`` and
            the reason.
        """
        text = text.strip()
        weakness = key_weakness(text)
        if weakness:
            raise UserError(f"{source}: the pseudonym key is refused: {weakness}")
        return cls(text.encode("utf-8"), source)


def _period(text: str) -> int:
    """The shortest p such that ``text`` repeats its first p characters."""
    for p in range(1, len(text)):
        if all(text[i] == text[i - p] for i in range(p, len(text))):
            return p
    return len(text)


def _char_class(c: str) -> str:
    return "digit" if c.isdigit() else "lower" if c.islower() else "upper" if c.isupper() else "other"


def key_weakness(text: str) -> str:
    """Why a key text is too easy to guess, or ``""`` when it is not.

    Parameters
    ----------
    text : str
        The key, surrounding whitespace removed.

    Returns
    -------
    str
        One of: fewer than :data:`MIN_KEY_CHARS` characters; fewer than
        :data:`MIN_DISTINCT_CHARS` distinct characters; one short pattern
        repeated ("abcabcabc...", "1234567890123456"); a sequence of one kind
        of character ("abcdefghijklmnop", "9876543210..."). Empty when none
        applies.

    Examples
    --------
    >>> key_weakness("abcabcabcabcabca")
    'it has only 3 distinct characters; it needs at least 8'
    >>> key_weakness(secrets.token_hex(32))
    ''
    """
    advice = "; use a random key such as the 64 hex digits of secrets.token_hex(32)"
    if len(text) < MIN_KEY_CHARS:
        return (f"it has {len(text)} characters; it needs at least {MIN_KEY_CHARS}, since a short key can be "
                "found by trying")
    distinct = len(set(text))
    if distinct < MIN_DISTINCT_CHARS:
        return f"it has only {distinct} distinct characters; it needs at least {MIN_DISTINCT_CHARS}"
    period = _period(text)
    if period * 3 <= len(text) * 2:
        return f"it repeats the pattern {text[:period]!r}" + advice
    steps = {ord(b) - ord(a) for a, b in zip(text, text[1:])}
    if len({_char_class(c) for c in text}) == 1 and steps <= {1, -1, 9, -9, 25, -25}:
        return "it is a sequence of consecutive characters" + advice
    return ""


def _read_key_file(path: Path, source: str) -> PseudonymKey:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path}: pseudonym key file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read the pseudonym key file ({exc})") from None
    return PseudonymKey.from_text(text, source)


def _create_key_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    text = secrets.token_hex(32) + "\n"
    # O_EXCL: two runs starting at once must not each create a different key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def load_key(key_file: str | Path | None = None, *, create: bool = True) -> PseudonymKey:
    """The pseudonym key: from ``key_file``, else the environment, else the user's key file.

    Parameters
    ----------
    key_file : str or Path, optional
        A file holding the key text. Takes precedence over :data:`ENV_VAR`.
    create : bool, default True
        Create the user's key file (:func:`default_key_file`, mode 0600) with a
        random key when no key is given and it does not exist yet.

    Returns
    -------
    PseudonymKey

    Raises
    ------
    UserError
        When the given key file is missing or unreadable, a key is too short,
        or there is no key and ``create`` is false.
    """
    if key_file:
        path = Path(key_file).expanduser()
        return _read_key_file(path, f"key file {path}")
    env = os.environ.get(ENV_VAR)
    if env:
        # In a notebook of drl-analysis run the variable only carries the key the run took from elsewhere.
        return PseudonymKey.from_text(env, os.environ.get(SOURCE_ENV_VAR) or f"environment variable {ENV_VAR}")
    path = default_key_file()
    created = False
    if not path.exists():
        if not create:
            raise UserError(f"no pseudonym key: set {ENV_VAR}, give a key file, or create {path}")
        _create_key_file(path)
        created = True
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        logger.warning("%s: the pseudonym key file is readable by others (mode %o); chmod 600 it", path, mode)
    key = _read_key_file(path, f"key file {path}")
    return PseudonymKey(key.secret, key.source, created=created)


def _letters(digest: bytes, n: int = LETTERS) -> str:
    value = int.from_bytes(digest, "big")
    out = []
    for _ in range(n):
        value, r = divmod(value, len(ALPHABET))
        out.append(ALPHABET[r])
    return "".join(out)


def pseudonym(key: PseudonymKey, kind: str, *parts: object) -> str:
    """The pseudonym of one entity.

    Parameters
    ----------
    key : PseudonymKey
    kind : {"data_source", "facility"}
        What is named; each kind has its own prefix and hash domain, so a data
        source and a facility never get the same pseudonym.
    *parts : object
        What identifies the entity: ``(data_source,)`` for a data source,
        ``(data_source, facility_id)`` for a facility (IDs repeat across data
        sources). Compared as text with surrounding spaces removed, so the
        facility ID 3 read as a number or as "3" gets one pseudonym.

    Returns
    -------
    str
        ``prefix`` + :data:`LETTERS` letters of :data:`ALPHABET`.
    """
    if kind not in PREFIXES:
        raise ValueError(f"kind must be one of {sorted(PREFIXES)}, not {kind!r}")
    message = "\x1f".join([kind, *(_canonical(p) for p in parts)]).encode("utf-8")
    digest = hmac.new(key.secret, message, hashlib.sha256).digest()
    return PREFIXES[kind] + _letters(digest)


def _canonical(value: object) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


class Pseudonymiser:
    """Replaces data sources and facility IDs in tables, and remembers what it replaced.

    Parameters
    ----------
    key : PseudonymKey
    source_col, facility_col : str
        Names of the identifying columns.

    Examples
    --------
    >>> key = PseudonymKey.from_text("an example key of the docs")
    >>> p = Pseudonymiser(key)
    >>> frame = pd.DataFrame({"data_source": ["Nord", "Nord"], "facility_id": ["3", "4"]})
    >>> p.frame(frame)["facility_id"].str.startswith("F-").all()
    True
    """

    def __init__(self, key: PseudonymKey, *, source_col: str = "data_source", facility_col: str = "facility_id"):
        self.key = key
        self.source_col = source_col
        self.facility_col = facility_col
        self._sources: dict[str, str] = {}
        self._facilities: dict[tuple[str, str], str] = {}
        self._taken: dict[str, object] = {}

    def _remember(self, name: str, identity: object) -> str:
        other = self._taken.setdefault(name, identity)
        if other != identity:
            # 8 letters make this vanishingly rare; a silent merge of two facilities would be worse.
            raise RuntimeError(f"pseudonym collision between {other!r} and {identity!r}")
        return name

    def source(self, data_source: object) -> str:
        """Pseudonym of one data source."""
        name = _canonical(data_source)
        if name not in self._sources:
            self._sources[name] = self._remember(pseudonym(self.key, "data_source", name), ("s", name))
        return self._sources[name]

    def facility(self, data_source: object, facility_id: object) -> str:
        """Pseudonym of one facility, identified by its data source and ID."""
        ident = (_canonical(data_source), _canonical(facility_id))
        if ident not in self._facilities:
            self._facilities[ident] = self._remember(pseudonym(self.key, "facility", *ident), ("f", *ident))
        return self._facilities[ident]

    def frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """A copy of ``frame`` with its data source and facility columns pseudonymised.

        A facility column needs the data source column beside it (facility IDs
        repeat across data sources).
        """
        out = frame.copy()
        has_source = self.source_col in out.columns
        if self.facility_col in out.columns:
            if not has_source:
                raise ValueError(f"column {self.facility_col!r} needs {self.source_col!r} beside it")
            out[self.facility_col] = [
                self.facility(s, f) for s, f in zip(frame[self.source_col], frame[self.facility_col])
            ]
        if has_source:
            out[self.source_col] = [self.source(s) for s in frame[self.source_col]]
        return out

    @property
    def originals(self) -> tuple[list[str], list[tuple[str, str]]]:
        """The data sources and (data source, facility ID) pairs replaced so far."""
        return sorted(self._sources), sorted(self._facilities)


def find_identifiers(
    frames: dict[str, pd.DataFrame] | Iterable[tuple[str, pd.DataFrame]],
    sources: Sequence[str],
    *,
    id_columns: Sequence[str] = ("data_source", "facility_id", "facility", "facility_label"),
    facility_ids: Sequence[str] = (),
) -> list[str]:
    """Where original names still appear in tables meant to be pseudonymised.

    Parameters
    ----------
    frames : dict of str to DataFrame
        The tables by name.
    sources : sequence of str
        Original data-source names: no text cell and no column name may contain one.
    id_columns : sequence of str
        Columns holding identifiers: their values may not equal an original
        facility ID or data source.
    facility_ids : sequence of str
        Original facility IDs.

    Returns
    -------
    list of str
        One message per finding; empty when the tables are clean.
    """
    items = frames.items() if isinstance(frames, dict) else frames
    lowered = [s.lower() for s in sources if s]
    ids = {_canonical(i) for i in facility_ids} | {_canonical(s) for s in sources}
    found = []
    for name, frame in items:
        for col in frame.columns:
            if any(s in str(col).lower() for s in lowered):
                found.append(f"{name}: column name {col!r} holds a data source")
            values = frame[col]
            if col in id_columns:
                bad = sorted({_canonical(v) for v in values} & ids)
                if bad:
                    found.append(f"{name}: column {col!r} holds original identifiers {bad}")
            if values.dtype == object or pd.api.types.is_string_dtype(values):
                text = values.dropna().astype(str).str.lower()
                for s in lowered:
                    hit = text.str.contains(s, regex=False)
                    if hit.any():
                        found.append(f"{name}: column {col!r} row {int(hit.idxmax())} holds {s!r}")
    return found


@dataclass(frozen=True)
class Identifiers:
    """What a pseudonymised output must never contain.

    Attributes
    ----------
    sources : tuple of str
        Data-source names.
    facility_ids : tuple of str
        Original facility IDs.
    file_names : tuple of str
        Names of the input files (and their stems): they often carry the data source.
    paths : tuple of str
        Folders of the machine the run was made on.
    """

    sources: tuple[str, ...] = ()
    facility_ids: tuple[str, ...] = ()
    file_names: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()


def _encodings(needle: str) -> set[str]:
    """A text as it may stand in HTML, JSON, SVG or a URL."""
    import html as _html
    import json as _json
    from urllib.parse import quote

    forms = {needle, _html.escape(needle), _html.escape(needle, quote=False), _json.dumps(needle)[1:-1],
             _json.dumps(needle, ensure_ascii=False)[1:-1], quote(needle)}
    return {f for f in forms if f}


#: A facility named by a number, as in "facility 3", "Facility: 3", "facility ID 3".
_FACILITY_LABEL = r"(?i)\bfacilit(?:y|ies)(?: id)?[ \t:#]{{1,3}}{id}\b"


def find_leaks(texts: Iterable[tuple[str, str]], ids: Identifiers) -> list[str]:
    """Where an identifying text stands in outputs meant to be pseudonymised.

    Parameters
    ----------
    texts : iterable of (name, text)
        Each output (a page, an SVG figure, embedded plotly data) as text.
    ids : Identifiers

    Returns
    -------
    list of str
        One message per finding ("<name>: data source 'X'"); empty when clean.

    Data sources, input file names and paths are searched as text (case
    ignored, in their HTML, JSON and URL forms). A facility ID that could be
    mistaken for a number of the report (digits only, or shorter than three
    characters) is searched as "facility <ID>"; any other ID as text with
    word boundaries, so "KH-Zürich/7" is found wherever it stands.
    """
    import re

    def pattern(text: str) -> re.Pattern:
        forms = sorted(_encodings(text), key=len, reverse=True)
        body = "|".join(re.escape(f) for f in forms)
        return re.compile(rf"(?i)(?<![\w-])(?:{body})(?![\w])")

    checks: list[tuple[str, re.Pattern]] = []
    for s in ids.sources:
        if s and s.strip():
            checks.append((f"data source {s!r}", pattern(s.strip())))
    for f in ids.facility_ids:
        f = _canonical(f)
        if not f:
            continue
        if f.isdigit() or len(f) < 3:
            checks.append((f"facility ID {f!r}", re.compile(_FACILITY_LABEL.format(id=re.escape(f)))))
        else:
            checks.append((f"facility ID {f!r}", pattern(f)))
    for name in ids.file_names:
        if name and len(name) >= 4:
            checks.append((f"input file name {name!r}", pattern(name)))
    for path in ids.paths:
        if path and len(path) > 1:
            checks.append((f"machine path {path!r}", re.compile(re.escape(path))))
    import html as _html

    found = []
    for name, text in texts:
        forms = (text, _html.unescape(text))  # named entities such as &Auml; too
        for what, rx in checks:
            if any(rx.search(t) for t in forms):
                found.append(f"{name}: {what}")
    return found
