"""The report's classifier section: score histogram, kept share, removed samples per score bucket."""

from __future__ import annotations

from fineweb_pipe.report.blocks import Chart, Figures, Samples
from fineweb_pipe.report.sections import build_sections, classifiers_section


def test_histogram_kept_share_and_samples_per_bucket() -> None:
    counters = {f"score_hist:quality_hq:{e / 10:g}": n for e, n in enumerate([5, 1, 0, 0, 0, 0, 0, 0, 1, 3])}
    stats = {"stages": [{"name": "dclm", "docs_in": 10, "docs_out": 4, "counters": counters,
                         "dropped": {"score_0-0.1": 5, "score_0.1-0.2": 1}}],
             "samples": {"removed": {"dclm": {"score_0-0.1": [{"id": "a", "url": "u", "text": "spam", "value": "0.01"}]}}}}
    section = classifiers_section(stats)
    figures, chart, samples = section.blocks
    assert isinstance(figures, Figures) and figures.items[1][0] == "kept"
    assert isinstance(chart, Chart) and chart.numbers is not None and len(chart.numbers.rows) == 4
    assert isinstance(samples, Samples) and samples.title == "dclm · score_0-0.1" and samples.documents[0].value == "0.01"
    assert "classifiers" in [s.id for s in build_sections(stats)]
    assert classifiers_section({"stages": [{"name": "x", "counters": {"tokens": 3}}]}).missing
    assert "classifiers" not in [s.id for s in build_sections({"stages": []})]
