"""``Decontaminate``: remove (or flag) documents that share an n-gram with an example of an evaluation set.

Two rounds: one task builds the n-gram index (:mod:`.ngram_index`) into the work folder, or reuses the
one in ``index_dir`` built for the same benchmarks and ``n``; then one task per input shard maps it
read-only and writes the shard's clean documents (with a ``contamination`` column when flagging) and,
when dropping, its contaminated ones to ``removed/<stage>/`` with ``drop_value`` naming the benchmark and
example (``gsm8k:17``: the 18th example of the file). A task holds one batch of documents; the index is
shared by the workers of a node through the page cache. See ``docs/dedup.md``.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from fineweb_pipe import schema, storage
from fineweb_pipe.dedup.benchmark_sets import Benchmark
from fineweb_pipe.dedup.ngram_index import MANIFEST, build_index, ngram_text, open_index
from fineweb_pipe.resumable import Rounds, shares_by_documents
from fineweb_pipe.stage import DROP_REASON, DROP_VALUE, GlobalContext, GlobalStage, Resources
from fineweb_pipe.writers.atomic import ParquetSink

CONTAMINATED = "benchmark_contamination"
CONTAMINATION = "contamination"  # the flag column: "<benchmark>:<example>", null for a clean document
ACTIONS = ("drop", "flag")
READ_BATCH_ROWS = 4096


@dataclass(frozen=True)
class IndexTask:
    benchmarks: tuple[Benchmark, ...]
    n: int
    folder: str

    @property
    def key(self) -> str:
        return "index"


def index_task(task: IndexTask) -> dict[str, Any]:
    start = time.process_time()
    manifest = build_index(task.benchmarks, task.n, task.folder)
    return {"manifest": manifest, "cpu_s": time.process_time() - start}


@dataclass(frozen=True)
class FilterTask:
    shard: int
    path: str
    output_path: str
    removed_path: str
    index: str
    action: str
    samples: int  # per benchmark

    @property
    def key(self) -> str:
        return f"s{self.shard}"


def filter_task(task: FilterTask) -> dict[str, Any]:
    start = time.process_time()
    index = open_index(task.index)
    hits: Counter[str] = Counter()
    examples: set[str] = set()
    samples: list[dict[str, Any]] = []
    docs_in = docs_out = 0
    with storage.open_input(task.path) as f:
        source = pq.ParquetFile(f)
        kept_schema = source.schema_arrow
        if task.action == "flag":
            kept_schema = kept_schema.append(pa.field(CONTAMINATION, pa.string()))
        removed_schema = source.schema_arrow.append(pa.field(DROP_REASON, pa.string())).append(
            pa.field(DROP_VALUE, pa.string()))
        with ParquetSink(task.output_path, kept_schema) as kept, ExitStack() as stack:
            dropped: ParquetSink | None = None
            for batch in source.iter_batches(READ_BATCH_ROWS):
                table = pa.Table.from_batches([batch], source.schema_arrow)
                texts = table[schema.TEXT].to_pylist()
                found = index.first_hits(texts)
                names = [None if hit is None else f"{index.names[hit[1]]}:{hit[2]}" for hit in found]
                for i, hit in enumerate(found):
                    if hit is None:
                        continue
                    ngram, benchmark = hit[0], index.names[hit[1]]
                    hits[benchmark] += 1
                    examples.add(f"{benchmark}:{hit[2]}")
                    if sum(s["benchmark"] == benchmark for s in samples) < task.samples:
                        samples.append({"benchmark": benchmark, "example": names[i],
                                        "document_id": table[schema.ID][i].as_py() if schema.ID in table.column_names
                                        else None, "ngram": ngram_text(texts[i] or "", index.n, ngram)})
                docs_in += table.num_rows
                if task.action == "flag":
                    kept.write(table.append_column(CONTAMINATION, pa.array(names, pa.string())))
                    docs_out += table.num_rows
                    continue
                gone = np.array([name is not None for name in names], bool)
                kept.write(table.filter(pa.array(~gone)))
                docs_out += int((~gone).sum())
                if gone.any():
                    if dropped is None:
                        dropped = stack.enter_context(ParquetSink(task.removed_path, removed_schema))
                    values = [name for name in names if name is not None]
                    dropped.write(table.filter(pa.array(gone))
                                  .append_column(DROP_REASON, pa.array([CONTAMINATED] * len(values), pa.string()))
                                  .append_column(DROP_VALUE, pa.array(values, pa.string())))
    return {"docs_in": docs_in, "docs_out": docs_out, "hits": dict(hits), "examples": sorted(examples),
            "samples": samples, "rows_in": docs_in, "files": 1 + (dropped is not None),
            "cpu_s": time.process_time() - start}


class Decontaminate(GlobalStage):
    """Remove (``action="drop"``) or flag (``action="flag"``: a ``contamination`` column) documents that
    share an ``n``-word n-gram (13, as GPT-3 and datatrove) with an example of ``benchmarks``.

    ``benchmarks``: ``{name: path}`` (with ``fields``, the fields of every file that make an example's
    text; empty: all its string fields) or :class:`Benchmark` entries. ``index_dir``: where to keep the
    index across runs (built there when it holds none for the same benchmarks and ``n``); by default the
    stage's work folder. ``samples``: overlaps per benchmark and shard task kept for the stats.
    """

    resources = Resources(num_cpus=1.0, memory_mb=1000)

    def __init__(self, benchmarks: Mapping[str, str] | Sequence[Benchmark], fields: Sequence[str] = (), n: int = 13,
                 action: str = "drop", index_dir: str | None = None, samples: int = 3) -> None:
        if action not in ACTIONS:
            raise ValueError(f"action={action!r}: use one of {ACTIONS}")
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        self.benchmarks = tuple(Benchmark(name, path, tuple(fields)) for name, path in benchmarks.items()) \
            if isinstance(benchmarks, Mapping) else tuple(benchmarks)
        if not self.benchmarks:
            raise ValueError("no benchmarks given: pass {name: path of a JSONL, Parquet, text or Arrow file}")
        self.n = n
        self.action = action
        self.index_dir = index_dir
        self.samples = samples

    def _reusable(self, folder: str) -> bool:
        """Whether ``folder`` holds an index of these benchmarks' files (same paths and sizes) and ``n``."""
        url = storage.join(folder, MANIFEST)
        if not storage.exists(url):
            return False
        manifest = storage.read_json(url)
        indexed = [(b["name"], b["path"], b["fields"], b["bytes"]) for b in manifest["benchmarks"]]
        wanted = [(b.name, b.path, list(b.fields), storage.size(b.path)) for b in self.benchmarks]
        return bool(manifest["ngram"] == self.n and indexed == wanted)

    def run(self, ctx: GlobalContext) -> None:
        folder = self.index_dir or storage.join(ctx.work_dir, "ngram_index")
        if self._reusable(folder):
            manifest = storage.read_json(storage.join(folder, MANIFEST))
            index_cpu = 0.0
        else:
            built = ctx.map(index_task, [IndexTask(self.benchmarks, self.n, folder)], self.resources)[0]
            manifest, index_cpu = built["manifest"], built["cpu_s"]
        inputs = list(ctx.inputs)
        results = Rounds(ctx, self.resources)("filter", filter_task, [
            FilterTask(i, ref.path, ctx.output_path(ref.shard),
                       ctx.removed_path(ref.shard), folder, self.action,
                       self.samples) for i, ref in enumerate(inputs)])
        docs_in = sum(r["docs_in"] for r in results)
        # A shard's CPU: its own filtering, and its share of building the index (none when reused).
        shares = shares_by_documents(index_cpu, [r["docs_in"] for r in results])
        for ref, r, share in zip(inputs, results, shares):
            contaminated = sum(r["hits"].values())
            ctx.record(ref.shard, r["docs_in"], r["docs_out"],
                       {CONTAMINATED: contaminated} if self.action == "drop" else {}, r["cpu_s"] + share,
                       {f"contaminated_{name}": n for name, n in r["hits"].items()})
        hits: Counter[str] = Counter()
        examples: dict[str, set[str]] = {}
        for r in results:
            hits.update(r["hits"])
            for example in r["examples"]:
                examples.setdefault(example.split(":")[0], set()).add(example)
        ctx.add_section(self.name, {
            "method": "ngram_overlap",
            "ngram": self.n,
            "action": self.action,
            "docs_in": docs_in,
            "contaminated": sum(hits.values()),
            "index_ngrams": manifest["ngrams"],
            "benchmarks": {b["name"]: {"examples": b["examples"], "shorter_than_n": b["shorter_than_n"],
                                       "documents_hit": hits.get(b["name"], 0),
                                       "examples_hit": len(examples.get(b["name"], ()))}
                           for b in manifest["benchmarks"]},
            "samples": [s for b in self.benchmarks for s in
                        [s for r in results for s in r["samples"] if s["benchmark"] == b.name][:self.samples]],
        })
