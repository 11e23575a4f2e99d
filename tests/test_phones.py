"""Phone number parsing: the formats borrowers, CRMs and providers use, and impossible numbers."""

from __future__ import annotations

import pytest

from desktop_app.core import phones


@pytest.mark.parametrize("text", ["(212) 555-0143", "212.555.0143", "1-212-555-0143",
                                  "+1 212 555 0143", "+12125550143", "2125550143",
                                  "12125550143", "tel:+1-212-555-0143", "  212 555 0143  "])
def test_common_formats_give_one_e164(text):
    assert phones.normalize(text) == "+12125550143"


def test_extension_is_kept_apart():
    parsed = phones.parse_phone("+1 212 555 0143 ext. 7")
    assert parsed.e164 == "+12125550143"
    assert parsed.extension == "7"


@pytest.mark.parametrize("text, reason", [
    ("12345", "wrong number of digits"),
    ("+1 555 0100", "no such number range"),
    ("+19999999999", "no such number range"),
    ("call me", "not a phone number"),
    ("", "empty"),
    ("anonymous", "withheld"),
    ("+266696687", "withheld"),
])
def test_impossible_numbers_are_rejected_with_reason(text, reason):
    with pytest.raises(phones.InvalidPhoneNumber) as info:
        phones.parse_phone(text)
    assert reason in str(info.value)


def test_mask_keeps_last_four():
    assert phones.mask("+12125550143") == "+1***0143"
    assert "2125550143" not in phones.mask_in_text("from +12125550143 to (212) 555-0143")


def test_mask_leaves_addresses_and_sids_alone():
    text = "listening on 127.0.0.1:8765 for CA0123456789abcdef0123456789abcdef"
    assert phones.mask_in_text(text) == text


def test_area_code_table_matches_the_geocoder():
    import phonenumbers
    from phonenumbers import geocoder

    from desktop_app.core.quiet_hours import US_STATES, state_of

    for number in ("+12125550143", "+13055550143", "+18085550143", "+16025550143",
                   "+13125550143", "+12135550143", "+19185550143", "+12025550143"):
        description = geocoder.description_for_number(phonenumbers.parse(number), "en")
        tail = description.rsplit(", ", 1)[-1]
        expected = tail if len(tail) == 2 else US_STATES[description]
        assert state_of(number) == expected, number
    assert state_of("+442079460958") is None
