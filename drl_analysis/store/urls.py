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
            raise UserError(f"{name}: there is no database file {url.database} (ingest survey files first)")
    return db_url
