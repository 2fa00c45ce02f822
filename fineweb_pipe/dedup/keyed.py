"""Dedup by a key: of the documents whose keys are equal (a hash of the normalised text, a normalised
URL), one is kept, chosen by a rule, and each other one is removed with the kept one's id.

:class:`KeyedDedup` is the stage; a subclass says what a document's key is (:meth:`KeyedDedup.key_bytes`).
Keys are 128-bit hashes (BLAKE2b) of the key bytes, so two different keys collide with odds of about
``n**2 / 2**129``: none in practice at any corpus size. A document without a key (no text, no URL) is kept.

Rounds (each a ``ctx.map`` of small task descriptions, resumable; data moves through exchange files
under ``ctx.work_dir``, one per task):

0. row counts, per shard: ``P = ceil(docs / docs_per_partition)`` key partitions, and write groups of
   consecutive shards with about equal documents;
1. keys, per shard: each row's key and rank to ``keys/s<i>``; the shard's own best document of each
   key (its **local winner**, with the key's count in the shard) to ``local/<i>``, by key partition;
2. decide, per key partition: the best local winner of each key wins; each other local winner has lost
   to it, and ``(key, shard, kept id)`` goes to ``losses/<k>`` by the losing shard's write group;
3. write, per write group: each shard's documents, kept or removed (``duplicate_of`` the shard's own
   winner of the key, or the id its winner lost to), through :mod:`.kept_removed`.

A key costs a partition at most one row per shard that has it, so no task's input grows with the size
of a group (a million copies of a page over 90,000 shards are 90,000 rows), nor with the corpus (a
partition is ``docs / P`` keys, a write group ``docs / groups`` documents).

The rank says which document of a key is kept: the smallest ``(rank, shard, row)``. ``keep="first"``:
rank 0, so input order; ``"longest"``: minus the length of ``length_column``; ``"latest"``: minus the
``date`` in seconds (a missing date ranks last). Ties go to input order.
"""

from __future__ import annotations

import hashlib
import time
from abc import abstractmethod
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from fineweb_pipe import schema, storage
from fineweb_pipe.dedup.kept_removed import ShardSplit, write_kept_and_removed
from fineweb_pipe.dedup.nodes import partition_of
from fineweb_pipe.dedup.plan import Files, GroupedPlan, size_run
from fineweb_pipe.dedup.rounds import text_lengths
from fineweb_pipe.dedup.stage import GroupSizes
from fineweb_pipe.exchange import read_partition, write_partitioned
from fineweb_pipe.resumable import Rounds
from fineweb_pipe.stage import GlobalContext, GlobalStage, Resources, ShardRef
from fineweb_pipe.writers.atomic import write_parquet

KEEP_RULES = ("first", "longest", "latest")
KEYS = pa.schema([("hi", pa.uint64()), ("lo", pa.uint64()), ("keyed", pa.bool_()), ("rank", pa.int64())])
LOCAL = pa.schema([("hi", pa.uint64()), ("lo", pa.uint64()), ("rank", pa.int64()), ("source", pa.int64()),
                   ("row", pa.int64()), ("count", pa.int64()), ("id", pa.string())])
LOSSES = pa.schema([("hi", pa.uint64()), ("lo", pa.uint64()), ("source", pa.int64()), ("kept_id", pa.string())])
EXAMPLE_GROUPS = 5
EXAMPLE_MEMBERS = 5
NO_DATE_RANK = np.iinfo(np.int64).max


