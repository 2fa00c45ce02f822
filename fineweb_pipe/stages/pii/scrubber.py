"""The PII stage: find personal data with presidio and replace it (or annotate it), keeping every row."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING, ClassVar

import pyarrow as pa

from fineweb_pipe import schema
from fineweb_pipe.stage import Resources, Transform, set_column
from fineweb_pipe.stages.pii import entities as ent
from fineweb_pipe.stages.pii.entities import DEFAULT_PHONE_LENIENCY, DEFAULT_PHONE_REGIONS, Detection, UserPattern
from fineweb_pipe.stages.pii.phone import whole_numbers
from fineweb_pipe.stages.pii.prefilter import Prefilter, Window
from fineweb_pipe.stages.pii.replace import Policy, Replacer, keep_detection, resolve_overlaps

if TYPE_CHECKING:  # presidio (with spaCy and thinc: ~0.9 CPU-s) is imported by workers only, in setup()
    from fineweb_pipe.stages.pii.analyzer import PiiAnalyzer

PII_SPANS = "pii_spans"
PII_TYPES = "pii_types"
SPAN_TYPE = pa.struct([("start", pa.int32()), ("end", pa.int32()), ("type", pa.string())])
DOCS_WITH_PII = "pii_docs_with_pii"
DOCS_ANALYZED = "pii_docs_analyzed"  # documents the prefilter sent to presidio


def counter_name(entity_type: str) -> str:
    return f"pii_{entity_type}"


class PiiScrubber(Transform):
    """Replaces emails, phone numbers, IPs, card numbers, IBANs, SSNs (and user patterns) in ``text``.

    ``policy`` is one of ``fineweb`` (FineWeb's placeholders), ``tag``, ``hash`` or ``annotate`` (text
    unchanged; adds ``pii_spans``, character offsets into ``text``, and ``pii_types``). Private and
    reserved IP addresses are kept, as FineWeb does, unless ``keep_private_ips`` is false. ``PERSON`` and
    ``LOCATION`` need ``ner_model``, an installed spaCy model. ``prefilter=False`` sends every document to
    presidio (for measuring what the prefilter saves; results are the same).
    """

    resources: ClassVar[Resources] = Resources(num_cpus=1.0)
    worker_state = ("_analyzer", "_prefilter", "_replacer")
    _analyzer: PiiAnalyzer
    _prefilter: Prefilter
    _replacer: Replacer  # not for policy "annotate"

    def __init__(self, entities: Sequence[str] = ent.DEFAULT_ENTITIES, policy: Policy | str = Policy.FINEWEB,
                 keep_private_ips: bool = True, user_patterns: Sequence[UserPattern] = (),
                 phone_regions: Sequence[str] = DEFAULT_PHONE_REGIONS,
                 phone_leniency: int = DEFAULT_PHONE_LENIENCY, ner_model: str | None = None,
                 min_score: float = 0.3, hash_salt: str = "", prefilter: bool = True) -> None:
        known = (*ent.PATTERN_ENTITIES, *ent.NER_ENTITIES)
        unknown = [t for t in entities if t not in known]
        if unknown:
            raise ValueError(f"unknown PII entity types {unknown}; choose from {list(known)} "
                             "or add a UserPattern for a type of your own")
        try:
            self.policy = Policy(policy)
        except ValueError:
            raise ValueError(f"unknown PII policy {policy!r}; choose from {[p.value for p in Policy]}") from None
        self.entity_types = tuple(dict.fromkeys([*entities, *(p.entity_type for p in user_patterns)]))
        self.keep_private_ips = keep_private_ips
        self.user_patterns = tuple(user_patterns)
        self.phone_regions = tuple(phone_regions)
        self.phone_leniency = phone_leniency
        self.ner_model = ner_model
        self.min_score = min_score
        self.hash_salt = hash_salt
        self.use_prefilter = prefilter

    def setup(self) -> None:
        # Pattern recognizers need no torch; a spaCy NER model may (spacy-transformers).
        with nullcontext() if self.ner_model else _torch_hidden():
            from fineweb_pipe.stages.pii.analyzer import PiiAnalyzer

        self._analyzer = PiiAnalyzer(self.entity_types, self.phone_regions, self.phone_leniency,
                                     self.user_patterns, self.ner_model, self.min_score)
        self._prefilter = Prefilter(self.entity_types, self.phone_regions, self.user_patterns)
        if self.policy is not Policy.ANNOTATE:
            self._replacer = Replacer(self.policy, self.hash_salt)

    def detect(self, text: str) -> tuple[list[Detection], bool]:
        """The detections to act on in ``text`` (non-overlapping, in order) and whether presidio ran."""
        if self.use_prefilter:
            windows = self._prefilter.windows(text)
        else:
            windows = [Window(0, len(text), self.entity_types)]
        if not windows:
            return [], False
        found = [d for w in windows
                 for d in self._analyzer.analyze(text[w.start:w.end], w.entity_types, offset=w.start)]
        # Resolve first: a private IP that is kept still claims its span (no phone number inside it, and
        # none grows into it).
        resolved = whole_numbers(text, resolve_overlaps(found))
        return [d for d in resolved if keep_detection(d, text, self.keep_private_ips)], True

    def transform(self, batch: pa.Table) -> pa.Table:
        texts = schema.text_column(batch).to_pylist()
        self.count(DOCS_WITH_PII, 0)
        self.count(DOCS_ANALYZED, 0)
        per_doc: list[list[Detection]] = []
        for text in texts:
            detections, analyzed = self.detect(text) if text else ([], False)
            per_doc.append(detections)
            self.count(DOCS_ANALYZED, analyzed)
            self.count(DOCS_WITH_PII, bool(detections))
            for d in detections:
                self.count(counter_name(d.entity_type))
        if self.policy is Policy.ANNOTATE:
            return self._annotate(batch, per_doc)
        return self._rewrite(batch, texts, per_doc)

    def _rewrite(self, batch: pa.Table, texts: list[str | None], per_doc: list[list[Detection]]) -> pa.Table:
        if not any(per_doc):
            return batch
        scrubbed = [self._replacer.apply(text, found) if found and text is not None else text
                    for text, found in zip(texts, per_doc)]
        column_type = batch.schema.field(schema.TEXT).type
        return set_column(batch, schema.TEXT, pa.array(scrubbed, column_type))

    @staticmethod
    def _annotate(batch: pa.Table, per_doc: list[list[Detection]]) -> pa.Table:
        spans = [[{"start": d.start, "end": d.end, "type": d.entity_type} for d in found] for found in per_doc]
        types = [sorted({d.entity_type for d in found}) for found in per_doc]
        batch = set_column(batch, PII_SPANS, pa.array(spans, pa.list_(SPAN_TYPE)))
        return set_column(batch, PII_TYPES, pa.array(types, pa.list_(pa.string())))


_HEAVY_OPTIONAL_MODULES = ("torch", "transformers")


@contextmanager
def _torch_hidden() -> Iterator[None]:
    """Make ``import torch`` and ``import transformers`` fail inside the block, unless already loaded.

    thinc (imported by spaCy, imported by presidio) imports torch whenever it is installed, as our
    training extra installs it, and asks it for CUDA devices: per worker ~1 CPU-s, ~180 MB, and a CUDA
    probe on GPU nodes, for pattern matching that never uses it; with torch hidden, the import chain
    then loads transformers (the classifiers extra) just to print that PyTorch is missing.
    ``sys.modules[name] = None`` is Python's documented way to make an import raise ImportError, which
    both treat as "not installed"; the entries are removed afterwards, so later code in the process
    imports them normally.
    """
    hidden = [name for name in _HEAVY_OPTIONAL_MODULES if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        for name in hidden:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]
