"""Caps on what one telemetry file may cost to read: one set, used by the loader behind `investigate`
(snapshot.py) and by `snapshot validate` (validate.py), so the two read the same records.

A snapshot is untrusted input. 2 MB of gzip can hold 21 million records or a gigabyte of newlines, and one
record a megabyte-long service name that every table, evidence item, report and transcript would repeat.
Each cap is an environment variable; reaching one is a warning that names it, and what was read before it
is used. Defaults leave room for the largest capture (`snapshot capture` writes at most 500,000 records a
source) and the 1,000,000-line benchmark.
"""
from __future__ import annotations

import codecs
import functools
import gzip
import io
import itertools
import os
import threading
import zlib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

from tools.domain.errors import SnapshotError

MAX_RECORD_BYTES = 64 * 1024 * 1024   # a single log record may be several MB; beyond this it is skipped
# DuckDB's JSON read buffer for the loader's first scan of a file (its `maximum_object_size`). At 5M lines 20 MiB
# read as fast as 64 (16, DuckDB's default, was 20% slower) and peaked 85 MiB lower. A record over about twice
# it fails that scan; the file is then read as a UTF-8-clean copy, with the larger buffer, which leaves out
# only records over MAX_RECORD_BYTES (counted as skipped, as validate skips them).
SCAN_OBJECT_BYTES = 20 * 1024 * 1024
GZIP_MAX_RATIO = 1032                 # deflate's limit: a .gz file of n bytes holds at most about 1032·n

# Fields that name something (a service, an instance, an id, an enum) are repeated in every table, evidence
# item and report line that mentions them, so they are cut much shorter than free text (message,
# description) and the JSON objects (attributes, labels, changes).
NAME_FIELDS = frozenset({"service", "name", "instance", "zone", "trace_id", "span_id", "parent_span_id", "operation",
                         "kind", "status", "peer_service", "version", "previous_version", "actor", "action",
                         "event", "address", "purpose", "subject", "issuer", "level"})


@dataclass(frozen=True)
class Caps:
    """Per telemetry file (a snapshot has one file per source)."""
    bytes: int = 512 << 20            # decompressed bytes read
    records: int = 2_000_000          # records (non-blank lines, or Parquet rows) read
    field_chars: int = 65_536         # characters kept of a text field; a longer JSON object is left out
    name_chars: int = 256             # characters kept of a name

    @classmethod
    def from_env(cls) -> "Caps":
        values = {}
        for f in fields(cls):
            raw = os.environ.get(ENV[f.name])
            if raw is None:
                continue
            try:
                values[f.name] = int(raw.replace("_", ""))
                assert values[f.name] > 0
            except (ValueError, AssertionError):
                raise SnapshotError(f"{ENV[f.name]}={raw!r}: a whole number above 0 is expected") from None
        return cls(**values)

    def chars(self, field: str) -> int:
        return self.name_chars if field in NAME_FIELDS else self.field_chars

    def bytes_note(self, name: str) -> str:
        return (f"{name}: only its first {_size(self.bytes)} (decompressed) were read, the rest is left out "
                f"({ENV['bytes']}={self.bytes})")

    def records_note(self, name: str) -> str:
        return f"{name}: only its first {self.records:,} records were read ({ENV['records']}={self.records})"

    def fields_note(self, name: str, records: int) -> str:
        return (f"{name}: {records:,} record(s) with fields over the length caps, cut ({ENV['name_chars']}="
                f"{self.name_chars} for names, {ENV['field_chars']}={self.field_chars} for text; a longer "
                f"JSON object is left out)")


ENV = {"bytes": "FIVEWHYS_MAX_SOURCE_BYTES", "records": "FIVEWHYS_MAX_SOURCE_RECORDS",
       "field_chars": "FIVEWHYS_MAX_FIELD_CHARS", "name_chars": "FIVEWHYS_MAX_NAME_CHARS"}


def _size(n: int) -> str:
    return f"{n / (1 << 20):g} MiB" if n >= 1 << 20 else f"{n:,} bytes"


def _chunks(f: Path) -> Iterator[bytes]:
    """A file's bytes (a .gz file's decompressed) a MiB at a time, up to the end or where a broken stream breaks
    (whoever reads it next says so)."""
    gz, errors = _gzip()
    try:
        with gz.open(f, "rb") if f.name.endswith(".gz") else open(f, "rb") as g:
            while chunk := g.read(1 << 20):
                yield chunk
    except errors:
        return


def file_head(f: Path, size: int) -> bytes:
    """The first `size` bytes of a file in whole MiB chunks (a .gz file's decompressed; what there is of a broken
    stream)."""
    return b"".join(itertools.islice(_chunks(f), max(1, size >> 20)))


@functools.cache
def _gzip() -> tuple:
    """The gzip module, or the isal package's igzip when installed (the same streams, inflated 2-3x faster:
    the watch beside DuckDB's scan of a .gz decompresses the whole file), and what either raises for a
    broken stream."""
    try:
        from isal import igzip, isal_zlib
    except ImportError:
        return gzip, (OSError, EOFError, zlib.error)
    return igzip, (OSError, EOFError, zlib.error, isal_zlib.error)


