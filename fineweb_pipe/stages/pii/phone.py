"""Phone numbers are replaced whole: a detection that covers only some digit groups of a number grows to
cover all of them.

The phone-shaped patterns match the groups they know ("079 0442" of "079 0442 1744", "698 2548" of
"21 284 698 2548", "+1-743-438" of "+1-743-438-6774x62406"), and replacing only those leaves the rest of
the number in the text. A number's groups are written with one separator style, so a phone detection
takes in the digit groups next to it that are joined by a separator it already uses inside (a space, a
dot, a hyphen), first to the right, then to the left, as long as the whole stays within E.164's 15 digits
(not counting an IDD "00"/"011" written for "+"), and then an extension ("x62406", " ext. 12"). A group
glued to a letter ("5th") is not a group of the number; a line break or another separator style ends
the number ("Denmark 2100\\n88 16 54 09", "Room 101 555-1234"). A detection never grows into another one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from fineweb_pipe.stages.pii import entities as ent
from fineweb_pipe.stages.pii.entities import Detection

MAX_DIGITS = 15  # E.164: country code and national number
SEPARATORS = " .-\u00A0\u2010\u2011\u2012\u2013"
_SEPARATOR_CLASS = "[" + re.escape(SEPARATORS) + "]"
_RIGHT_GROUP = re.compile(rf"({_SEPARATOR_CLASS})(\d+)")
_LEFT_GROUP = re.compile(rf"(\+?)(\d+)({_SEPARATOR_CLASS})$")
_EXTENSION = re.compile(r"[ \u00A0]?(?:x|ext\.?|extension)[ .:\u00A0]?\d{1,6}(?!\d)", re.IGNORECASE)
_IDD = re.compile(r"00|011")
# How far back a left group is looked for: a separator and up to 16 digits and a "+".
_LEFT_REACH = 18


def _digits(value: str) -> int:
    return sum(c.isdecimal() for c in value)


def _number_digits(value: str) -> int:
    """Digits of a number as E.164 counts them: an IDD written for "+" does not count."""
    digits = _digits(value)
    if not value.startswith("+"):
        idd = _IDD.match(value)
        if idd:
            digits -= len(idd.group())
    return digits


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_"


def whole_number(text: str, start: int, end: int, low: int = 0, high: int | None = None) -> tuple[int, int]:
    """The span of the whole phone number that ``text[start:end]`` is part of, within ``[low, high)``."""
    high = len(text) if high is None else high
    if text[start] == "(" and ")" not in text[start:end]:
        start += 1  # phonenumbers keeps the bracket of "(1-866-943-3427)" but not its pair
    if not text[end - 1].isdecimal():
        return start, end
    separators = {c for i, c in enumerate(text[start:end], start)
                  if c in SEPARATORS and start < i < end - 1 and text[i - 1].isdecimal() and text[i + 1].isdecimal()}
    digits = _number_digits(text[start:end])
    while separators:  # right
        group = _RIGHT_GROUP.match(text, end, high)
        if group is None or group.group(1) not in separators or digits + len(group.group(2)) > MAX_DIGITS:
            break
        after = group.end()
        if after < high and _is_word_char(text[after]) and not _EXTENSION.match(text, after, high):
            break
        if after + 1 < high and text[after] in ".," and text[after + 1].isdecimal() and text[after] not in separators:
            break  # a decimal number: "555 1234 3.5"
        end, digits = after, digits + len(group.group(2))
    while separators and text[start] != "+":  # left
        group = _LEFT_GROUP.search(text, max(low, start - _LEFT_REACH), start)
        if group is None or group.group(3) not in separators:
            break
        begin = group.start()
        if begin > low and (_is_word_char(text[begin - 1]) or text[begin - 1] == "+"):
            break
        grown = _number_digits(text[begin:end])
        if grown > MAX_DIGITS:
            break
        start, digits = begin, grown
    extension = _EXTENSION.match(text, end, high)
    if extension:
        end = extension.end()
    return start, end


def whole_numbers(text: str, detections: Sequence[Detection]) -> list[Detection]:
    """``detections`` (non-overlapping, in text order) with each phone number grown to the whole number."""
    out = list(detections)
    for i, d in enumerate(out):
        if d.entity_type != ent.PHONE_NUMBER:
            continue
        low = out[i - 1].end if i else 0
        high = out[i + 1].start if i + 1 < len(out) else len(text)
        start, end = whole_number(text, d.start, d.end, low, high)
        if (start, end) != (d.start, d.end):
            out[i] = Detection(start, end, d.entity_type, d.score)
    return out
