"""How the command line explains itself: help with defaults and allowed values,
an example per command, "did you mean" for a misspelt option or value, and all
the problems of one command line reported together.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from ..core.errors import UserError, several, suggestion


class HelpFormatter(argparse.HelpFormatter):
    """Help that gives every option's allowed values (its ``choices``) and its default,
    unless its text already does; a text of several lines (the examples) keeps its lines."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if text == argparse.SUPPRESS:
            return text
        if action.choices is not None and not isinstance(action, argparse._SubParsersAction) \
                and "%(choices)s" not in text:
            text += " (one of: %(choices)s)"
        default = action.default
        unset = default is None or default is False or default == "" or default == argparse.SUPPRESS
        if action.option_strings and not unset and "%(default)" not in text and "default" not in text:
            text += " (default: %(default)s)"
        return text


def _unrecognized(extras: Sequence[str], parser: argparse.ArgumentParser) -> str:
    """argparse's message for arguments no option takes, with the option meant where one is close."""
    options = [s for action in parser._actions for s in action.option_strings]
    hints = []
    for arg in extras:
        if arg.startswith("-") and len(arg) > 1:
            name = arg.split("=", 1)[0]
            hint = suggestion(name, options)
            if hint:
                hints.append(f"{name}:{hint.removeprefix(';')}")
    text = f"unrecognized arguments: {' '.join(extras)}"
    return text + (f" ({'; '.join(hints)})" if hints else "")


class UsageError(UserError):
    """A command line argparse refuses; its message names the command and where its help is."""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser that says which option or value was probably meant, and whose
    errors are one line each, like every other error of the command line (it raises
    :class:`UsageError` where argparse would print its usage and exit)."""

    def error(self, message: str):  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message} (see '{self.prog} --help')")

    def _check_value(self, action: argparse.Action, value: object) -> None:
        if action.choices is not None and value not in action.choices:
            choices = [str(c) for c in action.choices]
            raise argparse.ArgumentError(
                action, f"invalid choice: {value!r}{suggestion(str(value), choices)} (choose from {', '.join(choices)})")

    def parse_args(self, args=None, namespace=None):  # type: ignore[override]
        namespace, extras = self.parse_known_args(args, namespace)
        if extras:
            parser = self._command_parser(namespace)
            parser.error(_unrecognized(extras, parser))
        return namespace

    def _command_parser(self, namespace: argparse.Namespace) -> argparse.ArgumentParser:
        """The subcommand's parser (its options and usage), or this one."""
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                chosen = getattr(namespace, action.dest, None)
                if chosen in action.choices:
                    return action.choices[chosen]
        return self


class Problems:
    """Collects the user errors of several checks, to report them all at once.

    >>> problems = Problems()
    >>> problems.check(lambda: 1)
    1
    >>> problems.raise_any()  # nothing found: nothing raised
    """

    def __init__(self) -> None:
        self.found: list[str] = []

    def add(self, message: str) -> None:
        self.found.append(message)

    def check(self, function: Callable, *args, **kwargs):
        """``function(*args, **kwargs)``; a :class:`UserError` it raises is noted and None returned."""
        try:
            return function(*args, **kwargs)
        except UserError as exc:
            self.found.append(str(exc))
            return None

    def raise_any(self) -> None:
        """Raise one :class:`UserError` naming every problem noted, if any."""
        if self.found:
            raise several(self.found)


def at_least(problems: Problems, option: str, value: int | float | None, low: int, note: str = "") -> None:
    """Note ``option`` when its value is below ``low``."""
    if value is not None and value < low:
        problems.add(f"{option}: must be at least {low}{note}, not {value}")
