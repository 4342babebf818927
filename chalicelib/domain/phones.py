"""Phone numbers as SNS takes them (E.164), read with Google's libphonenumber
rules (`phonenumbers`): a number written without a country code is read in
the program's `phone_region`.

`phonenumbers` (its metadata for every region) is imported on the first number
read, not when the app is: a cold start that reads no phone number skips it."""

from __future__ import annotations

DEFAULT_REGION = "KR"


class InvalidPhoneError(ValueError):
    pass


def is_known_region(region: str) -> bool:
    import phonenumbers

    return region in phonenumbers.SUPPORTED_REGIONS


def to_e164(text: str, region: str = DEFAULT_REGION) -> str:
    """`010-1234-5678` in KR -> `+821012345678`; raises InvalidPhoneError for
    text that is no possible phone number."""
    import phonenumbers

    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise InvalidPhoneError("not a phone number") from None
    if not phonenumbers.is_possible_number(number):
        raise InvalidPhoneError("not a possible phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
