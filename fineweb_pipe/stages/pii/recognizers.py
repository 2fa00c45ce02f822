"""The presidio recognizers this stage runs, one per entity type, tuned for web text and offline use.

Where presidio's predefined recognizer falls short on real formats it is extended, not replaced:
- email: presidio validates the domain with tldextract's default extractor, which downloads the public
  suffix list on first use; ours uses tldextract's bundled snapshot.
- phone: phonenumbers only accepts numbers valid for the configured regions, which misses numbers
  without an area code ("481 7531"), with unassigned area codes ("166-684-7899") and international
  numbers it does not know ("+447700 208 815"); a few high-precision phone-shaped patterns catch those.
- credit card: presidio's pattern misses Mastercard 2-series, 12-digit Maestro and 19-digit cards; a
  12-19 digit pattern (still Luhn-checked) adds them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

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
from fineweb_pipe.stages.pii.entities import DEFAULT_PHONE_LENIENCY, DEFAULT_PHONE_REGIONS, UserPattern



class OfflineEmailRecognizer(EmailRecognizer):
    """presidio's email recognizer, validating domains against tldextract's bundled suffix list."""

    def __init__(self) -> None:
        super().__init__()
        self._domains = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)

    def validate_result(self, pattern_text: str) -> bool:
        return self._domains(pattern_text).fqdn != ""


class PhoneShapeRecognizer(PatternRecognizer):
    """Phone numbers by their written shape, for what phonenumbers' validity check rejects."""

    PATTERNS = [
        # "+" then a country code and 7-14 more digits in groups: "+447700 208 815", "+41 (0)62 585 51 90".
        Pattern("international", r"(?<![\w+])\+\d{1,3}(?:[ .\-]?(?:\(0\))?[ .\-]?\(?\d{1,5}\)?){2,6}(?![\w])", 0.4),
        # North-American layout, optional "1" trunk, consistent-looking separators, optional extension.
        Pattern("nanp", r"(?<![\w.\-+])(?:\+?1[ .\-])?(?:\(\d{3}\) ?|\d{3}[.\-])\d{3}[.\-]\d{4}(?:x\d{1,6})?(?![\w\-])", 0.4),
        # Local seven digits as written in the US and elsewhere: "481 7531", "358-0594".
        Pattern("local 3-4", r"(?<![\w.\-+,])\d{3}[ .\-]\d{4}(?![\w\-]|[.,]\d)", 0.4),
    ]
    MIN_DIGITS = 7
    MAX_DIGITS = 17

    def __init__(self) -> None:
        super().__init__(supported_entity=ent.PHONE_NUMBER, patterns=self.PATTERNS, name="PhoneShapeRecognizer")

    def validate_result(self, pattern_text: str) -> bool:
        digits = sum(c.isdigit() for c in pattern_text)
        return self.MIN_DIGITS <= digits <= self.MAX_DIGITS


def credit_card_recognizer() -> CreditCardRecognizer:
    extra = Pattern("card 12-19 digits", r"\b[1-6]\d{11,18}\b", 0.3)
    return CreditCardRecognizer(patterns=[*CreditCardRecognizer.PATTERNS, extra])


def build_recognizers(entity_types: Sequence[str], phone_regions: Sequence[str], phone_leniency: int,
                      user_patterns: Sequence[UserPattern] = ()) -> list[EntityRecognizer]:
    """The recognizers for ``entity_types`` (pattern entities only; NER comes with the NLP engine)."""
    factories = {
        ent.EMAIL_ADDRESS: lambda: [OfflineEmailRecognizer()],
        ent.PHONE_NUMBER: lambda: [PhoneRecognizer(supported_regions=tuple(phone_regions), leniency=phone_leniency),
                                   PhoneShapeRecognizer()],
        ent.IP_ADDRESS: lambda: [IpRecognizer()],
        ent.CREDIT_CARD: lambda: [credit_card_recognizer()],
        ent.IBAN_CODE: lambda: [IbanRecognizer()],
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
