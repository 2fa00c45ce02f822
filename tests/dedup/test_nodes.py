from __future__ import annotations

import numpy as np
import pytest

from fineweb_pipe.dedup.nodes import NodeLayout


def test_ten_million_sources_fit_and_their_order_is_kept() -> None:
    layout = NodeLayout.fitting(10_000_000, 1_000_000)
    rows = np.array([0, 999_999])
    last = layout.encode(np.ones(2, np.int64), 9_999_999, rows)
    first = layout.encode(np.ones(2, np.int64), 0, rows)
    assert layout.source_of(last).tolist() == [9_999_999] * 2 and layout.row_of(last).tolist() == [0, 999_999]
    assert first.max() < last.min()  # input order decides among equal priorities
    reference = layout.encode(np.zeros(1, np.int64), 9_999_999, rows[-1:])
    assert reference < first.min()  # and a reference index comes before every input
    longer = layout.priorities("longest", np.array([500_000, 400_000]))
    assert longer[0] < longer[1]


def test_too_many_sources_for_a_node_id_is_an_error_that_says_what_to_do() -> None:
    with pytest.raises(ValueError, match="merge the smallest input shards"):
        NodeLayout.fitting(2**40, 2**30)
