"""datatrove's side of ``compare_datatrove.py``: runs INSIDE datatrove's own virtual environment.

It imports nothing from fineweb_pipe (datatrove pins trafilatura < 1.12, we use 2.x, so the two cannot
share an environment). Commands, each printing one JSON object on stdout:

    prepare --lid-model lid.176.ftz   put the LID model where datatrove looks for it, unpack its URL
                                      block lists; prints the list files (ours is pointed at them)
    reader FILE...                    what datatrove's WarcReader forwards of each file, and why it
                                      drops the HTML responses it drops
    fineweb --input FILE... --output DIR --logs DIR --workers N
                                      examples/fineweb.py's recipe with PII right after FineWeb quality
    minhash --input DIR --work DIR --workers N
                                      the 4-step MinHash dedup (5-grams, 14 x 8, 64-bit hashes)

Offline: the caller sets ``HF_HUB_OFFLINE=1`` and ``HF_ASSETS_CACHE`` (datatrove's asset folder);
tldextract is given its bundled suffix-list snapshot instead of fetching one.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections import Counter

from fsspec.core import strip_protocol
from huggingface_hub import cached_assets_path
from tldextract import TLDExtract

from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.dedup import MinhashDedupBuckets, MinhashDedupCluster, MinhashDedupFilter, MinhashDedupSignature
from datatrove.pipeline.dedup.minhash import MinhashConfig
from datatrove.pipeline.extractors import Trafilatura
from datatrove.pipeline.filters import (
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
    LanguageFilter,
    URLFilter,
)
from datatrove.pipeline.formatters import PIIFormatter
from datatrove.pipeline.readers import ParquetReader, WarcReader
from datatrove.pipeline.readers.warc import process_record
from datatrove.pipeline.writers import JsonlWriter
from datatrove.utils._import_utils import ASSETS_PATH
from datatrove.utils.hashing import HashConfig
from datatrove.utils.lid import FT176LID

# The folder names of the exclusion writers, in pipeline order; compare_datatrove.py maps them to ours.
FILTER_FOLDERS = ("url", "language", "gopher_rep", "gopher_qual", "c4", "fineweb_qual")
MINHASH = MinhashConfig(n_grams=5, num_buckets=14, hashes_per_bucket=8, hash_config=HashConfig(precision=64))


def prepare(lid_model: str) -> dict[str, str]:
    """Place ``lid_model`` under the name datatrove would download ``lid.176.bin`` to (fastText reads the
    quantized .ftz the same way), and unpack the URL block lists shipped in the wheel."""
    lid_dir = cached_assets_path(library_name="datatrove", namespace="lid", subfolder=FT176LID.MODEL_SUBFOLDER)
    target = os.path.join(lid_dir, strip_protocol(FT176LID.MODEL_URL).replace("/", "_"))  # datatrove's naming
    if not os.path.exists(target):
        shutil.copyfile(lid_model, target)
    open(f"{target}.completed", "a").close()  # datatrove's "download finished" marker
    url_filter = _offline(URLFilter())
    url_filter.download_data()
    lists_dir = cached_assets_path(library_name="datatrove", namespace="filters", subfolder="url_filter")
    return {"lid_model": target, "domains": os.path.join(lists_dir, "domains"), "urls": os.path.join(lists_dir, "urls"),
            "hard_words": os.path.join(ASSETS_PATH, "banned_words.txt"),
            "soft_words": os.path.join(ASSETS_PATH, "soft_banned_words.txt"),
            "subwords": os.path.join(ASSETS_PATH, "banned_subwords.txt")}


def _offline(url_filter: URLFilter) -> URLFilter:
    # TLDExtract() fetches the public suffix list on first use; the bundled snapshot is what ours uses.
    url_filter.tldextractor = TLDExtract(suffix_list_urls=())
    return url_filter


def reader_report(files: list[str]) -> dict:
    """Per file: HTML responses seen, forwarded by WarcReader, and the drops by cause, with their URLs."""
    import cchardet
    import magic
    from warcio.archiveiterator import ArchiveIterator

    report: dict = {}
    for path in files:
        counts: Counter = Counter()
        dropped: list[dict] = []
        with open(path, "rb") as f:
            for record in ArchiveIterator(f):
                if record.rec_type != "response":
                    continue
                url = record.rec_headers.get_header("WARC-Target-URI")
                record_id = record.rec_headers.get_header("WARC-Record-ID")
                payload = record.content_stream().read()
                counts["responses"] += 1
                forwarded = process_record(_Replay(record, payload)) is not None
                counts["forwarded" if forwarded else "dropped"] += 1
                if not forwarded:
                    cause = _drop_cause(payload, magic.from_buffer(payload, mime=True), cchardet)
                    counts[cause] += 1
                    dropped.append({"id": record_id, "url": url, "cause": cause})
        report[path] = {"counts": dict(counts), "dropped": dropped}
    return report


class _Replay:
    """A WARC record whose payload was already read, handed to datatrove's ``process_record`` again."""

    def __init__(self, record, payload: bytes) -> None:
        self.rec_type, self.rec_headers, self._payload = record.rec_type, record.rec_headers, payload

    def content_stream(self):
        import io

        return io.BytesIO(self._payload)


