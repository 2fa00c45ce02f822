"""SpanDedup on corpora built here from random words, so that every repeated span is one the test put in
and the expected texts are exact."""

from __future__ import annotations

import random
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from s3_server import s3_server

from fineweb_pipe import storage
from fineweb_pipe.dedup import SpanDedup
from fineweb_pipe.engine.context import PhaseContext
from fineweb_pipe.stage import ShardRef

VOCABULARY = [f"{a}{b}" for a in ("bar", "cor", "del", "fen", "gol", "hum", "jav", "kel", "lum", "mor")
              for b in ("ax", "ence", "ido", "olt", "upo", "ry", "ster", "wick", "zen", "ant")]


def sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(VOCABULARY) for _ in range(10)).capitalize() + "."


def paragraph(rng: random.Random) -> str:
    return " ".join(sentence(rng) for _ in range(3))


def write_shards(folder: Path, shards: list[list[str]]) -> list[ShardRef]:
    folder.mkdir(parents=True, exist_ok=True)
    refs = []
    for s, texts in enumerate(shards):
        path = folder / f"shard-{s}.parquet"
        pq.write_table(pa.table({"id": [f"s{s}-{r}" for r in range(len(texts))], "text": texts}), path)
        refs.append(ShardRef(f"shard-{s}", str(path)))
    return refs


def run(stage: SpanDedup, refs: list[ShardRef], run_dir: Path) -> tuple[PhaseContext, dict[str, str], dict[str, str]]:
    """The context, the kept texts by id and the removed documents' reasons by id."""
    ctx = PhaseContext.local(stage.name, refs, str(run_dir))
    stage.run(ctx)
    kept = {}
    removed = {}
    for ref in refs:
        kept.update(zip(*pq.read_table(ctx.output_path(ref.shard), columns=["id", "text"]).to_pydict().values()))
        path = run_dir / "removed" / stage.name / f"{ref.shard}.parquet"
        if path.exists():
            rows = pq.read_table(path).to_pydict()
            removed.update(zip(rows["id"], rows["drop_reason"]))
    return ctx, kept, removed


@pytest.fixture
def paragraph_corpus(tmp_path: Path) -> tuple[list[ShardRef], dict[str, str], dict[str, str]]:
    """Three shards of 20 documents of 4 unique paragraphs; a boilerplate paragraph pasted into 5
    documents across the shards, another into 2, and one document that is the boilerplate and a line."""
    rng = random.Random(7)
    shards = [["\n\n".join(paragraph(rng) for _ in range(4)) for _ in range(20)] for _ in range(3)]
    boiler, pair = paragraph(rng), paragraph(rng)
    originals = {f"s{s}-{r}": t for s, texts in enumerate(shards) for r, t in enumerate(texts)}
    for s, r in [(1, 4), (0, 9), (2, 0), (1, 15), (2, 19)]:  # the first in input order: shard 0, row 9
        shards[s][r] = f"{shards[s][r]}\n\n{boiler.upper()}"  # case differs: normalized, still the same span
    for s, r in [(0, 1), (2, 2)]:
        shards[s][r] = f"{pair}\n{shards[s][r]}"
    shards[2][5] = f"{boiler}\nThanks for reading."
    return write_shards(tmp_path / "in", shards), originals, {"boiler": boiler, "pair": pair}


def test_a_repeated_paragraph_stays_only_in_the_first_document(paragraph_corpus, tmp_path: Path) -> None:
    refs, originals, spans = paragraph_corpus
    ctx, kept, removed = run(SpanDedup(unit="paragraphs", window=1, min_documents=3, min_words=5), refs, tmp_path)
    boiler = spans["boiler"]
    assert kept["s0-9"] == f"{originals['s0-9']}\n\n{boiler.upper()}"  # the first keeps it
    for doc in ("s1-4", "s2-0", "s1-15", "s2-19"):
        assert kept[doc] == originals[doc]  # the others lose it, and nothing else
    assert removed == {"s2-5": "too_short_after_span_dedup"}  # "Thanks for reading." is 3 words
    # In two documents, under min_documents=3: untouched.
    assert kept["s0-1"].startswith(spans["pair"]) and kept["s2-2"].startswith(spans["pair"])
    unchanged = set(originals) - {"s0-9", "s1-4", "s2-0", "s1-15", "s2-19", "s2-5", "s0-1", "s2-2"}
    assert all(kept[doc] == originals[doc] for doc in unchanged)
    total = ctx.total()
    assert (total.docs_in, total.docs_out, total.dropped["too_short_after_span_dedup"]) == (60, 59, 1)
    assert total.counters["spans_removed"] == 5 and total.counters["documents_changed"] == 5
    section = ctx.sections["span_dedup"]
    assert (section["repeated_spans"], section["spans_removed"], section["documents_dropped"]) == (1, 5, 1)
    assert section["most_repeated"] == [{"documents": 6, "text": boiler.upper()}]
    # With min_documents=2, the pair goes from the later document too.
    _, kept, _ = run(SpanDedup(unit="paragraphs", window=1, min_words=5), refs, tmp_path / "two")
    assert kept["s0-1"].startswith(spans["pair"]) and kept["s2-2"] == originals["s2-2"]


