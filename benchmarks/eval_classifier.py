"""Evaluate the quality classifiers: a fastText classifier trained by ``fineweb-pipe train-classifier`` on
real texts, scored against DCLM's human quality labels; the fastText stage's speed; the transformer
stage's speed on CPU for a BERT-base-sized model.

Training data (``../shared/data``; the human-labelled documents are never trained on):

- positives (``hq``): the human-cleaned main texts of real web articles (``text/clean_web_texts.dev.jsonl``)
  and Wikipedia Good/Featured articles (``text/wikitext-2_valid.txt``, its word tokenization undone
  roughly, each article cut into pieces of about 3 KB at paragraph ends);
- negatives (``cc``): raw crawl extractions, the whole visible text of real crawled HTML pages
  (resiliparse ``extract_plain_text(main_content=False)``: menus, footers, link lists, forms' labels kept),
  from the English pages of ``warc/bench-scrapinghub_aeb.warc.gz`` and ``warc/bench-trafilatura_eval.warc.gz``
  and all HTML of ``warc/aut-example.warc.gz`` (an Archive-It crawl of 2008: directory and index pages),
  ``warc/dolma-sample-000*.warc.gz`` and ``warc/resiliparse-warcfile.warc.gz``, pages under 200 characters left out.

Why: half the negatives are the very pages whose cleaned text is a positive, so topic says nothing and
the classifier has to learn what a human cleaning removes (boilerplate, navigation, lists of links, short
fragments), the main thing DCLM's annotators mark "would not keep"; Wikipedia adds well-edited prose. It is
a small, English-leaning set (no instruction data as in DCLM's recipe), so the AUC is a floor, not DCLM's.

Evaluation: the AUC of the ``hq`` probability (the ``FastTextClassifier`` stage's column) against the human
labels of ``quality/dclm_majority_data.jsonl`` (499 Common Crawl documents, 1 = would keep).

Speed: the ``FastTextClassifier`` stage's ``process`` on batches of 2-5 KB documents (real texts cut to
size), documents per CPU-second of this process (one core: fastText's predict is single-threaded);
the ``TransformerScorer`` on CPU with a BERT-base-sized regressor (12 layers, hidden 768, 12 heads,
512 positions; random weights, a WordPiece vocabulary trained here with ``tokenizers``; nothing is
downloaded), documents per wall-second with torch's threads of this machine, texts truncated to 512 tokens.

    .venv/bin/python benchmarks/eval_classifier.py [--data ../shared/data] [--ft-docs 20000] [--bert-docs 32]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa

from fineweb_pipe.stages.classifiers import FastTextClassifier, TransformerScorer
from fineweb_pipe.stages.classifiers.metrics import precision_recall, roc_auc
from fineweb_pipe.stages.classifiers.random_bert import save_random_bert

REPO = Path(__file__).resolve().parent.parent
MIN_PAGE_CHARS = 200
WIKI_PIECE_CHARS = 3000


def detokenize_wikitext(text: str) -> str:
    """WikiText's word tokenization undone roughly: ``@-@``, spaces before punctuation, inside brackets."""
    text = re.sub(r" @(.)@ ", r"\1", text)
    text = re.sub(r" ([.,;:!?%)\]}'])", r"\1", text)
    text = re.sub(r"([(\[{$]) ", r"\1", text)
    text = re.sub(r" (n't|'s|'re|'ve|'d|'ll|'m)\b", r"\1", text)
    text = re.sub(r'" (.*?) "', r'"\1"', text)
    return re.sub(r" ?<unk>", "", text)  # WikiText's rare-word token would otherwise be a tell of the positives


