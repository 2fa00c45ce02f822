"""The evaluation sets to decontaminate against, read from the files a user supplies: one text per
example, from JSONL, Parquet, plain text (one example a line) or a Hugging Face ``datasets`` Arrow file
(``save_to_disk``'s ``data-*.arrow``). Every file goes through :mod:`fineweb_pipe.storage`."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq

from fineweb_pipe import storage
from fineweb_pipe.errors import ConfigurationError

FORMATS = (".jsonl", ".json", ".parquet", ".txt", ".arrow")
READ_EXAMPLES = 1000


@dataclass(frozen=True)
class Benchmark:
    """One evaluation set: its name (in drop values, counters and stats), its file, and the fields whose
    text makes an example (joined by a line break; empty: every string field, lists of strings joined)."""

    name: str
    path: str
    fields: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.path.endswith(FORMATS):
            raise ConfigurationError(f"benchmark {self.name!r}: {self.path} is none of {', '.join(FORMATS)}; "
                                     "convert it to JSONL or Parquet with one example per row")
        if ":" in self.name:
            raise ConfigurationError(f"benchmark {self.name!r}: a name may not hold ':' (it separates the example)")
        # Checked when the pipeline is built, not hours later when the stage's turn comes.
        if not storage.exists(self.path):
            raise ConfigurationError(f"benchmark {self.name!r}: {self.path} not found; give the path of its "
                                     "examples file (e.g. the test split as JSONL)")


def parse_benchmarks(spec: str, source: str) -> dict[str, str]:
    """``{name: path}`` from ``"name=path,name=path"`` (e.g. an environment variable, named by ``source``)."""
    benchmarks: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in spec.split(","))):
        name, _, path = pair.partition("=")
        if not name or not path:
            raise ConfigurationError(f"{source}: {pair!r} is not name=path (e.g. gsm8k=evals/gsm8k_test.jsonl)")
        if name in benchmarks:
            raise ConfigurationError(f"{source}: benchmark {name!r} is named twice")
        benchmarks[name] = path
    return benchmarks


def read_examples(benchmark: Benchmark) -> Iterator[list[str]]:
    """The benchmark's example texts, in file order, ``READ_EXAMPLES`` at a time.

    Raises :class:`ConfigurationError` naming the file (and line) when it cannot be read as its format,
    or holds no example: decontaminating against a broken file would silently check nothing.
    """
    examples = 0
    try:
        for texts in _read(benchmark):
            examples += len(texts)
            yield texts
    except UnicodeDecodeError as e:
        raise ConfigurationError(f"benchmark {benchmark.name!r} ({benchmark.path}): not UTF-8 text (byte {e.start}); "
                                 "save it as UTF-8") from e
    except pa.ArrowInvalid as e:
        raise ConfigurationError(f"benchmark {benchmark.name!r} ({benchmark.path}): not a readable "
                                 f"{benchmark.path.rsplit('.', 1)[-1]} file ({e})") from e
    if not examples:
        raise ConfigurationError(f"benchmark {benchmark.name!r} ({benchmark.path}): holds no example")


def _read(benchmark: Benchmark) -> Iterator[list[str]]:
    if benchmark.path.endswith(".txt"):
        lines = storage.read_bytes(benchmark.path).decode("utf-8").splitlines()
        examples = [line for line in lines if line.strip()]
        for start in range(0, len(examples), READ_EXAMPLES):
            yield examples[start:start + READ_EXAMPLES]
        return
    for table in _tables(benchmark):
        yield _texts(table, benchmark)


def _tables(benchmark: Benchmark) -> Iterator[pa.Table]:
    path = benchmark.path
    if path.endswith(".parquet"):
        with storage.open_input(path) as f:
            for batch in pq.ParquetFile(f).iter_batches(READ_EXAMPLES):
                yield pa.Table.from_batches([batch])
    elif path.endswith(".arrow"):
        with storage.open_input(path) as f:
            for batch in pa.ipc.open_stream(f):
                yield pa.Table.from_batches([batch])
    else:
        rows = _json_rows(benchmark, storage.read_bytes(path).decode("utf-8"))
        for start in range(0, len(rows), READ_EXAMPLES):
            yield pa.Table.from_pylist(rows[start:start + READ_EXAMPLES])


def _json_rows(benchmark: Benchmark, text: str) -> list[dict[str, object]]:
    """JSON lines, or (``.json``) one array of objects, as datasets' ``to_json`` and hand-made files have it."""
    if benchmark.path.endswith(".json") and text.lstrip().startswith("["):
        rows = json.loads(text)
    else:
        rows = []
        for number, line in enumerate(io.StringIO(text), start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise ConfigurationError(f"benchmark {benchmark.name!r} ({benchmark.path}): line {number} is not "
                                         f"JSON ({e.msg}); one JSON object a line") from e
    if not all(isinstance(row, dict) for row in rows):
        raise ConfigurationError(f"benchmark {benchmark.name!r} ({benchmark.path}): not one JSON object per example")
    return rows


def _texts(table: pa.Table, benchmark: Benchmark) -> list[str]:
    fields = list(benchmark.fields) or [f.name for f in table.schema if _is_text(f.type)]
    missing = [f for f in fields if f not in table.column_names]
    if missing or not fields:
        raise ConfigurationError(f"benchmark {benchmark.name!r} ({benchmark.path}): no field {missing or 'of text'}; "
                                 f"its fields are {table.column_names}")
    columns = [table[f].to_pylist() for f in fields]
    return ["\n".join(_flat(value) for value in row) for row in zip(*columns)]


def _is_text(kind: pa.DataType) -> bool:
    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or (
        pa.types.is_list(kind) and pa.types.is_string(kind.value_type))


def _flat(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return " ".join(_flat(v) for v in value)
    return str(value)
