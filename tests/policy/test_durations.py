"""Go duration parsing and printing for ssh checkPeriod."""

from __future__ import annotations

import pytest

from reconciler.validate.durations import (
    HOUR,
    MILLISECOND,
    MINUTE,
    SECOND,
    DurationError,
    format_duration,
    parse_duration,
)


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("0", 0),
        ("0s", 0),
        ("200h", 200 * HOUR),
        ("168h0m1s", 168 * HOUR + SECOND),
        ("-1m", -MINUTE),
        ("1.5h", 90 * MINUTE),
        ("1h30m", 90 * MINUTE),
        ("250ms", 250 * MILLISECOND),
    ],
)
def test_parse_duration(text: str, ns: int) -> None:
    assert parse_duration(text) == ns


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("abc", 'time: invalid duration "abc"'),
        ("", 'time: invalid duration ""'),
        ("1", 'time: missing unit in duration "1"'),
        ("1d", 'time: unknown unit "d" in duration "1d"'),
    ],
)
def test_parse_duration_errors(text: str, message: str) -> None:
    with pytest.raises(DurationError) as e:
        parse_duration(text)
    assert str(e.value) == message


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (0, "0s"),
        (200 * HOUR, "200h0m0s"),
        (168 * HOUR + SECOND, "168h0m1s"),
        (-MINUTE, "-1m0s"),
        (90 * SECOND, "1m30s"),
        (1500 * MILLISECOND, "1.5s"),
        (250 * MILLISECOND, "250ms"),
    ],
)
def test_format_duration(ns: int, text: str) -> None:
    assert format_duration(ns) == text
