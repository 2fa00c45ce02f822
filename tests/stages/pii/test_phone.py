from __future__ import annotations

import pytest

from fineweb_pipe.stages.pii.entities import Detection
from fineweb_pipe.stages.pii.phone import MAX_DIGITS, whole_number, whole_numbers


def grown(text: str, part: str) -> str:
    start = text.index(part)
    begin, end = whole_number(text, start, start + len(part))
    return text[begin:end]


@pytest.mark.parametrize(("text", "part", "number"), [
    ("on 079 0442 1744 now", "079 0442", "079 0442 1744"),
    ("Phone: 21 284 698 2548", "698 2548", "21 284 698 2548"),
    ("+1-743-438-6774x62406-Fax", "+1-743-438", "+1-743-438-6774x62406"),
    ("02.27.96.63.08", "02.27.96", "02.27.96.63.08"),
    ("481 7531 ext. 12 after", "481 7531", "481 7531 ext. 12"),
    ("(1-866-943-3427)", "(1-866-943-3427", "1-866-943-3427"),
])
def test_a_part_grows_to_the_whole_number(text: str, part: str, number: str):
    assert grown(text, part) == number


@pytest.mark.parametrize(("text", "part", "number"), [
    ("Room 101 555-1234", "555-1234", "555-1234"),  # another separator style
    ("2100\n88 16 54 09", "88 16 54 09", "88 16 54 09"),  # a line break
    ("555 1234 5th Avenue", "555 1234", "555 1234"),  # a group glued to a word
    ("A1 555 1234", "555 1234", "555 1234"),
    ("5551234 99", "5551234", "5551234"),  # no separator inside: nothing tells the style
    ("+44 20 7946", "+44 20 7946", "+44 20 7946"),
    ("12 +44 20 7946", "+44 20 7946", "+44 20 7946"),  # nothing before a "+"
])
def test_a_number_does_not_take_in_what_is_not_its_own(text: str, part: str, number: str):
    assert grown(text, part) == number


def test_at_most_fifteen_digits_right_first_then_left():
    # Zip code, then the number: the zip code would make 16 digits.
    text = "Chile 53977 079 4650 2145"
    assert grown(text, "079 4650") == "079 4650 2145"
    assert MAX_DIGITS == 15
    # An IDD written for "+" does not count: 15 digits after "00".
    text = "call 00 44 20 7946 0958 12 345"
    assert grown(text, "00 44 20 7946") == "00 44 20 7946 0958 12"


def test_a_number_never_grows_into_another_detection():
    text = "lan 192.168.1.10 555.1234"
    ip = Detection(4, 16, "IP_ADDRESS", 0.6)
    phone = Detection(17, 25, "PHONE_NUMBER", 0.4)
    assert whole_numbers(text, [ip, phone]) == [ip, phone]
    text = "call 555 1234 4111 1111"
    card_like = Detection(14, 23, "USER_ID", 0.8)
    assert whole_numbers(text, [Detection(5, 13, "PHONE_NUMBER", 0.4), card_like])[0].end == 13


def test_an_extension_joins_a_number_without_separators():
    assert grown("call 5551234 ext. 12 now", "5551234") == "5551234 ext. 12"
    assert grown("call 5551234 extension 9", "5551234") == "5551234 extension 9"
    assert grown("call 5551234 extra", "5551234") == "5551234"
