from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from fineweb_pipe.stages.pii import PiiScrubber, UserPattern
from fineweb_pipe.stages.pii.prefilter import Prefilter, min_phone_digits
from fineweb_pipe.stages.pii.entities import DEFAULT_PHONE_REGIONS

TRICKY = [
    "Call +1-203-305-2492x5662 or (978)645-9740 ext. 11144 today; fax 0489 25 37 29.",
    "Times 10:30:45 and 2019-05-12, pages pp. 123-456 (7), ISBN 978-3-16-148410-0.",
    "Hosts fe80::1, 2001:db8:85a3::8a2e:370:7334, ::ffff:192.0.2.128 and 1:2:3:4:5:6:7:8 up.",
    "Mail<first.last+tag@sub.example.co.uk>, \"quoted\"@x.io, a@b, @handle and x@y.z.",
    "IBAN DE89 3704 0044 0532 0130 00 and GB82-WEST-1234-5698-7654-32 paid 4111-1111-1111-1111.",
    "SSN 078-05-1120, 219 09 9999 and 123456789; card 3782 822463 10005.",
    "Ｔｅｌ：０３−１２３４−５６７８ and ＋４４ ２０ ７９４６ ０９５８ in full width.",
    "Numbers 12345, 1,234,567 and 1 234 567 890 in a table.\nA line of its own: 555 1234\n",
    # Numbers found in part by a shape and grown whole; numbers dialled with an IDD; lower-case IBANs.
    "Call me on 079 0442 1744; Phone: 21 284 698 2548 or +1-743-438-6774x62406-Fax, 481 7531 ext. 12.",
    "From abroad 001-966-526-6829x3391, 00 44 9477 176165, 011 44 96 5505 0039, 001 (202) 555-0143.",
    "iban gb82west12345698765432 and Gb82-West-1234-5698-7654-32 (checksums pass as upper case).",
    "With a long s: \u017fe45 5000 0000 0583 9825 7466.",
    "MAC 00-11-22-33-44-55, order 0012345678, Denmark 2100\n88 16 54 09, Room 101 555-1234.",
]


@pytest.fixture(scope="module")
def stages() -> tuple[PiiScrubber, PiiScrubber]:
    user = [UserPattern("EMPLOYEE_ID", r"EMP-\d{6}")]
    gated, whole = PiiScrubber(user_patterns=user), PiiScrubber(user_patterns=user, prefilter=False)
    gated.setup()
    whole.setup()
    return gated, whole


def assert_same_detections(stages: tuple[PiiScrubber, PiiScrubber], texts: list[str]) -> None:
    gated, whole = stages
    for text in texts:
        assert gated.detect(text)[0] == whole.detect(text)[0], text[:200]


def test_windows_find_what_presidio_finds_in_whole_tricky_texts(stages):
    assert_same_detections(stages, TRICKY + ["".join(TRICKY)])


@pytest.mark.slow
def test_windows_find_what_presidio_finds_in_the_dev_set_and_real_web_text(stages, shared_data: Path):
    samples = json.loads((shared_data / "pii" / "presidio_synth.dev.json").read_text(encoding="utf-8"))
    texts = [s["full_text"] for s in samples]
    rng = random.Random(0)
    for path in sorted((shared_data / "text").glob("*.jsonl"))[:1]:
        for line in path.open(encoding="utf-8"):
            doc = json.loads(line)["text"][:3000]
            cut = rng.randrange(len(doc) + 1)
            texts.append(doc[:cut] + " " + rng.choice(texts[:len(samples)]) + " " + doc[cut:])
    assert_same_detections(stages, texts)


def _random_text(rng: random.Random) -> str:
    """Digit groups, letters (with the case-fold twins of ASCII letters), separators and PII pieces, mixed."""
    pieces = ["gb82west12345698765432", "GB82 WEST 1234 5698 7654 32", "de89-3704-0044-0532-0130-00", "001-",
              "00 44 ", "011 ", "+44 ", "+1-", "(0)", "x12", " ext. 7", "\u0131", "\u017f", "\u212a", "mp3",
              "\n", " ", "-", ".", "(", ")", "/", ",", "a@b.io", "8.8.8.8"]
    parts = []
    for _ in range(rng.randrange(3, 25)):
        kind = rng.random()
        if kind < 0.45:
            parts.append("".join(rng.choice("0123456789") for _ in range(rng.randrange(1, 6))))
        elif kind < 0.6:
            parts.append("".join(rng.choice("abcdefghijklmnopqrstuvwxyzGBDE") for _ in range(rng.randrange(1, 5))))
        else:
            parts.append(rng.choice(pieces))
    return "".join(parts)


def test_windows_find_what_presidio_finds_in_random_number_soup(stages):
    rng = random.Random(20)
    assert_same_detections(stages, [_random_text(rng) for _ in range(400)])


def test_lower_case_ibans_get_a_window():
    prefilter = Prefilter(["IBAN_CODE"], DEFAULT_PHONE_REGIONS)
    for text in ("my iban is gb82west12345698765432", "IBAN: gb82 west 1234 5698 7654 32."):
        assert [w.entity_types for w in prefilter.windows(text)] == [("IBAN_CODE",)], text
    assert prefilter.windows("an mp3 player, covid19 and h264") == []


def test_text_without_candidates_has_no_windows():
    prefilter = Prefilter(["EMAIL_ADDRESS", "PHONE_NUMBER", "IP_ADDRESS", "CREDIT_CARD", "IBAN_CODE", "US_SSN"],
                          DEFAULT_PHONE_REGIONS)
    assert prefilter.windows("In 2019 we sold 1,200 bikes at $450 each; version 3.2 is out. Reply @ noon.") == []
    assert prefilter.windows("") == []


def test_windows_are_small_and_typed():
    prefilter = Prefilter(["EMAIL_ADDRESS", "PHONE_NUMBER"], DEFAULT_PHONE_REGIONS)
    text = "Intro paragraph.\nWrite to jane@acme.io or call 202-555-0143 now. Bye"
    spans = {(text[w.start:w.end], w.entity_types) for w in prefilter.windows(text)}
    # The phone window: the span of characters a phone candidate can hold, 1 character before, 3 after.
    assert spans == {("jane@acme.io", ("EMAIL_ADDRESS",)), ("l 202-555-0143 now. ", ("PHONE_NUMBER",))}


def test_phone_gate_threshold_follows_the_regions():
    assert min_phone_digits(["US"]) == 7  # IDD-prefixed numbers can still be short
    assert min_phone_digits(["AU"]) == 5
    assert min_phone_digits(["DE"]) == 4
