"""The error a user can fix: a bad file or a wrong parameter.

The command line prints its message (one line, or a line per problem) and exits with status 2;
errors of ours keep their traceback.
"""

import difflib
from collections.abc import Iterable


class UserError(Exception):
    """An error the user can fix; its message names the file or parameter and the reason."""


def several(problems: list[str] | tuple[str, ...]) -> UserError:
    """One error for all the problems found, so that a user fixes them in one go: a
    single problem is its own one-line message, several are listed a line each."""
    unique = list(dict.fromkeys(problems))
    if len(unique) == 1:
        return UserError(unique[0])
    return UserError(f"{len(unique)} problems:\n" + "\n".join(f"  - {p}" for p in unique))


def suggestion(word: str, candidates: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the candidate closest to a misspelt ``word``, or ``""``
    when none is close."""
    close = difflib.get_close_matches(str(word), [str(c) for c in candidates], n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""
