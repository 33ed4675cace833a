"""Landing text files as blocks of whole lines, decompressed (gzip, bz2, zstd) on the way.

Reads that fail at the storage are ``StorageError`` naming the URL (they may be retried); what a
decompressor raises on a corrupt or truncated stream is the file's: ``UnreadableFileError``.
"""

from __future__ import annotations

import bz2
import gzip
import zlib
from collections.abc import Iterator
from typing import Any, BinaryIO

import fsspec
import zstandard

from trade_platform.core.landing.columns import UnreadableFileError, line_breaks
from trade_platform.core.storage import StorageError, storage_errors

COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd"}
"""Text files may be compressed; the compression is the last extension, after the format's."""
DECOMPRESSION_ERRORS = (OSError, EOFError, zlib.error, zstandard.ZstdError)
"""What gzip, bz2 and zstd raise on a corrupt or truncated stream (storage faults are
``StorageError`` by then, raised through ``_StorageReads``)."""


def compression_of(name: str) -> str | None:
    """``gzip``, ``bz2``, ``zstd`` or None, from the last extension."""
    last = name.rsplit("/", 1)[-1].lower().rsplit(".", 1)
    return COMPRESSIONS.get("." + last[-1]) if len(last) == 2 else None


def text_blocks(url: str, compression: str | None, chunk_bytes: int) -> Iterator[tuple[int, bytes, bool]]:
    """(line number of its first line, block of whole lines, is the last) of the text, decompressed."""
    with storage_errors("read", url):
        handle = fsspec.open(url, "rb").open()
    with handle:
        stream = _decompressed(_StorageReads(handle, url), compression)
        line, carry = 1, b""
        while True:
            data = _read_block(stream, chunk_bytes, compression)
            block = carry + data
            cut = block.rfind(b"\n") + 1 if data else len(block)  # at the end, the last line too
            block, carry = block[:cut], block[cut:]
            if b"\x00" in block:
                raise UnreadableFileError("binary content (NUL bytes) in a text file")
            yield line, block, not data
            if not data:
                return
            line += line_breaks(block)


class _StorageReads:
    """A file's bytes whose read faults are ``StorageError`` naming the URL (and may be retried), so
    that whatever else a decompressor raises is the content's fault."""

    def __init__(self, handle: BinaryIO, url: str) -> None:
        self.handle, self.url = handle, url

    def read(self, size: int = -1) -> bytes:
        with storage_errors("read", self.url):
            return self.handle.read(size)


def _decompressed(raw: _StorageReads, compression: str | None) -> Any:
    """A readable stream of the text (duck-typed: each decompressor only calls ``raw.read``)."""
    if compression == "gzip":
        return gzip.GzipFile(fileobj=raw)
    if compression == "bz2":
        return bz2.BZ2File(raw)
    if compression == "zstd":
        return _Zstd(raw)
    return raw


def _read_block(stream: Any, size: int, compression: str | None) -> bytes:
    try:
        return stream.read(size)
    except StorageError:
        raise
    except DECOMPRESSION_ERRORS as exc:
        raise UnreadableFileError(f"corrupt {compression} stream: {type(exc).__name__}: {exc}") from exc


class _Zstd:
    """zstd frames one after another as one stream, as ``zstd -d`` reads them; unlike zstandard's
    ``stream_reader``, a truncated frame is an error rather than the end of the text."""

    def __init__(self, raw: _StorageReads) -> None:
        self.raw, self.frame, self.pending = raw, None, b""

    def read(self, size: int) -> bytes:
        out, length = [], 0
        while length < size:
            data, self.pending = self.pending or self.raw.read(size), b""
            if not data:
                if self.frame is not None and not self.frame.eof:
                    raise zstandard.ZstdError("truncated zstd frame")
                break
            if self.frame is None or self.frame.eof:
                self.frame = zstandard.ZstdDecompressor().decompressobj()
            out.append(self.frame.decompress(data))
            length += len(out[-1])
            if self.frame.eof:  # the next frame starts right after
                self.pending = self.frame.unused_data
        return b"".join(out)
