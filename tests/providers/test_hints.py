"""The shared retry-hint parsers: the reference table, each dialect, and properties."""

from __future__ import annotations

import email.utils
import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from provider_support import load_fixture

from genguard.providers import hints
from genguard.providers.hints import (
    MAX_HINT_SECONDS,
    parse_go_duration,
    parse_http_date,
    parse_proto_duration,
    parse_retry_after,
    parse_retry_after_ms,
    parse_retry_in_message,
    ratelimit_reset_hint,
    retry_hint_from_headers,
)

CASES = load_fixture("retry_after_cases.json")
NOW = email.utils.parsedate_to_datetime(CASES["now"]).timestamp()

#: Expected values for the table rows that give no ``delay_seconds`` (our documented choices).
UNSPECIFIED_ROWS: dict[str, float | None] = {
    "1.5": 1.5,  # lenient decimal, as openai-python reads it
    "-5": None,
    "soon": None,
    "99999999999999999999": MAX_HINT_SECONDS,  # absurd: clamped to the ceiling
    "nan": None,
}


def _parse(header: str, value: str) -> float | None:
    name = header.lower()
    if name == "retry-after":
        return parse_retry_after(value, NOW)
    if name == "retry-after-ms":
        return parse_retry_after_ms(value)
    assert name.startswith("x-ratelimit-reset-"), name
    return parse_go_duration(value)


@pytest.mark.parametrize(
    "case", CASES["cases"], ids=[f"{c['header']}={c['value']!r}" for c in CASES["cases"]]
)
def test_reference_table(case: dict[str, object]) -> None:
    value = case["value"]
    assert isinstance(value, str)
    if "delay_seconds" in case:
        expected = case["delay_seconds"]
    else:
        assert value in UNSPECIFIED_ROWS, f"no expectation for {value!r}"
        expected = UNSPECIFIED_ROWS[value]
    got = _parse(str(case["header"]), value)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected)


def test_every_unspecified_row_is_in_the_table() -> None:
    values = {c["value"] for c in CASES["cases"] if "delay_seconds" not in c}
    assert values == set(UNSPECIFIED_ROWS)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Sun, 06 Nov 1994 08:49:37 GMT", 784111777.0),
        ("Sunday, 06-Nov-94 08:49:37 GMT", 784111777.0),
        ("Sun Nov  6 08:49:37 1994", 784111777.0),
        ("Sun Nov 06 08:49:37 1994", 784111777.0),
        ("sun, 06 nov 1994 08:49:37 gmt", 784111777.0),  # lenient about case
        ("Sun, 06 Nov 1994 08:49:37", None),  # no zone
        ("Sun, 06 Nov 1994 25:49:37 GMT", None),  # impossible hour
        ("Sun, 32 Nov 1994 08:49:37 GMT", None),
        ("06 Nov 1994", None),
        ("Sun, 06 \u017fep 1994 08:49:37 GMT", None),  # long s: not an ASCII month
        ("Sun, \u0660\u0666 Nov 1994 08:49:37 GMT", None),  # Arabic-Indic digits
    ],
)
def test_http_date_forms(value: str, expected: float | None) -> None:
    assert parse_http_date(value, NOW) == expected


