"""The partitioned exchange: one file per map task, each reducer gets exactly its partition's rows."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fineweb_pipe import exchange


def test_each_partition_gets_its_rows_in_map_order(tmp_path):
    urls = []
    expected: dict[int, list[int]] = {k: [] for k in range(4)}
    for m in range(3):
        values = np.arange(m * 100, m * 100 + 50)
        parts = values % 4
        url = str(tmp_path / f"map{m}.parquet")
        counts = exchange.write_partitioned(pa.table({"v": values}), parts, 4, url)
        assert counts == [int((parts == k).sum()) for k in range(4)]
        assert exchange.partition_rows(url) == counts
        urls.append(url)
        for k in range(4):
            expected[k] += values[parts == k].tolist()
    for k in range(4):
        assert exchange.read_partition(urls, k).column("v").to_pylist() == expected[k]
    assert len(list(tmp_path.iterdir())) == 3  # one file per map task, not per (task, partition)


def test_empty_partitions_and_empty_files(tmp_path, monkeypatch):
    monkeypatch.setattr(exchange, "MAX_BATCH_ROWS", 3)  # several batches per partition
    url = str(tmp_path / "a.parquet")
    exchange.write_partitioned(pa.table({"v": list(range(10))}), np.array([2] * 10), 3, url)
    assert [t.num_rows for t in exchange.iter_partition([url], 2)] == [3, 3, 3, 1]
    assert exchange.read_partition([url], 2).column("v").to_pylist() == list(range(10))
    empty = exchange.read_partition([url], 0)
    assert empty.num_rows == 0 and empty.schema.names == ["v"]
    none = str(tmp_path / "none.parquet")
    exchange.write_partitioned(pa.table({"v": pa.array([], pa.int64())}), np.array([]), 3, none)
    assert exchange.read_partition([none], 1).num_rows == 0


def test_a_reducer_reads_its_partition_not_an_index_that_grows_with_the_partitions(tmp_path, monkeypatch):
    partitions = 5000
    url = str(tmp_path / "wide.parquet")
    values = np.arange(20_000)
    exchange.write_partitioned(pa.table({"v": values}), values % partitions, partitions, url)
    reads: list[int] = []
    real = exchange.storage.read_range

    def counted(path, start, end=None):
        data = real(path, start, end)
        reads.append(len(data))
        return data

    monkeypatch.setattr(exchange.storage, "read_range", counted)
    assert exchange.read_partition([url], 1234).column("v").to_pylist() == [1234, 6234, 11234, 16234]
    assert len(reads) == 3 and reads[0] + reads[1] < 100  # trailer and one index entry, then the data
    reads.clear()
    run = list(exchange.iter_partitions([url], range(10, 20)))
    assert sorted(v for t in run for v in t.column("v").to_pylist()) == sorted(v for v in values if 10 <= v % partitions < 20)
    assert len(reads) == 3  # a run of partitions is one read of data


def test_on_an_object_store(tmp_path):
    from s3_server import s3_server

    with s3_server("exchange") as env:
        import os

        saved = dict(os.environ)
        os.environ.update(env)
        try:
            url = "s3://exchange/round/map0.parquet"
            exchange.write_partitioned(pa.table({"v": [1, 2, 3, 4]}), np.array([1, 0, 1, 0]), 2, url)
            assert exchange.read_partition([url], 1).column("v").to_pylist() == [1, 3]
            assert exchange.partition_rows(url) == [2, 2]
        finally:
            os.environ.clear()
            os.environ.update(saved)


def test_wrong_input_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"in \[0, 2\)"):
        exchange.write_partitioned(pa.table({"v": [1]}), np.array([2]), 2, str(tmp_path / "x.parquet"))
    plain = str(tmp_path / "plain.parquet")
    pq.write_table(pa.table({"v": [1]}), plain)
    with pytest.raises(ValueError, match="not a partitioned exchange file"):
        exchange.read_partition([plain], 0)
    url = str(tmp_path / "two.parquet")
    exchange.write_partitioned(pa.table({"v": [1]}), np.array([0]), 2, url)
    with pytest.raises(ValueError, match="has 2 partitions; partitions 2-2 were asked for"):
        exchange.read_partition([url], 2)