def hash_keys(keys: Sequence[bytes | None]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The 128-bit hash of each key as two uint64 arrays (high, low), and which rows have a key."""
    digests = bytearray(16 * len(keys))
    keyed = np.zeros(len(keys), bool)
    for i, key in enumerate(keys):
        if key is not None:
            digests[16 * i:16 * i + 16] = hashlib.blake2b(key, digest_size=16).digest()
            keyed[i] = True
    halves = np.frombuffer(bytes(digests), dtype="<u8").reshape(-1, 2)
    return halves[:, 0].copy(), halves[:, 1].copy(), keyed


def group_firsts(hi: np.ndarray, lo: np.ndarray, *after: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows sorted by key, then by ``after`` (in order), and where each key's run starts in that order."""
    order = np.lexsort((*reversed(after), lo, hi))
    hs, ls = hi[order], lo[order]
    starts = np.ones(len(order), bool)
    starts[1:] = (hs[1:] != hs[:-1]) | (ls[1:] != ls[:-1])
    return order, starts


def match_keys(hi_a: np.ndarray, lo_a: np.ndarray, hi_b: np.ndarray, lo_b: np.ndarray) -> np.ndarray:
    """For each key of ``a`` (unique keys), the index of the same key in ``b`` (unique keys), or -1."""
    side = np.concatenate([np.zeros(len(hi_a), np.int8), np.ones(len(hi_b), np.int8)])
    index = np.concatenate([np.arange(len(hi_a)), np.arange(len(hi_b))])
    order, starts = group_firsts(np.concatenate([hi_a, hi_b]), np.concatenate([lo_a, lo_b]), side)
    # A key in both sides is an a-row followed by a b-row in the same run.
    pair = np.flatnonzero(~starts[1:]) if len(order) else np.zeros(0, np.int64)
    found = np.full(len(hi_a), -1, np.int64)
    found[index[order[pair]]] = index[order[pair + 1]]
    return found


def dates_as_seconds(dates: pa.Array | pa.ChunkedArray, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Seconds since 1970 of ISO 8601 dates (strings or timestamps), and which rows have a date."""
    try:
        seconds = pc.cast(pc.cast(dates, pa.timestamp("s", tz="UTC")), pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ValueError(f"{where}: the {schema.DATE} column holds a value that is not an ISO 8601 date "
                         f"({exc}); fix the input or use keep='first' or 'longest'") from exc
    present = pc.is_valid(seconds).to_numpy(zero_copy_only=False)
    return pc.fill_null(seconds, 0).to_numpy(zero_copy_only=False), present


class KeyedDedup(GlobalStage):
    """Keep one document per key (see the module's docstring); subclasses define the key.

    ``keep``: "first" (input order), "longest" (by ``length_column``) or "latest" (by ``date``).
    ``docs_per_partition`` sets the key partitions (the decide round's tasks); ``batch_size``: rows read
    at a time in the keys round.
    """

    resources = Resources(num_cpus=1.0, memory_mb=1000)
    #: The drop reason of removed documents, and the ``method`` of the stats section.
    reason: ClassVar[str]
    method: ClassVar[str]

    def __init__(self, keep: str = "first", length_column: str = schema.TEXT, docs_per_partition: int = 1_000_000,
                 batch_size: int = 10_000) -> None:
        if keep not in KEEP_RULES:
            raise ValueError(f"keep={keep!r}: use one of {KEEP_RULES}")
        if docs_per_partition < 1 or batch_size < 1:
            raise ValueError(f"docs_per_partition and batch_size must be >= 1, got {docs_per_partition}, {batch_size}")
        self.keep = keep
        self.length_column = length_column
        self.docs_per_partition = docs_per_partition
        self.batch_size = batch_size

    @property
    @abstractmethod
    def key_columns(self) -> tuple[str, ...]:
        """The columns :meth:`key_bytes` reads."""

    @abstractmethod
    def key_bytes(self, batch: pa.Table) -> list[bytes | None]:
        """Each row's key, normalised (``None``: no key, the document is kept)."""

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """The key's settings, for the stats section."""

    def rank_columns(self) -> tuple[str, ...]:
        return {"first": (), "longest": (self.length_column,), "latest": (schema.DATE,)}[self.keep]

    def ranks(self, batch: pa.Table, where: str) -> np.ndarray:
        """Each row's rank (smaller is kept) under ``keep``."""
        if self.keep == "longest":
            return -text_lengths(batch[self.length_column])
        if self.keep == "latest":
            seconds, present = dates_as_seconds(batch[schema.DATE], where)
            return np.where(present, -seconds, NO_DATE_RANK)
        return np.zeros(batch.num_rows, np.int64)

    def run(self, ctx: GlobalContext) -> None:
        rounds = Rounds(ctx, self.resources)
        inputs = list(ctx.inputs)
        size = size_run(ctx, [ref.path for ref in inputs], self.docs_per_partition)
        partitions = size.partitions
        plan = GroupedPlan(ctx.work_dir, partitions, size.group_starts)
        local, losses = plan.files("local", len(inputs)), plan.files("losses", partitions)
        keyed = rounds("keys", keys_task, [KeysTask(i, ref, plan, self, local) for i, ref in enumerate(inputs)])
        decided = rounds("decide", decide_task, [DecideTask(k, plan, local, losses) for k in range(partitions)])
        sizes = GroupSizes.of(decided)
        largest = sorted((tuple(g) for d in decided for g in d["largest"]), key=lambda g: (-g[2], g[0], g[1]))
        examples = tuple((hi, lo) for hi, lo, _ in largest[:EXAMPLE_GROUPS])
        outputs = [ShardOutput(i, ref, ctx.output_path(ref.shard),
                               ctx.removed_path(ref.shard))
                   for i, ref in enumerate(inputs)]
        groups = rounds("write", keyed_write_task, [
            KeyedWriteTask(g, plan, tuple(outputs[plan.group_starts[g]:plan.group_starts[g + 1]]), self.reason,
                           losses, examples) for g in range(plan.groups)])
        written = [shard for g in groups for shard in g["shards"]]

        # A shard's CPU: its own keys and write work, and its share of the decide round.
        docs_in = sum(w["docs_in"] for w in written)
        shares = rounds.cpu_shares([w["docs_in"] for w in written], own=("keys", "write"))
        for i, (ref, w, share) in enumerate(zip(inputs, written, shares)):
            cpu = keyed[i]["cpu_s"] + w["cpu_s"] + share
            ctx.record(ref.shard, w["docs_in"], w["docs_out"], {self.reason: w["removed"]}, cpu)
        removed = sum(w["removed"] for w in written)
        members: dict[tuple[int, int], list[dict[str, Any]]] = {key: [] for key in examples}
        for w in written:
            for member in w["examples"]:
                members[(member.pop("hi"), member.pop("lo"))].append(member)
        ctx.add_section(self.name, {
            "method": self.method,
            "key": self.describe(),
            "keep": self.keep,
            "partitions": partitions,
            "write_groups": plan.groups,
            "docs_in": docs_in,
            "removed": removed,
            "removed_share": removed / docs_in if docs_in else 0.0,
            "groups": sizes.groups,
            "docs_in_groups": sizes.documents,
            "group_sizes": sizes.by_size(),
            "group_size_histogram": sizes.histogram(),
            "examples": [{"size": size, "members": sorted(members[(hi, lo)], key=lambda m: not m["kept"])[
                :EXAMPLE_MEMBERS]} for hi, lo, size in largest[:EXAMPLE_GROUPS]],
            "cpu_s": rounds.cpu_figures(),
            "rounds": rounds.figures(),
        })


@dataclass(frozen=True)
class KeysTask:
    source: int
    ref: ShardRef
    plan: GroupedPlan
    stage: KeyedDedup
    local: Files  # out: the shard's local winners by key partition

    @property
    def key(self) -> str:
        return f"s{self.source}"


def keys_url(plan: GroupedPlan, source: int) -> str:
    return storage.join(plan.work_dir, "keys", f"s{source}.parquet")


def keys_task(task: KeysTask) -> dict[str, Any]:
    """One shard's keys and ranks (to its keys file), and its local winners (to the key partitions)."""
    start = time.process_time()
    stage, plan = task.stage, task.plan
    columns = list(dict.fromkeys([schema.ID, *stage.key_columns, *stage.rank_columns()]))
    his, los, keyeds, ranks, ids = [], [], [], [], []
    with storage.open_input(task.ref.path) as f:
        parquet = pq.ParquetFile(f)
        missing = [c for c in columns if c not in parquet.schema_arrow.names]
        if missing:
            raise ValueError(f"{task.ref.path}: {stage.name} needs the column(s) {missing}, which this shard lacks; "
                             f"run the stage after the one that adds them, or change its key or keep rule")
        for batch in parquet.iter_batches(stage.batch_size, columns=columns):
            table = pa.Table.from_batches([batch])
            hi, lo, keyed = hash_keys(stage.key_bytes(table))
            his.append(hi)
            los.append(lo)
            keyeds.append(keyed)
            ranks.append(stage.ranks(table, task.ref.path))
            ids.append(pc.cast(table[schema.ID], pa.string()))
    hi, lo = np.concatenate([np.zeros(0, np.uint64), *his]), np.concatenate([np.zeros(0, np.uint64), *los])
    keyed, rank = np.concatenate([np.zeros(0, bool), *keyeds]), np.concatenate([np.zeros(0, np.int64), *ranks])
    write_parquet(pa.table({"hi": hi, "lo": lo, "keyed": keyed, "rank": rank}, schema=KEYS),
                  keys_url(plan, task.source))
    rows = np.flatnonzero(keyed)
    order, starts = group_firsts(hi[rows], lo[rows], rank[rows], rows)
    winners = rows[order[starts]]
    counts = np.diff(np.append(np.flatnonzero(starts), len(order)))
    id_column = pa.chunked_array(ids, pa.string()).take(pa.array(winners))
    table = pa.table({"hi": hi[winners], "lo": lo[winners], "rank": rank[winners],
                      "source": np.full(len(winners), task.source, np.int64), "row": winners, "count": counts,
                      "id": id_column}, schema=LOCAL)
    write_partitioned(table, partition_of(hi[winners].view(np.int64), plan.partitions), plan.partitions,
                      task.local.url(task.source))
    return {"docs": len(hi), "rows_in": len(hi), "files": 2, "cpu_s": time.process_time() - start}


@dataclass(frozen=True)
class DecideTask:
    partition: int
    plan: GroupedPlan
    local: Files
    losses: Files  # out: (key, losing shard, kept id) by the losing shard's write group

    @property
    def key(self) -> str:
        return f"p{self.partition}"


def decide_task(task: DecideTask) -> dict[str, Any]:
    """Of each key in this partition, the best local winner wins; the others lose to it."""
    start = time.process_time()
    plan = task.plan
    rows = read_partition(task.local.urls(), task.partition, schema=LOCAL)
    hi, lo = rows["hi"].to_numpy(), rows["lo"].to_numpy()
    source, count = rows["source"].to_numpy(), rows["count"].to_numpy()
    order, starts = group_firsts(hi, lo, rows["rank"].to_numpy(), source, rows["row"].to_numpy())
    group = np.cumsum(starts) - 1
    winner = order[starts][group]  # for each row in sorted order, its key's winning row
    lost = order[~starts]
    kept_id = rows["id"].take(pa.array(winner[~starts]))
    write_partitioned(pa.table({"hi": hi[lost], "lo": lo[lost], "source": source[lost], "kept_id": kept_id},
                               schema=LOSSES), plan.group_of_source(source[lost]), plan.groups,
                      task.losses.url(task.partition))
    sizes = np.bincount(group, weights=count[order]).astype(np.int64) if len(order) else np.zeros(0, np.int64)
    firsts = order[starts]
    duplicated = np.flatnonzero(sizes > 1)
    largest = duplicated[np.argsort(-sizes[duplicated], kind="stable")[:EXAMPLE_GROUPS]]
    return {
        "sizes": {str(s): n for s, n in Counter(sizes[duplicated].tolist()).items()},
        "largest": [[int(hi[firsts[g]]), int(lo[firsts[g]]), int(sizes[g])] for g in largest],
        "rows_in": rows.num_rows, "files": 1, "cpu_s": time.process_time() - start,
    }


@dataclass(frozen=True)
class ShardOutput:
    source: int
    ref: ShardRef
    output_path: str
    removed_path: str


@dataclass(frozen=True)
class KeyedWriteTask:
    group: int
    plan: GroupedPlan
    shards: tuple[ShardOutput, ...]
    reason: str
    losses: Files
    examples: tuple[tuple[int, int], ...]  # keys of the groups shown in the report

    @property
    def key(self) -> str:
        return f"g{self.group}"


def keyed_write_task(task: KeyedWriteTask) -> dict[str, Any]:
    start = time.process_time()
    losses = read_partition(task.losses.urls(), task.group, schema=LOSSES)
    lost_source = losses["source"].to_numpy()
    results = []
    for shard in task.shards:
        shard_start = time.process_time()
        mine = pa.array(np.flatnonzero(lost_source == shard.source))
        result = write_keyed_shard(task, shard, losses.take(mine))
        results.append({**result, "cpu_s": time.process_time() - shard_start})
    return {"shards": results, "rows_in": losses.num_rows + sum(r["docs_in"] for r in results),
            "files": sum(r["files"] for r in results), "cpu_s": time.process_time() - start}


def write_keyed_shard(task: KeyedWriteTask, shard: ShardOutput, losses: pa.Table) -> dict[str, Any]:
    """Decide each row of one shard (as its keys task did, plus the keys its winners lost) and write it."""
    with storage.open_input(keys_url(task.plan, shard.source)) as f:
        keys = pq.read_table(f)
    with storage.open_input(shard.ref.path) as f:
        ids = pc.cast(pq.read_table(f, columns=[schema.ID])[schema.ID], pa.string())
    hi, lo, rank = keys["hi"].to_numpy(), keys["lo"].to_numpy(), keys["rank"].to_numpy()
    rows = np.flatnonzero(keys["keyed"].to_numpy())
    order, starts = group_firsts(hi[rows], lo[rows], rank[rows], rows)
    winner_of = np.arange(len(hi))  # each row's kept document in this shard (itself if unkeyed)
    winner_of[rows[order]] = rows[order[starts]][np.cumsum(starts) - 1]
    removed = winner_of != np.arange(len(hi))
    duplicate_of = ids.take(pa.array(winner_of)).combine_chunks()
    # Keys whose local winner lost elsewhere: every row of the key goes, as a duplicate of that winner.
    winners = rows[order[starts]]
    lost = match_keys(hi[winners], lo[winners], losses["hi"].to_numpy(), losses["lo"].to_numpy())
    gone_to = np.full(len(hi), -1, np.int64)
    gone_to[winners[lost >= 0]] = lost[lost >= 0]
    gone_to = gone_to[winner_of]
    outside = gone_to >= 0
    removed |= outside
    if outside.any():
        kept_ids = losses["kept_id"].combine_chunks().take(pa.array(np.maximum(gone_to, 0)))
        duplicate_of = pc.if_else(pa.array(outside), kept_ids, duplicate_of)
    keyed = keys["keyed"].to_numpy()
    example_rows = {int(row): key for key in task.examples
                    for row in np.flatnonzero((hi == np.uint64(key[0])) & (lo == np.uint64(key[1])) & keyed)[:EXAMPLE_MEMBERS]}
    files, excerpts = write_kept_and_removed(shard.ref.path, shard.output_path, shard.removed_path,
                                             ShardSplit(removed, duplicate_of, task.reason, examples=example_rows))
    return {
        "docs_in": len(hi), "docs_out": int((~removed).sum()), "removed": int(removed.sum()), "files": files,
        "examples": [{"hi": key[0], "lo": key[1], "kept": not bool(removed[row]), **excerpts[row]}
                     for row, key in example_rows.items()],
    }
