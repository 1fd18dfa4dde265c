"""Reading ``POST /predict`` bodies with bounded memory and time.

A body is at most ``--max-body-mb`` bytes, but what it *decodes to* is the real cost, and
a hostile body is built to make that cost large:

- JSON: Python's parser spends about 64 bytes per empty object ``{}`` (three bytes of
  text), so 32 MiB of ``[{},{},...]`` become 800 MB, and one ``json.loads`` of a big body
  holds the GIL for the whole parse (every other request, ``/health`` included, waits).
  :func:`parse_json` reads big bodies record by record: it stops at ``max_rows + 1``
  records, reads each record from a slice of at most :data:`MAX_RECORD_CHARS`
  characters, refuses a list or object inside a record (the schema has scalar fields
  only), and gives the GIL back between records. Small bodies (most requests) take the
  plain ``json.loads`` path: their cost is bounded by their size.
- Arrow IPC: a compressed stream of 44 KB can decode to a gibibyte, and a column of type
  ``null`` needs no bytes at all for any number of rows. :func:`parse_arrow` reads every
  message's header first (rows per batch and, for compressed buffers, the uncompressed
  length Arrow stores in front of each buffer) and refuses the stream before decoding
  anything when the rows or the decoded bytes exceed the limits. Column types the schema
  cannot hold (nested, views, run-end encoded) are refused by name, and bytes after the
  end of the stream are an error, not ignored.

Both raise :class:`RequestError` with the HTTP status and the field-level detail the
server answers with.
"""

from __future__ import annotations

import codecs
import json
import re
import struct
import time
from typing import Any

__all__ = [
    "MAX_ARROW_MESSAGES",
    "MAX_RECORD_CHARS",
    "SMALL_JSON_BYTES",
    "RequestError",
    "check_charset",
    "err",
    "parse_arrow",
    "parse_json",
]

#: Bodies up to this size are parsed with one ``json.loads`` on the event loop (at most a
#: few MB of objects and a few ms); bigger ones with the bounded reader in a thread.
SMALL_JSON_BYTES = 64 * 1024
#: The longest JSON text of one record in a big body (a record of the schema's scalar
#: fields is usually well under a kilobyte; long text fields fit comfortably).
MAX_RECORD_CHARS = 1024 * 1024
#: The most messages (record and dictionary batches) in one Arrow stream: each costs a
#: header check here and a chunk in every column, and a writer needs a handful per request.
MAX_ARROW_MESSAGES = 10_000


class RequestError(Exception):
    """An input problem answered with ``status`` and ``detail`` (never logged as a fault)."""

    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(str(detail))
        self.status = status
        self.detail = detail


def err(msg: str, kind: str, row: int | None = None, field: str | None = None) -> list[Any]:
    """One field-level error: ``[{"loc": [row, field], "msg": ..., "type": ...}]``."""
    return [{"loc": [row, field], "msg": msg, "type": kind}]


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON; send null for a missing value")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
_WS = re.compile(r"[ \t\n\r]*")
_RECORDS_KEY = re.compile(r'\{[ \t\n\r]*"records"[ \t\n\r]*:[ \t\n\r]*')


# --- JSON ---------------------------------------------------------------------------------


def check_charset(content_type: str) -> None:
    """Refuse a JSON body declared in another charset than UTF-8 (RFC 8259: JSON exchanged
    between systems is UTF-8)."""
    for param in content_type.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
            if charset not in ("utf-8", "utf8"):
                raise RequestError(
                    422,
                    err(
                        f"the body is declared as {charset!r}; JSON bodies must be UTF-8 "
                        "(send charset=utf-8 or no charset)",
                        "json",
                    ),
                )


