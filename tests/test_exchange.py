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
    monkeypatch.setattr(exchange, "MAX_ROW_GROUP_ROWS", 3)  # several row groups per partition
    url = str(tmp_path / "a.parquet")
    exchange.write_partitioned(pa.table({"v": list(range(10))}), np.array([2] * 10), 3, url)
    assert pq.ParquetFile(url).metadata.num_row_groups == 4
    assert exchange.read_partition([url], 2).column("v").to_pylist() == list(range(10))
    empty = exchange.read_partition([url], 0)
    assert empty.num_rows == 0 and empty.schema.names == ["v"] and empty.schema.metadata is None
    none = str(tmp_path / "none.parquet")
    exchange.write_partitioned(pa.table({"v": pa.array([], pa.int64())}), np.array([]), 3, none)
    assert exchange.read_partition([none], 1).num_rows == 0


def test_wrong_input_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"in \[0, 2\)"):
        exchange.write_partitioned(pa.table({"v": [1]}), np.array([2]), 2, str(tmp_path / "x.parquet"))
    plain = str(tmp_path / "plain.parquet")
    pq.write_table(pa.table({"v": [1]}), plain)
    with pytest.raises(ValueError, match="not a partitioned exchange file"):
        exchange.read_partition([plain], 0)
