from typing import Any

from fineweb_pipe.report.blocks import Chart, Clusters, Figures, Samples, Table
from fineweb_pipe.report.sections import build_sections, dedup_section, pii_section, removals_section, tokens_section

SECTION_IDS = ["funnel", "removals", "kept", "languages", "lengths", "dedup", "pii", "tokens", "run"]


def test_a_full_run_fills_every_section(stats: dict[str, Any]) -> None:
    sections = build_sections(stats)
    assert [s.id for s in sections] == SECTION_IDS
    assert all(not s.missing and s.blocks for s in sections)


def test_a_bare_run_says_what_is_not_in_it() -> None:
    bare = {"format": 1, "run": {}, "reader": {"documents": 10, "bytes": 100}, "stages": []}
    missing = {s.id: s.missing for s in build_sections(bare)}
    assert missing["funnel"] == "" and missing["run"] == ""
    for section in ("removals", "kept", "languages", "lengths", "dedup", "pii", "tokens"):
        assert missing[section], section


def test_removal_samples_carry_the_failing_value(stats: dict[str, Any]) -> None:
    samples = [b for b in removals_section(stats).blocks if isinstance(b, Samples)]
    by_title = {s.title: s for s in samples}
    too_few = by_title["gopher_quality · too_few_words"]
    assert [d.value for d in too_few.documents] == ["7", "41", "12"]
    assert too_few.note == "512 removed; 3 sampled."
    assert by_title["c4_quality · curly_bracket"].documents[0].value == ""  # a null value shows nothing


def test_pii_counts_per_entity_and_per_document(stats: dict[str, Any]) -> None:
    blocks = pii_section(stats).blocks
    figures = dict(next(b for b in blocks if isinstance(b, Figures)).items)
    assert figures["documents with PII"] == "377 (12.5%)"
    assert figures["entities found"] == "565"
    table = next(b for b in blocks if isinstance(b, Table))
    assert table.rows[0] == ["EMAIL_ADDRESS", "412", "0.1368", "72.9%"]
    assert [row[0] for row in table.rows] == ["EMAIL_ADDRESS", "IP_ADDRESS", "PHONE_NUMBER"]  # no pii_docs_*


def test_dedup_shows_clusters_with_their_members_kept_and_removed(stats: dict[str, Any]) -> None:
    blocks = dedup_section(stats).blocks
    figures = dict(next(b for b in blocks if isinstance(b, Figures)).items)
    assert figures["documents removed"] == "391" and figures["documents in clusters"] == "603"
    clusters = next(b for b in blocks if isinstance(b, Clusters)).clusters
    assert [(c.size, len(c.documents)) for c in clusters] == [(31, 3), (2, 2)]
    assert [c.summary for c in clusters] == ["31 documents, 3 shown", "2 documents"]
    assert [d.tag for d in clusters[0].documents] == ["kept", "removed", "removed"]
    assert clusters[1].documents[1].url == "https://local.example/2024/river"


def test_dedup_reads_cluster_sizes_as_a_mapping_or_a_histogram(stats: dict[str, Any]) -> None:
    stats["sections"]["dedup"]["cluster_sizes"] = {str(size): 1 for size in range(2, 60)}
    binned = next(b for b in dedup_section(stats).blocks if isinstance(b, Chart))
    assert binned.numbers is not None and len(binned.numbers.rows) < 20
    stats["sections"]["dedup"]["cluster_sizes"] = {"edges": [1, 2, 5], "counts": [0, 7, 2]}
    assert next(b for b in dedup_section(stats).blocks if isinstance(b, Chart)).numbers.rows == [
        ["2 – 5", "7"], ["5 – ∞", "2"]]


def test_unknown_keys_are_ignored(stats: dict[str, Any]) -> None:
    stats["sections"]["tokens"]["new_field"] = {"anything": [1, 2]}
    stats["sections"]["shuffle"] = {"seed": 3}
    stats["stages"][0]["counters"]["extractor_timeouts"] = 2
    assert [s.id for s in build_sections(stats)] == SECTION_IDS


def test_tokens_read_the_tokenizer_section(stats: dict[str, Any]) -> None:
    blocks = tokens_section(stats).blocks
    figures = dict(next(b for b in blocks if isinstance(b, Figures)).items)
    assert figures["tokens"] == "4,218,655" and figures["documents"] == "3,011" and figures["shards"] == "5"
    per_shard = next(b for b in blocks if isinstance(b, Chart)).numbers
    assert per_shard is not None and per_shard.rows[0] == ["fineweb_val_000000.bin", "211,880"]


def test_tokens_make_whitespace_visible(stats: dict[str, Any]) -> None:
    chart = [b for b in tokens_section(stats).blocks if isinstance(b, Chart)][-1]
    assert chart.numbers is not None
    assert [row[0] for row in chart.numbers.rows[:4]] == ["␣the", ",", ".", "⏎"]
