"""Errors that reach users.

A `UserError` is a mistake the user can fix (a missing file, an unknown
column, a bad option). Its message is one line that names the file, line,
column or argument and says what to do; the command-line tool prints it
without a traceback and exits with status 2.
"""


class UserError(Exception):
    """A mistake in the user's input or options, with a one-line fix."""


class DataError(UserError):
    """A bad row in the data (raised under `--strict`), naming file and line."""