def _text(body: bytes | bytearray) -> str:
    """The body as text: strict UTF-8. ``json.loads(bytes)`` would also take UTF-16 and
    UTF-32 (it guesses from the first bytes); the server documents UTF-8 only."""
    if body.startswith(codecs.BOM_UTF8):  # RFC 8259 lets a parser ignore a UTF-8 BOM
        body = body[len(codecs.BOM_UTF8) :]
    if b"\x00" in body:
        # JSON text never holds a raw NUL (not even in a string); UTF-16/32 text is full
        # of them, and would otherwise get a confusing syntax error.
        raise RequestError(
            422,
            err(
                "the body is not UTF-8 text: it holds NUL bytes (UTF-16 or UTF-32?); "
                "send JSON encoded as UTF-8",
                "json",
            ),
        )
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestError(
            422,
            err(
                f"the body is not UTF-8 text (invalid byte at position {exc.start}); send "
                "JSON encoded as UTF-8",
                "json",
            ),
        ) from None


def parse_json(body: bytes | bytearray, max_rows: int) -> tuple[list[Any], bool]:
    """The records of a JSON body and whether it was a single record.

    The body is one record (an object), ``{"records": [...]}`` or a list of records.
    Bodies over :data:`SMALL_JSON_BYTES` are read record by record (see the module
    docstring); run those in a worker thread.

    Raises
    ------
    RequestError
        422 for text that is not UTF-8 JSON of that shape, 413 for more than
        ``max_rows`` records (big bodies: found before the rest is parsed).
    """
    if not body or body.isspace():  # (no copy of a big body, unlike strip())
        raise RequestError(422, err("the body is empty; send a record or a batch", "json"))
    text = _text(body)
    if len(body) <= SMALL_JSON_BYTES:
        try:
            doc = json.loads(text, parse_constant=_reject_constant)
        except RecursionError:
            raise RequestError(422, err("the JSON is nested too deeply", "json")) from None
        except ValueError as exc:
            raise RequestError(422, err(f"the body is not valid JSON: {exc}", "json")) from None
        return _records_of(doc)
    return _bounded(text, max_rows)


def _records_of(doc: Any) -> tuple[list[Any], bool]:
    if isinstance(doc, list):
        return doc, False
    if isinstance(doc, dict):
        if len(doc) == 1 and "records" in doc:
            records = doc["records"]
            if not isinstance(records, list):
                raise RequestError(
                    422, err("'records' must be a list of records", "records", None, "records")
                )
            return records, False
        return [doc], True
    raise RequestError(
        422,
        err(
            "expected a record (an object), {'records': [...]} or a list of records; "
            f"got a JSON {type(doc).__name__}",
            "json",
        ),
    )


def _syntax(exc: Exception, offset: int, where: str = "") -> RequestError:
    if isinstance(exc, json.JSONDecodeError):
        msg = f"{exc.msg} at character {exc.pos + offset}"
    elif isinstance(exc, RecursionError):
        msg = "the JSON is nested too deeply"
    else:
        msg = str(exc)
    return RequestError(422, err(f"the body is not valid JSON{where}: {msg}", "json"))


def _bounded(text: str, max_rows: int) -> tuple[list[Any], bool]:
    n = len(text)
    keys: dict[str, str] = {}  # one str object per distinct key, shared by every record
    i = _WS.match(text).end()  # type: ignore[union-attr]
    if text.startswith("[", i):
        records, end = _array(text, i, max_rows, keys)
        single = False
    elif text.startswith("{", i):
        m = _RECORDS_KEY.match(text, i)
        if m is not None and text.startswith("[", m.end()):
            records, end = _array(text, m.end(), max_rows, keys)
            end = _WS.match(text, end).end()  # type: ignore[union-attr]
            if not text.startswith("}", end):
                raise RequestError(
                    422,
                    err(
                        "a batch is an object whose only key is 'records' (or a plain list "
                        f"of records); found more after the list, at character {end}",
                        "records",
                        None,
                        "records",
                    ),
                )
            end += 1
            single = False
        else:
            record, end = _record(text, i, 0, keys)
            records, single = _records_of(record)
    else:
        try:
            value, end = _DECODER.raw_decode(text, i)
        except (ValueError, RecursionError) as exc:
            raise _syntax(exc, 0) from None
        records, single = _records_of(value)
    end = _WS.match(text, end).end()  # type: ignore[union-attr]
    if end != n:
        raise RequestError(
            422, err(f"the body is not valid JSON: extra data at character {end}", "json")
        )
    return records, single


