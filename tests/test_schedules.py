import pytest

from lit_rl.schedules import exponential_schedule, linear_schedule


@pytest.mark.parametrize(
    ("step", "expected"), [(0, 1.0), (25, 0.775), (100, 0.1), (250, 0.1), (-5, 1.0)]
)
def test_linear_schedule(step, expected):
    assert linear_schedule(1.0, 0.1, duration=100, step=step) == pytest.approx(expected)


@pytest.mark.parametrize(("step", "expected"), [(0, 1.0), (50, 0.1), (100, 0.01), (500, 0.01)])
def test_exponential_schedule_is_geometric(step, expected):
    assert exponential_schedule(1.0, 0.01, duration=100, step=step) == pytest.approx(expected)


def test_zero_duration_holds_the_end_value():
    assert linear_schedule(1.0, 0.2, duration=0, step=0) == 0.2


def test_exponential_schedule_rejects_zero_end():
    with pytest.raises(ValueError, match="end=0"):
        exponential_schedule(1.0, 0.0, duration=10, step=1)
