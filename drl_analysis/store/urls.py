"""Database URLs as the reading commands take them: checked, and shown without password."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from ..core.errors import UserError


def safe_url(url: str) -> str:
    """The URL with its password hidden, for messages and outputs; an
    unparsable URL is shown as given (the engine names its fault)."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return url


def sqlite_hint(db_url: str) -> str:
    """A hint for an SQLite URL whose path is relative where an absolute one seems meant.

    ``sqlite:///tmp/x.db`` names ``tmp/x.db`` under the current folder; ``/tmp/x.db``
    needs four slashes, ``sqlite:////tmp/x.db``. The hint is given when the relative
    path's first folder does not exist here but exists at the root (or the absolute
    file exists); otherwise ``""``.
    """
    try:
        url = sa.engine.make_url(db_url)
    except sa.exc.ArgumentError:
        return ""
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or database in ("", ":memory:") or Path(database).is_absolute():
        return ""
    rel = Path(database)
    absolute = Path("/") / rel
    top = rel.parts[0] if len(rel.parts) > 1 else None
    if absolute.exists() or (top and not Path(top).exists() and (Path("/") / top).is_dir()):
        return (f"sqlite:/// with three slashes takes a path relative to the current folder; "
                f"for {absolute} write four: sqlite:///{absolute}")
    return ""


def existing_database(db_url: str, *, name: str = "--db") -> str:
    """``db_url`` if it names a database to read from.

    Commands that read (``drl``, ``analyse``) refuse a missing SQLite file
    instead of creating an empty database silently; only ``ingest`` creates one.

    Raises
    ------
    UserError
        For a string that is not a database URL, or a missing SQLite file.
    """
    try:
        url = sa.engine.make_url(db_url)
    except sa.exc.ArgumentError:
        raise UserError(f"{name}: {db_url!r} is not a database URL such as sqlite:///drl.sqlite") from None
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        if not Path(url.database).is_file():
            hint = sqlite_hint(db_url)
            raise UserError(f"{name}: there is no database file {url.database}"
                            + (f"; {hint}" if hint else " (ingest survey files first)"))
    return db_url
