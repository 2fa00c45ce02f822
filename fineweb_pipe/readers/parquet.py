"""Parquet documents (Hugging Face datasets, the output of an earlier run): streamed by row group, never
loaded whole, checked against the document columns before the first row is read."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from fineweb_pipe import schema
from fineweb_pipe.errors import ConfigurationError, InputUnavailable, is_transport_error
from fineweb_pipe.readers.base import Reader, emitted, fallback_id, split_by_bytes
from fineweb_pipe.stats import ReaderCounts

#: The document columns this project gives a meaning to; with ``metadata=True`` the others are packed.
DOCUMENT_COLUMNS = frozenset({
    schema.ID, schema.URL, schema.DATE, schema.HTML, schema.CHARSET, schema.CONTENT_TYPE, schema.TEXT,
    schema.TITLE, schema.SOURCE_FILE, schema.SOURCE_OFFSET, schema.WARC_RECORD_ID, schema.LANGUAGE,
    schema.LANGUAGE_SCORE, schema.METADATA,
})


def _is_text(kind: pa.DataType) -> bool:
    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)


class ParquetReader(Reader):
    """Reads every column (``columns`` selects some); a file needs a string ``text`` or ``html`` column.

    At the start of a file, before any row: no ``text``/``html`` column, or one that is not a string, or
    a ``url`` that is not a string, is a :class:`ConfigurationError` naming file, column and expected
    type. ``id`` is made a string (integer ids are common); a missing or null one is made from the file
    and row number, as for JSONL. ``source_file``/``source_offset`` (the row number) are added when the
    file has none. Batches hold at most ``batch_docs`` rows and ``batch_bytes`` bytes of text.

    Columns other than the document columns are kept as they are by default: the runner reads the
    outputs of one phase with this reader for the next, and those carry stage columns (dedup clusters,
    PII spans) that must keep their types. ``metadata=True`` packs them into one JSON ``metadata``
    column instead, as the JSONL reader does, for inputs whose extra columns differ between files.

    A file that is not Parquet (or was cut short) is counted as ``not_parquet``, a row group that
    cannot be decoded as ``corrupt_parquet`` (the rows before it are kept); a read that fails in the
    file system or the network raises :class:`InputUnavailable`.
    """

    patterns = ("*.parquet",)

    def __init__(self, batch_docs: int = 1024, batch_bytes: int = 32 << 20, columns: list[str] | None = None,
                 metadata: bool = False) -> None:
        super().__init__(batch_docs, batch_bytes)
        self.columns = columns
        self.metadata = metadata

    def iter_batches(self, path: str, counts: ReaderCounts) -> Iterator[pa.Table]:
        try:
            handle = fsspec.open(path, "rb").open()
        except OSError as exc:
            raise InputUnavailable(path, exc) from exc
        try:
            try:
                parquet = pq.ParquetFile(_TransportChecked(handle, path))
            except (pa.ArrowException, OSError, ValueError) as exc:
                counts.error("not_parquet", path, 0, f"{type(exc).__name__}: {exc}; not a Parquet file, or cut "
                             "short: re-fetch it or remove it from the inputs")
                return
            self._check(parquet.schema_arrow, path)
            first_row = 0
            for group in range(parquet.num_row_groups):
                # Row group by row group: a batch spanning groups would take the rows of the groups
                # before a damaged one down with it, and the groups after it are still readable.
                yield from self._row_group(parquet, group, first_row, path, counts)
                first_row += parquet.metadata.row_group(group).num_rows
        finally:
            handle.close()

    def _row_group(self, parquet: pq.ParquetFile, group: int, first_row: int, path: str,
                   counts: ReaderCounts) -> Iterator[pa.Table]:
        """The rows of one row group as batches; a group that cannot be decoded is counted and left."""
        batches = parquet.iter_batches(batch_size=self.batch_docs, row_groups=[group], columns=self.columns)
        row = first_row
        while True:
            try:
                batch = next(batches, None)
            except (pa.ArrowException, OSError, ValueError) as exc:
                rows = parquet.metadata.row_group(group).num_rows
                counts.error("corrupt_parquet", path, row, f"{type(exc).__name__}: {exc}; row group {group} "
                             f"(rows {first_row}-{first_row + rows - 1}) cannot be decoded: kept its "
                             f"{row - first_row} rows before the damage, read on with the next group")
                return
            if batch is None:
                return
            table = self._normalized(pa.Table.from_batches([batch]), path, row)
            counts.records["row"] += table.num_rows
            row += table.num_rows
            payload = schema.TEXT if schema.TEXT in table.column_names else schema.HTML
            if table.column(payload).null_count:  # skipped as a JSONL line without text is
                counts.skipped[f"no_{payload}"] += table.column(payload).null_count
                table = table.filter(pc.is_valid(table.column(payload)))
            for part in split_by_bytes(table, self.batch_bytes) if table.num_rows else ():
                yield emitted(part, counts)

    def _check(self, file_schema: pa.Schema, path: str) -> None:
        names = [n for n in file_schema.names if self.columns is None or n in self.columns]
        payload = next((c for c in (schema.TEXT, schema.HTML) if c in names), None)
        if payload is None:
            raise ConfigurationError(
                f"{path}: no '{schema.TEXT}' column (expected a string column '{schema.TEXT}', or '{schema.HTML}' "
                f"for pages to extract; columns: {names[:20]}); rename the column that holds the text")
        for column, expected in ((payload, "string"), (schema.URL, "string"), (schema.ID, "string or integer"),
                                 (schema.DATE, "string, date or timestamp")):
            if column not in names:
                continue
            kind = file_schema.field(column).type
            fits = _is_text(kind) or (column == schema.ID and pa.types.is_integer(kind)) or (
                column == schema.DATE and pa.types.is_temporal(kind))
            if not fits:
                raise ConfigurationError(f"{path}: column '{column}' is {kind}, expected {expected}; "
                                         "cast it (or rename it) before reading")

    def _normalized(self, table: pa.Table, path: str, first_row: int) -> pa.Table:
        """Ids and dates as strings, ``text``/``html`` as large strings, source columns added, and with
        ``metadata`` the non-document columns packed into one JSON column."""
        rows = range(first_row, first_row + table.num_rows)
        for column, kind in ((schema.TEXT, pa.large_string()), (schema.HTML, pa.large_string()),
                             (schema.URL, pa.string()), (schema.DATE, pa.string()), (schema.ID, pa.string())):
            if column in table.column_names and table.schema.field(column).type != kind:
                table = table.set_column(table.column_names.index(column), column, pc.cast(table.column(column), kind))
        if schema.ID not in table.column_names:
            table = table.add_column(0, schema.ID, pa.array([fallback_id(path, r) for r in rows], pa.string()))
        elif table.column(schema.ID).null_count:
            ids = [fallback_id(path, r) if v is None else v for r, v in zip(rows, table.column(schema.ID).to_pylist())]
            table = table.set_column(table.column_names.index(schema.ID), schema.ID, pa.array(ids, pa.string()))
        if schema.SOURCE_FILE not in table.column_names:
            table = table.append_column(schema.SOURCE_FILE, pa.array([path] * table.num_rows, pa.string()))
            table = table.append_column(schema.SOURCE_OFFSET, pa.array(rows, pa.int64()))
        extras = [n for n in table.column_names if n not in DOCUMENT_COLUMNS]
        if self.metadata and extras:
            packed = extras + [schema.METADATA] * (schema.METADATA in table.column_names)  # nested, not lost
            table = table.drop_columns(packed).append_column(schema.METADATA, _as_json(table.select(packed)))
        return table


def _as_json(table: pa.Table) -> pa.Array:
    """One JSON object per row of ``table`` (values JSON cannot hold, such as bytes or dates, as strings)."""
    return pa.array([json.dumps(row, ensure_ascii=False, default=str) for row in table.to_pylist()], pa.string())


class _TransportChecked(io.RawIOBase):
    """A file whose I/O failures raise :class:`InputUnavailable`, so that Arrow's own errors (about the
    bytes) and the transport's (about reading them now) stay apart."""

    def __init__(self, inner: Any, path: str) -> None:
        super().__init__()
        self._inner = inner
        self._path = path

    def _call(self, method: str, *args: Any) -> Any:
        try:
            return getattr(self._inner, method)(*args)
        except OSError as exc:
            if is_transport_error(exc):
                raise InputUnavailable(self._path, exc) from exc
            raise

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        return self._call("read", size)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._call("seek", offset, whence)

    def tell(self) -> int:
        return self._call("tell")
