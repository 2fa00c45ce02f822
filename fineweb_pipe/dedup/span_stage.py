"""``SpanDedup``: C4's and datatrove's sentence dedup and Dolma's paragraph dedup across the corpus, as
rounds of parallel work (:mod:`.span_rounds`) on the partitioned exchange. See ``docs/dedup.md``."""

from __future__ import annotations

from fineweb_pipe.dedup.normalize import NormalizeConfig
from fineweb_pipe.dedup.plan import GroupedPlan, size_run
from fineweb_pipe.dedup.span_rounds import (TOO_SHORT, CountTask, ShardOutput, SpanTask, SpanWriteTask, count_task,
                                            span_task, span_write_task)
from fineweb_pipe.dedup.spans import SpanConfig
from fineweb_pipe.resumable import Rounds
from fineweb_pipe.stage import GlobalContext, GlobalStage, Resources

EXAMPLE_SPANS = 10


class SpanDedup(GlobalStage):
    """Remove spans (``window`` consecutive sentences, or paragraphs) found in ``min_documents`` or more
    documents from all of them but the first in input order; a changed document left with fewer than
    ``min_words`` words or ``min_chars`` characters is dropped (``too_short_after_span_dedup``).

    Defaults follow C4 (3-sentence windows, any span in two documents) with datatrove's 50-word
    minimum; ``SpanDedup(unit="paragraphs", window=1)`` is Dolma's paragraph dedup.
    """

    resources = Resources(num_cpus=1.0, memory_mb=1000)

    def __init__(self, unit: str = "sentences", window: int = 3, min_documents: int = 2, min_words: int = 50,
                 min_chars: int = 0, normalize: NormalizeConfig | None = None,
                 docs_per_partition: int = 100_000) -> None:
        if min_documents < 2:
            raise ValueError(f"min_documents must be >= 2 (a span in one document is not repeated), got {min_documents}")
        self.config = SpanConfig(unit, window, normalize or NormalizeConfig())
        self.min_documents = min_documents
        self.min_words = min_words
        self.min_chars = min_chars
        self.docs_per_partition = docs_per_partition

    def run(self, ctx: GlobalContext) -> None:
        rounds = Rounds(ctx, self.resources)
        inputs = list(ctx.inputs)
        size = size_run(ctx, [ref.path for ref in inputs], self.docs_per_partition)
        plan = GroupedPlan(ctx.work_dir, size.partitions, size.group_starts)
        partitions, group_starts = plan.partitions, plan.group_starts
        spans, decisions = plan.files("spans", len(inputs)), plan.files("decisions", partitions)

        rounds("spans", span_task, [SpanTask(i, ref.path, self.config, partitions, spans)
                                    for i, ref in enumerate(inputs)])
        counted = rounds("count", count_task, [CountTask(p, self.min_documents, plan, spans, decisions)
                                               for p in range(partitions)])
        most = sorted((tuple(pair) for c in counted for pair in c["most_repeated"]), key=lambda p: (-p[1], p[0]))
        most = most[:EXAMPLE_SPANS]
        outputs = [ShardOutput(i, ref.path, ctx.output_path(ref.shard),
                               ctx.removed_path(ref.shard))
                   for i, ref in enumerate(inputs)]
        written = rounds("write", span_write_task, [
            SpanWriteTask(g, tuple(outputs[group_starts[g]:group_starts[g + 1]]), self.config, self.min_words,
                          self.min_chars, decisions, tuple(h for h, _ in most))
            for g in range(plan.groups)])

        shards = [s for w in written for s in w["shards"]]
        # A shard's CPU: its own write, and its share of the other rounds.
        docs_in = sum(s["docs_in"] for s in shards)
        shares = rounds.cpu_shares([s["docs_in"] for s in shards], own=("write",))
        for ref, s, share in zip(inputs, shards, shares):
            ctx.record(ref.shard, s["docs_in"], s["docs_out"], {TOO_SHORT: s["dropped"]}, s["cpu_s"] + share,
                       {"spans_removed": s["spans_removed"], "documents_changed": s["changed"],
                        "characters_removed": s["chars_removed"]})
        texts = {int(h): t for w in written for h, t in w["examples"].items()}
        total = {key: sum(s[key] for s in shards) for key in ("spans_removed", "changed", "dropped", "chars_removed")}
        ctx.add_section(self.name, {
            "method": "span_dedup",
            "unit": self.config.unit,
            "window": self.config.window,
            "min_documents": self.min_documents,
            "min_words": self.min_words,
            "min_chars": self.min_chars,
            "partitions": partitions,
            "write_groups": plan.groups,
            "docs_in": docs_in,
            "distinct_spans": sum(c["distinct_spans"] for c in counted),
            "repeated_spans": sum(c["repeated_spans"] for c in counted),
            "spans_removed": total["spans_removed"],
            "documents_changed": total["changed"],
            "documents_dropped": total["dropped"],
            "characters_removed": total["chars_removed"],
            "most_repeated": [{"documents": n, "text": texts.get(h, "")} for h, n in most],
            "rounds": rounds.figures(),
        })
