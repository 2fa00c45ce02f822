"""Every folder of Parquet files the engine writes reads as one dataset: all its files share one schema.

Readers of a folder (``pyarrow.parquet.read_table(folder)``, Hugging Face ``datasets``, DuckDB) take
the schema of one file, often the first, and drop or fail on what differs in the others. Shards of one
phase can differ where their inputs did (Parquet inputs with other columns) or where a column held only
nulls in one shard. After a phase, the files whose schema differs from the union of all of them are
rewritten with it: missing columns as nulls, types widened (``null`` to the type the others have).
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from fineweb_pipe.writers.atomic import write_parquet


def conform_to_one_schema(paths: Sequence[str]) -> int:
    """Rewrite the files among ``paths`` whose schema is not the union of all of theirs; returns how many."""
    schemas = {path: pq.read_schema(path) for path in paths}
    if len({_plain(s) for s in schemas.values()}) <= 1:
        return 0
    unified = pa.unify_schemas([_plain(s) for s in schemas.values()], promote_options="permissive")
    rewritten = 0
    for path, file_schema in schemas.items():
        if _plain(file_schema).equals(unified):
            continue
        table = pq.read_table(path)
        columns = [table.column(f.name).cast(f.type) if f.name in table.column_names
                   else pa.nulls(table.num_rows, f.type) for f in unified]
        write_parquet(pa.Table.from_arrays(columns, schema=unified), path)
        rewritten += 1
    return rewritten


def _plain(schema: pa.Schema) -> pa.Schema:
    """Without metadata (pandas' and Arrow's own notes differ between otherwise equal files)."""
    return schema.remove_metadata()
