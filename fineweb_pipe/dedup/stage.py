"""``MinHashDedup``: FineWeb's MinHash near-duplicate removal as rounds of parallel work.

Rounds (each a ``ctx.map`` over small task descriptions; data moves through exchange files under
``ctx.work_dir``, one per task, from which each task of the next round reads its own partition):

1. signatures, per source: shingle, hash, min-hash; node rows to ``P`` node partitions, band rows to
   ``P`` bucket partitions by band hash;
2. buckets, per partition: group by ``(band, band_hash)``, star edges to each bucket's smallest node;
3. (verification, :mod:`.verify`) per node partition: serve centres' signatures to the partitions that
   ask, then check each edge in its member's partition;
4. connected components (:mod:`.components`): union-find in one task up to ``single_node_max_edges``,
   else large-star / small-star steps over ``P`` edge partitions, each node's minimum taken in two levels;
5. clusters (:mod:`.clusters`), per label partition: sizes and kept ids from per-task partial counts;
6. write (:mod:`.write`), per write group of consecutive shards: survivors to ``ctx.output_path``,
   removed rows to ``<run_dir>/removed/<name>/<shard>.parquet``, optionally survivors' signatures to an
   index.

``P`` grows with the corpus (``docs_per_partition``) and every partition is a hash of node ids or band
keys, so a task's input is the corpus's divided by ``P``: it grows neither with the corpus nor with the
largest cluster, except in the bucket round (a bucket is never split). See ``docs/dedup.md``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from fineweb_pipe import storage
from fineweb_pipe.dedup import index
from fineweb_pipe.dedup.clusters import ClusterTask, cluster_task
from fineweb_pipe.dedup.components import UnionFindTask, star_components, union_find_task
from fineweb_pipe.dedup.nodes import KEEP_RULES, NodeLayout
from fineweb_pipe.dedup.plan import Files, Plan, size_run
from fineweb_pipe.dedup.rounds import BucketTask, SignatureTask, Source, bucket_task, signature_task
from fineweb_pipe.dedup.signatures import MinHashParams
from fineweb_pipe.dedup.verify import CheckTask, ServeTask, check_task, serve_task
from fineweb_pipe.dedup.write import NEAR_DUPLICATE, ShardOutput, WriteTask, write_task
from fineweb_pipe.resumable import Rounds
from fineweb_pipe.stage import GlobalContext, GlobalStage, Resources
from fineweb_pipe.stats import Histogram

EXAMPLE_CLUSTERS = 5


class MinHashDedup(GlobalStage):
    """Remove near-duplicates: keep one document per MinHash-LSH cluster.

    ``verify_threshold``: drop candidate pairs whose estimated Jaccard similarity (share of equal
    min-hashes) is below it; ``None`` trusts LSH alone. ``keep``: "first" (input order) or "longest".
    ``reference_index``: a ``save_index`` folder of an earlier run; documents near one of its documents
    are removed too. ``max_star_rounds`` bounds the component rounds (an error says when it is hit).
    """

    default_name = "minhash_dedup"
    resources = Resources(num_cpus=1.0, memory_mb=2000)

    def __init__(self, params: MinHashParams = MinHashParams(), verify_threshold: float | None = 0.75,
                 keep: str = "first", docs_per_partition: int = 200_000, single_node_max_edges: int = 2_000_000,
                 batch_size: int = 250, reference_index: str | None = None, save_index: str | None = None,
                 max_star_rounds: int = 64) -> None:
        if keep not in KEEP_RULES:
            raise ValueError(f"keep={keep!r}: use one of {KEEP_RULES}")
        if verify_threshold is not None and not 0.0 < verify_threshold <= 1.0:
            raise ValueError(f"verify_threshold must be in (0, 1] or None, got {verify_threshold}")
        self.params = params
        self.verify_threshold = verify_threshold
        self.keep = keep
        self.docs_per_partition = docs_per_partition
        self.single_node_max_edges = single_node_max_edges
        self.batch_size = batch_size
        self.reference_index = reference_index
        self.save_index = save_index
        self.max_star_rounds = max_star_rounds

    def run(self, ctx: GlobalContext) -> None:
        work = ctx.work_dir
        rounds = Rounds(ctx, self.resources)
        sources = [Source(i, ref.shard, ref.path, storage.join(work, "sig", f"s{i}.parquet"), False)
                   for i, ref in enumerate(ctx.inputs)]
        if self.reference_index:
            for path in index.load_index(self.reference_index, self.params):
                shard = storage.basename(path).removesuffix(".parquet")
                sources.append(Source(len(sources), f"reference/{shard}", path, path, True))
        inputs = [s for s in sources if not s.reference]
        size = size_run(ctx, [s.path for s in sources], self.docs_per_partition, written=len(inputs))
        partitions = size.partitions
        plan = Plan(work, partitions, size.group_starts, NodeLayout.fitting(len(sources), max(size.rows)),
                    self.params.num_perm)
        node_files, band_files = plan.files("nodes", len(sources)), plan.files("bands", len(sources))
        edges = plan.files("edges", partitions)
        candidates, requests = plan.files("candidates", partitions), plan.files("requests", partitions)
        centres = plan.files("centres", partitions)

        signed = rounds("signatures", signature_task, [
            SignatureTask(s, plan, self.params, self.keep, self.batch_size, node_files, band_files) for s in sources])
        verify = self.verify_threshold is not None
        buckets = rounds("buckets", bucket_task, [
            BucketTask(p, plan, band_files, verify, candidates if verify else edges, requests)
            for p in range(partitions)])
        section: dict[str, Any] = {"candidate_edges": sum(b["edges"] for b in buckets)}
        if self.verify_threshold is not None:
            rounds("verify-serve", serve_task, [ServeTask(p, plan, node_files, requests, centres)
                                                for p in range(partitions)])
            check = rounds("verify-check", check_task, [
                CheckTask(p, plan, self.verify_threshold, node_files, candidates, centres, edges)
                for p in range(partitions)])
            section["candidate_pairs"] = sum(c["candidates"] for c in check)
            section["verified_pairs"] = sum(c["verified"] for c in check)
            section["rejected_pairs"] = sum(c["rejected"] for c in check)
            edge_count = section["verified_pairs"]
        else:
            edge_count = section["candidate_edges"]
        section["components"], labelled = self._components(plan, rounds, edges, edge_count)

        cluster_files = plan.files("clusters", partitions)
        clusters = rounds("clusters", cluster_task, [
            ClusterTask(p, plan, node_files, labelled, cluster_files) for p in range(partitions)])
        sizes = GroupSizes.of(clusters)
        largest = sorted((pair for c in clusters for pair in c["largest"]), key=lambda p: (-p[1], p[0]))
        example_labels = tuple(label for label, _ in largest[:EXAMPLE_CLUSTERS])

        members = plan.files("members", labelled.writers)
        outputs = [ShardOutput(s, ctx.output_path(s.shard),
                               ctx.removed_path(s.shard)) for s in inputs]
        groups = rounds("write", write_task, [
            WriteTask(g, plan, tuple(outputs[plan.group_starts[g]:plan.group_starts[g + 1]]), self.keep, members,
                      cluster_files, example_labels, self.save_index) for g in range(plan.groups)])
        written = [shard for g in groups for shard in g["shards"]]
        if self.save_index:
            index.write_manifest(self.save_index, self.params, [s.shard for s in inputs])

        # Each shard's CPU: its own signature and write work, and its share of the rounds over partitions.
        docs_in = sum(w["docs_in"] for w in written)
        shares = rounds.cpu_shares([w["docs_in"] for w in written], own=("signatures", "write"))
        for s, w, share in zip(inputs, written, shares):
            cpu = signed[s.index]["cpu_s"] + w["cpu_s"] + share
            ctx.record(s.shard, w["docs_in"], w["docs_out"], {NEAR_DUPLICATE: w["removed"]}, cpu)
        removed = sum(w["removed"] for w in written)
        examples: dict[int, list[dict[str, Any]]] = {label: [] for label in example_labels}
        for w in written:
            for row in w["examples"]:
                examples[row["cluster_id"]].append(row)
        ctx.add_section("dedup", {
            "method": "minhash_lsh",
            "params": asdict(self.params),
            "verify_threshold": self.verify_threshold,
            "keep": self.keep,
            "partitions": partitions,
            "write_groups": plan.groups,
            "docs_in": docs_in,
            "removed": removed,
            "removed_share": removed / docs_in if docs_in else 0.0,
            "clusters": sizes.groups,
            "docs_in_clusters": sizes.documents,
            "cluster_sizes": sizes.by_size(),
            "cluster_size_histogram": sizes.histogram(),
            "removed_for_reference": sum(c["reference_hits"] for c in clusters),
            "examples": [{"cluster_id": label, "size": size,
                          "members": sorted(examples[label], key=lambda r: not r["kept"])}
                         for label, size in largest[:EXAMPLE_CLUSTERS]],
            **section,
            "cpu_s": rounds.cpu_figures({"signatures": ("signatures",), "buckets": ("buckets",),
                                         "verify": ("verify-serve", "verify-check"), "clusters": ("clusters",),
                                         "write": ("write",)}),
            "rounds": rounds.figures(),
        })

    def _components(self, plan: Plan, rounds: Rounds, edges: Files, edge_count: int) -> tuple[dict[str, Any], Files]:
        """Labels every node on an edge with its component's smallest node; returns the components summary
        and the labelling tasks' ``partials`` files (their ``members`` files have the same writers)."""
        if edge_count <= self.single_node_max_edges:
            partials = plan.files("partials", 1)
            rounds("union-find", union_find_task, [
                UnionFindTask(plan, edges, plan.files("members", 1), partials)])
            algorithm = {"algorithm": "union_find" if edge_count else "none", "rounds": int(edge_count > 0)}
            return {**algorithm, "edges": edge_count}, partials
        steps, partials = star_components(plan, rounds, edges, self.max_star_rounds)
        return {"algorithm": "large_star_small_star", "rounds": steps, "edges": edge_count}, partials


@dataclass(frozen=True)
class GroupSizes:
    """How many groups of each size a dedup run found (clusters of near-duplicates, documents with one
    key): the stats section's group counts, documents in groups, sizes and their histogram."""

    counts: Counter[int]  # groups by size

    @classmethod
    def of(cls, results: list[dict[str, Any]]) -> GroupSizes:
        """Summed from the partial counts (``{"sizes": {"<size>": groups}}``) of a round's tasks."""
        counts: Counter[int] = Counter()
        for r in results:
            counts.update({int(k): n for k, n in r["sizes"].items()})
        return cls(counts)

    @property
    def groups(self) -> int:
        return sum(self.counts.values())

    @property
    def documents(self) -> int:
        return sum(k * n for k, n in self.counts.items())

    def by_size(self) -> dict[str, int]:
        return {str(k): self.counts[k] for k in sorted(self.counts)}

    def histogram(self) -> dict[str, list]:
        """Log-binned histogram of the group sizes, one entry per group."""
        histogram = Histogram.log_bins()
        histogram.add(np.repeat(np.array(list(self.counts), dtype=np.int64), list(self.counts.values())))
        return histogram.to_json()
