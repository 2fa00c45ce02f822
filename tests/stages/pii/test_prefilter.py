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
