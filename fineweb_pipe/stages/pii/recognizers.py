"""The presidio recognizers this stage runs, one per entity type, tuned for web text and offline use.

Where presidio's predefined recognizer falls short on real formats it is extended, not replaced:
- email: presidio validates the domain with tldextract's default extractor, which downloads the public
  suffix list on first use; ours uses tldextract's bundled snapshot.
- phone: phonenumbers only accepts numbers valid for the configured regions, which misses numbers
  without an area code ("481 7531"), with unassigned area codes ("166-684-7899") and international
  numbers it does not know ("+447700 208 815"); a few high-precision phone-shaped patterns catch those,
  including numbers dialled with an international prefix (IDD) instead of "+" ("001-924-115-7815",
  "00 44 9477 176165").
- IBAN: presidio matches upper case only; ours also finds "gb82west12345698765432" (same checksum).
- credit card: presidio's pattern misses Mastercard 2-series, 12-digit Maestro and 19-digit cards; a
  12-19 digit pattern (still Luhn-checked) adds them.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Sequence

import regex
import tldextract
from presidio_analyzer import EntityRecognizer, Pattern, PatternRecognizer
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    EmailRecognizer,
    IbanRecognizer,
    IpRecognizer,
    PhoneRecognizer,
    UsSsnRecognizer,
)

from fineweb_pipe.stages.pii import entities as ent
from fineweb_pipe.stages.pii.entities import UserPattern



class OfflineEmailRecognizer(EmailRecognizer):
    """presidio's email recognizer, validating domains against tldextract's bundled suffix list."""

    def __init__(self) -> None:
        super().__init__()
        self._domains = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)

    def validate_result(self, pattern_text: str) -> bool:
        return self._domains(pattern_text).fqdn != ""


class PhoneShapeRecognizer(PatternRecognizer):
    """Phone numbers by their written shape, for what phonenumbers' validity check rejects.

    A match keeps its pattern's score (0.4, phonenumbers' own), so where phonenumbers finds a whole number
    and a shape only part of it, the whole number wins (presidio sets the score of a match that passes
    ``validate_result`` to 1.0, which made "079 0442" beat phonenumbers' "079 0442 1744"). The scrubber
    widens a match that is still part of a longer number to the whole number (``phone.whole_numbers``).
    """

    _EXTENSION = r"(?:[ ]?(?:x|ext\.?)[ ]?\d{1,6})?"  # "x5662", "ext. 12"
    # A country code and 2-6 groups, an optional extension.
    _GROUPS = r"\d{1,3}(?:[ .\-]?(?:\(0\))?[ .\-]?\(?\d{1,5}\)?){2,6}" + _EXTENSION + r"(?![\w])"
    PATTERNS = [
        # "+" then a country code and 7-14 more digits in groups: "+447700 208 815", "+41 (0)62 585 51 90".
        Pattern("international", r"(?<![\w+])\+" + _GROUPS, 0.4),
        # North-American layout, optional "1" trunk, consistent-looking separators, optional extension.
        Pattern("nanp", r"(?<![\w.\-+])(?:\+?1[ .\-])?(?:\(\d{3}\) ?|\d{3}[.\-])\d{3}[.\-]\d{4}(?:x\d{1,6})?"
                r"(?!\w|[.\-]\d)", 0.4),
        # Local seven digits as written in the US and elsewhere: "481 7531", "358-0594".
        Pattern("local 3-4", r"(?<![\w.\-+,])\d{3}[ .\-]\d{4}(?![\w\-]|[.,]\d)", 0.4),
    ]
    MIN_DIGITS = 7
    MAX_DIGITS = 17

    def __init__(self, patterns: list[Pattern] | None = None, name: str = "PhoneShapeRecognizer") -> None:
        super().__init__(supported_entity=ent.PHONE_NUMBER, patterns=patterns or self.PATTERNS, name=name)

    def invalidate_result(self, pattern_text: str) -> bool:
        # invalidate_result, not validate_result: a valid match keeps its pattern's score.
        digits = sum(c.isdigit() for c in pattern_text)
        return not self.MIN_DIGITS <= digits <= self.MAX_DIGITS


class IddPhoneRecognizer(PhoneShapeRecognizer):
    """International numbers dialled with the digits that stand for "+" (the IDD): "00" in most of the
    world, "011" from North America: "001-924-115-7815", "0044 20 7946 0958", "011 44 20 7946 0958".

    phonenumbers reads these only when the number is valid for its country; like the "+" shape, this
    takes any country code and number: 8-15 digits after the IDD (E.164's limit), written in at least two
    groups (an unbroken "0012345678" is more often an id than a phone number), an optional extension.
    A recognizer of its own, as its rules must not apply to the local shapes ("0391 005 3036").
    """

    PATTERNS = [Pattern("international (IDD)", r"(?<![\w+])(?:00|011)[ .\-]?" + PhoneShapeRecognizer._GROUPS, 0.4)]
    _IDD = re.compile(r"(?:00|011)[ .\-]?")
    _MAC_ADDRESS = re.compile(r"00([.\-])\d\d(?:\1\d\d){4}")  # "00-11-22-33-44-55"
    _EXTENSION_START = re.compile(r"[ ]?(?:x|ext)", re.IGNORECASE)
    NUMBER_DIGITS = (8, 15)
    MIN_SEPARATORS = 2

    def __init__(self) -> None:
        super().__init__(self.PATTERNS, name="IddPhoneRecognizer")

    def invalidate_result(self, pattern_text: str) -> bool:
        idd = self._IDD.match(pattern_text)
        if idd is None or self._MAC_ADDRESS.fullmatch(pattern_text):  # every match starts with an IDD
            return True
        extension = self._EXTENSION_START.search(pattern_text, idd.end())
        number = pattern_text[idd.end():extension.start() if extension else len(pattern_text)]
        digits = sum(c.isdigit() for c in number)
        separators = sum(not c.isdigit() for c in pattern_text[:idd.end()] + number)
        low, high = self.NUMBER_DIGITS
        return not (low <= digits <= high and separators >= self.MIN_SEPARATORS)


class CaseInsensitiveIbanRecognizer(IbanRecognizer):
    """presidio's IBAN recognizer (pattern, country format, mod-97 checksum), in any letter case."""

    def __init__(self) -> None:
        super().__init__(regex_flags=regex.DOTALL | regex.MULTILINE | regex.IGNORECASE)

    def validate_result(self, pattern_text: str) -> bool | None:
        # presidio checks the country format on the text as written: upper-case it, so that a lower-case
        # IBAN with a valid checksum scores as an upper-case one does.
        return super().validate_result(pattern_text.upper())


def credit_card_recognizer() -> CreditCardRecognizer:
    # Not after "+": "+447700677662" is a phone number, though its digits pass the Luhn check.
    extra = Pattern("card 12-19 digits", r"(?<![+\w])[1-6]\d{11,18}\b", 0.3)
    return CreditCardRecognizer(patterns=[*CreditCardRecognizer.PATTERNS, extra])


def build_recognizers(entity_types: Sequence[str], phone_regions: Sequence[str], phone_leniency: int,
                      user_patterns: Sequence[UserPattern] = ()) -> list[EntityRecognizer]:
    """The recognizers for ``entity_types`` (pattern entities only; NER comes with the NLP engine)."""
    factories: dict[str, Callable[[], list[EntityRecognizer]]] = {
        ent.EMAIL_ADDRESS: lambda: [OfflineEmailRecognizer()],
        ent.PHONE_NUMBER: lambda: [PhoneRecognizer(supported_regions=tuple(phone_regions), leniency=phone_leniency),
                                   PhoneShapeRecognizer(), IddPhoneRecognizer()],
        ent.IP_ADDRESS: lambda: [IpRecognizer()],
        ent.CREDIT_CARD: lambda: [credit_card_recognizer()],
        ent.IBAN_CODE: lambda: [CaseInsensitiveIbanRecognizer()],
        ent.US_SSN: lambda: [UsSsnRecognizer()],
    }
    recognizers: list[EntityRecognizer] = []
    for entity_type in entity_types:
        if entity_type in factories:
            recognizers += factories[entity_type]()
    by_type: dict[str, list[Pattern]] = defaultdict(list)
    for user in user_patterns:
        by_type[user.entity_type].append(Pattern(user.pattern_name, user.regex, user.score))
    recognizers += [PatternRecognizer(supported_entity=t, patterns=p, name=f"user {t}") for t, p in by_type.items()]
    return recognizers