def test_sentence_windows_remove_a_repeated_run_of_three_sentences(tmp_path: Path) -> None:
    rng = random.Random(3)
    docs = [[sentence(rng) for _ in range(8)] for _ in range(6)]
    block = [sentence(rng) for _ in range(4)]
    texts = [" ".join(d) for d in docs]
    texts[1] = " ".join(docs[1][:3] + block + docs[1][3:])  # the 4 sentences in the middle of one line
    texts[3] = " ".join(docs[3]) + "\n" + " ".join(block)  # on a line of their own
    texts[4] = " ".join(docs[4][:2] + block[:3])  # only the first three
    texts[5] = " ".join(docs[5][:2] + block[1:3])  # two of them: no window of three
    refs = write_shards(tmp_path / "in", [texts[:3], texts[3:]])
    ctx, kept, removed = run(SpanDedup(min_words=21), refs, tmp_path / "run")
    assert kept["s0-1"] == texts[1]
    assert kept["s1-0"] == " ".join(docs[3])  # all 4 covered by its two windows
    assert "s1-1" not in kept and removed == {"s1-1": "too_short_after_span_dedup"}  # 2 sentences (20 words) left
    assert kept["s1-2"] == texts[5]
    section = ctx.sections["span_dedup"]
    assert section["spans_removed"] == 3  # two windows in s1-0, one in s1-1
    assert section["most_repeated"][0] == {"documents": 3, "text": " ".join(block[:3])}


def test_a_span_in_every_document_is_one_row_per_shard_and_a_resume_redoes_nothing(tmp_path: Path) -> None:
    rng = random.Random(11)
    footer = "All rights reserved by the publisher and its partners worldwide."
    shards = [[f"{paragraph(rng)}\n{paragraph(rng)}\n{footer}" for _ in range(100)] for _ in range(6)]
    refs = write_shards(tmp_path / "in", shards)
    stage = SpanDedup(unit="paragraphs", window=1, min_words=5, docs_per_partition=200)  # 3 partitions
    ctx, kept, removed = run(stage, refs, tmp_path / "run")
    assert kept["s0-0"].endswith(footer) and sum(t.endswith(footer) for t in kept.values()) == 1
    assert len(kept) == 600 and not removed
    rounds = ctx.sections["span_dedup"]["rounds"]
    # The counting tasks read each shard's unique paragraphs plus the footer once per shard: 6 rows, not 600.
    assert rounds["count"]["rows_in_mean"] * rounds["count"]["tasks"] == 1200 + 6
    assert ctx.sections["span_dedup"]["most_repeated"] == [{"documents": 600, "text": footer}]
    outputs = {ref.shard: Path(ctx.output_path(ref.shard)).stat().st_mtime_ns for ref in refs}
    again, _, _ = run(stage, refs, tmp_path / "run")
    assert {ref.shard: Path(again.output_path(ref.shard)).stat().st_mtime_ns for ref in refs} == outputs
    assert again.sections == ctx.sections


def test_a_bad_setting_is_refused() -> None:
    with pytest.raises(ValueError, match="unit='lines': use one of"):
        SpanDedup(unit="lines")
    with pytest.raises(ValueError, match="min_documents must be >= 2"):
        SpanDedup(min_documents=1)


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from s3fs import S3FileSystem

    with s3_server("spans") as env:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        S3FileSystem.clear_instance_cache()  # an earlier file system would point at another endpoint
        yield
        S3FileSystem.clear_instance_cache()


@pytest.mark.slow
def test_a_run_on_s3_writes_what_the_local_run_writes(paragraph_corpus, s3: None, tmp_path: Path) -> None:
    refs = paragraph_corpus[0]
    stage = SpanDedup(unit="paragraphs", window=1, min_documents=3, min_words=5, docs_per_partition=25)
    local, _, _ = run(stage, refs, tmp_path / "run")
    fs, _ = storage.filesystem("s3://spans")
    remote_refs = []
    for ref in refs:
        fs.put_file(ref.path, f"s3://spans/in/{ref.shard}.parquet")
        remote_refs.append(ShardRef(ref.shard, f"s3://spans/in/{ref.shard}.parquet"))
    remote = PhaseContext(stage_name=stage.name, inputs=remote_refs, work_dir="s3://spans/run/_work/span_dedup",
                          run_dir="s3://spans/run", output_dir="s3://spans/run/output")
    stage.run(remote)
    for ref in refs:
        with storage.open_input(remote.output_path(ref.shard)) as f:
            assert pq.read_table(f).equals(pq.read_table(local.output_path(ref.shard)))
    with storage.open_input("s3://spans/run/removed/span_dedup/shard-2.parquet") as f:
        assert pq.read_table(f)["id"].to_pylist() == ["s2-5"]
    assert remote.sections == local.sections
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "run"]  # nothing local for the remote run


@pytest.mark.ray
@pytest.mark.slow
def test_on_ray_the_outputs_and_stats_are_the_local_ones(paragraph_corpus, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from fineweb_pipe.engine.ray_executor import RayExecutor

    monkeypatch.setenv("RAY_TMPDIR", tempfile.mkdtemp(prefix="fwp-", dir="/tmp"))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    refs = paragraph_corpus[0]
    stage = SpanDedup(unit="paragraphs", window=1, min_documents=3, min_words=5, docs_per_partition=25)
    local, local_kept, local_removed = run(stage, refs, tmp_path / "local")
    with RayExecutor(workers=2) as executor:
        ctx = PhaseContext.local(stage.name, refs, str(tmp_path / "ray"))
        ctx.mapper = executor.map
        stage.run(ctx)
    for ref in refs:
        assert pq.read_table(ctx.output_path(ref.shard)).equals(pq.read_table(local.output_path(ref.shard)))
    assert ctx.sections == local.sections
    assert {k: v.to_json()["counters"] for k, v in ctx.counts.items()} == \
        {k: v.to_json()["counters"] for k, v in local.counts.items()}
