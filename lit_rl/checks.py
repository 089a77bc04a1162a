"""Argument checks that raise one clear line naming the bad value and what would be valid.

They run in ``__init__`` of modules and callbacks, so bad input stops a run before any
environment is created or any file is written.
"""

from __future__ import annotations

from collections.abc import Iterable


class ConfigurationError(ValueError):
    """A value the user chose is invalid; the message is one line that names it and says what would be valid.

    The command line prints this message alone (set ``LIT_RL_TRACEBACK=1`` for the traceback); any
    other exception keeps its traceback. Raised by the checks below and wherever lit_rl finds a bad value,
    in ``__init__`` or, for what only the environment reveals (e.g. ``n_step`` on frame observations), in ``setup``.
    """


def check_positive(name: str, value: float) -> None:
    if not value > 0:
        raise ConfigurationError(f"{name}={value!r} is invalid: it must be > 0.")


def check_non_negative(name: str, value: float) -> None:
    if not value >= 0:
        raise ConfigurationError(f"{name}={value!r} is invalid: it must be >= 0.")


def check_unit_interval(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ConfigurationError(f"{name}={value!r} is invalid: it must lie in [0, 1].")


def check_choice(name: str, value: object, choices: Iterable[object]) -> None:
    choices = tuple(choices)
    if value not in choices:
        valid = ", ".join(repr(c) for c in choices)
        raise ConfigurationError(f"{name}={value!r} is invalid: choose one of {valid}.")
