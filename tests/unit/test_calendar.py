"""Times and dates as the contract writes them (§1): ISO-8601 with a zone, YYYY-MM-DD."""

import datetime as dt

import pytest

from chalicelib.domain.calendar import format_instant, parse_date, parse_instant, quarter_of

UTC = dt.UTC


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2027-01-31T09:00:00Z", dt.datetime(2027, 1, 31, 9, tzinfo=UTC)),
        ("2027-01-31T09:00:00.999Z", dt.datetime(2027, 1, 31, 9, tzinfo=UTC)),  # sub-second dropped
        ("2027-01-31T18:00:00+09:00", dt.datetime(2027, 1, 31, 9, tzinfo=UTC)),
    ],
)
def test_instants_with_a_zone_are_read_as_utc(text, expected):
    assert parse_instant(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2027-01-31T09:00:00",  # no zone
        "2027-01-31",  # a date
        "2027-01-31T09:00Z",  # no seconds
        "20270131T090000Z",  # basic form
        "2027-W05-7T09:00:00Z",  # week date
        "2027-02-30T09:00:00Z",  # no such day
        "2027-01-31 09:00:00Z",  # space for T
        "2027-01-31T09:00:00z",
        "２０２７-01-31T09:00:00Z",  # non-ASCII digits
        "",
    ],
)
def test_other_time_spellings_are_refused(text):
    with pytest.raises(ValueError):
        parse_instant(text)


def test_dates_are_exactly_year_month_day():
    assert parse_date("1990-01-30") == dt.date(1990, 1, 30)
    assert parse_date("2028-02-29") == dt.date(2028, 2, 29)


@pytest.mark.parametrize(
    "text",
    ["1990-W05-2", "19900130", "1990-1-30", "1990-02-30", "2027-02-29", "1990-01-30T00:00:00Z", "", "１９９０-01-30"],
)
def test_other_date_spellings_are_refused(text):
    with pytest.raises(ValueError):
        parse_date(text)


def test_format_round_trips_and_quarters_follow_the_program_timezone():
    moment = dt.datetime(2027, 3, 31, 15, 30, tzinfo=UTC)  # 2027-04-01 00:30 in Seoul
    assert format_instant(moment) == "2027-03-31T15:30:00Z"
    assert parse_instant(format_instant(moment)) == moment
    assert quarter_of(moment, "Asia/Seoul") == "2027Q2"
    assert quarter_of(moment, "UTC") == "2027Q1"


# -- the edges of the representable years (found by fuzzing: were 500s) ----------------
@pytest.mark.parametrize(
    "text", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "0001-01-01T00:59:59+01:00"]
)
def test_an_offset_that_leaves_the_representable_years_is_a_value_error(text):
    with pytest.raises(ValueError):
        parse_instant(text)


@pytest.mark.parametrize(
    "text,utc",
    [
        ("0999-06-01T00:00:00Z", "0999-06-01T00:00:00Z"),
        ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z"),
        ("0001-01-01T01:00:00+01:00", "0001-01-01T00:00:00Z"),
        ("9999-12-31T23:59:59Z", "9999-12-31T23:59:59Z"),
        ("0099-03-01T09:00:00+09:00", "0099-03-01T00:00:00Z"),
    ],
)
def test_years_below_1000_and_up_to_9999_keep_four_digits_and_read_back(text, utc):
    assert format_instant(parse_instant(text)) == utc
    assert parse_instant(utc) == parse_instant(text)
