"""A cheap gate per entity type: where in a text an entity could be, before presidio looks.

Each gate matches a superset of what the matching presidio recognizer can detect, and returns the
window presidio must see to decide: the whitespace-delimited token around a possible email or IP
address (their patterns never cross whitespace), the line around a possible card, SSN, IBAN or phone
number (none of those patterns crosses a newline, and a line end looks to them like the end of the
text). presidio then reads a few short windows instead of the whole document, and nothing at all for
most web documents, which hold no "@", no dotted quad and no long digit run. Tests check that the
detections are the same as presidio's on whole texts.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import regex
from phonenumbers import PhoneMetadata

from fineweb_pipe.stages.pii import entities as ent
from fineweb_pipe.stages.pii.entities import UserPattern

# The punctuation phonenumbers accepts between digit groups (its _VALID_PUNCTUATION) and, like its
# candidate pattern, at most four such characters between two digits. Card, SSN and IBAN separators
# are among them, so one maximal run holds any of their candidates.
_PHONE_PUNCT = (r"\-x\u2010-\u2015\u2212\u30FC\uFF0D-\uFF0F \u00A0\u00AD\u200B\u2060\u3000()\uFF08\uFF09"
                r"\uFF3B\uFF3D.\[\]/~\u2053\u223C\uFF5E")
_NUMBER_RUN = re.compile(rf"([+\uFF0B][{_PHONE_PUNCT}]{{0,4}})?(\d(?:[{_PHONE_PUNCT}]{{0,4}}\d)+)")  # 2+ digits
_NON_DIGIT = re.compile(r"\D+")
# Every character phonenumbers' candidate pattern can hold (IGNORECASE): the lead brackets and "+",
# digits, the punctuation above, and the extension syntax (";ext=", "ext.", "extension", "anexo",
# "int", "#", Cyrillic "доб", full-width "ｅｘｔｎ"/"ｉｎｔ"). A phone window is the maximal span of these
# around a long digit run, plus the character before it and three after (presidio and phonenumbers
# look one character either side, and phonenumbers checks for a ":ss" time suffix); a candidate
# cannot cross the characters outside, so presidio finds there what it finds in the whole text.
_PHONE_SPAN_LETTERS = "aeinostxóAEINOSTXÓſıİдобДОБｅｘｔｎｉＥＸＴＮＩ"  # with case-fold twins (ſ, ı, İ)
_PHONE_SPAN_CHARS = frozenset(_PHONE_SPAN_LETTERS + "(\uFF08[\uFF3B+\uFF0B;=:.\uFF0E,\t#\uFF03~\uFF5E"
                              + "-x\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u30FC\uFF0D\uFF0E\uFF0F \u00A0"
                              + "\u00AD\u200B\u2060\u3000()\uFF08\uFF09\uFF3B\uFF3D.[]/~\u2053\u223C\uFF5E")
_PHONE_CONTEXT_BEFORE = 1
_PHONE_CONTEXT_AFTER = 3
# A number given with "+" can belong to any region: the shortest national number of any region has
# 4 digits, plus 1 for the country code. One written with an IDD (00, 011) instead has 2 more.
_MIN_DIGITS_WITH_PLUS = 5
_MIN_DIGITS_WITH_IDD = 7
# The phone-shape patterns (recognizers.py) need 7 digits at least.
_MIN_DIGITS_PHONE_SHAPES = 7
# presidio: 13+ digits in groups with single [ -] separators; ours: 12-19 digits.
_CARD = re.compile(r"\d(?:[ -]?\d){11}")
# Every presidio SSN pattern is 3, 2 and 4 digits with optional single separators.
_SSN = re.compile(r"\d{3}[- .]?\d{2}[- .]?\d{4}")
# What the IBAN pattern's "[A-Z]" matches ignoring case (as ours matches it): ASCII letters and the
# case-fold twins of some (dotless ı, long ſ, Kelvin sign K). After the letters, presidio's pattern needs
# two ASCII check digits and at least two groups of four letters or digits.
_IBAN_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz\u0131\u017F\u212A")
_IBAN_BODY = re.compile("[0-9]{2}(?:[ -]?[0-9A-Za-z\u0131\u017F\u212A]{4}){2}")
# IPv4 (also inside IPv6) needs a dotted quad; an IPv6 address without one has "::" or 7 colons
# between hex groups. Both gates start with a literal, which the regex engine scans for quickly.
_IPV4 = re.compile(r"\.\d{1,3}\.\d{1,3}\.\d")
_IPV6 = re.compile(r"::|:[0-9A-Fa-f]{1,4}:")

# presidio's default flags for pattern recognizers, so a user pattern gates exactly as it matches.
PRESIDIO_FLAGS = regex.DOTALL | regex.MULTILINE | regex.IGNORECASE


@dataclass(frozen=True, slots=True)
class Window:
    """A slice ``text[start:end]`` for presidio to read, and the entity types to look for there."""

    start: int
    end: int
    entity_types: tuple[str, ...]


def min_phone_digits(regions: Sequence[str]) -> int:
    """The fewest digits a phone number written without "+" can have in any of ``regions``."""
    shortest = min(_MIN_DIGITS_WITH_IDD, _MIN_DIGITS_PHONE_SHAPES)
    for region in regions:
        metadata = PhoneMetadata.metadata_for_region(region)
        if metadata is None or metadata.general_desc is None:
            raise ValueError(f"unknown phone region {region!r}; use ISO 3166 codes from "
                             "phonenumbers.SUPPORTED_REGIONS such as 'US' or 'GB'")
        shortest = min(shortest, *(n for n in metadata.general_desc.possible_length if n > 0))
    return shortest


def _line(text: str, pos: int) -> tuple[int, int]:
    end = text.find("\n", pos)
    return text.rfind("\n", 0, pos) + 1, len(text) if end < 0 else end


def _phone_span(text: str, start: int, end: int) -> tuple[int, int]:
    while start > 0 and (text[start - 1] in _PHONE_SPAN_CHARS or text[start - 1].isdecimal()):
        start -= 1
    while end < len(text) and (text[end] in _PHONE_SPAN_CHARS or text[end].isdecimal()):
        end += 1
    return max(0, start - _PHONE_CONTEXT_BEFORE), min(len(text), end + _PHONE_CONTEXT_AFTER)


def _token(text: str, start: int, end: int) -> tuple[int, int]:
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    while end < len(text) and not text[end].isspace():
        end += 1
    return start, end


class Prefilter:
    """Finds the windows of a text worth showing presidio, per configured entity type."""

    def __init__(self, entity_types: Sequence[str], phone_regions: Sequence[str],
                 user_patterns: Sequence[UserPattern] = ()) -> None:
        self.entity_types = tuple(entity_types)
        wanted = set(self.entity_types)
        self._email = ent.EMAIL_ADDRESS in wanted
        self._ip = ent.IP_ADDRESS in wanted
        self._phone = ent.PHONE_NUMBER in wanted
        self._card = ent.CREDIT_CARD in wanted
        self._ssn = ent.US_SSN in wanted
        self._iban = ent.IBAN_CODE in wanted
        self._numbers = self._phone or self._card or self._ssn or self._iban
        self._min_phone_digits = min_phone_digits(phone_regions) if self._phone else 0
        self._user_gates = [(p.entity_type, regex.compile(p.regex, PRESIDIO_FLAGS)) for p in user_patterns]
        # No cheap gate for a NER model: those types always read the whole text.
        self._always = tuple(t for t in self.entity_types if t in ent.NER_ENTITIES)

    def windows(self, text: str) -> list[Window]:
        """The windows of ``text`` that may hold a configured entity; empty: skip presidio."""
        found: dict[tuple[int, int], set[str]] = {}
        if self._email:
            at = text.find("@")
            while at >= 0:
                span = _token(text, at, at + 1)
                if span[0] < at < span[1] - 1:  # presidio needs a character on both sides
                    found.setdefault(span, set()).add(ent.EMAIL_ADDRESS)
                at = text.find("@", span[1])
        if self._ip:
            for gate in (_IPV4, _IPV6):
                match = gate.search(text)
                while match:
                    span = _token(text, match.start(), match.end())
                    found.setdefault(span, set()).add(ent.IP_ADDRESS)
                    match = gate.search(text, span[1])
        if self._numbers:
            self._number_windows(text, found)
        whole = (0, len(text))
        for entity_type, gate in self._user_gates:
            if gate.search(text):
                found.setdefault(whole, set()).add(entity_type)
        for entity_type in self._always:
            found.setdefault(whole, set()).add(entity_type)
        return [Window(s, e, tuple(sorted(types))) for (s, e), types in found.items()]

    def _number_windows(self, text: str, found: dict[tuple[int, int], set[str]]) -> None:
        for run in _NUMBER_RUN.finditer(text):
            number = run.group(2)
            start = run.start(2)
            # IBAN: two letters of any case, the check digits and two groups of four (presidio's least).
            if (self._iban and start >= 2 and text[start - 2] in _IBAN_LETTERS and text[start - 1] in _IBAN_LETTERS
                    and _IBAN_BODY.match(text, start)):
                found.setdefault(_line(text, start), set()).add(ent.IBAN_CODE)
            if len(number) < 5:
                continue
            digits = len(_NON_DIGIT.sub("", number))
            if self._phone and digits >= 5:
                needed = _MIN_DIGITS_WITH_PLUS if run.group(1) else self._min_phone_digits
                if digits >= needed:
                    found.setdefault(_phone_span(text, run.start(), run.end()), set()).add(ent.PHONE_NUMBER)
            types = []
            if self._card and digits >= 12 and _CARD.search(number):
                types.append(ent.CREDIT_CARD)
            if self._ssn and digits >= 9 and _SSN.search(number):
                types.append(ent.US_SSN)
            if types:
                found.setdefault(_line(text, start), set()).update(types)
