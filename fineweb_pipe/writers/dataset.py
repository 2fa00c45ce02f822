"""Every folder of Parquet files the engine writes reads as one dataset: all its files share one schema.

Readers of a folder (``pyarrow.parquet.read_table(folder)``, Hugging Face ``datasets``, DuckDB) take
the schema of one file, often the first, and drop or fail on what differs in the others. Shards of one
phase can differ where their inputs did (Parquet inputs with other columns) or where a column held only
nulls in one shard. After a phase, the files whose schema differs from the union of all of them are
rewritten with it: missing columns as nulls, types widened (``null`` to the type the others have).
The streaming phases know each file's schema from its shard's record; for files written by global
stages, :func:`file_schema` reads it from the footer.
"""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from fineweb_pipe import storage
from fineweb_pipe.writers.atomic import write_parquet


def one_schema(schemas: Iterable[pa.Schema]) -> pa.Schema:
    """The union of ``schemas`` (without metadata: pandas' and Arrow's own notes differ between otherwise
    equal files)."""
    return pa.unify_schemas([s.remove_metadata() for s in schemas], promote_options="permissive")


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with ``schema``'s columns, in its order: missing ones as nulls, types widened."""
    columns = [table.column(f.name).cast(f.type) if f.name in table.column_names else pa.nulls(table.num_rows, f.type)
               for f in schema]
    return pa.Table.from_arrays(columns, schema=schema)


def differs(schema: pa.Schema, unified: pa.Schema) -> bool:
    return not schema.remove_metadata().equals(unified)


def file_schema(url: str) -> pa.Schema:
    with storage.open_input(url) as f:
        return pq.read_schema(f)


def file_rows(url: str) -> int:
    with storage.open_input(url) as f:
        return int(pq.read_metadata(f).num_rows)


def rewrite_with_schema(job: tuple[str, bytes]) -> None:
    """Rewrite the Parquet file ``job[0]`` with the serialised schema ``job[1]`` (a task: it runs on a
    worker, next to the data)."""
    url, serialised = job
    unified = pa.ipc.read_schema(pa.py_buffer(serialised))
    with storage.open_input(url) as f:
        table = pq.read_table(f)
    write_parquet(conform(table, unified), url)
