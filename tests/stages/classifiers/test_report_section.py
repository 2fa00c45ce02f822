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


def test_kept_samples_are_shown_under_the_bucket_of_their_score() -> None:
    counters = {f"score_hist:quality_hq:{e / 10:g}": n for e, n in enumerate([5, 1, 0, 0, 0, 0, 0, 0, 1, 3])}
    kept = [{"id": "k1", "url": "u1", "text": "good", "scores": {"quality_hq": 0.95, "language_score": 0.9}},
            {"id": "k2", "url": "u2", "text": "fine", "scores": {"quality_hq": 0.81}},
            {"id": "k3", "url": "u3", "text": "no score"}]
    stats = {"stages": [{"name": "dclm", "docs_in": 10, "docs_out": 4, "counters": counters, "dropped": {}}],
             "samples": {"removed": {}, "kept": kept}}
    samples = [b for b in classifiers_section(stats).blocks if isinstance(b, Samples)]
    assert [(s.title, [d.id for d in s.documents]) for s in samples] == [
        ("dclm · kept, quality_hq 0.80–0.90", ["k2"]), ("dclm · kept, quality_hq 0.90+", ["k1"])]
    assert samples[1].documents[0].value == "0.95"


def test_a_real_run_s_kept_samples_carry_their_scores(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from fineweb_pipe.engine.shard import ShardDone, ShardOutputs, ShardTask, process_shard
    from fineweb_pipe.readers import WarcReader
    from fineweb_pipe.sample import write_sample_warc
    from fineweb_pipe.stages.extraction import TrafilaturaExtractor
    from fineweb_pipe.stages.language import LanguageFilter

    path = write_sample_warc(str(tmp_path / "a.warc.gz"), pages=20, seed=1)
    stages = [TrafilaturaExtractor(timeout_s=None), LanguageFilter(languages=None)]
    outputs = ShardOutputs(str(tmp_path / "a.parquet"), (), str(tmp_path / "a.json"))
    events = list(process_shard(ShardTask("a", path, WarcReader(), outputs), stages))
    kept = [s for e in events if isinstance(e, ShardDone) for s in e.record.stats.kept]
    assert kept and all(0.0 <= s["scores"]["language_score"] <= 1.0 for s in kept)
