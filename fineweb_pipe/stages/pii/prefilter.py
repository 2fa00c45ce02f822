"""A cheap gate per entity type: which entity types a text could contain, before presidio looks.

Each gate is a loose regex that matches a superset of what the matching presidio recognizer can
detect, so a document the gate passes over holds nothing presidio would find (tests check this on
real and synthetic text). The gates may pass documents with nothing in them; that only costs time.
Most web documents hold no ``@``, no dotted quad and no long digit run, and skip presidio entirely.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import regex
from phonenumbers import PhoneMetadata

from fineweb_pipe.stages.pii import entities as ent
from fineweb_pipe.stages.pii.entities import UserPattern

# The punctuation phonenumbers accepts between digit groups (its _VALID_PUNCTUATION plus spaces) and,
# like its candidate pattern, at most four such characters between two digits.
_PHONE_PUNCT = r"\-x\u2010-\u2015\u2212\u30FC\uFF0D-\uFF0F \u00A0\u00AD\u200B\u2060\u3000()\uFF08\uFF09\uFF3B\uFF3D.\[\]/~\u2053\u223C\uFF5E\t"
_PHONE_RUN = re.compile(rf"([+\uFF0B][{_PHONE_PUNCT}]{{0,4}})?\d(?:[{_PHONE_PUNCT}]{{0,4}}\d)*")
_DIGIT = re.compile(r"\d")
# A number given with its international prefix (+ or an IDD such as 00) can belong to any region;
# the shortest national number of any region has 4 digits, plus at least 1 for the country code,
# plus 2 for an IDD written instead of "+".
_MIN_DIGITS_WITH_PLUS = 5
_MIN_DIGITS_WITH_IDD = 7
# The phone-shape patterns (recognizers.py) need 7 digits at least.
_MIN_DIGITS_PHONE_SHAPES = 7

_GATES: dict[str, re.Pattern[str]] = {
    # presidio: local part ending in a word char or symbol, "@", a word char. Never whitespace.
    ent.EMAIL_ADDRESS: re.compile(r"\S@\S"),
    # IPv4 (and IPv4-mapped IPv6) need a dotted quad; any other IPv6 has "::" or 8 hex groups.
    ent.IP_ADDRESS: re.compile(r"\d\.\d{1,3}\.\d{1,3}\.\d|::|[0-9A-Fa-f]:[0-9A-Fa-f]{1,4}:"),
    # 12+ digits with at most one space or dash between them (presidio's groups; our 12-19 digits).
    ent.CREDIT_CARD: re.compile(r"\d(?:[ -]?\d){11}"),
    # Case-sensitive like presidio's IBAN pattern: country, check digits, then groups of 4.
    ent.IBAN_CODE: re.compile(r"[A-Z]{2}\d{2}[ -]?[A-Z0-9]{4}"),
    # All of presidio's SSN patterns are 3, 2 and 4 digits with optional single separators.
    ent.US_SSN: re.compile(r"\d{3}[- .]?\d{2}[- .]?\d{4}"),
}

# presidio's default flags for pattern recognizers, so a user pattern gates exactly as it matches.
PRESIDIO_FLAGS = regex.DOTALL | regex.MULTILINE | regex.IGNORECASE


def min_phone_digits(regions: Iterable[str]) -> int:
    """The fewest digits a phone number written without "+" can have in any of ``regions``."""
    shortest = _MIN_DIGITS_WITH_IDD
    for region in regions:
        metadata = PhoneMetadata.metadata_for_region(region)
        if metadata is None:
            raise ValueError(f"unknown phone region {region!r}; use ISO 3166 codes from "
                             f"phonenumbers.SUPPORTED_REGIONS such as 'US' or 'GB'")
        lengths = [n for n in metadata.general_desc.possible_length if n > 0]
        shortest = min(shortest, *lengths)
    return min(shortest, _MIN_DIGITS_PHONE_SHAPES)


class Prefilter:
    """Says which of the configured entity types a text may contain."""

    def __init__(self, entity_types: Sequence[str], phone_regions: Sequence[str],
                 user_patterns: Sequence[UserPattern] = ()) -> None:
        self.entity_types = tuple(entity_types)
        self._gates = [(t, _GATES[t]) for t in self.entity_types if t in _GATES]
        self._check_phone = ent.PHONE_NUMBER in self.entity_types
        self._min_phone_digits = min_phone_digits(phone_regions) if self._check_phone else 0
        self._user_gates = [(p.entity_type, regex.compile(p.regex, PRESIDIO_FLAGS)) for p in user_patterns]
        # No cheap gate for a NER model: those types always go to presidio.
        self._always = [t for t in self.entity_types if t in ent.NER_ENTITIES]

    def candidates(self, text: str) -> list[str]:
        """The entity types worth asking presidio about for ``text`` (empty: skip presidio)."""
        found = [t for t, gate in self._gates if gate.search(text)]
        if self._check_phone and self._may_hold_phone(text):
            found.append(ent.PHONE_NUMBER)
        found += [t for t, gate in self._user_gates if t not in found and gate.search(text)]
        return found + self._always

    def _may_hold_phone(self, text: str) -> bool:
        for run in _PHONE_RUN.finditer(text):
            digits = len(_DIGIT.findall(run.group()))
            needed = _MIN_DIGITS_WITH_PLUS if run.group(1) else self._min_phone_digits
            if digits >= needed:
                return True
        return False

