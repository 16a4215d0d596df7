"""How ledger bytes sit on disk: plain JSONL, or JSONL in one streamed zstd frame cut into flushed segments.

A ``.jsonl.zst`` file is one zstd frame per writer (a concatenation of frames when a file was
reopened). Every flush of the writer ends a zstd *block* (``FLUSH_BLOCK``), so the bytes on disk
always decode up to the last flush while the compressor keeps its window across flushes: a process
that writes three events a flush still compresses like a busy one, which one frame per flush does
not (measured by ``benchmarks/bench_verify.py``). Each flushed segment holds whole lines only.

A file whose last frame has no end (its writer was killed, or is still writing) is *cut*; what was
flushed before the cut still reads. Bytes that are not zstd at all end the file's reading there and
also count as a cut. Plain ``.jsonl`` files (older runs, tests) read as before: cut when the last
line has no newline.

Reading is streamed: memory is bounded by the zstd window (512 KiB at level 1) and one read chunk,
never by the file.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import zstandard

__all__ = ["COMPRESSED_SUFFIX", "PLAIN_SUFFIX", "SUFFIXES", "ZSTD_LEVEL", "Encoder", "FileRead", "LineTail",
           "encoder_for", "iter_lines"]

PLAIN_SUFFIX = ".jsonl"
COMPRESSED_SUFFIX = ".jsonl.zst"
#: the ledger files readers look for (writers choose by the path they are given: ``writer.ledger_path``)
SUFFIXES = (COMPRESSED_SUFFIX, PLAIN_SUFFIX)
#: on a real smoke ledger, level 1 compressed better than levels 3 and 6 (block per flush), at half
#: level 3's CPU; gzip (sync flush per segment) was 11% larger at level 6 and ten times slower, 36%
#: larger at level 1
ZSTD_LEVEL = 1
_CHUNK = 1 << 16


class Encoder:
    """Plain JSONL: bytes pass through (the base of the compressed encoder)."""

    def segment(self, data: bytes) -> bytes:
        """The bytes to append for ``data`` (whole lines), decodable on their own once written."""
        return data

    def end(self) -> bytes:
        """The bytes that close the file's frame."""
        return b""


class _ZstdEncoder(Encoder):
    def __init__(self) -> None:
        self._z = zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_checksum=True).compressobj()

    def segment(self, data: bytes) -> bytes:
        return self._z.compress(data) + self._z.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)

    def end(self) -> bytes:
        return self._z.flush(zstandard.COMPRESSOBJ_FLUSH_FINISH)


def encoder_for(path: str | os.PathLike[str]) -> Encoder:
    """The encoder a file's suffix asks for: zstd for ``.jsonl.zst``, else plain."""
    return _ZstdEncoder() if str(path).endswith(COMPRESSED_SUFFIX) else Encoder()


class _Decoder:
    """Plain bytes: every byte is data and the file is never mid-frame."""

    error: str | None = None

    def feed(self, data: bytes) -> bytes:
        return data

    @property
    def mid_frame(self) -> bool:
        return False


class _ZstdDecoder(_Decoder):
    """Streams concatenated zstd frames; holds a block until it is complete."""

    def __init__(self) -> None:
        self._d = zstandard.ZstdDecompressor()
        self._obj = self._d.decompressobj()
        self._fed = False  # the current frame has begun
        self.error = None

    def feed(self, data: bytes) -> bytes:
        out: list[bytes] = []
        while data and self.error is None:
            self._fed = True
            try:
                out.append(self._obj.decompress(data))
            except zstandard.ZstdError as exc:
                self.error = str(exc)
                break
            if not self._obj.eof:
                break
            data = self._obj.unused_data  # the next frame, when the file was reopened
            self._obj = self._d.decompressobj()
            self._fed = False
        return b"".join(out)

    @property
    def mid_frame(self) -> bool:
        return self.error is not None or self._fed


def _decoder_for(path: Path) -> _Decoder:
    return _ZstdDecoder() if path.name.endswith(COMPRESSED_SUFFIX) else _Decoder()


@dataclass
class FileRead:
    """What reading one file to its end found besides lines: cut short, and why when it is not zstd."""

    cut: bool = False
    error: str | None = None


class _DecodedStream(io.RawIOBase):
    """A compressed file read as its decoded bytes, so ``io.BufferedReader`` splits the lines in C."""

    def __init__(self, fh: BinaryIO, dec: _Decoder) -> None:
        self._fh, self._dec, self._out = fh, dec, memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self._out:
            chunk = self._fh.read(_CHUNK)
            if not chunk or self._dec.error:
                return 0
            self._out = memoryview(self._dec.feed(chunk))
        n = min(len(b), len(self._out))
        b[:n] = self._out[:n]
        self._out = self._out[n:]
        return n


def iter_lines(path: str | os.PathLike[str], result: FileRead | None = None) -> Iterator[bytes]:
    """Yield every line of one ledger file, plain or compressed, each with its newline but a cut last one.

    ``result`` (if given) says, once the stream is read to the end, whether the file was cut short.
    """
    path = Path(path)
    result = result if result is not None else FileRead()
    dec = _decoder_for(path)
    last = b"\n"  # an empty file is not cut
    with open(path, "rb") as fh:
        lines = fh if type(dec) is _Decoder else io.BufferedReader(_DecodedStream(fh, dec), _CHUNK)
        for last in lines:
            yield last
    result.cut = not last.endswith(b"\n") or dec.mid_frame
    result.error = dec.error


class LineTail:
    """Follows one ledger file as it grows: ``poll()`` returns the whole lines flushed since the last poll."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._dec = _decoder_for(self.path)
        self._offset = 0
        self._rest = b""

    def poll(self) -> list[bytes]:
        """The complete lines appended since the last call (none when the file cannot be read)."""
        if self._dec.error:
            return []
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self._offset)
                data = fh.read()
        except OSError:
            return []
        self._offset += len(data)
        data = self._dec.feed(data)
        if not data:
            return []
        lines = (self._rest + data).split(b"\n")
        self._rest = lines.pop()
        return lines
