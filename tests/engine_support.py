"""Small stages and helpers shared by the engine tests (importable from a Ray worker too)."""

from __future__ import annotations

import glob
import hashlib
import json
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from fineweb_pipe.pipeline import Pipeline
from fineweb_pipe.stage import Drop, Filter, Resources, Transform

# Timings and absolute paths differ between otherwise identical runs.
TIMING_KEYS = {"wall_s", "cpu_s", "started", "phases", "engine", "workers", "output", "train_s", "folder"}


class HtmlLength(Transform):
    def transform(self, batch: pa.Table) -> pa.Table:
        return batch.append_column("html_chars", pa.array([len(h) for h in batch.column("html").to_pylist()]))


class HtmlAsText(Transform):
    """The HTML as ``text``: what text stages (dedup, tokenization) need, without an extractor's cost."""

    def transform(self, batch: pa.Table) -> pa.Table:
        return batch.append_column("text", batch.column("html"))


class DropShortHtml(Filter):
    def __init__(self, min_chars: int = 2700) -> None:
        self.min_chars = min_chars

    def decide(self, batch: pa.Table) -> Sequence[Drop | None]:
        return [None if n >= self.min_chars else Drop("short_html", n) for n in batch.column("html_chars").to_pylist()]


class KeepHttpsOnly(Filter):
    """Keeps removed documents (in removed/<stage>/, with their ``scheme`` column as the partition)."""

    keep_removed = True
    removed_partition = "scheme"

    def decide(self, batch: pa.Table) -> Sequence[Drop | None]:
        return [None if u.startswith("https://") else Drop("not_https", u.split(":", 1)[0]) for u in batch.column("url").to_pylist()]

    def process(self, batch: pa.Table):  # type: ignore[override]
        batch = batch.append_column("scheme", pa.array([u.split(":", 1)[0] for u in batch.column("url").to_pylist()]))
        return super().process(batch)


class MissingModel(Transform):
    """A stage whose per-worker setup fails, as one with a missing model file does."""

    def setup(self) -> None:
        raise FileNotFoundError("no model at /nonexistent/lid.bin; download it first")

    def transform(self, batch: pa.Table) -> pa.Table:
        return batch


class ScoresOnGpu(Transform):
    """Declares a GPU, as a neural classifier on CUDA does (the work itself is trivial)."""

    resources = Resources(num_cpus=1.0, num_gpus=1.0, memory_mb=100)

    def transform(self, batch: pa.Table) -> pa.Table:
        return batch.append_column("gpu_score", pa.array([0.5] * batch.num_rows))


class CountHttps(Transform):
    """A stage written as the docs describe: worker state built in ``setup()`` (a lock, which does not
    pickle), counts reported with ``count()``; no pickling or lazy-setup code of its own."""

    worker_state = ("_lock",)
    _lock: threading.Lock

    def setup(self) -> None:
        self._lock = threading.Lock()

    def transform(self, batch: pa.Table) -> pa.Table:
        with self._lock:
            self.count("https_pages", sum(u.startswith("https://") for u in batch.column("url").to_pylist()))
        return batch


class CrashAfter(Transform):
    """Raises on its N-th batch while the marker file exists: a crash in the middle of a run."""

    def __init__(self, marker: str, after: int) -> None:
        self.marker = marker
        self.after = after
        self.calls = 0

    def transform(self, batch: pa.Table) -> pa.Table:
        self.calls += 1
        if self.calls > self.after and os.path.exists(self.marker):
            raise RuntimeError("simulated crash")
        return batch


def make_pipeline(*extra: Any) -> Pipeline:
    return Pipeline([HtmlLength(), KeepHttpsOnly(), DropShortHtml(), *extra], name="engine-test")


def output_digest(output: str) -> str:
    """Digest of every output file's bytes, and of stats.json without timing fields."""
    digest = hashlib.sha256()
    for path in sorted(glob.glob(os.path.join(output, "documents", "*.parquet")) +
                       glob.glob(os.path.join(output, "removed", "**", "*.parquet"), recursive=True) +
                       glob.glob(os.path.join(output, "tokens", "*"))):
        digest.update(os.path.relpath(path, output).encode())
        with open(path, "rb") as f:
            digest.update(f.read())
    with open(os.path.join(output, "stats.json"), encoding="utf-8") as f:
        digest.update(json.dumps(strip_timing(json.load(f)), sort_keys=True).encode())
    return digest.hexdigest()


def strip_timing(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: strip_timing(v) for k, v in value.items() if k not in TIMING_KEYS}
    if isinstance(value, list):
        return [strip_timing(v) for v in value]
    return value


def fails_first(item: int) -> int:
    """A round's task: the first fails at once, the others would run for two minutes."""
    if item == 0:
        raise ValueError("task 0 failed on its input")
    time.sleep(120)
    return item


# Where a document was read from differs between the two runs by design (a local path, an s3:// URL); the
# rest of every file must be the same.
LOCATION_COLUMNS = ("source_file",)
LOCATION_KEYS = {"input_files", "output", "notes"}


def output_contents(folder: Path) -> dict[str, Any]:
    """Every output of a run, as a user reads it: documents and removed documents as rows (without the
    location columns), token files as bytes, stats.json without timings and locations."""
    contents: dict[str, Any] = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if relative.startswith(("documents/", "removed/")) and path.suffix == ".parquet":
            table = pq.read_table(path)
            contents[relative] = table.drop_columns([c for c in LOCATION_COLUMNS if c in table.column_names]).to_pylist()
        elif relative.startswith("tokens/") and path.is_file():
            contents[relative] = path.read_bytes() if path.name != "manifest.json" else \
                strip_timing(json.loads(path.read_text()))
    stats = strip_timing(json.loads((folder / "stats.json").read_text()))
    stats["run"] = {k: v for k, v in stats["run"].items() if k not in LOCATION_KEYS}
    contents["stats.json"] = stats
    return contents
