"""Digest of a whole run's output: every file under documents/, removed/ and tokens/ (dedup decisions,
token shards, manifest), and stats.json without timings or paths of the output folder.

``engine_support.output_digest`` leaves tokens/ out and keeps two values that change from run to run:
``sections.tokens.training.train_s`` (a time) and ``sections.tokens.folder`` (an absolute path); the
lead is asked to add both to ``TIMING_KEYS`` there, after which this module reduces to a call of it.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from engine_support import strip_timing

RUN_VARYING_KEYS = {"train_s", "folder"}


def run_digest(output: str) -> str:
    digest = hashlib.sha256()
    for folder in ("documents", "removed", "tokens"):
        for path in sorted(Path(output, folder).rglob("*")):
            if path.is_file():
                digest.update(os.path.relpath(path, output).encode())
                digest.update(path.read_bytes())
    stats = json.loads(Path(output, "stats.json").read_text(encoding="utf-8"))
    digest.update(json.dumps(_strip(strip_timing(stats)), sort_keys=True).encode())
    return digest.hexdigest()


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in RUN_VARYING_KEYS}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value