def _array(text: str, i: int, max_rows: int, keys: dict[str, str]) -> tuple[list[Any], int]:
    """The records of the list starting at ``text[i] == '['`` and the end position."""
    ws = _WS.match
    records: list[Any] = []
    i = ws(text, i + 1).end()  # type: ignore[union-attr]
    if text.startswith("]", i):
        return records, i + 1
    while True:
        row = len(records)
        if not row % 256:
            # Hand the interpreter lock over now and then: the event loop thread needs it
            # after every socket call, and would otherwise wait a whole switch interval
            # (5 ms) each time while this thread parses.
            time.sleep(0)
        if row >= max_rows:
            raise RequestError(
                413,
                f"the batch has more than {max_rows} rows; the limit is {max_rows} rows per "
                "request. Split it.",
            )
        if text.startswith("{", i):
            record, i = _record(text, i, row, keys)
        elif text.startswith("[", i):
            # Not parsed: a list can hold millions of empty lists (the schema's own
            # message, as for a small body).
            raise RequestError(422, err("expected an object; got a list", "record", row, None))
        else:  # a scalar: the schema answers "not an object" with the other errors
            try:
                record, i = _DECODER.raw_decode(text, i)
            except (ValueError, RecursionError) as exc:
                raise _syntax(exc, 0, f" (record {row})") from None
        records.append(record)
        i = ws(text, i).end()  # type: ignore[union-attr]
        if text.startswith(",", i):
            i = ws(text, i + 1).end()  # type: ignore[union-attr]
        elif text.startswith("]", i):
            return records, i + 1
        else:
            raise RequestError(
                422,
                err(
                    f"the body is not valid JSON: expected ',' or ']' after record {row}, "
                    f"at character {i}",
                    "json",
                ),
            )


def _record(text: str, i: int, row: int, keys: dict[str, str]) -> tuple[Any, int]:
    """The object starting at ``text[i] == '{'``, parsed from a slice of at most
    :data:`MAX_RECORD_CHARS` characters, and its end position. Its keys are taken from
    ``keys`` (json shares equal keys only within one parse call: without this, 100,000
    records of 30 fields would hold 3 million key strings instead of 30)."""
    n = len(text)
    close = text.find("}", i)
    if close < 0:
        stop = n
    else:
        stop = close + 1  # a flat record ends at its first '}' (unless one is in a string)
    while True:
        if stop - i > MAX_RECORD_CHARS:
            raise RequestError(
                413,
                err(
                    f"the record is longer than {MAX_RECORD_CHARS} characters of JSON (or "
                    "is not valid JSON)",
                    "json",
                    row,
                    None,
                ),
            )
        piece = text[i:stop]
        try:
            record, used = _DECODER.raw_decode(piece)
            break
        except json.JSONDecodeError as exc:
            # Cut short by the slice: the error sits at its end (within a literal such as
            # "fals"), or in a string the slice ends inside. Else a real syntax error.
            cut = exc.pos >= len(piece) - 5 or exc.msg.startswith("Unterminated string")
            if stop >= n or not cut:
                raise _syntax(exc, i, f" (record {row})") from None
            stop = min(n, i + 2 * (stop - i))
        except (ValueError, RecursionError) as exc:
            raise _syntax(exc, i, f" (record {row})") from None
    end = i + used
    # Only a record whose text holds another '{' or '[' can have a nested value.
    if text.find("{", i + 1, end) >= 0 or text.find("[", i + 1, end) >= 0:
        for key, value in record.items():
            if isinstance(value, dict | list):
                raise RequestError(
                    422,
                    err(
                        f"the field holds a JSON {'object' if isinstance(value, dict) else 'list'}"
                        "; expected a single value",
                        "type",
                        row,
                        str(key),
                    ),
                )
    # setdefault(k, k) per key, all in C: the record's keys become the shared ones
    return dict(zip(map(keys.setdefault, record, record), record.values(), strict=True)), end


