from fineweb_pipe.report.units import compact, count, duration, share, size


def test_compact_counts_fit_an_axis_tick() -> None:
    assert [compact(v) for v in (0, 7, 950, 1500, 2_000_000, 123_456_789)] == ["0", "7", "950", "1.5k", "2M", "123M"]


def test_exact_counts_sizes_durations_and_shares() -> None:
    assert count(1234567) == "1,234,567"
    assert count(None) == "—"
    assert size(999) == "999 B"
    assert size(480_311_207) == "480 MB"
    assert duration(0.25) == "250 ms"
    assert duration(83.2) == "1m 23s"
    assert duration(7300) == "2h 01m"  # minutes are cut, not rounded up
    assert share(1, 3) == "33.3%"
    assert share(1, 100_000) == "<0.1%"
    assert share(5, 0) == "—"
