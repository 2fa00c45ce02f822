"""Shared fixtures. Real evaluation data lives beside the project in ../shared/data (absent in a fresh
clone): tests that need it ask for ``shared_data`` and are skipped with a reason when it is missing."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from fineweb_pipe.sample import write_sample_warc

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("FINEWEB_PIPE_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture
def ctrl_c_raises() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt here and in the processes the test starts, as in a terminal: a shell
    starts a background job (a CI run under ``nohup ... &``) with SIGINT ignored, which Python and its
    children would inherit."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real evaluation data not found at {SHARED_DATA} (set FINEWEB_PIPE_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def crawl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small crawl of three sample WARC files, shared by the engine and reliability tests."""
    folder = tmp_path_factory.mktemp("crawl")
    for seed in range(3):
        write_sample_warc(str(folder / f"part-{seed}.warc.gz"), pages=60, seed=seed)
    return folder