# --- Arrow IPC ----------------------------------------------------------------------------


class _Flat:
    """Just enough of a FlatBuffers reader for Arrow's IPC message headers (Message,
    RecordBatch, DictionaryBatch; see Arrow's format/Message.fbs). Every read is bounds-
    checked by ``struct``; Arrow has verified the buffer before we see it."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def _unpack(self, fmt: str, pos: int) -> Any:
        return struct.unpack_from(fmt, self.data, pos)[0]

    def root(self) -> int:
        return int(self._unpack("<I", 0))

    def field(self, table: int, index: int) -> int | None:
        vtable = table - self._unpack("<i", table)
        size = self._unpack("<H", vtable)
        slot = 4 + 2 * index
        if slot + 2 > size:
            return None
        offset = self._unpack("<H", vtable + slot)
        return table + offset if offset else None

    def ref(self, pos: int) -> int:
        return pos + int(self._unpack("<I", pos))

    def i64(self, pos: int | None, default: int = 0) -> int:
        return default if pos is None else int(self._unpack("<q", pos))

    def u8(self, pos: int | None, default: int = 0) -> int:
        return default if pos is None else int(self._unpack("<B", pos))

    def structs(self, pos: int | None) -> list[tuple[int, int]]:
        """A vector of ``{long, long}`` structs (FieldNode, Buffer)."""
        if pos is None:
            return []
        start = self.ref(pos)
        count = int(self._unpack("<I", start))
        if start + 4 + 16 * count > len(self.data):
            raise struct.error("vector past the end of the metadata")
        return [struct.unpack_from("<qq", self.data, start + 4 + 16 * k) for k in range(count)]


_SCHEMA, _DICTIONARY, _RECORD_BATCH = 1, 2, 3


def _batch_size(flat: _Flat, batch: int, body: Any) -> tuple[int, int]:
    """Rows and decoded bytes of the RecordBatch table at ``batch``."""
    rows = flat.i64(flat.field(batch, 0))
    nodes = flat.structs(flat.field(batch, 1))
    buffers = flat.structs(flat.field(batch, 2))
    compressed = flat.field(batch, 3) is not None
    if rows < 0 or any(length < 0 or length > rows for length, _ in nodes):
        raise ValueError("a record batch declares an invalid number of rows")
    decoded = 0
    size = 0 if body is None else body.size
    for offset, length in buffers:
        if offset < 0 or length < 0 or offset + length > size:
            raise ValueError("a buffer lies outside the message body")
        if not compressed or length == 0:
            decoded += length
            continue
        if length < 8:
            raise ValueError("a compressed buffer is shorter than its length prefix")
        # Arrow writes each compressed buffer as <int64 uncompressed length><data>; -1
        # means "stored uncompressed".
        prefix = int.from_bytes(body[offset : offset + 8].to_pybytes(), "little", signed=True)
        if prefix == -1:
            decoded += length - 8
        elif prefix < 0:
            raise ValueError("a compressed buffer declares a negative length")
        else:
            decoded += prefix
    return rows, decoded


def _readable(arrow_type: Any) -> bool:
    import pyarrow.types as t

    if t.is_dictionary(arrow_type):
        return _readable(arrow_type.value_type) and not t.is_dictionary(arrow_type.value_type)
    return bool(
        t.is_null(arrow_type)
        or t.is_boolean(arrow_type)
        or t.is_integer(arrow_type)
        or t.is_floating(arrow_type)
        or t.is_decimal(arrow_type)
        or t.is_string(arrow_type)
        or t.is_large_string(arrow_type)
        or t.is_binary(arrow_type)
        or t.is_large_binary(arrow_type)
        or t.is_temporal(arrow_type)
    )


def _check_stream(body: bytes | bytearray, max_rows: int, max_decoded_bytes: int) -> None:
    """Walk the stream's messages without decoding a batch: the schema's column types, the
    rows and decoded bytes of every batch, and nothing after the end."""
    import pyarrow as pa

    source = pa.BufferReader(body)
    reader = pa.ipc.MessageReader.open_stream(source)
    rows = decoded = messages = 0
    first = True
    while True:
        try:
            message = reader.read_next_message()
        except StopIteration:
            break
        messages += 1
        if messages > MAX_ARROW_MESSAGES:
            raise RequestError(
                413,
                f"the Arrow stream has more than {MAX_ARROW_MESSAGES} batches; write the "
                "table in fewer, larger batches (e.g. table.combine_chunks()).",
            )
        if first:
            if message.type != "schema":
                raise ValueError("the stream does not start with a schema")
            schema = pa.ipc.read_schema(message)
            bad = [f"{f.name} ({f.type})" for f in schema if not _readable(f.type)]
            if bad:
                raise RequestError(
                    422,
                    err(
                        f"the Arrow stream has column(s) of types the server does not read: "
                        f"{', '.join(bad)}; send plain numbers, booleans, strings, dates or "
                        "dictionary-encoded strings",
                        "arrow",
                    ),
                )
            first = False
            continue
        flat = _Flat(message.metadata.to_pybytes())
        root = flat.root()
        kind = flat.u8(flat.field(root, 1))
        header = flat.field(root, 2)
        if header is None or kind not in (_DICTIONARY, _RECORD_BATCH):
            raise ValueError(f"unexpected {message.type!r} message inside the stream")
        table = flat.ref(header)
        if kind == _DICTIONARY:
            data = flat.field(table, 1)
            if data is None:
                raise ValueError("a dictionary batch without data")
            _, size = _batch_size(flat, flat.ref(data), message.body)
        else:
            n, size = _batch_size(flat, table, message.body)
            rows += n
            if rows > max_rows:
                raise RequestError(
                    413,
                    f"the Arrow stream has more than {max_rows} rows; the limit is "
                    f"{max_rows} rows per request. Split it.",
                )
        decoded += size
        if decoded > max_decoded_bytes:
            raise RequestError(
                413,
                f"the Arrow stream decodes to more than {max_decoded_bytes} bytes (the "
                "limit for one request, compressed buffers counted at their decoded size). "
                "Send fewer rows per request.",
            )
    if first:
        raise ValueError("the stream holds no schema")
    extra = len(body) - source.tell()
    if extra:
        raise RequestError(
            422,
            err(
                f"{extra} bytes follow the end of the Arrow stream; send exactly one stream",
                "arrow",
            ),
        )


def parse_arrow(body: bytes | bytearray, max_rows: int, max_decoded_bytes: int) -> Any:
    """The table of an Arrow IPC stream body, checked before it is decoded (see the module
    docstring).

    Raises
    ------
    RequestError
        422 for a body that is not one Arrow IPC stream of flat columns, 413 for more
        than ``max_rows`` rows or more than ``max_decoded_bytes`` decoded bytes.
    """
    import pyarrow as pa

    if not body:
        raise RequestError(422, err("the body is empty; send an Arrow IPC stream", "arrow"))
    try:
        _check_stream(body, max_rows, max_decoded_bytes)
        with pa.ipc.open_stream(pa.py_buffer(body)) as reader:
            return reader.read_all()
    except RequestError:
        raise
    except Exception as exc:
        raise RequestError(
            422, err(f"the body is not an Arrow IPC stream: {exc}", "arrow")
        ) from None
