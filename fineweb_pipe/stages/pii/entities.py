"""The PII vocabulary: entity type names (presidio's), the default set, and user-supplied patterns."""

from __future__ import annotations

from dataclasses import dataclass

EMAIL_ADDRESS = "EMAIL_ADDRESS"
PHONE_NUMBER = "PHONE_NUMBER"
IP_ADDRESS = "IP_ADDRESS"
CREDIT_CARD = "CREDIT_CARD"
IBAN_CODE = "IBAN_CODE"
US_SSN = "US_SSN"
PERSON = "PERSON"
LOCATION = "LOCATION"

#: Found by patterns (plus checksums or phonenumbers), no NLP model needed.
PATTERN_ENTITIES = (EMAIL_ADDRESS, PHONE_NUMBER, IP_ADDRESS, CREDIT_CARD, IBAN_CODE, US_SSN)
#: Found by a spaCy NER model, only when the user names an installed one.
NER_ENTITIES = (PERSON, LOCATION)
DEFAULT_ENTITIES = PATTERN_ENTITIES


@dataclass(frozen=True)
class UserPattern:
    """A user-supplied regex for an entity type of one's own (e.g. an employee id).

    ``regex`` follows presidio's rules: the ``regex`` module, matched case-insensitively with DOTALL and
    MULTILINE. ``score`` ranks it against other detections when spans overlap.
    """

    entity_type: str
    regex: str
    score: float = 0.8
    name: str = ""

    @property
    def pattern_name(self) -> str:
        return self.name or f"user {self.entity_type}"


@dataclass(frozen=True, slots=True)
class Detection:
    """One entity found in a text: character offsets ``[start, end)``, type and presidio's score."""

    start: int
    end: int
    entity_type: str
    score: float


#: presidio's default regions less DE, plus CA, IE and DK (8-digit numbers in pairs). Regions set the
#: prefilter's digit threshold: these allow no number under 7 digits; DE (4), AU and NZ (5) would send
#: every year or zip code to phonenumbers. Measured on the dev set and web text (benchmarks/eval_pii.py):
#: phone recall 0.73 without DK, 0.92 with it; adding AU and NZ: same recall, 1,857 vs 2,632 docs/s.
DEFAULT_PHONE_REGIONS = ("US", "GB", "CA", "IE", "IN", "FR", "IL", "BR", "DK")
#: phonenumbers.Leniency.VALID: the number must be valid for its region (POSSIBLE matches any "57").
DEFAULT_PHONE_LENIENCY = 1
