"""The live display of a global stage's rounds: tasks done of all, rate, time left."""

from __future__ import annotations

import pytest

from fineweb_pipe.engine.progress import Progress


def test_a_round_shows_tasks_done_rate_and_time_left(capsys: pytest.CaptureFixture[str]) -> None:
    progress = Progress()
    done = progress.round("01-minhash_dedup", "buckets")
    done(1, 4)  # the first line is due at once
    done(4, 4)  # the last always
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0].startswith("[01-minhash_dedup] buckets: 1/4 tasks (") and lines[0].endswith(" left)")
    assert lines[-1].startswith("[01-minhash_dedup] buckets: 4/4 tasks (") and "done in" in lines[-1]
    Progress(enabled=False).round("p", "r")(1, 1)
    assert capsys.readouterr().err == ""