class ScanWatch:
    """A JSONL file measured against the bytes and records caps beside DuckDB's scan of it, which the loader
    runs without LIMIT (a LIMIT keeps DuckDB's JSON read on one thread).

    Bytes: measuring a large .gz means decompressing it, as much CPU as the scan; a plain file's size is known
    at once. The moment the file passes the bytes cap `stop` (the scan's interrupt) is called, so a bomb is not
    read to its end. Lines: newlines are counted in the same read (a plain file is read for them too), and once
    there are more than the records cap `stop` is called, until `limited`: the caller then reads the file again
    with LIMIT, so a file of 20 million tiny records is not loaded whole first. A file too small to hold either
    many bytes or lines is not read at all."""

    def __init__(self, f: Path, caps: Caps, stop: Callable[[], None]):
        gz = f.name.endswith(".gz")
        most = f.stat().st_size * (GZIP_MAX_RATIO if gz else 1)       # decompressed bytes it can hold
        self.bytes_over, self.lines_over = not gz and most > caps.bytes, False
        self._stop, self._lock, self._stop_at_lines, self._thread = stop, threading.Lock(), True, None
        max_bytes = caps.bytes if gz and most > caps.bytes else None
        if not self.bytes_over and (max_bytes or most > caps.records):
            self._thread = threading.Thread(target=self._measure, args=(f, max_bytes, caps.records), daemon=True)
            self._thread.start()

    def _measure(self, f: Path, max_bytes: int | None, max_lines: int) -> None:
        n = lines = 0
        for chunk in _chunks(f):
            n += len(chunk)
            if max_bytes is not None and n > max_bytes:
                self.bytes_over = True
                self._stop()
                return
            if not self.lines_over and (lines := lines + chunk.count(b"\n")) > max_lines:
                with self._lock:
                    self.lines_over = True
                    if self._stop_at_lines:
                        self._stop()
                if max_bytes is None:
                    return

    def limited(self) -> None:
        """The caller scans with LIMIT from now on: a line count past the records cap no longer stops it."""
        with self._lock:
            self._stop_at_lines = False

    def result(self) -> bool:
        """Whether the file is over the bytes cap, once measured (waits for the measurement)."""
        if self._thread:
            self._thread.join()
        return self.bytes_over


class CappedLines:
    """The non-blank lines of a JSONL stream, numbered, as the loader reads them: at most MAX_RECORD_BYTES
    each (a longer one, such as a gzip bomb's one endless line, is read through in pieces and yielded as
    None, so memory stays bounded), until the bytes or the records cap. `stopped` then says which cap
    ended the read. Runs of blank lines are skipped a buffer at a time: a gigabyte of newlines is not a
    billion turns of a Python loop."""

    def __init__(self, fh: BinaryIO, caps: Caps, record_bytes: int = MAX_RECORD_BYTES):
        self.fh, self.caps, self.record_bytes = fh, caps, record_bytes
        self.stopped: str | None = None           # "bytes" | "records"
        self.read = 0

    def __iter__(self) -> Iterator[tuple[int, bytes | None]]:
        n = records = 0
        while True:
            blank = self._skip_blank()
            if blank is None:
                return
            n += blank
            line = self.fh.readline(self.record_bytes + 1)
            if not line:
                return
            size, huge = len(line), len(line) > self.record_bytes and not line.endswith(b"\n")
            while huge and self.read + size <= self.caps.bytes and (rest := self.fh.readline(1 << 20)):
                size += len(rest)
                if rest.endswith(b"\n"):
                    break
            if not self._take(size):
                return
            n += 1
            if huge or line.strip():
                if records == self.caps.records:
                    self.stopped = "records"
                    return
                records += 1
                yield n, None if huge else line

    def _skip_blank(self) -> int | None:
        """Consume the blank lines ahead; how many, or None when the bytes cap is reached in them."""
        lines = 0
        while ahead := self.fh.peek(1):
            white = len(ahead) - len(ahead.lstrip(b" \t\r\n\f\v"))
            end = ahead.rfind(b"\n", 0, white) + 1          # whole blank lines only
            if not end:
                return lines
            if not self._take(end):
                return None
            lines += ahead.count(b"\n", 0, end)
            self.fh.read(end)
        return lines

    def _take(self, size: int) -> bool:
        """Count `size` more bytes read, unless that passes the bytes cap (a line the cap cuts through is
        left out, as the loader leaves it out)."""
        if self.read + size > self.caps.bytes:
            self.stopped = "bytes"
            return False
        self.read += size
        return True


