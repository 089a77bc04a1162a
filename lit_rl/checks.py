"""Argument checks that raise one clear line naming the bad value and what would be valid.

They run in ``__init__`` of modules and callbacks, so bad input stops a run before any
environment is created or any file is written.
"""

from __future__ import annotations

from collections.abc import Iterable


def check_positive(name: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{name}={value!r} is invalid: it must be > 0.")


def check_non_negative(name: str, value: float) -> None:
    if not value >= 0:
        raise ValueError(f"{name}={value!r} is invalid: it must be >= 0.")


def check_unit_interval(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name}={value!r} is invalid: it must lie in [0, 1].")


def check_choice(name: str, value: object, choices: Iterable[object]) -> None:
    choices = tuple(choices)
    if value not in choices:
        valid = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name}={value!r} is invalid: choose one of {valid}.")
