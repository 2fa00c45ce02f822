"""The report's sections, read from one run's ``stats.json`` (layout: :mod:`fineweb_pipe.stats`).

Each builder takes the whole stats document and returns a :class:`Section`; a part the run did not
produce (no dedup stage, no tokenizer...) gives a section with ``missing`` set, and keys a builder does
not know are ignored, so stats written by newer stages still render. Builders of a section per stage
(exact, URL and span dedup, decontamination) return a list, empty where no such stage ran.

Sections from global stages are read with these keys (all optional):

- ``sections.dedup`` (written by :class:`fineweb_pipe.dedup.MinHashDedup`): ``docs_in``, ``removed``,
  ``removed_share`` (0..1), ``clusters``, ``docs_in_clusters``, ``cluster_sizes`` (``{size: clusters}`` or
  a histogram ``{edges, counts}``), ``examples`` (a list of ``{size, members}``, members being
  ``{id, url, text, kept}``).
- ``sections.<stage name>`` with ``method`` "exact" or "url" (written by :class:`fineweb_pipe.dedup.ExactDedup`
  and :class:`fineweb_pipe.dedup.UrlDedup`): ``docs_in``, ``removed``, ``removed_share``, ``groups``,
  ``docs_in_groups``, ``group_sizes`` (``{size: groups}``), ``examples`` (as for ``dedup``).
- ``sections.<stage name>`` with ``method`` "span_dedup" (written by :class:`fineweb_pipe.dedup.SpanDedup`):
  ``unit``, ``window``, ``min_documents``, ``min_words``, ``min_chars``, ``docs_in``, ``distinct_spans``,
  ``repeated_spans``, ``spans_removed``, ``documents_changed``, ``documents_dropped``, ``characters_removed``,
  ``most_repeated`` (a list of ``{documents, text}``); the share of characters removed is of the stage's
  ``bytes_in`` in ``stages``.
- ``sections.<stage name>`` with ``method`` "ngram_overlap" (written by :class:`fineweb_pipe.dedup.Decontaminate`):
  ``ngram``, ``action`` ("drop" or "flag"), ``docs_in``, ``contaminated``, ``index_ngrams``, ``benchmarks``
  (``{name: {examples, shorter_than_n, documents_hit, examples_hit}}``), ``samples`` (a list of
  ``{benchmark, example, document_id, ngram}``).
- ``sections.tokens`` (written by :mod:`fineweb_pipe.tokens`): ``format``, ``vocab_size``, ``totals``
  (``{split: {tokens, documents}}``), ``shards`` (how many), ``tokens_per_shard`` (``{file: tokens}``),
  ``bytes_per_token``, ``top_tokens`` (list of ``{id, token, count}``).
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from fineweb_pipe.report.blocks import Block, Chart, Cluster, Clusters, Document, Figures, Note, Samples, Section, Table
from fineweb_pipe.report.charts import FunnelRun, Series, bar_chart, funnel_chart, hbar_chart, histogram
from fineweb_pipe.report.funnel import funnel_steps, has_tokens
from fineweb_pipe.report.languages import LanguageStep, languages_before
from fineweb_pipe.report.units import compact, count, duration, share, shortened, size

Stats = Mapping[str, Any]
TOP_REASONS = 20
TOP_LANGUAGES = 15
TOP_TOKENS = 25
LABELLED_SHARDS = 30
ERRORS_LISTED = 20
SPAN_CHARS = 300  # a repeated span or matched n-gram is cut to this in its table cell
EXACT_CLUSTER_SIZES = 24  # more distinct cluster sizes than this are grouped into log-spaced bins
PII_PREFIX = "pii_"
PII_DOCS = "pii_docs_with_pii"
PII_NOT_ENTITIES = {PII_DOCS, "pii_docs_analyzed"}  # the PII stage's counters that count documents
SCORE_HIST = "score_hist:"  # a classifier stage's histogram counters: score_hist:<column>:<low edge>
PROFILE_MEASURES = (("chars", "characters"), ("words", "words"), ("lines", "lines"))


def _profile(stats: Stats, which: str) -> Mapping[str, Any]:
    return (stats.get("profiles") or {}).get(which) or {}


def _section_data(stats: Stats, name: str) -> Mapping[str, Any]:
    return (stats.get("sections") or {}).get(name) or {}


def _bins_table(edges: Sequence[float], series: Sequence[Series], fmt: Callable[[float], str]) -> Table:
    """The numbers behind a histogram: one row per non-empty bin."""
    rows = []
    for i, low in enumerate(edges):
        if any(s.values[i] for s in series):
            high = fmt(edges[i + 1]) if i + 1 < len(edges) else "∞"
            rows.append([f"{fmt(low)} – {high}", *(count(s.values[i]) for s in series)])
    return Table(["bin", *(s.name for s in series)], rows)


def _histogram_series(profiles: Sequence[tuple[str, Mapping[str, Any]]], measure: str
                      ) -> tuple[list[float], list[Series]]:
    """Edges and one series per profile that has this histogram (all profiles share fixed bins)."""
    edges: list[float] = []
    series = []
    for name, profile in profiles:
        hist = profile.get(measure)
        if hist:
            edges = list(hist["edges"])
            series.append(Series(name, list(hist["counts"])))
    return edges, series


def _score_edge(edge: float) -> str:
    return f"{edge:.2f}"  # language scores live in [0, 1]


def _median_bin(edges: Sequence[float], counts: Sequence[float], fmt: Callable[[float], str]) -> str:
    """The bin holding the median: a histogram gives no more than that, and it says enough."""
    total = sum(counts)
    if not total:
        return "—"
    running = 0.0
    for i, n in enumerate(counts):
        running += n
        if running * 2 >= total:
            return f"{fmt(edges[i])}–{fmt(edges[i + 1])}" if i + 1 < len(edges) else f"≥{fmt(edges[i])}"
    raise AssertionError("unreachable: the running count reaches the total")


def funnel_section(stats: Stats) -> Section:
    steps = funnel_steps(stats)
    tokens = has_tokens(steps)
    first, last = steps[0], steps[-1]
    figures = [
        ("documents in", count(first.docs)),
        ("documents kept", count(last.docs)),
        ("kept", share(last.docs, first.docs)),
        ("bytes in", size(first.bytes)),
        ("bytes kept", size(last.bytes)),
    ]
    if tokens:
        figures.append(("tokens", compact(next(s.tokens for s in reversed(steps) if s.tokens is not None))))
    headers = ["step", "kind", "documents", "removed", "removed here", "left of input", "bytes"]
    rows = []
    for step in steps:
        row = [step.name, step.kind, count(step.docs), count(step.removed),
               share(step.removed, step.docs_before), share(step.docs, first.docs), size(step.bytes)]
        rows.append(row + ([count(step.tokens)] if tokens else []))
    chart = funnel_chart([s.name for s in steps], [FunnelRun("documents", [s.docs for s in steps])],
                         title="Documents left after each step")
    return Section("funnel", "Funnel", [
        Figures(figures),
        Chart(chart, "Documents left after each step; red: the share of its input a step removed."),
        Table(headers + (["tokens"] if tokens else []), rows, text_columns=2),
        Note("Bytes count the document payload: HTML before extraction, text after it."),
    ])


def removals_section(stats: Stats) -> Section:
    stages = stats.get("stages") or []
    removed_samples = (stats.get("samples") or {}).get("removed") or {}
    reasons = [(str(stage.get("name")), str(reason), n, stage.get("docs_in", 0))
               for stage in stages for reason, n in (stage.get("dropped") or {}).items() if n]
    if not reasons:
        return Section("removals", "Removal reasons", missing="no stage removed any document in this run")
    ranked = sorted(reasons, key=lambda r: -r[2])
    top = ranked[:TOP_REASONS]
    chart = hbar_chart([f"{stage} · {reason}" for stage, reason, _, _ in top],
                       [Series("removed", [n for _, _, n, _ in top])], title="Documents removed, by reason")
    blocks: list[Block] = [
        Chart(chart, f"The {len(top)} most frequent removal reasons across all filters." if len(top) > 1
              else "The one reason any filter removed documents for."),
        Table(["filter", "reason", "removed", "of the filter's input"],
              [[stage, reason, count(n), share(n, docs_in)] for stage, reason, n, docs_in in reasons],
              text_columns=2),
    ]
    for stage, reason, n, _ in reasons:
        documents = [Document.from_sample(s) for s in (removed_samples.get(stage) or {}).get(reason) or []]
        if documents:
            blocks.append(Samples(f"{stage} · {reason}", documents, f"{count(n)} removed; {len(documents)} sampled."))
    return Section("removals", "Removal reasons", blocks)


def kept_section(stats: Stats) -> Section:
    kept = (stats.get("samples") or {}).get("kept") or []
    if not kept:
        return Section("kept", "Kept documents", missing="no kept documents were sampled")
    return Section("kept", "Kept documents", [
        Samples("sampled kept documents", [Document.from_sample(s) for s in kept],
                "What the pipeline writes: read a few before trusting the filters."),
    ])


def languages_section(stats: Stats, steps: Sequence[LanguageStep] | None = ()) -> Section:
    """Documents per language before filtering (see :mod:`.languages`; ``steps`` None: unknown) and in
    the output."""
    before, unknown = languages_before(stats, steps)
    after = dict(_profile(stats, "after").get("languages") or {})
    if not before and not after:
        if unknown:
            return Section("languages", "Languages", missing=(
                f"no document kept has a language, and the languages of those removed are unknown: {unknown}"))
        if steps:
            return Section("languages", "Languages", missing=(
                f"language identification ran ({', '.join(step.name for step in steps)}) but saw no document"))
        return Section("languages", "Languages", missing="no language identification ran in this run")
    totals = Counter(after)
    totals.update(before or {})
    codes = sorted(totals, key=lambda c: -totals[c])
    top = codes[:TOP_LANGUAGES]
    set_aside: list[LanguageStep] = list(steps or []) if before else []  # before known: so is each step's part

    def row(code: str) -> list[str]:
        cells = [code]
        if before:
            cells += [count(before.get(code, 0)), *(count((s.removed or {}).get(code, 0)) for s in set_aside)]
        cells.append(count(after.get(code, 0)))
        if before:
            cells.append(share(before.get(code, 0), sum(before.values())))
        return cells + [share(after.get(code, 0), sum(after.values()))]

    headers = (["language", "documents before", *(f"removed by {s.name}" for s in set_aside), "documents after",
                "share before", "share after"] if before else ["language", "documents after", "share after"])
    series = ([Series("before", [before.get(c, 0) for c in top])] if before else []) + [
        Series("after", [after.get(c, 0) for c in top])]
    blocks: list[Block] = [
        Chart(hbar_chart(top, series, title="Documents per language"),
              (f"The {len(top)} most frequent languages" if len(top) > 1 else "The one language")
              + f", {'before and after filtering' if before else 'in the output'}."),
        Table(headers, [row(c) for c in codes]),
    ]
    if set_aside:
        blocks.append(Note(f"Before: the documents language identification saw ({', '.join(s.name for s in set_aside)}), "
                           "by the language it found: those it removed and those it let through. After: the output."))
    if unknown:
        blocks.append(Note(f"No documents per language before filtering: {unknown}."))
    if not after:
        blocks.append(Note("No document was kept: the output has no language."))
    score_profiles = [(name, p) for name, p in (("before", _profile(stats, "before")), ("after", _profile(stats, "after")))
                      if sum((p.get("language_score") or {}).get("counts") or [])]
    edges, score_series = _histogram_series(score_profiles, "language_score")
    if score_series:
        blocks.append(Chart(histogram(edges, score_series, title="Language score", edge_format=_score_edge),
                            f"Probability of the top language label, {' and '.join(s.name for s in score_series)} "
                            "filtering.", _bins_table(edges, score_series, _score_edge)))
    return Section("languages", "Languages", blocks)


def lengths_section(stats: Stats) -> Section:
    profiles = [("before", _profile(stats, "before")), ("after", _profile(stats, "after"))]
    present = [(name, p) for name, p in profiles if p.get("docs")]
    if not present:
        return Section("lengths", "Document length", missing="no document profiles were recorded")
    charts: list[Block] = []
    rows = [["documents", *(count(p["docs"]) for _, p in present)]]
    for measure, noun in PROFILE_MEASURES:
        edges, series = _histogram_series(present, measure)
        if series:
            charts.append(Chart(histogram(edges, series, title=f"Document length in {noun}"),
                                f"Documents by length in {noun} (log-spaced bins).",
                                _bins_table(edges, series, compact)))
            rows.append([f"median {noun}", *(_median_bin(edges, s.values, compact) for s in series)])
    medians = Table(["", *(name for name, _ in present)], rows, caption="Median length (the bin holding it)")
    return Section("lengths", "Document length", [medians, *charts])


def _cluster_size_chart(cluster_sizes: Mapping[str, Any], noun: str = "clusters") -> Chart:
    title, caption = f"{noun.capitalize()} by size", f"{noun.capitalize()} by number of documents."
    if "edges" in cluster_sizes:
        edges, counts = list(cluster_sizes["edges"]), list(cluster_sizes["counts"])
    else:
        sizes = sorted((int(k), int(v)) for k, v in cluster_sizes.items())
        if len(sizes) <= EXACT_CLUSTER_SIZES:
            labels = [str(k) for k, _ in sizes]
            series = [Series(noun, [v for _, v in sizes])]
            return Chart(bar_chart(labels, series, title=title), caption,
                         Table([f"{noun[:-1]} size", noun], [[k, count(v)] for k, v in zip(labels, series[0].values)]))
        edges = [1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 10000.0]
        counts = [0] * len(edges)
        for k, v in sizes:
            counts[bisect.bisect_right(edges, k) - 1] += v
    series = [Series(noun, counts)]
    return Chart(histogram(edges, series, title=title), caption, _bins_table(edges, series, compact))


NEAR_DUPLICATES = "Near-duplicates (MinHash)"  # beside the exact, URL and span dedup sections


def dedup_section(stats: Stats) -> Section:
    dedup = _section_data(stats, "dedup")
    if not dedup:
        return Section("dedup", NEAR_DUPLICATES, missing="no near-duplicate (MinHash) stage ran in this run")
    figures = []
    if "removed_share" in dedup:
        figures.append(("removed", f"{100 * float(dedup['removed_share']):.1f}%"))
    for key, label in (("docs_in", "documents in"), ("removed", "documents removed"), ("clusters", "clusters"),
                       ("docs_in_clusters", "documents in clusters")):
        if key in dedup:
            figures.append((label, count(dedup[key])))
    blocks: list[Block] = [Figures(figures)] if figures else []
    if dedup.get("cluster_sizes"):
        blocks.append(_cluster_size_chart(dedup["cluster_sizes"]))
    clusters = [_cluster(example) for example in dedup.get("examples") or []]
    if clusters:
        blocks.append(Clusters("example clusters (documents judged near-duplicates of each other)", clusters))
    return Section("dedup", NEAR_DUPLICATES, blocks)


KEYED_DEDUP_TITLES = {"exact": "Exact duplicates", "url": "URL duplicates"}


def keyed_dedup_sections(stats: Stats) -> list[Section]:
    """A section for each exact or URL dedup stage of the run (none where no such stage ran)."""
    sections = []
    for name, data in (stats.get("sections") or {}).items():
        title = KEYED_DEDUP_TITLES.get(str(data.get("method"))) if isinstance(data, Mapping) else None
        if title is None:
            continue
        figures = [("removed", f"{100 * float(data.get('removed_share') or 0):.1f}%")]
        for key, label in (("docs_in", "documents in"), ("removed", "documents removed"), ("groups", "groups"),
                           ("docs_in_groups", "documents in groups")):
            if key in data:
                figures.append((label, count(data[key])))
        blocks: list[Block] = [Figures(figures)]
        if data.get("group_sizes"):
            blocks.append(_cluster_size_chart(data["group_sizes"], "groups"))
        groups = [_cluster(example) for example in data.get("examples") or []]
        if groups:
            blocks.append(Clusters("largest groups (documents with the same key: one kept, the others removed)", groups))
        sections.append(Section(name, f"{title} ({name})", blocks))
    return sections


def _cluster(example: Mapping[str, Any]) -> Cluster:
    """An example cluster as the dedup stage writes it: its size and a few members, each kept or removed."""
    members = example.get("members") or []
    documents = [replace(Document.from_sample(m), tag="kept" if m.get("kept") else "removed") for m in members]
    return Cluster(int(example.get("size") or len(documents)), documents)


def _sections_of(stats: Stats, method: str) -> list[tuple[str, Mapping[str, Any]]]:
    """The (stage name, data) of each section a global stage wrote with this ``method``, in run order."""
    return [(str(name), data) for name, data in (stats.get("sections") or {}).items()
            if isinstance(data, Mapping) and data.get("method") == method]


def _stage_entry(stats: Stats, name: str) -> Mapping[str, Any]:
    return next((s for s in stats.get("stages") or [] if s.get("name") == name), {})


def _with_share(n: float | None, whole: float | None) -> str:
    return f"{count(n)} ({share(n, whole)})"


def span_dedup_sections(stats: Stats) -> list[Section]:
    """A section for each span dedup stage of the run (:class:`fineweb_pipe.dedup.SpanDedup`): what it
    removed, with what settings, and the spans most repeated across documents."""
    sections = []
    for name, data in _sections_of(stats, "span_dedup"):
        docs_in = data.get("docs_in")
        chars = data.get("characters_removed")
        figures = [("spans removed", count(data.get("spans_removed"))),
                   ("documents changed", _with_share(data.get("documents_changed"), docs_in)),
                   ("documents dropped", _with_share(data.get("documents_dropped"), docs_in)),
                   ("characters removed", _with_share(chars, _stage_entry(stats, name).get("bytes_in"))),
                   ("documents in", count(docs_in)),
                   ("repeated spans", f"{count(data.get('repeated_spans'))} of {count(data.get('distinct_spans'))}")]
        window, unit = data.get("window"), str(data.get("unit", "units"))
        span = f"one {unit.removesuffix('s')}" if window == 1 else f"{window or '?'} consecutive {unit}"
        too_short = f"{data.get('min_words', 0)} words" + (
            f" or {data['min_chars']} characters" if data.get("min_chars") else "")
        blocks: list[Block] = [Figures(figures), Note(
            f"A span is {span}; one found in {data.get('min_documents', '?')} documents or more stays only in the "
            f"first of them (in input order). A changed document left with fewer than {too_short} is dropped. "
            "Characters removed: the share is of the input text, which the run counts in bytes (one per "
            "character in ASCII, more in other scripts).")]
        most = data.get("most_repeated") or []
        if most:
            blocks.append(Table(["span", "documents"],
                                [[shortened(str(m.get("text") or ""), SPAN_CHARS), count(m.get("documents"))]
                                 for m in most],
                                caption="The spans found in the most documents (each removed from all of them but "
                                        "the first)"))
        sections.append(Section(name, f"Span deduplication ({name})", blocks))
    return sections


def decontamination_sections(stats: Stats) -> list[Section]:
    """A section for each decontamination stage of the run (:class:`fineweb_pipe.dedup.Decontaminate`):
    documents sharing an n-gram with an evaluation set, by benchmark, and sampled overlaps."""
    sections = []
    for name, data in _sections_of(stats, "ngram_overlap"):
        docs_in, n = data.get("docs_in"), data.get("ngram", "?")
        benchmarks: Mapping[str, Mapping[str, Any]] = data.get("benchmarks") or {}
        hit = [b for b, figures in benchmarks.items() if figures.get("documents_hit")]
        flagged = data.get("action") == "flag"
        blocks: list[Block] = [Figures([
            ("documents flagged" if flagged else "documents removed", _with_share(data.get("contaminated"), docs_in)),
            ("documents in", count(docs_in)),
            ("benchmarks hit", f"{len(hit)} of {len(benchmarks)}"),
            ("n-gram", f"{n} words"),
            ("n-grams indexed", count(data.get("index_ngrams"))),
        ])]
        blocks.append(Table(
            ["benchmark", "examples", f"shorter than {n} words", "documents hit", "share of documents", "examples hit",
             "share of examples"],
            [[b, count(f.get("examples")), count(f.get("shorter_than_n")), count(f.get("documents_hit")),
              share(f.get("documents_hit"), docs_in), count(f.get("examples_hit")),
              share(f.get("examples_hit"), f.get("examples"))] for b, f in benchmarks.items()]))
        where = "its contamination column" if flagged else f"drop_value in removed/{name}/"
        blocks.append(Note(
            f"A document is hit when it shares a {n}-word n-gram (normalized) with an example of a benchmark; "
            f"it is {'kept' if flagged else 'removed'}, and {where} names the first example it matched as "
            "benchmark:index (the example's place in its file, from 0). An example shorter than "
            f"{n} words has no such n-gram and cannot be matched."))
        overlaps = data.get("samples") or []
        if overlaps:
            blocks.append(Table(
                ["example", "document", "matched n-gram"],
                [[str(o.get("example") or o.get("benchmark") or ""), str(o.get("document_id") or "—"),
                  shortened(str(o.get("ngram") or ""), SPAN_CHARS)] for o in overlaps],
                caption="Sampled overlaps: the benchmark example, the document's id, and the n-gram they share",
                text_columns=3))
        sections.append(Section(name, f"Benchmark contamination ({name})", blocks))
    return sections


def pii_section(stats: Stats) -> Section:
    entities: dict[str, int] = {}
    docs_with_pii = docs_scanned = 0
    for stage in stats.get("stages") or []:
        counters = stage.get("counters") or {}
        if not any(name.startswith(PII_PREFIX) for name in counters):
            continue
        docs_scanned += stage.get("docs_in", 0)
        docs_with_pii += counters.get(PII_DOCS, 0)
        for name, n in counters.items():
            if name.startswith(PII_PREFIX) and name not in PII_NOT_ENTITIES:
                entity = name.removeprefix(PII_PREFIX)
                entities[entity] = entities.get(entity, 0) + n
    if not docs_scanned:
        return Section("pii", "Personal information", missing="no PII stage ran in this run")
    ranked = sorted(entities, key=lambda e: -entities[e])
    total = sum(entities.values())
    blocks: list[Block] = [Figures([
        ("documents scanned", count(docs_scanned)),
        ("documents with PII", f"{count(docs_with_pii)} ({share(docs_with_pii, docs_scanned)})"),
        ("entities found", count(total)),
        ("entities per document", f"{total / docs_scanned:.3f}"),
    ])]
    if ranked:
        blocks.append(Chart(hbar_chart(ranked, [Series("entities", [entities[e] for e in ranked])],
                                       title="PII entities by type"), "Entities found, by type."))
        blocks.append(Table(["entity type", "found", "per document", "share of entities"],
                            [[e, count(entities[e]), f"{entities[e] / docs_scanned:.4f}", share(entities[e], total)]
                             for e in ranked]))
    return Section("pii", "Personal information", blocks)


def classifiers_section(stats: Stats) -> Section:
    """Per classifier stage (``fineweb_pipe.stages.classifiers``): its score histogram, the share it kept,
    the removed samples of each score bucket (its drop reasons are the buckets) and the run's kept samples
    by the bucket of their score."""
    removed_samples = (stats.get("samples") or {}).get("removed") or {}
    kept_samples = (stats.get("samples") or {}).get("kept") or []
    blocks: list[Block] = []
    for stage in stats.get("stages") or []:
        name, docs_in = str(stage.get("name")), stage.get("docs_in", 0)
        hists: dict[str, dict[float, int]] = {}
        for counter, n in (stage.get("counters") or {}).items():
            if counter.startswith(SCORE_HIST):
                column, edge = counter.removeprefix(SCORE_HIST).rsplit(":", 1)
                hists.setdefault(column, {})[float(edge)] = n
        for column, bins in hists.items():
            edges = sorted(bins)
            series = [Series("documents", [bins[e] for e in edges])]
            blocks += [Figures([(f"{name}: scored", count(docs_in)),
                                ("kept", share(stage.get("docs_out", 0), docs_in))]),
                       Chart(histogram(edges, series, title=f"{name}: {column}", edge_format=_score_edge),
                             f"Documents by {column}.", _bins_table(edges, series, _score_edge))]
            blocks += _kept_by_bucket(name, column, edges, kept_samples)
        for reason, n in sorted((stage.get("dropped") or {}).items()):
            documents = [Document.from_sample(d) for d in (removed_samples.get(name) or {}).get(reason) or []]
            if hists and documents:
                blocks.append(Samples(f"{name} · {reason}", documents, f"{count(n)} removed in this bucket."))
    if not blocks:
        return Section("classifiers", "Quality classifiers", missing="no classifier stage ran in this run")
    return Section("classifiers", "Quality classifiers", blocks)


def _kept_by_bucket(stage: str, column: str, edges: Sequence[float], kept: Sequence[Mapping[str, Any]]) -> list[Block]:
    """The kept samples that carry ``column``, under the histogram bin their score falls in."""
    buckets: dict[int, list[Document]] = {}
    for sample in kept:
        score = (sample.get("scores") or {}).get(column)
        if score is not None:
            bucket = max(0, bisect.bisect_right(edges, score) - 1)
            buckets.setdefault(bucket, []).append(Document.from_sample({**sample, "value": f"{score:.3g}"}))
    blocks: list[Block] = []
    for bucket, documents in sorted(buckets.items()):
        high = f"–{_score_edge(edges[bucket + 1])}" if bucket + 1 < len(edges) else "+"
        blocks.append(Samples(f"{stage} · kept, {column} {_score_edge(edges[bucket])}{high}", documents,
                              "Kept documents sampled from the run's output, by their score."))
    return blocks


def _visible_token(token: str) -> str:
    """Whitespace made visible, since many frequent tokens are a space or a newline."""
    return token.replace(" ", "␣").replace("\n", "⏎").replace("\t", "⇥") or "(empty)"


def tokens_section(stats: Stats) -> Section:
    tokens = _section_data(stats, "tokens")
    if not tokens:
        return Section("tokens", "Tokens", missing="the run was not tokenized")
    totals = tokens.get("totals") or {}
    figures = [(label, fmt(tokens[key])) for key, label, fmt in (
        ("format", "format", str), ("vocab_size", "vocabulary", count), ("shards", "shards", count),
        ("bytes_per_token", "bytes per token", lambda v: f"{float(v):.2f}")) if key in tokens]
    if totals:
        figures[:0] = [("tokens", count(sum(t.get("tokens", 0) for t in totals.values()))),
                       ("documents", count(sum(t.get("documents", 0) for t in totals.values())))]
    blocks: list[Block] = [Figures(figures)]
    blocks += [Note(f"Warning: {warning}") for warning in tokens.get("warnings") or []]
    if totals:
        blocks.append(Table(["split", "tokens", "documents"],
                            [[split, count(t.get("tokens")), count(t.get("documents"))] for split, t in totals.items()]))
    per_shard = tokens.get("tokens_per_shard") or {}
    if per_shard:
        names = list(per_shard)
        series = [Series("tokens", [per_shard[n] for n in names])]
        # Shard names fit beside horizontal bars; past a screenful, vertical bars numbered by position.
        chart = (hbar_chart(names, series, title="Tokens per shard") if len(names) <= LABELLED_SHARDS
                 else bar_chart([str(i) for i in range(len(names))], series, title="Tokens per shard"))
        blocks.append(Chart(chart, "Tokens in each shard.",
                            Table(["shard", "tokens"], [[n, count(per_shard[n])] for n in names])))
    top = (tokens.get("top_tokens") or [])[:TOP_TOKENS]
    if top:
        labels = [_visible_token(str(t.get("token", ""))) for t in top]
        blocks.append(Chart(hbar_chart(labels, [Series("occurrences", [t.get("count", 0) for t in top])],
                                       title="Most frequent tokens"),
                            "The tokenizer's most frequent tokens (␣ space, ⏎ newline).",
                            Table(["token", "id", "occurrences"],
                                  [[label, str(t.get("id", "")), count(t.get("count"))] for label, t in zip(labels, top)],
                                  text_columns=2)))
    return Section("tokens", "Tokens", blocks)


def _input_file_count(run: Mapping[str, Any]) -> int | None:
    files = run.get("input_files")
    return len(files) if isinstance(files, list) else files


def run_section(stats: Stats) -> Section:
    run = stats.get("run") or {}
    reader = stats.get("reader") or {}
    stages = stats.get("stages") or []
    wall = run.get("wall_s")
    cpu_total = sum(s.get("cpu_s", 0) for s in stages)
    documents = reader.get("documents", 0)
    errors = reader.get("errors") or {}
    phases = [p for p in run.get("phases") or [] if isinstance(p, dict)]
    resumed = sum(p.get("shards_resumed", 0) for p in phases)
    blocks: list[Block] = [Figures([
        ("wall time" if not resumed else "wall time, this run", duration(wall)),
        ("CPU time" if not resumed else "CPU time, all runs", duration(cpu_total)),
        # A resumed run's wall time does not cover the documents earlier runs processed.
        ("documents / s", f"{documents / wall:,.1f}" if wall and not resumed else "—"),
        ("workers", count(run.get("workers"))),
        ("input files", count(_input_file_count(run))),
        ("errors", count(sum(errors.values()))),
    ])]
    if resumed:
        blocks.append(Note(f"This run resumed: {resumed} of {sum(p.get('shards', 0) for p in phases)} shard phases had "
                           "been finished by earlier runs into this folder. Wall time is this run's; CPU time and "
                           "the counts cover every run."))
    if stages:
        names = [str(s.get("name")) for s in stages]
        blocks.append(Chart(hbar_chart(names, [Series("CPU time", [s.get("cpu_s", 0) for s in stages])],
                                       title="CPU time per stage", value_format=duration),
                            "CPU time each stage spent, summed over workers."))
        blocks.append(Table(["stage", "kind", "phase", "CPU time", "share of CPU", "documents in", "documents / CPU s"],
                            [[str(s.get("name")), str(s.get("kind", "")), str(s.get("phase", "")),
                              duration(s.get("cpu_s")), share(s.get("cpu_s", 0), cpu_total), count(s.get("docs_in")),
                              f"{s.get('docs_in', 0) / s['cpu_s']:,.0f}" if s.get("cpu_s") else "—"] for s in stages],
                            text_columns=3))
    details = [["pipeline", str(run.get("pipeline", "—"))], ["engine", str(run.get("engine", "—"))],
               ["started", str(run.get("started", "—"))], ["output", str(run.get("output", "—"))]]
    blocks.append(Table(["run", ""], details, text_columns=2))
    for title, counts in (("records read, by type", reader.get("records")),
                          ("records skipped, by reason", reader.get("skipped")), ("errors, by type", errors)):
        if counts:
            blocks.append(Table([title, "count"], [[str(k), count(v)] for k, v in counts.items()]))
    error_list = stats.get("errors") or reader.get("error_list") or []
    if error_list:
        blocks.append(Table(["file", "offset", "type", "message"],
                            [[str(e.get("file", "")), str(e.get("offset", "")), str(e.get("type", "")),
                              str(e.get("message", ""))] for e in error_list[:ERRORS_LISTED]],
                            caption=f"First {min(len(error_list), ERRORS_LISTED)} errors", text_columns=4))
    return Section("run", "The run", blocks)


def build_sections(stats: Stats, language_steps: Sequence[LanguageStep] | None = ()) -> list[Section]:
    """Every section of the report, in page order; ``language_steps`` (read from the run folder, None where
    it is unknown) give the languages before filtering."""
    return [funnel_section(stats), removals_section(stats), kept_section(stats),
            languages_section(stats, language_steps), lengths_section(stats), *keyed_dedup_sections(stats),
            dedup_section(stats), *span_dedup_sections(stats), *decontamination_sections(stats),
            *_present(classifiers_section(stats)), pii_section(stats), tokens_section(stats), run_section(stats)]


def _present(section: Section) -> list[Section]:
    """A section shown only in runs that have its part (a classifier), not as "missing" in every other."""
    return [] if section.missing else [section]
