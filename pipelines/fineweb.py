"""The FineWeb recipe, as datatrove's examples/fineweb.py runs it on each Common Crawl dump.

    fineweb-pipe run pipelines/fineweb.py --input 's3://commoncrawl/crawl-data/CC-MAIN-2024-10/segments/*/warc/*.warc.gz' \
        --output out/CC-MAIN-2024-10
    python pipelines/fineweb.py --input demo/input --output demo/output     # the same, as a script
    FINEWEB_EXACT=1 fineweb-pipe run pipelines/fineweb.py ...     # FineWeb exactly: trafilatura on every page

Optional steps, off by default (FineWeb itself has neither):
    FINEWEB_URL_DEDUP=1 ...      # one page per URL (the latest crawl of it), before extraction: cheap, and
                                 # Common Crawl re-crawls URLs across segments and dumps
    FINEWEB_DECONTAMINATE='gsm8k=evals/gsm8k_test.jsonl,mmlu=evals/mmlu.parquet' ...
                                 # drop documents sharing a 13-word n-gram with an example, before tokenization
"""

import os

from fineweb_pipe.cli import main_for_pipeline
from fineweb_pipe.dedup import Decontaminate, MinHashDedup, UrlDedup, parse_benchmarks
from fineweb_pipe.pipeline import Pipeline
from fineweb_pipe.stages.extraction import LanguagePrescreen, TrafilaturaExtractor
from fineweb_pipe.stages.language import LanguageFilter
from fineweb_pipe.stages.pii import PiiScrubber
from fineweb_pipe.stages.quality import C4QualityFilter, FineWebQualityFilter, GopherQualityFilter, GopherRepetitionFilter
from fineweb_pipe.stages.url import UrlFilter
from fineweb_pipe.tokens.stage import Tokenize

EXACT = os.environ.get("FINEWEB_EXACT") == "1"
URL_DEDUP = os.environ.get("FINEWEB_URL_DEDUP") == "1"
# name=path pairs: JSONL, Parquet, plain text or Arrow files with one example a row (docs/dedup.md).
BENCHMARKS = parse_benchmarks(os.environ.get("FINEWEB_DECONTAMINATE", ""), "FINEWEB_DECONTAMINATE")

pipeline = Pipeline(
    name="fineweb",
    description="FineWeb: URL filter, language pre-screen, trafilatura, English LID >= 0.65, Gopher, C4 and FineWeb quality, "
                "MinHash dedup, PII, BPE token shards",
    steps=[
        # 1. Drop adult and spam sites by domain, host, URL and banned words (UT1 lists: UrlFilter(blocklists=...)).
        UrlFilter(),
        # 1a. Optional: one page per normalised URL, the latest crawl of it (before any extraction is spent on it).
        *([UrlDedup(keep="latest")] if URL_DEDUP else []),
        # 1b. Not FineWeb's: a page whose fast text is surely not English (resiliparse, LID-176 >= 0.65) skips trafilatura
        #     and goes to removed/language_prescreen/ with its language and HTML (benchmarks/README.md: no kept page lost).
        LanguagePrescreen(languages=("en",), min_score=0.65, keep_removed=True, enabled=not EXACT),
        # 2. Main text from HTML, precision first, no comments; one second per page at most.
        TrafilaturaExtractor(favor_precision=True, include_comments=False, timeout_s=1.0),
        # 3. English only (fastText LID-176, score >= 0.65); other languages go to removed/language_filter/ (column language).
        LanguageFilter(languages=("en",), min_score=0.65, keep_removed=True),
        # 4-7. Quality: Gopher repetition and quality, C4 line rules (keeping lines without terminal
        # punctuation, as FineWeb does), FineWeb's own line-based rules.
        GopherRepetitionFilter(),
        GopherQualityFilter(),
        C4QualityFilter(filter_no_terminal_punct=False),
        FineWebQualityFilter(),
        # 8. Near-duplicates: MinHash on word 5-grams, one document kept per cluster. FineWeb's 14 bands x 8 rows
        #    plus two bands: candidate pairs are verified here, so the extra bands add recall, not false matches.
        MinHashDedup(),
        # 9. Emails and public IP addresses replaced by FineWeb's placeholders (and phones, cards, IBANs...).
        PiiScrubber(),
        # 9b. Optional: documents sharing a 13-word n-gram with an example of the given evaluation sets are dropped.
        *([Decontaminate(BENCHMARKS)] if BENCHMARKS else []),
        # 10. Byte-level BPE trained on a sample of the output, documents shuffled into llm.c token shards.
        #     The vocabulary suits the small demo crawl; FineWeb's ablations used GPT-2's 50,257 tokens.
        Tokenize(vocab_size=8192, shard_tokens=100_000_000, val=0.02),
    ],
)

if __name__ == "__main__":
    raise SystemExit(main_for_pipeline(pipeline))
