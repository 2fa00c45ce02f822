"""The document model: documents flow between stages as Arrow tables with these columns.

A reader emits the *source* columns; each stage adds or rewrites columns (extraction turns ``html``
into ``text`` and ``title``; language ID adds ``language`` and ``language_score``; ...). Batches carry
document columns only: what the engine needs to know about a shard travels beside them, not in them.

| column           | type         | set by      | meaning                                              |
|------------------|--------------|-------------|------------------------------------------------------|
| id               | string       | reader      | stable document id (WARC-Record-ID, else file+offset)|
| url              | string       | reader      | target URI                                           |
| date             | string       | reader      | crawl date, ISO 8601                                 |
| html             | large_string | WARC reader | HTML decoded with ``charset``; dropped by extraction |
| charset          | string       | WARC reader | charset used to decode (header, meta or detected)   |
| content_type     | string       | WARC reader | HTTP Content-Type (as sent, may be empty)            |
| text             | large_string | extraction  | main text (JSONL/Parquet readers: given)             |
| title            | string       | extraction  | page title when the extractor finds one              |
| source_file      | string       | reader      | path or URI of the input file                        |
| source_offset    | int64        | reader      | byte offset of the record (WARC) or line/row number  |
| warc_record_id   | string       | WARC reader | WARC-Record-ID                                       |
| metadata         | string       | text readers| a JSON object of the input's other fields, or null   |
| language         | string       | language ID | ISO 639 code of the top label                        |
| language_score   | float64      | language ID | its probability                                      |
"""

from __future__ import annotations

import pyarrow as pa

from fineweb_pipe.errors import ConfigurationError

ID = "id"
URL = "url"
DATE = "date"
HTML = "html"
CHARSET = "charset"
CONTENT_TYPE = "content_type"
TEXT = "text"
TITLE = "title"
SOURCE_FILE = "source_file"
SOURCE_OFFSET = "source_offset"
WARC_RECORD_ID = "warc_record_id"
METADATA = "metadata"
LANGUAGE = "language"
LANGUAGE_SCORE = "language_score"

WARC_SCHEMA = pa.schema(
    [
        (ID, pa.string()),
        (URL, pa.string()),
        (DATE, pa.string()),
        (HTML, pa.large_string()),
        (CHARSET, pa.string()),
        (CONTENT_TYPE, pa.string()),
        (SOURCE_FILE, pa.string()),
        (SOURCE_OFFSET, pa.int64()),
        (WARC_RECORD_ID, pa.string()),
    ]
)

TEXT_SCHEMA = pa.schema(
    [
        (ID, pa.string()),
        (URL, pa.string()),
        (DATE, pa.string()),
        (TEXT, pa.large_string()),
        (SOURCE_FILE, pa.string()),
        (SOURCE_OFFSET, pa.int64()),
        # JSON, not columns: fields vary from line to line and file to file, and every shard of a run
        # must have the same schema for the outputs to read as one dataset.
        (METADATA, pa.string()),
    ]
)

def text_column(table: pa.Table) -> pa.ChunkedArray:
    """The ``text`` column, with an error that says which stage is missing when it is absent."""
    if TEXT not in table.column_names:
        raise ConfigurationError(
            f"batch has no '{TEXT}' column (columns: {table.column_names}); "
            "put an extraction stage before text stages, or read text input (JSONL/Parquet)"
        )
    return table.column(TEXT)
