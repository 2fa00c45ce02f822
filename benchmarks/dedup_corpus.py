"""Build a near-duplicate evaluation corpus: real text plus synthetic filler, with injected variants
whose true Jaccard similarity (5-gram shingles, as the stage normalizes them) is measured and recorded.

Deterministic for a seed. Writes ``<out>/docs/shard-XXXXX.parquet`` (id, url, text),
``<out>/pairs.parquet`` (base_id, variant_id, kind, jaccard) and ``<out>/families.parquet`` (id,
family: the base slot a document derives from). ``--boilerplate N`` makes N slots, spread over the
shards, near-identical copies of one templated page (a skewed corpus: one cluster of N documents, as
templated sites give); they are one family and are not in ``pairs.parquet``. Real text: the scrapinghub gold texts and the CCNet
documents under ``../shared/data`` (not ``clean_web_texts``: the same articles as the gold texts, so
they would be unlabelled near-duplicates); filler: sentences of words drawn from that text.

    python benchmarks/dedup_corpus.py OUT --docs 100000 [--dup-fraction 0.2] [--seed 0] [--boilerplate 0] [--jobs N]

Shards are written by N forked processes (default: one per core); the output does not depend on N.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from fineweb_pipe.dedup.signatures import jaccard, shingle_sets

SHARED = Path(os.environ.get("FINEWEB_PIPE_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))
KINDS = ("edit", "insert", "reorder", "boilerplate")
BOILERPLATE = [
    "Accept cookies. We use cookies to improve your experience on our site and to show you relevant ads.",
    "Home | News | Sports | Business | Entertainment | Contact us | Subscribe to our newsletter today",
    "Share this article on Facebook Twitter LinkedIn Email Print. Related stories you might also like",
    "Copyright all rights reserved. Terms of service and privacy notice apply to all registered users",
]


def load_real_texts(shared: Path = SHARED) -> list[str]:
    gold = shared / "extraction" / "scrapinghub_aeb.gold.jsonl"
    texts = [json.loads(line)["gold_text"] for line in gold.open(encoding="utf-8")]
    for path in sorted((shared / "text").glob("dolma_*.jsonl")):
        texts += [json.loads(line)["text"] for line in path.open(encoding="utf-8")]
    return [t for t in texts if len(t.split()) >= 50]


class CorpusGenerator:
    """Slot ``i`` of the corpus is either a base document, a variant of a base slot, or (``boilerplate``
    slots) a copy of the templated page that differs from the others in one short line."""

    def __init__(self, real_texts: list[str], docs: int, dup_fraction: float, seed: int, words_per_doc: int = 480,
                 boilerplate: int = 0):
        self.real = real_texts
        self.vocab = np.array(" ".join(real_texts).split())
        self.docs, self.seed, self.words_per_doc = docs, seed, words_per_doc
        # Drawn apart from the rest, so that a corpus without templated pages is the same as before.
        templated = np.sort(np.random.default_rng([seed, 3]).choice(docs, size=boilerplate, replace=False))
        self.templated = set(templated.tolist())
        rng = np.random.default_rng(seed)
        is_variant = rng.random(docs) < dup_fraction
        bases = np.flatnonzero(~is_variant & ~np.isin(np.arange(docs), templated))
        real_bases = bases[bases < len(real_texts)] if len(bases) else bases
        # A third of the variants copy real documents (bigger, realistic clusters), the rest filler.
        pick_real = rng.random(docs) < 0.3
        self.base_of = np.where(~is_variant, np.arange(docs),
                                np.where(pick_real & (len(real_bases) > 0),
                                         real_bases[rng.integers(0, max(len(real_bases), 1), docs)],
                                         bases[rng.integers(0, len(bases), docs)]))
        self.kind = rng.integers(0, len(KINDS), docs)
        if boilerplate:
            self.base_of[templated] = templated[0]

    def templated_text(self, slot: int) -> str:
        """The templated page: a long fixed body (far from every other text) and one line of its own."""
        rng = np.random.default_rng([self.seed, 2])
        body = " ".join(self.vocab[rng.integers(0, len(self.vocab), self.words_per_doc)])
        return f"{body}\nItem number {slot} in stock."

    def base_text(self, slot: int) -> str:
        if slot < len(self.real):
            return self.real[slot]
        rng = np.random.default_rng([self.seed, slot])
        words = self.vocab[rng.integers(0, len(self.vocab), self.words_per_doc)].tolist()
        cuts = np.cumsum(rng.integers(8, 20, self.words_per_doc // 8))
        bounds = [0, *cuts[cuts < len(words)].tolist(), len(words)]
        sentences = [" ".join(words[a:b]) + "." for a, b in zip(bounds, bounds[1:]) if b > a]
        return "\n".join(" ".join(sentences[i:i + 5]) for i in range(0, len(sentences), 5))

    def variant_text(self, slot: int) -> str:
        rng = np.random.default_rng([self.seed, slot, 1])
        text = self.base_text(int(self.base_of[slot]))
        kind = KINDS[self.kind[slot]]
        if kind == "reorder":
            paragraphs = text.split("\n")
            rng.shuffle(paragraphs)
            text = "\n".join(paragraphs)
        if kind == "boilerplate":
            lines = [BOILERPLATE[i] for i in rng.integers(0, len(BOILERPLATE), rng.integers(1, 6))]
            cut = rng.integers(0, len(lines) + 1)
            return "\n".join(lines[:cut] + [text] + lines[cut:])
        words = text.split(" ")
        if kind == "insert":
            for _ in range(rng.integers(1, max(2, len(words) // 60))):
                at = rng.integers(0, len(words) + 1)
                words[at:at] = list(self.vocab[rng.integers(0, len(self.vocab), rng.integers(5, 25))])
            return " ".join(words)
        rate = rng.uniform(0.0, 0.1) if kind == "edit" else rng.uniform(0.0, 0.01)
        for at in np.flatnonzero(rng.random(len(words)) < rate):
            words[at] = str(self.vocab[rng.integers(0, len(self.vocab))])
        return " ".join(words)

    def text(self, slot: int) -> str:
        if slot in self.templated:
            return self.templated_text(slot)
        return self.base_text(slot) if self.base_of[slot] == slot else self.variant_text(slot)


def doc_id(slot: int) -> str:
    return f"doc-{slot:08d}"


_GEN: CorpusGenerator | None = None  # the generator a forked worker inherits


def _write_shard(job: tuple[Path, int, int, int]) -> dict[str, list]:
    """Write shard ``shard`` (slots ``lo`` to ``hi``) and return its injected pairs."""
    path, shard, lo, hi = job
    gen = _GEN
    assert gen is not None
    slots = range(lo, hi)
    texts = [gen.text(s) for s in slots]
    pq.write_table(pa.table({
        "id": [doc_id(s) for s in slots],
        "url": [f"https://site-{int(gen.base_of[s]) % 997}.example.com/page/{s}" for s in slots],
        "text": pa.array(texts, pa.large_string()),
    }), path / f"shard-{shard:05d}.parquet")
    variants = [s for s in slots if gen.base_of[s] != s and s not in gen.templated]
    base_sets = shingle_sets([gen.base_text(int(gen.base_of[s])) for s in variants])
    variant_sets = shingle_sets([texts[s - lo] for s in variants])
    return {"base_id": [doc_id(int(gen.base_of[s])) for s in variants],
            "variant_id": [doc_id(s) for s in variants],
            "kind": [KINDS[gen.kind[s]] for s in variants],
            "jaccard": [jaccard(a, b) for a, b in zip(base_sets, variant_sets)]}


def generate(out: Path, docs: int, dup_fraction: float = 0.2, seed: int = 0, shard_size: int = 10_000,
             real_texts: list[str] | None = None, boilerplate: int = 0, jobs: int | None = None) -> Path:
    """Shards are made by ``jobs`` forked processes (default: one per core); every shard depends only on
    the generator and its slots, so the output is the same for any ``jobs``."""
    global _GEN
    _GEN = gen = CorpusGenerator(real_texts if real_texts is not None else load_real_texts(), docs, dup_fraction,
                                 seed, boilerplate=boilerplate)
    (out / "docs").mkdir(parents=True, exist_ok=True)
    shards = [(out / "docs", shard, lo, min(lo + shard_size, docs)) for shard, lo in enumerate(range(0, docs, shard_size))]
    jobs = min(jobs or os.cpu_count() or 1, len(shards))
    pairs: dict[str, list] = {"base_id": [], "variant_id": [], "kind": [], "jaccard": []}
    try:
        if jobs > 1:
            with multiprocessing.get_context("fork").Pool(jobs) as pool:
                parts = list(pool.imap(_write_shard, shards))
        else:
            parts = [_write_shard(job) for job in shards]
    finally:
        _GEN = None
    for part in parts:  # in shard order, whatever the process that made it
        for key, values in part.items():
            pairs[key] += values
    pq.write_table(pa.table(pairs), out / "pairs.parquet")
    pq.write_table(pa.table({"id": [doc_id(s) for s in range(docs)], "family": gen.base_of.astype(np.int64)}),
                   out / "families.parquet")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--dup-fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shard-size", type=int, default=10_000)
    parser.add_argument("--boilerplate", type=int, default=0, help="documents in one templated cluster")
    parser.add_argument("--jobs", type=int, default=None, help="processes writing shards (default: one per core)")
    args = parser.parse_args()
    generate(args.out, args.docs, args.dup_fraction, args.seed, args.shard_size, boilerplate=args.boilerplate,
             jobs=args.jobs)
    truth = pq.read_table(args.out / "pairs.parquet")["jaccard"].to_numpy()
    print(f"wrote {args.docs} docs, {len(truth)} injected pairs to {args.out}; "
          f"jaccard quantiles 10/50/90%: {np.quantile(truth, [0.1, 0.5, 0.9]).round(3).tolist()}")


if __name__ == "__main__":
    main()