def wikipedia_pieces(path: Path) -> list[str]:
    """WikiText's articles (``= Title =`` headings), paragraphs joined into pieces of about 3 KB."""
    articles: list[list[str]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if re.fullmatch(r"= [^=].* =", line):
            articles.append([])
        elif line and articles and not line.startswith("="):
            articles[-1].append(detokenize_wikitext(line))
    pieces = []
    for paragraphs in articles:
        piece: list[str] = []
        for paragraph in paragraphs:
            piece.append(paragraph)
            if sum(map(len, piece)) >= WIKI_PIECE_CHARS:
                pieces.append("\n".join(piece))
                piece = []
        if sum(map(len, piece)) >= MIN_PAGE_CHARS:
            pieces.append("\n".join(piece))
    return pieces


def english_ids(gold: Path) -> set[str]:
    return {r["id"] for r in map(json.loads, gold.open(encoding="utf-8")) if r.get("lang") == "en"}


def whole_page_texts(warc: Path, keep_ids: set[str] | None = None) -> Iterator[str]:
    """All visible text of each HTML response of ``warc`` (only records whose ``WARC-Eval-Id`` is in ``keep_ids``)."""
    from fastwarc.warc import ArchiveIterator, WarcRecordType
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding

    from fineweb_pipe.stages.extraction.resiliparse_extractor import extract_with_resiliparse

    with warc.open("rb") as stream:
        for record in ArchiveIterator(stream, record_types=WarcRecordType.response):
            if keep_ids is not None and record.headers.get("WARC-Eval-Id") not in keep_ids:
                continue
            content_type = (record.http_headers.get("Content-Type") or "") if record.http_headers else ""
            if "html" not in content_type.lower():
                continue
            body = record.reader.read()
            text, _ = extract_with_resiliparse(bytes_to_str(body, detect_encoding(body) or "utf-8"), main_content=False,
                                               alt_texts=False, links=False, list_bullets=True)
            if len(text.strip()) >= MIN_PAGE_CHARS:
                yield text


def write_jsonl(path: Path, texts: list[str]) -> None:
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")


def train(data: Path, folder: Path, seed: int) -> tuple[Path, list[str]]:
    clean = [r["text"] for r in map(json.loads, (data / "text/clean_web_texts.dev.jsonl").open(encoding="utf-8"))]
    wiki = wikipedia_pieces(data / "text/wikitext-2_valid.txt")
    extraction = data / "extraction"
    raw = {
        "bench-scrapinghub_aeb": list(whole_page_texts(data / "warc/bench-scrapinghub_aeb.warc.gz")),
        "bench-trafilatura_eval (en)": list(whole_page_texts(data / "warc/bench-trafilatura_eval.warc.gz",
                                                             english_ids(extraction / "trafilatura_eval.gold.jsonl"))),
        "aut-example": list(whole_page_texts(data / "warc/aut-example.warc.gz")),
        "dolma-sample": [t for name in ("dolma-sample-0000", "dolma-sample-0001")
                         for t in whole_page_texts(data / f"warc/{name}.warc.gz")],
        "resiliparse-warcfile": list(whole_page_texts(data / "warc/resiliparse-warcfile.warc.gz")),
    }
    print(f"positives: {len(clean)} human-cleaned article texts, {len(wiki)} Wikipedia pieces (~3 KB)")
    print("negatives (whole-page text): " + ", ".join(f"{k} {len(v)}" for k, v in raw.items()))
    write_jsonl(folder / "positive.jsonl", clean + wiki)
    write_jsonl(folder / "negative.jsonl", [t for texts in raw.values() for t in texts])
    model_dir = folder / "model"
    command = [str(Path(sys.executable).parent / "fineweb-pipe"), "train-classifier",
               "--positive", str(folder / "positive.jsonl"), "--negative", str(folder / "negative.jsonl"),
               "--out", str(model_dir), "--seed", str(seed)]
    print("$ fineweb-pipe train-classifier --positive positive.jsonl --negative negative.jsonl --out model "
          f"--seed {seed}")
    subprocess.run(command, check=True)
    return model_dir / "model.bin", clean + [t for texts in raw.values() for t in texts]


def evaluate(model: Path, data: Path) -> None:
    rows = [json.loads(line) for line in (data / "quality/dclm_majority_data.jsonl").open(encoding="utf-8")]
    stage = FastTextClassifier(model)
    stage.setup()
    scores = stage.scores([r["text"] for r in rows])["hq"]
    truth = np.array([int(r["label"]) == 1 for r in rows])
    precision, recall = precision_recall(scores, truth)
    kept = truth[scores >= np.quantile(scores, 0.5)]
    lengths = np.array([len(r["text"]) for r in rows], dtype=np.float64)
    length_auc = roc_auc(lengths, truth)
    quartile = np.searchsorted(np.quantile(lengths, [0.25, 0.5, 0.75]), lengths, side="right")
    within = [roc_auc(scores[quartile == q], truth[quartile == q]) for q in range(4)]
    within_length = [roc_auc(lengths[quartile == q], truth[quartile == q]) for q in range(4)]
    print(f"DCLM human labels ({len(rows)} documents, {int(truth.sum())} would keep): AUC {roc_auc(scores, truth):.4f}; "
          f"at 0.5: precision {precision:.3f} recall {recall:.3f}; top half by score: {kept.mean():.1%} would keep "
          f"(all: {truth.mean():.1%}); document length alone: AUC {length_auc:.4f}")
    print("AUC within each length quartile (what the score adds to length): "
          + ", ".join(f"{a:.3f}" for a in within) + "; length's: " + ", ".join(f"{a:.3f}" for a in within_length))


def sized_documents(texts: list[str], n: int, seed: int) -> list[str]:
    """``n`` documents of 2-5 KB cut from ``texts`` (joined end to end where one is too short)."""
    rng = random.Random(seed)
    stream = "\n".join(t for t in texts if t.strip())
    docs: list[str] = []
    while len(docs) < n:
        size = rng.randint(2000, 5000)
        start = rng.randrange(0, len(stream) - size)
        docs.append(stream[start:start + size])
    return docs


def fasttext_speed(model: Path, docs: list[str], batch: int = 1000) -> None:
    stage = FastTextClassifier(model, threshold=0.5)
    stage.setup()
    tables = [pa.table({"id": [str(i) for i in range(s, s + batch)][: len(docs[s:s + batch])],
                        "text": docs[s:s + batch]}) for s in range(0, len(docs), batch)]
    stage.process(tables[0])  # warm-up
    cpu, wall = time.process_time(), time.perf_counter()
    for table in tables:
        stage.process(table)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    kb = sum(map(len, docs)) / len(docs) / 1000
    print(f"FastTextClassifier.process: {len(docs):,} documents (mean {kb:.1f} KB) in {cpu:.2f} CPU-s "
          f"({wall:.2f} s wall): {len(docs) / cpu:,.0f} documents/s per core")


def bert_base(folder: Path, texts: list[str], seed: int) -> Path:
    """A BERT-base-sized regressor (random weights) with a 30k WordPiece vocabulary trained on ``texts``."""
    return save_random_bert(folder, texts, vocab_size=30522, max_length=512, seed=seed)


def transformer_speed(folder: Path, docs: list[str], batch_size: int) -> None:
    import torch

    stage = TransformerScorer(folder, batch_size=batch_size, max_length=512, device="cpu")
    stage.setup()
    params = sum(p.numel() for p in stage._model.parameters()) / 1e6
    stage.scores(docs[:batch_size])  # warm-up
    table = pa.table({"id": [str(i) for i in range(len(docs))], "text": docs})
    wall = time.perf_counter()
    stage.process(table)
    wall = time.perf_counter() - wall
    print(f"TransformerScorer (CPU, float32, {params:.0f} M parameters, torch threads {torch.get_num_threads()}, "
          f"batch {batch_size}, 512 tokens): {len(docs)} documents in {wall:.1f} s: {len(docs) / wall:.2f} documents/s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ft-docs", type=int, default=20_000, help="documents for the fastText speed")
    parser.add_argument("--bert-docs", type=int, default=32, help="documents for the transformer speed (0: skip)")
    parser.add_argument("--batch-size", type=int, default=16, help="the transformer stage's batch size")
    args = parser.parse_args()
    data = Path(args.data)
    if not (data / "quality/dclm_majority_data.jsonl").is_file():
        print(f"no {data}/quality/dclm_majority_data.jsonl: give --data", file=sys.stderr)
        return 2
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model, texts = train(data, folder, args.seed)
        evaluate(model, data)
        docs = sized_documents(texts, args.ft_docs, args.seed)
        fasttext_speed(model, docs)
        if args.bert_docs:
            bert = bert_base(folder / "bert", texts, args.seed)
            transformer_speed(bert, docs[: args.bert_docs], args.batch_size)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
