"""FineWeb-Edu: the FineWeb recipe, then the educational-quality classifier, keeping pages it scores >= 3.

As the FineWeb-Edu card describes it: Llama-3-70B-Instruct rated 450k FineWeb pages for educational value
from 0 to 5; a regression head on Snowflake-arctic-embed-m, trained on those ratings, scores every page;
pages whose rounded score (``int_score``) is below 3 are removed. Download the classifier first
(``HuggingFaceFW/fineweb-edu-classifier``, a Hugging Face model folder); nothing is downloaded at run time.

    FINEWEB_EDU_MODEL=models/fineweb-edu-classifier fineweb-pipe run pipelines/fineweb_edu.py --input crawl/ --output out/
    FINEWEB_EDU_DEVICE=cuda ...     # score on a GPU actor (bf16); default: cpu
"""

import os
from pathlib import Path

from fineweb_pipe.cli import load_pipeline, main_for_pipeline
from fineweb_pipe.pipeline import Pipeline
from fineweb_pipe.stages.classifiers import TransformerScorer
from fineweb_pipe.stages.pii import PiiScrubber

MODEL = os.environ.get("FINEWEB_EDU_MODEL", "models/fineweb-edu-classifier")
DEVICE = os.environ.get("FINEWEB_EDU_DEVICE", "cpu")
fineweb = load_pipeline(str(Path(__file__).with_name("fineweb.py")))
before_pii = next(i for i, step in enumerate(fineweb.steps) if isinstance(step, PiiScrubber))

pipeline = Pipeline(
    name="fineweb-edu",
    description="FineWeb-Edu: the FineWeb recipe, then the educational classifier (int_score >= 3) before PII and tokens",
    steps=[
        # 1-8. FineWeb: URL filter, extraction, English LID, Gopher/C4/FineWeb quality, MinHash dedup.
        *fineweb.steps[:before_pii],
        # 9. The educational classifier: `edu_score` (0-5, the regression's output) and `edu_score_int`;
        #    FineWeb-Edu keeps int_score >= 3: a score of 2.5 or more (round half to even). Long pages are truncated to 512 tokens.
        TransformerScorer(MODEL, prefix="edu_score", threshold=2.5, max_length=512, device=DEVICE).named("edu_classifier"),
        # 10-11. FineWeb's PII scrubbing and token shards, as in pipelines/fineweb.py.
        *fineweb.steps[before_pii:],
    ],
)

if __name__ == "__main__":
    raise SystemExit(main_for_pipeline(pipeline))
