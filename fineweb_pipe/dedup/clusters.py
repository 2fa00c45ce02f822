"""From component labels to what the write round needs: each member's cluster, cluster size and kept id.

A cluster's members never meet in one task (its label could have millions). Each task that labels
nodes (:mod:`.components`) writes

- ``members``: ``(node, label)`` by the write group of the node's shard, and
- ``partials``: ``(label, group, count)``, its member count per label and write group, by label partition;

then the cluster round, per label partition, adds the counts up into sizes, looks up the kept
document's id (the label's, in the node partition that holds it) and sends ``(label, size, kept_id)``
to each write group that has members: a label costs at most (labelling tasks x write groups) rows.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from fineweb_pipe.dedup.nodes import lookup
from fineweb_pipe.dedup.plan import Files, Plan
from fineweb_pipe.exchange import read_partition, write_partitioned

MEMBERS = pa.schema([("node", pa.int64()), ("label", pa.int64())])
PARTIALS = pa.schema([("label", pa.int64()), ("group", pa.int64()), ("count", pa.int64())])
CLUSTERS = pa.schema([("label", pa.int64()), ("size", pa.int32()), ("kept_id", pa.string())])
LARGEST = 5  # clusters each task reports for the examples


def write_labels(plan: Plan, nodes: np.ndarray, labels: np.ndarray, members: Files, partials: Files,
                 writer: int) -> None:
    """One labelling task's ``(node, label)`` rows to ``members`` and its counts to ``partials``."""
    group = plan.group_of(nodes)
    written = group < plan.groups  # a reference index's documents count in sizes but are not written
    write_partitioned(pa.table({"node": nodes[written], "label": labels[written]}, schema=MEMBERS), group[written],
                      plan.groups, members.url(writer))
    keys, counts = np.unique(np.stack([labels, group], axis=1), axis=0, return_counts=True)
    write_partitioned(pa.table({"label": keys[:, 0], "group": keys[:, 1], "count": counts}, schema=PARTIALS),
                      plan.partition_of(keys[:, 0]), plan.partitions, partials.url(writer))


@dataclass(frozen=True)
class ClusterTask:
    partition: int
    plan: Plan
    nodes: Files
    partials: Files
    clusters: Files  # out: (label, size, kept_id) by write group

    @property
    def key(self) -> str:
        return f"p{self.partition}"


def cluster_task(task: ClusterTask) -> dict[str, Any]:
    """Sizes and kept ids of the clusters whose label is in this partition."""
    start = time.process_time()
    plan, k = task.plan, task.partition
    partials = read_partition(task.partials.urls(), k, schema=PARTIALS)
    label, group = partials["label"].to_numpy(), partials["group"].to_numpy()
    labels, inverse = np.unique(label, return_inverse=True)
    sizes = np.bincount(inverse, weights=partials["count"].to_numpy(), minlength=len(labels)).astype(np.int64)
    ids = read_partition(task.nodes.urls(), k, ["node", "id"],
                         pa.schema([("node", pa.int64()), ("id", pa.string())]))
    kept_ids = ids["id"].take(pa.array(lookup(ids["node"].to_numpy(), labels, f"cluster partition {k}")))
    # Each (label, group) is one partial row per labelling task: send it once per group.
    to_group = np.unique(np.stack([inverse, group], axis=1), axis=0)
    to_group = to_group[to_group[:, 1] < plan.groups]
    clusters = pa.table({"label": labels[to_group[:, 0]], "size": sizes[to_group[:, 0]].astype(np.int32),
                         "kept_id": kept_ids.take(pa.array(to_group[:, 0]))}, schema=CLUSTERS)
    write_partitioned(clusters, to_group[:, 1], plan.groups, task.clusters.url(k))
    reference = plan.layout.source_of(labels) >= plan.group_starts[-1]
    largest = np.argsort(-sizes, kind="stable")[:LARGEST]
    return {
        "sizes": {str(s): n for s, n in Counter(sizes.tolist()).items()},
        "largest": [[int(labels[i]), int(sizes[i])] for i in largest],
        "reference_hits": int((sizes[reference] - 1).sum()),
        "rows_in": partials.num_rows + ids.num_rows, "files": 1, "cpu_s": time.process_time() - start,
    }
