"""A pipeline: a reader and the steps documents go through, in order.

Consecutive streaming stages (filters, transforms) form a *phase* that runs over the input in one
pass; a global stage (dedup, tokenization) ends the phase before it and starts its own, reading what
the phase before wrote. A stage that needs a GPU also starts a phase of its own (with the GPU stages
after it), and the CPU stages after it another: each phase's workers ask for what its stages need, so
GPU workers run only GPU stages and the CPU stages never hold a GPU.

The pipeline names its ``sink``, the format of ``documents/`` (Parquet unless said otherwise).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from fineweb_pipe.readers.base import Reader
from fineweb_pipe.stage import GlobalStage, Stage
from fineweb_pipe.writers.sinks import DocumentSink, ParquetDocuments

Step = Stage | GlobalStage


@dataclass(frozen=True)
class Phase:
    index: int
    stages: tuple[Stage, ...] = ()  # a streaming phase
    global_stage: GlobalStage | None = None  # or a global one

    @property
    def name(self) -> str:
        if self.global_stage is not None:
            return f"{self.index:02d}-{self.global_stage.name}"
        return f"{self.index:02d}-stream"


@dataclass
class Pipeline:
    """``steps`` run in order over what ``reader`` reads (``None``: chosen by each file's name)."""

    steps: Sequence[Step]
    reader: Reader | None = None
    name: str = "pipeline"
    description: str = ""
    sink: DocumentSink = field(default_factory=ParquetDocuments)
    phases: list[Phase] = field(init=False)
    #: index of the last phase whose output is documents: the one that writes ``documents/``
    documents_phase: int = field(init=False)

    def __post_init__(self) -> None:
        names = Counter(step.name for step in self.steps)
        repeated = [name for name, n in names.items() if n > 1]
        if repeated:
            raise ValueError(f"pipeline {self.name!r}: step names must be unique, {repeated} repeat; "
                             "rename one with .named('...')")
        for step in self.steps:
            if not isinstance(step, (Stage, GlobalStage)):
                raise TypeError(f"pipeline {self.name!r}: {step!r} is not a Stage or GlobalStage")
        self.phases = self._split()
        self.documents_phase = self._documents_phase()
        if not self.sink.readable_by_next_phase:
            writer = self.phases[self.documents_phase].global_stage
            if writer is not None:
                raise ValueError(f"pipeline {self.name!r}: {writer.name} writes documents/ itself, as Parquet; "
                                 f"{type(self.sink).__name__} is for pipelines whose documents come from streaming "
                                 "stages: use ParquetDocuments")
            if self.documents_phase != len(self.phases) - 1:
                raise ValueError(f"pipeline {self.name!r}: {type(self.sink).__name__} cannot be read back by "
                                 f"{self.phases[-1].name}, which reads the documents; use ParquetDocuments")

    def _documents_phase(self) -> int:
        for phase in reversed(self.phases):
            if phase.global_stage is None or phase.global_stage.passes_documents:
                return phase.index
        raise ValueError(f"pipeline {self.name!r} writes no documents")

    def _split(self) -> list[Phase]:
        phases: list[Phase] = []
        run: list[Stage] = []
        for step in self.steps:
            if isinstance(step, GlobalStage):
                if run or not phases:
                    phases.append(Phase(len(phases), tuple(run)))
                    run = []
                phases.append(Phase(len(phases), global_stage=step))
            else:
                if run and _uses_gpu(run[-1]) != _uses_gpu(step):
                    phases.append(Phase(len(phases), tuple(run)))
                    run = []
                run.append(step)
        if run or not phases:
            phases.append(Phase(len(phases), tuple(run)))
        return phases


def _uses_gpu(stage: Stage) -> bool:
    return stage.resources.num_gpus > 0