class _Gunzip(io.RawIOBase):
    """A gzip file's bytes as far as they decompress: a stream cut short or corrupt gives everything before
    the break, then raises (EOFError, zlib.error: a bad block, or a CRC or length check at a member's end).
    Read in small pieces, so little is lost before a break; members that follow one another are read on."""

    def __init__(self, path: Path):
        self.f, self.d = open(path, "rb"), zlib.decompressobj(31)
        self.buf, self.pending, self.fed, self.done, self.members = b"", b"", False, False, 0
        self.error: zlib.error | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        self._fill()
        if not self.buf and self.error is not None:
            raise self.error
        n = min(len(b), len(self.buf))
        b[:n], self.buf = self.buf[:n], self.buf[n:]
        return n

    def _fill(self) -> None:
        while not self.buf and not self.done:
            if self.d.eof:                                  # a member ended: another may follow
                self.members += 1
                self.pending, self.d, self.fed = self.d.unused_data, zlib.decompressobj(31), False
            data = self.d.unconsumed_tail or self.pending or self.f.read(8192)
            self.pending = b""
            if not data or (self.members and not self.fed and not data.strip(b"\0")):   # the end, or padding
                self.done = True
                if self.fed:
                    raise EOFError("Compressed file ended before the end-of-stream marker was reached")
                return
            self.fed = True
            before = self.d.copy()
            try:
                self.buf = self.d.decompress(data, 1 << 20)
            except zlib.error as e:             # zlib gives nothing of a piece it fails in: go again, in small steps
                self.d, self.buf, self.done = before, self._up_to_break(before, data), True
                self.error = e

    @staticmethod
    def _up_to_break(d, data: bytes) -> bytes:
        out = []
        for i in range(len(data)):              # a byte at a time: a check failing in the trailer loses nothing
            try:
                out.append(d.decompress(data[i:i + 1]))
            except zlib.error:
                break
        return b"".join(out)

    def close(self) -> None:
        self.f.close()
        super().close()


def open_decompressed(path: Path) -> BinaryIO:
    """A telemetry file's bytes, a .gz file's decompressed as far as they can be: the one way the loader's
    streamed copy and `snapshot validate` read a file, so both keep the same records of a broken one."""
    return io.BufferedReader(_Gunzip(path), 1 << 16) if path.name.endswith(".gz") else open(path, "rb")


def gzip_broken(f: Path, max_bytes: int) -> bool:
    """Whether a gzip stream fails before its end (or the bytes cap), trailer checks included."""
    try:
        with open_decompressed(f) as fin:
            while max_bytes > 0 and (chunk := fin.read1(1 << 16)):
                max_bytes -= len(chunk)
    except (EOFError, OSError, zlib.error):
        return True
    return False


def sanitized_copy(src: Path, tmpdir: Path, max_bytes: int) -> tuple[Path, bool]:
    """Stream a JSONL file into a UTF-8-clean copy (invalid bytes → U+FFFD) of at most max_bytes of it,
    ending with the last whole line before that cap, a line over MAX_RECORD_BYTES made `{}`, as `snapshot
    validate` reads it. A gzip stream cut
    short (a capture or copy interrupted) keeps every record before the break: (copy, torn)."""
    dst = tmpdir / (src.name.removesuffix(".gz"))
    with open_decompressed(src) as fin, open(dst, "wb") as fout:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        lines = _RecordCap(MAX_RECORD_BYTES)
        torn = capped = False
        left = max_bytes
        try:
            for chunk in iter(lambda: fin.read1(1 << 16), b""):   # read1: what came before a break is kept
                if len(chunk) > left:
                    chunk, capped = chunk[:left], True
                left -= len(chunk)
                fout.write(decoder.decode(lines.feed(chunk)).encode())     # whole lines: no character split
                if capped:
                    break
        except (EOFError, gzip.BadGzipFile, zlib.error):
            torn = True      # cut short, or corrupt from here (a CRC error is found at the end): what came before is kept
        if not capped:                             # else the line the cap cut through is left out
            fout.write(decoder.decode(lines.rest(), final=True).encode())
    return dst, torn


class _RecordCap:
    """A file's bytes passed on whole lines at a time; a line over `limit` bytes as read (before its bad bytes
    are replaced, as validate measures it) comes out as `{}`, a record that reads as unusable, so it is counted
    as skipped where validate says "record over 64 MB; skipped". At most `limit` bytes of a line are held."""

    def __init__(self, limit: int):
        self.limit, self.held, self.size, self.over = limit, [], 0, False

    def feed(self, text: bytes) -> bytes:
        *whole, tail = text.split(b"\n")
        if whole:
            self._hold(whole[0])
            whole[0] = self.rest()
            whole = [line if len(line) <= self.limit else b"{}" for line in whole]
        self._hold(tail)
        return b"\n".join(whole) + b"\n" if whole else b""

    def rest(self) -> bytes:
        """The line in progress (a file's last line may have no newline); the next starts empty."""
        line = b"{}" if self.over else b"".join(self.held)
        self.held, self.size, self.over = [], 0, False
        return line

    def _hold(self, piece: bytes) -> None:
        self.size += len(piece)
        if self.size > self.limit:
            self.over, self.held = True, []
        elif piece:
            self.held.append(piece)
