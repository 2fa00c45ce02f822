"""The run manifest: what an output folder was made from, so that a rerun resumes only the same run.

``run.json`` holds the pipeline's fingerprint (the package version, the reader, and each step's class
and parameters, phase by phase) and every input's key, path, size and version. A rerun compares its own
manifest with it: the same pipeline and inputs resume; anything else is named in a
:class:`ConfigurationError` that says how to go on.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib.metadata
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from fineweb_pipe.engine.inputs import InputFile
from fineweb_pipe.pipeline import Pipeline

MANIFEST_NAME = "run.json"
MANIFEST_FORMAT = 1
# A pipeline file's module is named by how it was started (`python x.py`: __main__; `fineweb-pipe run
# x.py`: a generated name); its classes are the same either way.
_PIPELINE_FILE_MODULES = re.compile(r"^(__main__|fineweb_pipe_user_pipeline_.*)$")
_ADDRESS = re.compile(r" at 0x[0-9a-f]+")


def package_version() -> str:
    try:
        return importlib.metadata.version("fineweb-pipe")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def describe(value: Any) -> Any:
    """``value`` as plain JSON that is equal for equal configurations: a stage's parameters."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, enum.Enum):
        return describe(value.value)
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, (list, tuple)):
        return [describe(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((describe(v) for v in value), key=repr)
    if isinstance(value, dict):
        return {str(k): describe(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, type) or callable(value) and hasattr(value, "__qualname__"):
        return f"{_module(value)}{value.__qualname__}"
    if dataclasses.is_dataclass(value):
        return {"class": _class_name(value), **{f.name: describe(getattr(value, f.name))
                                                for f in dataclasses.fields(value) if not f.name.startswith("_")}}
    if hasattr(value, "__dict__"):
        # Public attributes are parameters; private ones are worker state built in setup().
        params = {k: v for k, v in vars(value).items() if not k.startswith("_")}
        return {"class": _class_name(value), **{k: describe(v) for k, v in sorted(params.items())}}
    return _ADDRESS.sub("", repr(value))


def _module(obj: Any) -> str:
    module = getattr(obj, "__module__", "") or ""
    return "" if _PIPELINE_FILE_MODULES.match(module) else f"{module}."


def _class_name(value: Any) -> str:
    return f"{_module(type(value))}{type(value).__qualname__}"


def pipeline_fingerprint(pipeline: Pipeline) -> dict[str, Any]:
    return {
        "package": package_version(),
        "reader": describe(pipeline.reader),
        "sink": describe(pipeline.sink),
        "phases": [{"name": phase.name,
                    "steps": [{"name": step.name, **describe(step)}
                              for step in ([phase.global_stage] if phase.global_stage else phase.stages)]}
                   for phase in pipeline.phases],
    }


@dataclass
class RunManifest:
    pipeline: dict[str, Any]
    inputs: list[InputFile]
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"format": MANIFEST_FORMAT, "pipeline": self.pipeline, "inputs": [f.to_json() for f in self.inputs],
                "notes": self.notes}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunManifest:
        return cls(data["pipeline"], [InputFile(**f) for f in data["inputs"]], data.get("notes", []))


def pipeline_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What differs between two pipeline fingerprints, one line each (empty: the same pipeline)."""
    changes: list[str] = []
    if old.get("package") != new.get("package"):
        changes.append(f"fineweb-pipe {old.get('package')} -> {new.get('package')}")
    for part in ("reader", "sink"):
        if old.get(part) != new.get(part):
            changes.append(f"{part} {_short(old.get(part))} -> {_short(new.get(part))}")
    old_steps = [s for p in old.get("phases", []) for s in p["steps"]]
    new_steps = [s for p in new.get("phases", []) for s in p["steps"]]
    old_by_name = {s["name"]: s for s in old_steps}
    new_by_name = {s["name"]: s for s in new_steps}
    for name in old_by_name.keys() - new_by_name.keys():
        changes.append(f"step {name} removed")
    for name in new_by_name.keys() - old_by_name.keys():
        changes.append(f"step {name} added")
    for name in old_by_name.keys() & new_by_name.keys():
        a, b = old_by_name[name], new_by_name[name]
        for key in sorted(a.keys() | b.keys()):
            if a.get(key) != b.get(key):
                changes.append(f"step {name}: {key} {_short(a.get(key))} -> {_short(b.get(key))}")
    if not changes and [s["name"] for s in old_steps] != [s["name"] for s in new_steps]:
        changes.append(f"steps reordered: {[s['name'] for s in old_steps]} -> {[s['name'] for s in new_steps]}")
    if not changes and old.get("phases") != new.get("phases"):
        changes.append("the steps' phases differ")
    return changes


@dataclass
class InputChanges:
    missing: list[InputFile]
    changed: list[tuple[InputFile, InputFile]]
    added: list[InputFile]
    moved: list[tuple[InputFile, InputFile]]


def input_changes(old: Sequence[InputFile], new: Sequence[InputFile]) -> InputChanges:
    old_by_key = {f.key: f for f in old}
    new_by_key = {f.key: f for f in new}
    both = [(old_by_key[k], new_by_key[k]) for k in sorted(old_by_key.keys() & new_by_key.keys())]
    return InputChanges(
        missing=[old_by_key[k] for k in sorted(old_by_key.keys() - new_by_key.keys())],
        changed=[(a, b) for a, b in both if (a.size, a.version) != (b.size, b.version)],
        added=[new_by_key[k] for k in sorted(new_by_key.keys() - old_by_key.keys())],
        moved=[(a, b) for a, b in both if a.path != b.path and (a.size, a.version) == (b.size, b.version)],
    )


def _short(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