def test_rfc850_fifty_year_rule() -> None:
    now = datetime(2095, 1, 1, tzinfo=UTC).timestamp()
    # "10" is 2110 (15 years ahead), not 2010 (85 years back)
    got = parse_http_date("Friday, 01-Jan-10 00:00:00 GMT", now)
    assert got == datetime(2110, 1, 1, tzinfo=UTC).timestamp()
    # "60" would be 2160 (65 years ahead): the most recent past 2060 instead
    got = parse_http_date("Thursday, 01-Jan-60 00:00:00 GMT", now)
    assert got == datetime(2060, 1, 1, tzinfo=UTC).timestamp()
    now2015 = NOW
    assert (
        parse_http_date("Monday, 01-Jan-80 00:00:00 GMT", now2015)
        == datetime(1980, 1, 1, tzinfo=UTC).timestamp()
    )
    assert (
        parse_http_date("Monday, 01-Jan-40 00:00:00 GMT", now2015)
        == datetime(2040, 1, 1, tzinfo=UTC).timestamp()
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        ("0", 0.0),
        ("\t7 ", 7.0),
        ("1e3", None),
        ("inf", None),
        ("+5", None),
        ("\u0661\u0662\u0660", None),  # Unicode digits are not delay-seconds
        ("\u00b9", None),
        ("", None),
        (None, None),
        ("120, 60", 120.0),  # comma-joined: the first value
        ("Wed, 21 Oct 2015 07:28:30 GMT, Wed, 21 Oct 2015 07:29:00 GMT", None),
        ("Fri, 31 Dec 9999 23:59:59 GMT", MAX_HINT_SECONDS),  # far future: clamped
    ],
)
def test_retry_after_values(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected


def test_retry_after_date_with_non_finite_now_is_none() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:30:00 GMT", math.nan) is None
    assert parse_retry_after("30", math.nan) == 30.0  # delay-seconds need no clock


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1500", 1.5), ("0", 0.0), ("2.5", 0.0025), ("-1", None), ("abc", None), (None, None)],
)
def test_retry_after_ms(value: str | None, expected: float | None) -> None:
    assert parse_retry_after_ms(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("32s", 32.0),
        ("0.5s", 0.5),
        ("45.837906927s", 45.837906927),
        ("46237.118355s", 46237.118355),
        ("1.0000000001s", None),  # more than 9 fractional digits
        ("-1s", None),
        ("32", None),
        (32, None),
        (None, None),
        ("99999999999999999s", MAX_HINT_SECONDS),
    ],
)
def test_proto_duration(value: object, expected: float | None) -> None:
    got = parse_proto_duration(value)
    assert got == (pytest.approx(expected) if expected is not None else None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("6m0s", 360.0),
        ("12ms", 0.012),
        ("1h2m3.5s", 3723.5),
        ("1.2s", 1.2),
        ("0s", 0.0),
        ("0", 0.0),
        ("1m12s", 72.0),
        ("500us", 0.0005),
        ("500µs", 0.0005),
        ("10ns", 1e-8),
        ("1x", None),
        ("s", None),
        ("5", None),
        ("-1s", None),
        ("1h 2m", None),
        ("\u0661s", None),
        ("", None),
    ],
)
def test_go_duration(value: str, expected: float | None) -> None:
    got = parse_go_duration(value)
    assert got == (pytest.approx(expected) if expected is not None else None)


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("Quota exceeded.\nPlease retry in 32.412345678s.", 32.412345678),
        ("Please try again in 12s. Visit https://...", 12.0),
        ("please try again in 1m12s", 72.0),
        ("Please retry in 250ms", 0.25),
        ("Resource has been exhausted (e.g. check quota).", None),
        ("Please try again later.", None),
        (None, None),
        (42, None),
    ],
)
def test_retry_in_message(message: object, expected: float | None) -> None:
    got = parse_retry_in_message(message)
    assert got == (pytest.approx(expected) if expected is not None else None)


def test_header_precedence() -> None:
    headers = {
        "retry-after-ms": "1500",
        "retry-after": "12",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "1m",
    }
    assert retry_hint_from_headers(headers, NOW) == (1.5, "retry-after-ms")
    del headers["retry-after-ms"]
    assert retry_hint_from_headers(headers, NOW) == (12.0, "retry-after")
    del headers["retry-after"]
    assert retry_hint_from_headers(headers, NOW) == (60.0, "x-ratelimit-reset")
    headers["retry-after-ms"] = "garbage"  # an invalid preferred hint falls through
    assert retry_hint_from_headers(headers, NOW) == (60.0, "x-ratelimit-reset")
    assert retry_hint_from_headers({}, NOW) is None


