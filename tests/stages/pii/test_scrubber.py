from __future__ import annotations

import importlib.util
import pickle
import subprocess
import sys

import pyarrow as pa
import pytest

from fineweb_pipe.stages.pii import PII_SPANS, PII_TYPES, PiiScrubber, Policy, UserPattern

# Realistic sentences, one per entity type, each with its gold value.
SAMPLES = {
    "EMAIL_ADDRESS": ("For bookings write to MagdaLundberg@teleworm.us before Friday.", "MagdaLundberg@teleworm.us"),
    "PHONE_NUMBER": ("Our office line is (505) 498-8487, open 9 to 5.", "(505) 498-8487"),
    "IP_ADDRESS": ("The attack came from 165.165.185.178 last night.", "165.165.185.178"),
    "CREDIT_CARD": ("I paid with card 4532480808343548 and got a refund.", "4532480808343548"),
    "IBAN_CODE": ("Wire the deposit to GB28JHYZ70389205223963 by Monday.", "GB28JHYZ70389205223963"),
    "US_SSN": ("His social security number is 760-38-1475 on the form.", "760-38-1475"),
}
NO_PII = ("The 2019 season ended with 3 wins in 12 games; tickets cost $45.50 at gate 7.\n"
          "Read more at https://example.org/news?id=12345 or follow @club on social media.")


@pytest.fixture(scope="module")
def tag_stage() -> PiiScrubber:
    stage = PiiScrubber(policy=Policy.TAG)
    stage.setup()
    return stage


def table(texts: list[str | None]) -> pa.Table:
    return pa.table({"id": [str(i) for i in range(len(texts))], "text": pa.array(texts, pa.large_string())})


@pytest.mark.parametrize("entity_type", sorted(SAMPLES))
def test_each_entity_type_is_replaced_by_its_tag(tag_stage: PiiScrubber, entity_type: str):
    text, value = SAMPLES[entity_type]
    result = tag_stage.process(table([text]))
    assert result.kept.column("text").to_pylist() == [text.replace(value, f"<{entity_type}>")]
    assert result.counters[f"pii_{entity_type}"] == 1
    assert result.counters["pii_docs_with_pii"] == 1


def test_text_outside_detected_spans_is_byte_identical(tag_stage: PiiScrubber):
    text = "  ".join(s for s, _ in SAMPLES.values()) + "\nÇa coûte 12 € — voilà.\r\n"
    detections, _ = tag_stage.detect(text)
    out = tag_stage.process(table([text])).kept.column("text")[0].as_py()
    assert len(detections) == len(SAMPLES)
    # Cut the input at the detected spans and the output at the tags: the pieces match exactly.
    pieces, cursor = [], 0
    for d in detections:
        pieces.append(text[cursor:d.start])
        cursor = d.end
    pieces.append(text[cursor:])
    rebuilt = out
    for d in detections:
        rebuilt = rebuilt.replace(f"<{d.entity_type}>", "\x00", 1)
    assert [p.encode() for p in rebuilt.split("\x00")] == [p.encode() for p in pieces]


def test_documents_without_pii_come_back_untouched(tag_stage: PiiScrubber):
    batch = table([NO_PII, "Plain words only."])
    result = tag_stage.process(batch)
    assert result.kept is batch
    assert result.counters["pii_docs_with_pii"] == 0
    assert not [name for name in result.counters if name.isupper() or name[4:].isupper()]


def test_empty_and_null_texts(tag_stage: PiiScrubber):
    text, value = SAMPLES["EMAIL_ADDRESS"]
    result = tag_stage.process(table([None, "", text]))
    assert result.kept.column("text").to_pylist() == [None, "", text.replace(value, "<EMAIL_ADDRESS>")]
    assert result.kept.schema.field("text").type == pa.large_string()
    assert tag_stage.process(table([])).kept.num_rows == 0


def test_private_ips_kept_by_default_and_scrubbed_on_request():
    text = "Router at 192.168.0.1, public mirror at 8.8.4.4."
    default = PiiScrubber(entities=["IP_ADDRESS"], policy="tag").process(table([text]))
    assert default.kept.column("text")[0].as_py() == "Router at 192.168.0.1, public mirror at <IP_ADDRESS>."
    strict = PiiScrubber(entities=["IP_ADDRESS"], policy="tag", keep_private_ips=False).process(table([text]))
    assert strict.kept.column("text")[0].as_py() == "Router at <IP_ADDRESS>, public mirror at <IP_ADDRESS>."


def test_fineweb_policy_matches_fineweb_placeholders():
    text = "Contact jane.doe@acme-corp.com or ping 203.0.113.9 and 74.34.59.240."
    out = PiiScrubber(policy="fineweb").process(table([text])).kept.column("text")[0].as_py()
    assert "jane.doe" not in out and "74.34.59.240" not in out
    assert any(e in out for e in ("email@example.com", "firstname.lastname@example.org"))
    assert "203.0.113.9" in out  # documentation range: reserved, kept as FineWeb does


