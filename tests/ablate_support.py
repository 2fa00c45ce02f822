"""Two small "finished runs" written directly (documents/ and stats.json, no pipeline), and a tiny
ablation plan over them, for tests/ablate."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from fineweb_pipe.ablate.plan import Model, Plan


def write_run(folder: Path, texts: list[str], files: int = 2) -> Path:
    """A run output folder: ``texts`` split over ``files`` Parquet files, and a stats.json with a funnel."""
    (folder / "documents").mkdir(parents=True)
    per_file = -(-len(texts) // files)
    for part in range(files):
        chunk = texts[part * per_file:(part + 1) * per_file]
        ids = [f"{folder.name}-{part}-{i}" for i in range(len(chunk))]
        pq.write_table(pa.table({"id": ids, "text": chunk}), folder / "documents" / f"part-{part}.parquet")
    stats = {"format": 1, "reader": {"documents": 2 * len(texts), "bytes": 0},
             "stages": [{"name": "url_filter", "kind": "filter", "docs_in": 2 * len(texts), "docs_out": len(texts),
                         "bytes_out": 0, "dropped": {"blocklist": len(texts)}}]}
    (folder / "stats.json").write_text(json.dumps(stats))
    return folder


def tiny_plan(runs: dict[str, Path], **changes: object) -> Plan:
    """Two variants, 2 seeds, a 30k-parameter model, 20k tokens, 3 evaluations, on one CPU thread."""
    settings: dict[str, object] = dict(
        runs=(str(runs["prose"]), str(runs["salad"])), names=("prose", "salad"), evals=(str(runs["heldout"]),),
        tokens=20_000, seeds=2, vocab_size=400, eval_points=3, threads=1, device="cpu",
        model=Model(n_layer=1, n_head=2, d_model=32, seq_len=32, batch_size=8))
    settings.update(changes)
    return Plan(**settings)  # type: ignore[arg-type]
