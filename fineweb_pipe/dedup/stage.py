"""``MinHashDedup``: FineWeb's MinHash near-duplicate removal as rounds of parallel work.

Rounds (each a ``ctx.map`` over small task descriptions; data moves through Parquet files under
``ctx.work_dir``, partitioned so that every task reads only its own partition):

1. signatures, per source: shingle, hash, min-hash; band rows to ``P`` bucket partitions by band hash;
2. buckets, per partition: group by ``(band, band_hash)``, star edges to each bucket's smallest node;
3. (verification) two joins keyed by source, adding each end's signature; keep pairs whose estimated
   Jaccard similarity reaches ``verify_threshold``;
4. connected components: union-find in one task up to ``single_node_max_edges``, else large-star /
   small-star rounds over ``P`` edge partitions (:mod:`.components`);
5. clusters, per source of the kept document: sizes and kept ids, sent to the members' sources;
6. write, per input shard: survivors to ``ctx.output_path``, removed rows to
   ``<run_dir>/removed/<name>/<shard>.parquet``, optionally survivors' signatures to an index.

``P`` grows with the corpus (``docs_per_partition``), which bounds the signature, bucket, check and
write tasks; the attach (3) and cluster (5) tasks are keyed by the source of the minimum node, so a source
whose documents have many near-duplicates gets all their edges and labels: their memory grows with the
corpus (the scale-out issue, #18). See ``docs/dedup.md``.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from dataclasses import asdict
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from fineweb_pipe.dedup import index
from fineweb_pipe.dedup.components import StarStep, star_step
from fineweb_pipe.dedup.nodes import KEEP_RULES
from fineweb_pipe.resumable import Resumable
from fineweb_pipe.dedup.rounds import (
    NEAR_DUPLICATE, BucketTask, ClusterTask, EdgeFilesTask, SignatureTask, Source, VerifyTask,
    WriteTask, bucket_task, cluster_task, edge_files_task, signature_task, verify_task, write_task,
)
from fineweb_pipe.dedup.signatures import MinHashParams
from fineweb_pipe.stage import GlobalContext, GlobalStage, Resources
from fineweb_pipe.stats import Histogram

EXAMPLE_CLUSTERS = 5


def _row_count(path: str) -> int:
    return pq.read_metadata(path).num_rows


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
        done = os.path.join(work, "_done")

        def rounds(name: str, fn: Any, tasks: list[Any]) -> list[dict[str, Any]]:
            return ctx.map(Resumable(fn, os.path.join(done, name)), tasks, self.resources)

        sources = [Source(i, ref.shard, ref.path, os.path.join(work, "sig", f"s{i}.parquet"), False)
                   for i, ref in enumerate(ctx.inputs)]
        if self.reference_index:
            for path in index.load_index(self.reference_index, self.params):
                shard = os.path.basename(path).removesuffix(".parquet")
                sources.append(Source(len(sources), f"reference/{shard}", path, path, True))
        docs = sum(ctx.map(_row_count, [s.path for s in sources], Resources(num_cpus=0.5)))
        partitions = max(1, math.ceil(docs / self.docs_per_partition))

        signed = rounds("signatures", signature_task, [
            SignatureTask(s, self.params, self.keep, partitions, work, self.batch_size) for s in sources])
        buckets = rounds("buckets", bucket_task, [BucketTask(p, work, self.verify_threshold is not None)
                                                  for p in range(partitions)])
        section: dict[str, Any] = {"candidate_edges": sum(b["edges"] for b in buckets)}
        if self.verify_threshold is not None:
            attach = rounds("verify-attach", verify_task, [
                VerifyTask(s, self.params, work, self.verify_threshold, "attach") for s in sources])
            check = rounds("verify-check", verify_task, [
                VerifyTask(s, self.params, work, self.verify_threshold, "check") for s in sources])
            section["candidate_pairs"] = sum(a["candidates"] for a in attach)
            section["verified_pairs"] = sum(c["verified"] for c in check)
            section["rejected_pairs"] = sum(c["rejected"] for c in check)
            edge_count = section["verified_pairs"]
        else:
            attach = check = []
            edge_count = section["candidate_edges"]
        section["components"] = self._components(ctx, rounds, edge_count, partitions)

        clusters = rounds("clusters", cluster_task, [ClusterTask(s, work) for s in sources])
        sizes: Counter = Counter()
        for c in clusters:
            sizes.update({int(k): n for k, n in c["sizes"].items()})
        largest = sorted((pair for c in clusters for pair in c["largest"]), key=lambda p: (-p[1], p[0]))
        example_labels = tuple(label for label, _ in largest[:EXAMPLE_CLUSTERS])

        inputs = [s for s in sources if not s.reference]
        written = rounds("write", write_task, [
            WriteTask(s, self.keep, self.params.num_perm, work, ctx.output_path(s.shard),
                      os.path.join(ctx.run_dir, "removed", self.name, f"{s.shard}.parquet"),
                      example_labels, self.save_index) for s in inputs])
        if self.save_index:
            index.write_manifest(self.save_index, self.params, [s.shard for s in inputs])

        shard_rounds = [signed, attach, check, clusters, written]
        for s, w in zip(inputs, written):
            cpu = sum(r[s.index]["cpu_s"] for r in shard_rounds if r)
            ctx.record(s.shard, w["docs_in"], w["docs_out"], {NEAR_DUPLICATE: w["removed"]}, cpu)
        removed = sum(w["removed"] for w in written)
        docs_in = sum(w["docs_in"] for w in written)
        histogram = Histogram.log_bins()
        histogram.add(np.repeat(np.array(list(sizes), dtype=np.int64), list(sizes.values())))
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
            "docs_in": docs_in,
            "removed": removed,
            "removed_share": removed / docs_in if docs_in else 0.0,
            "clusters": sum(sizes.values()),
            "docs_in_clusters": sum(k * n for k, n in sizes.items()),
            "cluster_sizes": {str(k): sizes[k] for k in sorted(sizes)},
            "cluster_size_histogram": histogram.to_json(),
            "removed_for_reference": sum(c.get("reference_hits", 0) for c in clusters),
            "examples": [{"cluster_id": label, "size": size,
                          "members": sorted(examples[label], key=lambda r: not r["kept"])}
                         for label, size in largest[:EXAMPLE_CLUSTERS]],
            **section,
            "cpu_s": {name: round(sum(r["cpu_s"] for r in results), 3) for name, results in
                      [("signatures", signed), ("buckets", buckets), ("verify", attach + check),
                       ("clusters", clusters), ("write", written)]},
        })

    def _components(self, ctx: GlobalContext, rounds: Any, edge_count: int, partitions: int) -> dict[str, Any]:
        """Labels every node on an edge with its component's smallest node, into ``work/labels``."""
        work = ctx.work_dir
        edge_dir = os.path.join(work, "edges", "all")
        files = sorted(os.path.join(edge_dir, f) for f in os.listdir(edge_dir)) if os.path.isdir(edge_dir) else []
        files = [f for f in files if f.endswith(".parquet")]
        labels = os.path.join(work, "labels")
        if not files:
            return {"algorithm": "none", "rounds": 0, "edges": 0}
        if edge_count <= self.single_node_max_edges:
            rounds("union-find", edge_files_task, [EdgeFilesTask(tuple(files), labels, 0)])
            return {"algorithm": "union_find", "rounds": 1, "edges": edge_count}
        cc = os.path.join(work, "cc")
        current = os.path.join(cc, "0")
        rounds("cc-scatter", edge_files_task, [EdgeFilesTask((f,), current, partitions) for f in files])
        previous = None
        for step in range(1, self.max_star_rounds + 1):
            large = os.path.join(cc, f"{step}-large")
            stats = rounds(f"cc-{step}-large", star_step,
                           [StarStep("large", current, large, p, partitions) for p in range(partitions)])
            signature = (sum(s["edges"] for s in stats), sum(s["checksum"] for s in stats) % (1 << 64))
            if signature == previous:
                rounds("cc-labels", star_step,
                       [StarStep("labels", current, labels, p, partitions) for p in range(partitions)])
                return {"algorithm": "large_star_small_star", "rounds": step, "edges": edge_count}
            previous = signature
            current = os.path.join(cc, f"{step}-small")
            rounds(f"cc-{step}-small", star_step,
                   [StarStep("small", large, current, p, partitions) for p in range(partitions)])
        raise RuntimeError(f"connected components did not converge in {self.max_star_rounds} large/small-star "
                           "rounds; raise max_star_rounds (each round at most squares the progress)")
