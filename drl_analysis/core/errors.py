"""The error a user can fix: a bad file or a wrong parameter.

The command line prints its message as one line and exits with status 2;
errors of ours keep their traceback.
"""


class UserError(Exception):
    """An error the user can fix; its message names the file or parameter and the reason."""
