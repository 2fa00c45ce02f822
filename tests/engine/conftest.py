"""A small crawl of sample WARC files shared by the engine tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from fineweb_pipe.sample import write_sample_warc


@pytest.fixture(scope="session")
def crawl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("crawl")
    for seed in range(3):
        write_sample_warc(str(folder / f"part-{seed}.warc.gz"), pages=60, seed=seed)
    return folder
