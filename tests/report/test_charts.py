import xml.etree.ElementTree as ET

from fineweb_pipe.report.charts import FunnelRun, Series, bar_chart, funnel_chart, hbar_chart, histogram

SVG = "{http://www.w3.org/2000/svg}"


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # well-formed XML, or this raises


def _texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def test_bar_heights_are_proportional_to_values() -> None:
    root = _parse(bar_chart(["a", "b"], [Series("docs", [10, 40])], title="t"))
    heights = [float(r.get("height")) for r in root.iter(f"{SVG}rect")]
    assert heights[1] == 4 * heights[0]


def test_labels_from_the_web_are_escaped() -> None:
    hostile = "<script>alert(1)</script>"
    for svg in (bar_chart([hostile], [Series(hostile, [1])], title=hostile),
                hbar_chart([hostile], [Series("n", [1])], title="t"),
                funnel_chart([hostile], [FunnelRun("run", [5])], title="t")):
        assert "<script>" not in svg
        assert "&lt;script&gt;" in svg
        assert not list(_parse(svg).iter(f"{SVG}script"))


def test_histogram_leaves_out_empty_bins_at_both_ends() -> None:
    edges = [0, 1, 2, 5, 10, 20]
    root = _parse(histogram(edges, [Series("docs", [0, 0, 3, 0, 4, 0])], title="t"))
    assert len(list(root.iter(f"{SVG}rect"))) == 3  # bins 2–5, 5–10 (empty, inside) and 10–20
    assert {"2–5", "5–10", "10–20"} <= set(_texts(root))


def test_two_series_get_a_legend_and_distinct_colours() -> None:
    root = _parse(hbar_chart(["en", "de"], [Series("before", [5, 3]), Series("after", [4, 0])], title="t"))
    assert {"before", "after"} <= set(_texts(root))
    assert {r.get("class") for r in root.iter(f"{SVG}rect")} == {"series-0", "series-1"}


def test_funnel_shows_counts_and_the_share_each_step_removed() -> None:
    root = _parse(funnel_chart(["input", "filter"], [FunnelRun("a", [1000, 750]), FunnelRun("b", [1000, 500])], title="t"))
    texts = _texts(root)
    assert {"1,000", "750", "500", "−25.0%", "−50.0%"} <= set(texts)
