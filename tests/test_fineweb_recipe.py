"""The FineWeb recipe end to end through the CLI, on the project's own sample crawl (in-process engine)."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sample_texts import sample_texts

from fineweb_pipe.cli import main
from fineweb_pipe.tokens import validate

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parent.parent
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("recipe")
    assert main(["sample", "--output", str(work / "in" / "crawl.warc.gz"), "--pages", "160", "--seed", "3"]) == 0
    assert main(["run", str(REPO / "pipelines" / "fineweb.py"), "--input", str(work / "in"),
                 "--output", str(work / "out"), "--engine", "local", "--quiet"]) == 0
    return work / "out"


def test_every_step_did_its_part(run: Path) -> None:
    stats = json.loads((run / "stats.json").read_text())
    steps = {s["name"]: s for s in stats["stages"]}
    assert list(steps) == ["url_filter", "language_prescreen", "trafilatura_extractor", "language_filter", "gopher_repetition_filter",
                           "gopher_quality_filter", "c4_quality_filter", "fineweb_quality_filter",
                           "minhash_dedup", "pii_scrubber", "tokenize"]
    assert stats["reader"]["documents"] == 160
    previous = 160
    for step in stats["stages"]:  # a funnel: each step takes what the one before left
        assert step["docs_in"] == previous and step["docs_out"] <= step["docs_in"]
        assert step["docs_in"] - step["docs_out"] == sum(step["dropped"].values()), step["name"]
        previous = step["docs_out"]
    for name in ("url_filter", "language_filter", "gopher_repetition_filter", "minhash_dedup"):
        assert steps[name]["docs_out"] < steps[name]["docs_in"], f"{name} removed nothing from the sample crawl"
    assert steps["pii_scrubber"]["counters"].get("pii_EMAIL_ADDRESS", 0) > 0


def test_documents_languages_and_pii(run: Path) -> None:
    table = pq.read_table(next((run / "documents").glob("*.parquet")))
    assert set(table.column("language").to_pylist()) == {"en"}
    emails = {m for text in table.column("text").to_pylist() for m in EMAIL.findall(text)}
    assert emails <= {"email@example.com", "firstname.lastname@example.org"}
    assert not any(re.search(r"(spam|casino|porn|viagra)", url) for url in table.column("url").to_pylist())
    # Other languages are kept aside per language, by the pre-screen (sure from the fast text) or the LID.
    removed_languages = {language for stage in ("language_prescreen", "language_filter")
                         for language in pq.read_table(run / "removed" / stage, columns=["language"])["language"].to_pylist()}
    assert {"de", "fr", "es", "ja"} <= removed_languages


def test_token_shards_and_report(run: Path) -> None:
    assert validate(str(run / "tokens"), check_hashes=True) == []
    manifest = json.loads((run / "tokens" / "manifest.json").read_text())
    stats = json.loads((run / "stats.json").read_text())
    assert sum(s["documents"] for s in manifest["shards"]) == stats["stages"][-1]["docs_out"]
    html = (run / "report.html").read_text()
    assert "Funnel" in html and "minhash_dedup" in html


def test_the_optional_url_dedup_and_decontamination_steps(run: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    crawl = run.parent / "in" / "crawl.warc.gz"
    (tmp_path / "in").mkdir()
    for copy in ("a.warc.gz", "b.warc.gz"):  # the same pages crawled twice: every URL twice
        (tmp_path / "in" / copy).write_bytes(crawl.read_bytes())
    kept = pq.read_table(run / "documents").to_pylist()
    target = kept[len(kept) // 2]
    leaked = " ".join(target["text"].split()[10:40])  # an "evaluation example" that leaked into the web
    (tmp_path / "quiz.jsonl").write_text(json.dumps({"question": leaked}) + "\n")
    monkeypatch.setenv("FINEWEB_URL_DEDUP", "1")
    monkeypatch.setenv("FINEWEB_DECONTAMINATE", f"quiz={tmp_path / 'quiz.jsonl'}")
    assert main(["run", str(REPO / "pipelines" / "fineweb.py"), "--input", str(tmp_path / "in"),
                 "--output", str(tmp_path / "out"), "--engine", "local", "--quiet", "--no-report"]) == 0
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    steps = {s["name"]: s for s in stats["stages"]}
    assert steps["url_dedup"]["dropped"]["url_duplicate"] == steps["url_filter"]["docs_out"] // 2
    ids = set(pq.read_table(tmp_path / "out" / "documents", columns=["id"])["id"].to_pylist())
    removed = [d for d in kept if d["id"] not in ids]
    assert target in removed and len(removed) == steps["decontaminate"]["dropped"]["benchmark_contamination"]

    def windows(text: str) -> set[tuple[str, ...]]:
        words = re.findall(r"\w+", text.lower())
        return {tuple(words[i:i + 13]) for i in range(len(words) - 12)}

    for document in removed:  # the sample's prose repeats phrases: each removed one shares a 13-gram
        assert windows(document["text"]) & windows(leaked), document["id"]


@pytest.mark.parametrize("spec, message", [
    ("gsm8k", "FINEWEB_DECONTAMINATE: 'gsm8k' is not name=path"),
    ("gsm8k=evals/missing.jsonl", "benchmark 'gsm8k': evals/missing.jsonl not found"),
])
def test_a_wrong_decontamination_setting_stops_before_any_work(spec: str, message: str, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FINEWEB_DECONTAMINATE", spec)
    assert main(["run", str(REPO / "pipelines" / "fineweb.py"), "--input", str(tmp_path),
                 "--output", str(tmp_path / "out"), "--engine", "local", "--quiet"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and message in error
    assert not (tmp_path / "out").exists()


def write_text_input(folder: Path, kind: str, texts: list[str]) -> Path:
    """The same documents as a WET file, JSONL (with a metadata field) or Parquet (without URLs)."""
    folder.mkdir(parents=True)
    if kind == "wet":
        records = []
        for n, text in enumerate(texts):
            block = text.encode()
            records.append(gzip.compress(
                (f"WARC/1.0\r\nWARC-Type: conversion\r\nWARC-Target-URI: https://site{n}.example.org/a\r\n"
                 f"WARC-Date: 2024-01-01T00:00:00Z\r\nWARC-Record-ID: <urn:uuid:00000000-0000-0000-0000-{n:012d}>\r\n"
                 f"Content-Type: text/plain\r\nContent-Length: {len(block)}\r\n\r\n").encode() + block + b"\r\n\r\n"))
        (folder / "docs.warc.wet.gz").write_bytes(b"".join(records))
    elif kind == "jsonl":
        lines = [json.dumps({"id": str(n), "url": f"https://site{n}.example.org/a", "text": text, "source": "test"})
                 for n, text in enumerate(texts)]
        (folder / "docs.jsonl").write_text("\n".join(lines) + "\n")
    else:
        pq.write_table(pa.table({"id": [str(n) for n in range(len(texts))], "text": texts}), folder / "docs.parquet")
    return folder


@pytest.mark.parametrize("kind", ["wet", "jsonl", "parquet"])
def test_the_recipe_runs_unchanged_on_extracted_text(tmp_path: Path, kind: str) -> None:
    """README: pipelines written for WARC run unchanged on WET, JSONL and Parquet text. The shipped recipe,
    pre-screen included, passes text through extraction and filters it by language and quality."""
    texts = sample_texts(48, seed=5)
    folder = write_text_input(tmp_path / "in", kind, texts)
    out = tmp_path / "out"
    assert main(["run", str(REPO / "pipelines" / "fineweb.py"), "--input", str(folder), "--output", str(out),
                 "--engine", "local", "--quiet"]) == 0
    stats = json.loads((out / "stats.json").read_text())
    steps = {s["name"]: s for s in stats["stages"]}
    assert stats["reader"]["documents"] == 48
    assert steps["language_prescreen"]["dropped"] == {}
    assert steps["trafilatura_extractor"]["counters"]["already_extracted"] == 48
    assert steps["language_filter"]["dropped"] == {"language_not_kept": 6}  # one in eight is not English
    kept = pq.ParquetDataset(out / "documents").read().column("id").to_pylist()
    numbers = [int(doc_id.rsplit("-", 1)[-1]) for doc_id in kept]  # ("7", or the WET record's UUID)
    assert 30 <= len(kept) <= 42 and all(n % 8 != 7 for n in numbers)  # English articles only
