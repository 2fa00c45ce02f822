"""PII scrubbing with presidio-analyzer, behind a cheap per-type prefilter (see ``scrubber.PiiScrubber``)."""

from fineweb_pipe.stages.pii.entities import DEFAULT_ENTITIES, Detection, UserPattern
from fineweb_pipe.stages.pii.replace import Policy
from fineweb_pipe.stages.pii.scrubber import PII_SPANS, PII_TYPES, PiiScrubber

__all__ = ["DEFAULT_ENTITIES", "Detection", "PII_SPANS", "PII_TYPES", "PiiScrubber", "Policy", "UserPattern"]
