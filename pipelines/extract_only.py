"""The unfiltered baseline FineWeb's ablations compare with: URL filter and text extraction, nothing else.

The same URL filter and trafilatura settings as pipelines/fineweb.py (whose steps it reuses), and no
language, quality, dedup or PII step, so `fineweb-pipe ablate` measures what the rest of the recipe adds:

    fineweb-pipe run pipelines/extract_only.py --input crawl/ --output unfiltered/
    fineweb-pipe run pipelines/fineweb.py --input crawl/ --output fineweb/
    fineweb-pipe ablate unfiltered/ fineweb/ --eval heldout.txt --tokens 5000000 --seeds 3
"""

from pathlib import Path

from fineweb_pipe.cli import load_pipeline, main_for_pipeline
from fineweb_pipe.pipeline import Pipeline
from fineweb_pipe.stages.extraction import TrafilaturaExtractor
from fineweb_pipe.stages.url import UrlFilter

fineweb = load_pipeline(str(Path(__file__).with_name("fineweb.py")))

pipeline = Pipeline(
    name="extract-only",
    description="URL filter and trafilatura extraction only: the unfiltered baseline of FineWeb's ablations",
    # The recipe's own instances, so a change of its URL lists or extraction settings changes both.
    steps=[step for step in fineweb.steps if isinstance(step, (UrlFilter, TrafilaturaExtractor))],
)

if __name__ == "__main__":
    raise SystemExit(main_for_pipeline(pipeline))