def test_http_date_retry_after_is_relative_to_now() -> None:
    hint = retry_hint_from_headers({"retry-after": "Wed, 21 Oct 2015 07:28:45 GMT"}, NOW)
    assert hint == (45.0, "retry-after")


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        # only exhausted buckets count; the longest of them wins
        (
            {
                "x-ratelimit-remaining-requests": "0",
                "x-ratelimit-reset-requests": "1m12s",
                "x-ratelimit-remaining-tokens": "100000",
                "x-ratelimit-reset-tokens": "0s",
            },
            72.0,
        ),
        (
            {
                "x-ratelimit-remaining-requests": "0",
                "x-ratelimit-reset-requests": "2s",
                "x-ratelimit-remaining-tokens": "0",
                "x-ratelimit-reset-tokens": "6m0s",
            },
            360.0,
        ),
        # every reported bucket has room: no hint
        ({"x-ratelimit-remaining-requests": "3", "x-ratelimit-reset-requests": "2s"}, None),
        # non-ASCII "digits" are not counts
        ({"x-ratelimit-remaining-requests": "\u00b9", "x-ratelimit-reset-requests": "2s"}, 2.0),
        # nothing reports remaining: the longest reset
        ({"x-ratelimit-reset-requests": "2s", "x-ratelimit-reset-tokens": "5s"}, 5.0),
        ({}, None),
    ],
)
def test_ratelimit_reset_hint(headers: dict[str, str], expected: float | None) -> None:
    assert ratelimit_reset_hint(headers) == expected


# -- properties -------------------------------------------------------------------------


def _ok(value: float | None) -> bool:
    return value is None or (math.isfinite(value) and 0 <= value <= MAX_HINT_SECONDS)


@given(st.one_of(st.none(), st.text()), st.floats(allow_nan=True, allow_infinity=True))
def test_retry_after_never_raises(value: str | None, now: float) -> None:
    assert _ok(parse_retry_after(value, now))


@given(st.one_of(st.none(), st.text(), st.from_regex(r"\s*-?\d{1,30}(\.\d{0,30})?\s*")))
def test_numeric_parsers_never_raise(value: str | None) -> None:
    assert _ok(parse_retry_after(value, NOW))
    assert _ok(parse_retry_after_ms(value))
    assert _ok(parse_go_duration(value))
    assert _ok(parse_proto_duration(value))
    assert _ok(parse_retry_in_message(value))


@given(
    st.from_regex(
        r"(([0-9]{1,15}(\.[0-9]{0,9})?|\.[0-9]{1,5})(ns|us|µs|ms|s|m|h)){1,6}", fullmatch=True
    )
)
def test_go_duration_grammar_always_parses(value: str) -> None:
    """Anything in Go's grammar (up to the 64-char bound) gives a number."""
    assume(len(value) <= 64)
    got = parse_go_duration(value)
    assert got is not None and _ok(got)


@given(
    st.dictionaries(
        st.sampled_from(
            [
                "retry-after",
                "retry-after-ms",
                "x-ratelimit-reset-requests",
                "x-ratelimit-reset-tokens",
                "x-ratelimit-remaining-requests",
                "x-ratelimit-remaining-tokens",
                "x-other",
            ]
        ),
        st.text(),
    )
)
def test_header_hint_never_raises(headers: dict[str, str]) -> None:
    hint = retry_hint_from_headers(headers, NOW)
    assert hint is None or (
        _ok(hint.seconds)
        and hint.source
        in {hints.SOURCE_RETRY_AFTER, hints.SOURCE_RETRY_AFTER_MS, hints.SOURCE_RATELIMIT_RESET}
    )


@given(st.integers(min_value=0, max_value=10**12))
def test_delay_seconds_round_trip(seconds: int) -> None:
    assert parse_retry_after(str(seconds), NOW) == min(float(seconds), MAX_HINT_SECONDS)


@settings(max_examples=200)
@given(st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(9999, 12, 31)))
def test_http_date_round_trip_all_three_forms(moment: datetime) -> None:
    moment = moment.replace(microsecond=0, tzinfo=UTC)
    expected = moment.timestamp()
    imf = moment.strftime("%a, %d %b %Y %H:%M:%S GMT")
    asctime = moment.strftime("%a %b ") + f"{moment.day:2d}" + moment.strftime(" %H:%M:%S %Y")
    assert parse_http_date(imf, NOW) == expected
    assert parse_http_date(asctime, NOW) == expected
    # RFC 850 round-trips for dates within 50 years of "now"
    now = (moment + timedelta(days=3650)).timestamp() if moment.year < 9980 else expected
    rfc850 = moment.strftime("%A, %d-%b-%y %H:%M:%S GMT")
    assert parse_http_date(rfc850, now) == expected
    assert parse_retry_after(imf, expected - 30) == min(30.0, MAX_HINT_SECONDS)
    assert parse_retry_after(imf, expected + 30) == 0.0
