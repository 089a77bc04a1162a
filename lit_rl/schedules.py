"""Exploration and annealing schedules as pure functions of the env-step counter.

Schedules depend on how many env steps have been taken, never on how often a hook ran,
so a resumed run continues exactly where it stopped.
"""

from __future__ import annotations


def linear_schedule(start: float, end: float, duration: int, step: int) -> float:
    """Move linearly from ``start`` to ``end`` over ``duration`` steps, then hold ``end``.

    >>> linear_schedule(1.0, 0.1, duration=100, step=50)
    0.55
    >>> linear_schedule(1.0, 0.1, duration=100, step=1000)
    0.1
    """
    if duration <= 0:
        return end
    fraction = min(max(step, 0) / duration, 1.0)
    return start + fraction * (end - start)


def exponential_schedule(start: float, end: float, duration: int, step: int) -> float:
    """Move geometrically from ``start`` to ``end`` over ``duration`` steps, then hold ``end``.

    Both ends must be positive. Halfway through, the value is the geometric mean:

    >>> round(exponential_schedule(1.0, 0.01, duration=100, step=50), 6)
    0.1
    """
    if start <= 0 or end <= 0:
        raise ValueError(f"exponential_schedule needs start > 0 and end > 0, got start={start}, end={end}.")
    if duration <= 0:
        return end
    fraction = min(max(step, 0) / duration, 1.0)
    return start * (end / start) ** fraction


SCHEDULES = {"linear": linear_schedule, "exponential": exponential_schedule}
