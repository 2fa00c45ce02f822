"""Exact and URL dedup on corpora written here, with the documents each must remove: in-process with one
and with several partitions and write groups, resumed, on an embedded Ray and with the work folder on a
local S3 server."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from s3_server import s3_server

from fineweb_pipe import storage
from fineweb_pipe.dedup import ExactDedup, UrlDedup, normalize_url
from fineweb_pipe.dedup.keyed import KeyedDedup
from fineweb_pipe.engine.context import PhaseContext
from fineweb_pipe.stage import ShardRef

#: (id, url, date, text) per shard.
SHARDS: dict[str, list[tuple[str, str | None, str | None, str | None]]] = {
    "a": [("a0", "http://Example.com:80/page/?utm_source=news#top", "2024-01-05T00:00:00Z", "Hello world"),
          ("a1", "http://example.com/page", "2024-03-01T00:00:00Z", "hello   World"),
          ("a2", "https://example.com/page", "2024-01-01T00:00:00Z", "Hello world"),
          ("a3", "http://example.com/item?id=1", "2024-02-01T00:00:00Z", "Something else entirely")],
    "b": [("b0", "http://example.com/item?id=1&utm_medium=mail", "2024-02-01T00:00:00Z", "Hello world"),
          ("b1", "HTTP://EXAMPLE.COM/page/", None, "Hello, world!"),
          ("b2", None, "2024-05-01T00:00:00Z", None),
          ("b3", "http://example.com:8080/page", "2024-06-01T00:00:00Z", "Hello world, a longer text")],
    "c": [("c0", "http://example.com/page", "2024-03-01T00:00:00Z", "Hello   world  "),
          ("c1", "http://example.com/item?id=2", "2024-02-01T00:00:00Z", None),
          ("c2", "http://example.com/item?id=1", "2024-01-01T00:00:00Z", "Something else entirely")],
}

# Removed id -> the id kept in its place, per stage setting.
EXPECTED: dict[str, dict[str, str]] = {
    # "Hello world" x3 and "Something else entirely" x2; b2 and c1 have no text and are kept.
    "exact": {"a2": "a0", "b0": "a0", "c2": "a3"},
    # and "hello   World", "Hello   world  " fold into "hello world".
    "exact_whitespace_case": {"a1": "a0", "a2": "a0", "b0": "a0", "c0": "a0", "c2": "a3"},
    # and "Hello, world!" (punctuation and case); the longest text of the group is kept.
    "exact_minhash_longest": {"a0": "c0", "a1": "c0", "a2": "c0", "b0": "c0", "b1": "c0", "c2": "a3"},
    # http://example.com/page: a0, a1, b1, c0 (a1 and c0 share the latest date: input order keeps a1);
    # .../item?id=1: a3, b0 (same date: a3), c2; https and port 8080 are other URLs; b2 has none.
    "url_latest": {"a0": "a1", "b1": "a1", "c0": "a1", "b0": "a3", "c2": "a3"},
    "url_first": {"a1": "a0", "b1": "a0", "c0": "a0", "b0": "a3", "c2": "a3"},
    "url_longest": {"a1": "c0", "a0": "c0", "b1": "c0", "b0": "a3", "c2": "a3"},
}


def stages() -> dict[str, KeyedDedup]:
    return {"exact": ExactDedup(), "exact_whitespace_case": ExactDedup(normalize="whitespace_case"),
            "exact_minhash_longest": ExactDedup(normalize="minhash", keep="longest"),
            "url_latest": UrlDedup(), "url_first": UrlDedup(keep="first"), "url_longest": UrlDedup(keep="longest")}


def write_corpus(folder: Path) -> list[ShardRef]:
    folder.mkdir(parents=True, exist_ok=True)
    refs = []
    for shard, rows in SHARDS.items():
        ids, urls, dates, texts = (list(column) for column in zip(*rows))
        path = folder / f"{shard}.parquet"
        pq.write_table(pa.table({"id": ids, "url": pa.array(urls, pa.string()), "date": pa.array(dates, pa.string()),
                                 "text": pa.array(texts, pa.string())}), path, row_group_size=2)
        refs.append(ShardRef(shard, str(path)))
    return refs


@pytest.fixture
def corpus(tmp_path: Path) -> list[ShardRef]:
    return write_corpus(tmp_path / "corpus")


def removals(ctx: PhaseContext, stage: KeyedDedup) -> dict[str, str]:
    """Each removed id with the id it duplicates, read back from the run's removed files; and checks that
    every input document is in exactly one of the outputs."""
    removed: dict[str, str] = {}
    kept: list[str] = []
    for ref in ctx.inputs:
        with storage.open_input(ctx.output_path(ref.shard)) as f:
            kept += pq.read_table(f, columns=["id"])["id"].to_pylist()
        url = storage.join(ctx.run_dir, "removed", stage.name, f"{ref.shard}.parquet")
        if storage.exists(url):
            with storage.open_input(url) as f:
                rows = pq.read_table(f).to_pydict()
            assert set(rows["drop_reason"]) == {stage.reason}
            removed.update(zip(rows["id"], rows["duplicate_of"]))
    assert sorted(kept + list(removed)) == sorted(doc[0] for rows in SHARDS.values() for doc in rows)
    assert set(removed.values()) <= set(kept)
    return removed


def run(stage: KeyedDedup, inputs: list[ShardRef], run_dir: Path) -> PhaseContext:
    ctx = PhaseContext.local(stage.name, inputs, str(run_dir))
    stage.run(ctx)
    return ctx


@pytest.mark.parametrize("setting", list(EXPECTED))
def test_each_setting_removes_exactly_the_expected_documents(setting: str, corpus: list[ShardRef],
                                                             tmp_path: Path) -> None:
    stage = stages()[setting]
    one = run(stage, corpus, tmp_path / "one")
    assert removals(one, stage) == EXPECTED[setting]
    # Many partitions and one write group per shard: the same decisions.
    stage.docs_per_partition = 2
    many = run(stage, corpus, tmp_path / "many")
    assert many.sections[stage.name]["partitions"] == 6 and many.sections[stage.name]["write_groups"] == 3
    assert removals(many, stage) == EXPECTED[setting]


def test_stats_section_and_per_shard_counts(corpus: list[ShardRef], tmp_path: Path) -> None:
    stage = ExactDedup(normalize="whitespace_case")
    ctx = run(stage, corpus, tmp_path)
    assert {s: (c.docs_in, c.docs_out, dict(c.dropped)) for s, c in ctx.counts.items()} == {
        "a": (4, 2, {"exact_duplicate": 2}), "b": (4, 3, {"exact_duplicate": 1}), "c": (3, 1, {"exact_duplicate": 2})}
    section = ctx.sections["exact_dedup"]
    assert section["method"] == "exact" and section["key"] == {"column": "text", "normalize": "whitespace_case"}
    assert (section["docs_in"], section["removed"], section["groups"]) == (11, 5, 2)
    assert section["group_sizes"] == {"2": 1, "5": 1}
    largest = section["examples"][0]
    assert largest["size"] == 5 and len(largest["members"]) == 5
    assert [m["id"] for m in largest["members"] if m["kept"]] == ["a0"] and largest["members"][0]["kept"]
    assert section["examples"][1]["size"] == 2


def test_a_resume_repeats_nothing(corpus: list[ShardRef], tmp_path: Path) -> None:
    stage = UrlDedup()
    ctx = run(stage, corpus, tmp_path)
    written = {ref.shard: Path(ctx.output_path(ref.shard)).stat().st_mtime_ns for ref in corpus}
    again = run(stage, corpus, tmp_path)
    assert removals(again, stage) == EXPECTED["url_latest"]
    assert written == {ref.shard: Path(ctx.output_path(ref.shard)).stat().st_mtime_ns for ref in corpus}


def test_urls_normalise_as_documented() -> None:
    assert normalize_url(" HTTPS://WWW.Example.COM:443/a/b/?utm_campaign=x&q=1#frag ") == "https://www.example.com/a/b?q=1"
    assert normalize_url("http://example.com:8080/") == "http://example.com:8080"
    assert normalize_url("http://user:pw@Example.com/x?fbclid=1") == "http://user:pw@example.com/x"
    assert normalize_url("http://example.com/?utm_source=a", drop_params=()) == "http://example.com?utm_source=a"
    assert normalize_url("http://[::1/") == "http://[::1/"  # does not parse: compared as it is


def test_a_missing_column_or_a_bad_date_names_the_shard(corpus: list[ShardRef], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"a\.parquet: exact_dedup needs the column\(s\) \['body'\]"):
        run(ExactDedup(text_column="body"), corpus, tmp_path / "column")
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"id": ["x"], "url": ["http://a"], "date": ["yesterday"], "text": ["t"]}), bad)
    with pytest.raises(ValueError, match="bad.parquet: the date column holds a value that is not an ISO 8601 date"):
        run(UrlDedup(), [ShardRef("bad", str(bad))], tmp_path / "date")


@pytest.mark.ray
@pytest.mark.slow
def test_on_ray_the_same_decisions(corpus: list[ShardRef], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fineweb_pipe.engine.ray_executor import RayExecutor

    monkeypatch.setenv("RAY_TMPDIR", tempfile.mkdtemp(prefix="fwp-", dir="/tmp"))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    with RayExecutor(workers=2) as executor:
        for setting in ("exact_whitespace_case", "url_latest"):
            stage = stages()[setting]
            stage.docs_per_partition = 4
            ctx = PhaseContext.local(stage.name, corpus, str(tmp_path / setting))
            ctx.mapper = executor.map
            stage.run(ctx)
            assert removals(ctx, stage) == EXPECTED[setting]
            assert ctx.sections[stage.name]["removed"] == len(EXPECTED[setting])


BUCKET = "keyed"


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from s3fs import S3FileSystem

    with s3_server(BUCKET) as env:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        S3FileSystem.clear_instance_cache()  # an earlier file system would point at another endpoint
        yield
        S3FileSystem.clear_instance_cache()


@pytest.mark.slow
def test_inputs_work_folder_and_outputs_on_s3(s3: None, corpus: list[ShardRef], tmp_path: Path) -> None:
    fs, _ = storage.filesystem(f"s3://{BUCKET}")
    remote = []
    for ref in corpus:
        url = f"s3://{BUCKET}/crawl/{ref.shard}.parquet"
        fs.put_file(ref.path, url)
        remote.append(ShardRef(ref.shard, url))
    run_dir = f"s3://{BUCKET}/run"
    for setting in ("exact_minhash_longest", "url_latest"):
        stage = stages()[setting]
        stage.docs_per_partition = 4
        ctx = PhaseContext(stage_name=stage.name, inputs=remote, work_dir=f"{run_dir}/_work/{stage.name}",
                           run_dir=run_dir, output_dir=f"{run_dir}/{stage.name}")
        stage.run(ctx)
        assert removals(ctx, stage) == EXPECTED[setting]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus"]  # nothing written locally


def test_the_report_draws_a_section_per_stage(corpus: list[ShardRef], tmp_path: Path) -> None:
    from fineweb_pipe.report.blocks import Clusters, Figures
    from fineweb_pipe.report.sections import build_sections

    exact, url = run(ExactDedup(), corpus, tmp_path / "exact"), run(UrlDedup(), corpus, tmp_path / "url")
    stats = {"stages": [], "sections": {**exact.sections, **url.sections}}
    drawn = {s.id: s for s in build_sections(stats)}
    assert drawn["exact_dedup"].title == "Exact duplicates (exact_dedup)"
    assert drawn["url_dedup"].title == "URL duplicates (url_dedup)"
    figures = next(b for b in drawn["url_dedup"].blocks if isinstance(b, Figures))
    assert ("documents removed", "5") in figures.items and ("groups", "2") in figures.items
    groups = next(b for b in drawn["url_dedup"].blocks if isinstance(b, Clusters))
    assert [c.size for c in groups.clusters] == [4, 3]
    assert [d.tag for d in groups.clusters[0].documents] == ["kept", "removed", "removed", "removed"]