def _drop_cause(payload: bytes, sniffed: str, cchardet) -> str:
    if sniffed not in ("text/html", "application/xhtml+xml"):
        return f"libmagic says {sniffed}"
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError:
        return f"not UTF-8, cchardet: {cchardet.detect(payload)['encoding']}"
    return "other"


def fineweb(files: list[str], output: str, logs: str, workers: int) -> None:
    folder = os.path.commonpath([os.path.dirname(os.path.abspath(f)) for f in files])
    os.makedirs(logs, exist_ok=True)
    paths_file = os.path.join(logs, "inputs.txt")
    with open(paths_file, "w") as f:
        f.write("".join(os.path.relpath(os.path.abspath(p), folder) + "\n" for p in files))

    def excluded(name: str) -> JsonlWriter:
        return JsonlWriter(os.path.join(output, "removed", name))

    pipeline = [
        WarcReader(folder, paths_file=paths_file),
        _offline(URLFilter(exclusion_writer=excluded("url"))),
        Trafilatura(favour_precision=True, timeout=1.0),
        LanguageFilter(languages=["en"], language_threshold=0.65, exclusion_writer=excluded("language")),
        GopherRepetitionFilter(exclusion_writer=excluded("gopher_rep")),
        GopherQualityFilter(exclusion_writer=excluded("gopher_qual")),
        C4QualityFilter(filter_no_terminal_punct=False, exclusion_writer=excluded("c4")),
        FineWebQualityFilter(exclusion_writer=excluded("fineweb_qual")),
        PIIFormatter(),
        JsonlWriter(os.path.join(output, "documents")),
    ]
    LocalPipelineExecutor(pipeline, tasks=workers, workers=workers, logging_dir=logs, skip_completed=False).run()


def minhash(input_dir: str, work: str, workers: int) -> None:
    """datatrove's 4 steps, each its own executor run, as its minhash example chains them."""
    def executor(name: str, pipeline: list, tasks: int, depends=None) -> LocalPipelineExecutor:
        return LocalPipelineExecutor(pipeline, tasks=tasks, workers=workers, depends=depends, skip_completed=False,
                                     logging_dir=os.path.join(work, "logs", name))

    def reader() -> ParquetReader:
        return ParquetReader(input_dir, glob_pattern="*.parquet")

    signatures = executor("signatures", [reader(), MinhashDedupSignature(os.path.join(work, "sigs"), config=MINHASH)],
                          tasks=workers)
    buckets = executor("buckets", [MinhashDedupBuckets(os.path.join(work, "sigs"), os.path.join(work, "buckets"),
                                                       config=MINHASH)], tasks=MINHASH.num_buckets, depends=signatures)
    clusters = executor("clusters", [MinhashDedupCluster(os.path.join(work, "buckets"), os.path.join(work, "remove"),
                                                         config=MINHASH, save_cluster_id=True)], tasks=1, depends=buckets)
    keep = executor("filter", [
        reader(),
        MinhashDedupFilter(os.path.join(work, "remove"), load_cluster_ids=True,
                           exclusion_writer=JsonlWriter(os.path.join(work, "removed"))),
        JsonlWriter(os.path.join(work, "documents")),
    ], tasks=workers, depends=clusters)
    keep.run()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("prepare").add_argument("--lid-model", required=True)
    sub.add_parser("reader").add_argument("files", nargs="+")
    run = sub.add_parser("fineweb")
    run.add_argument("--input", nargs="+", required=True)
    run.add_argument("--output", required=True)
    run.add_argument("--logs", required=True)
    run.add_argument("--workers", type=int, default=1)
    dedup = sub.add_parser("minhash")
    dedup.add_argument("--input", required=True)
    dedup.add_argument("--work", required=True)
    dedup.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    if args.command == "prepare":
        print(json.dumps(prepare(args.lid_model)))
    elif args.command == "reader":
        print(json.dumps(reader_report(args.files)))
    elif args.command == "fineweb":
        fineweb(args.input, args.output, args.logs, args.workers)
    else:
        minhash(args.input, args.work, args.workers)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