def test_hash_policy_keeps_equal_values_equal():
    text = "a: jane@acme.io, b: jane@acme.io, c: john@acme.io"
    out = PiiScrubber(entities=["EMAIL_ADDRESS"], policy="hash").process(table([text])).kept.column("text")[0].as_py()
    tags = [part.split(",")[0] for part in out.split(": ")[1:]]
    assert tags[0] == tags[1] != tags[2] and tags[0].startswith("<EMAIL_ADDRESS:")


def test_annotate_policy_adds_spans_and_leaves_text():
    text, value = SAMPLES["CREDIT_CARD"]
    batch = table([text, NO_PII, None])
    result = PiiScrubber(policy="annotate").process(batch)
    assert result.kept.column("text").to_pylist() == [text, NO_PII, None]
    start = text.index(value)
    assert result.kept.column(PII_SPANS).to_pylist() == [
        [{"start": start, "end": start + len(value), "type": "CREDIT_CARD"}], [], []]
    assert result.kept.column(PII_TYPES).to_pylist() == [["CREDIT_CARD"], [], []]


def test_overlapping_detections_resolve_to_the_stronger_one(tag_stage: PiiScrubber):
    # The card's digits also read as a phone number; the Luhn-checked card wins.
    text = "Card: 4916 6627 6810 1075, thanks."
    out = tag_stage.process(table([text])).kept.column("text")[0].as_py()
    assert out == "Card: <CREDIT_CARD>, thanks."


def test_user_patterns_add_their_own_types():
    stage = PiiScrubber(entities=["EMAIL_ADDRESS"], policy="tag",
                        user_patterns=[UserPattern("EMPLOYEE_ID", r"\bEMP-\d{6}\b")])
    result = stage.process(table(["Badge emp-123456 belongs to ops@acme.io.", "No badge EMP-12."]))
    assert result.kept.column("text").to_pylist() == [
        "Badge <EMPLOYEE_ID> belongs to <EMAIL_ADDRESS>.", "No badge EMP-12."]
    assert result.counters["pii_EMPLOYEE_ID"] == 1


def test_configured_entity_types_only():
    text = SAMPLES["EMAIL_ADDRESS"][0] + " " + SAMPLES["US_SSN"][0]
    out = PiiScrubber(entities=["US_SSN"], policy="tag").process(table([text])).kept.column("text")[0].as_py()
    assert "MagdaLundberg@teleworm.us" in out and "<US_SSN>" in out


def test_stage_pickles_without_presidio_state(tag_stage: PiiScrubber):
    clone = pickle.loads(pickle.dumps(tag_stage))
    assert "_analyzer" not in vars(clone)
    text, value = SAMPLES["IBAN_CODE"]
    assert clone.process(table([text])).kept.column("text")[0].as_py() == text.replace(value, "<IBAN_CODE>")


WORKER_SETUP = f"""
import sys
from fineweb_pipe.stages.pii import PiiScrubber
stage = PiiScrubber(policy="tag")
stage.setup()
assert "torch" not in sys.modules, "the pattern-only scrubber loaded torch"
assert "transformers" not in sys.modules, "the pattern-only scrubber loaded transformers"
assert stage.process(stage_input).kept.column("text")[0].as_py() == {SAMPLES["EMAIL_ADDRESS"][0].replace(
    SAMPLES["EMAIL_ADDRESS"][1], "<EMAIL_ADDRESS>")!r}
"""


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is not installed: nothing to keep out")
def test_a_pattern_only_worker_does_not_load_torch():
    # A fresh interpreter, as a pipeline worker is (this test session may have torch loaded already).
    code = ("import pyarrow as pa\n"
            f"stage_input = pa.table({{'id': ['0'], 'text': pa.array([{SAMPLES['EMAIL_ADDRESS'][0]!r}], pa.large_string())}})\n"
            + WORKER_SETUP + "import torch\nassert torch.zeros(2).sum().item() == 0\n")
    done = subprocess.run([sys.executable, "-c", code], check=True, timeout=120, capture_output=True, text=True)
    assert "PyTorch was not found" not in done.stderr  # transformers' notice, when it was imported without torch


def test_bad_configuration_is_refused_with_a_hint():
    with pytest.raises(ValueError, match="unknown PII entity types"):
        PiiScrubber(entities=["EMAIL"])
    with pytest.raises(ValueError, match="unknown PII policy"):
        PiiScrubber(policy="redact")
    with pytest.raises(ValueError, match="need a spaCy NER model"):
        PiiScrubber(entities=["PERSON"]).setup()
    with pytest.raises(ValueError, match="is not installed"):
        PiiScrubber(entities=["PERSON"], ner_model="en_core_web_nonexistent").setup()
    with pytest.raises(ValueError, match="unknown phone region"):
        PiiScrubber(phone_regions=["XX"]).setup()
