"""Byte streams: decompress, transcode to UTF-8 and cut into bounded chunks.

Every text format reads its file through `iter_blocks`, which yields UTF-8
bytes `block_size` at a time, whatever the compression (.gz, .bz2, .xz, .zst,
all streamed) and the encoding. Readers then cut those blocks at row
boundaries themselves, so they always hold the raw bytes of the chunk they
parse; that is what lets them give exact line numbers.

Line ends: "\\n", "\\r\\n" and a bare "\\r" (old Mac files, some exports)
all end a line, as in Python's csv module (newline="") and universal
newlines. `iter_blocks` turns every bare "\\r" into "\\n"
(`normalize_newlines`), so the readers only ever see "\\n" and "\\r\\n", and
a "\\r" counts as one line end. A block without a bare "\\r" is passed on
untouched, found with C-speed byte searches; only blocks that have one are
rewritten (one regular expression pass). Inside a quoted CSV field a bare
"\\r" is thus read as "\\n".
"""

from __future__ import annotations

import codecs
import lzma
import re
from collections.abc import Iterator

import pyarrow as pa

from streamfit.errors import OptionError, UserError
from streamfit.sources.spec import split_compression

BOM = codecs.BOM_UTF8
BARE_CR = re.compile(rb"\r(?!\n)")


def open_bytes(path: str):
    """Open `path` for reading decompressed bytes (an object with `read(n)`).

    `-` while `sources.stdin` reads standard input is that stream.
    """
    if path == "-":
        from streamfit.sources.stdin import served  # here: stdin imports the readers

        stream = served()
        if stream is not None:
            return stream
    _, compression = split_compression(path)
    if compression == "xz":
        # pyarrow has no xz codec; Python's lzma streams just as well.
        return lzma.open(path, "rb")
    return pa.input_stream(path, compression=compression)


def utf8_codec(encoding: str) -> bool:
    """Return True when `encoding` needs no transcoding (UTF-8 with or without BOM).

    Raises:
        OptionError: for an encoding Python does not know.
    """
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        raise OptionError("encoding", encoding, "is unknown; use a Python codec name such as "
                          "utf-8, latin-1 or cp1252") from None
    return name in ("utf-8", "utf-8-sig")


def iter_blocks(path: str, encoding: str, block_size: int) -> Iterator[bytes]:
    """Yield the file's content as UTF-8 bytes, about `block_size` bytes at a time.

    A leading UTF-8 byte order mark is dropped. Other encodings are decoded
    incrementally (a character split across blocks is kept whole); bytes the
    codec cannot decode become U+FFFD. UTF-8 input is passed through as is:
    invalid sequences are repaired and counted later, per row. A bare "\\r"
    becomes "\\n" (see the module docstring).

    Raises:
        OptionError: for an unknown encoding.
        UserError: for a file that is not valid for its compression.
    """
    yield from normalize_newlines(_raw_blocks(path, encoding, block_size))


def _raw_blocks(path: str, encoding: str, block_size: int) -> Iterator[bytes]:
    decoder = None if utf8_codec(encoding) else codecs.getincrementaldecoder(encoding)("replace")
    first = True
    try:
        with open_bytes(path) as stream:
            while True:
                # The first read must see a whole byte order mark.
                raw = stream.read(max(block_size, len(BOM)) if first else block_size)
                data = raw if decoder is None else decoder.decode(raw, final=not raw).encode()
                if first and data:
                    first = False
                    if data.startswith(BOM):
                        data = data[len(BOM):]
                if data:
                    yield data
                if not raw:
                    return
    except (OSError, EOFError, lzma.LZMAError, pa.ArrowInvalid) as error:
        raise UserError(f"{path}: cannot read the file ({error}); check that it is not "
                        "truncated and that its extension matches its compression") from None


def normalize_newlines(blocks: Iterator[bytes]) -> Iterator[bytes]:
    """Turn every bare "\\r" (one not followed by "\\n") into "\\n", across blocks.

    A block ending with "\\r" keeps it for the next block, which may start
    with "\\n"; blocks without a bare "\\r" are yielded as they are (the same
    object). Never yields an empty block.
    """
    carry = b""
    for block in blocks:
        if carry:
            block, carry = carry + block, b""
        if block.endswith(b"\r"):
            block, carry = block[:-1], b"\r"
        if b"\r" in block and block.count(b"\r") != block.count(b"\r\n"):
            block = BARE_CR.sub(b"\n", block)
        if block:
            yield block
    if carry:
        yield b"\n"


def iter_line_chunks(blocks: Iterator[bytes]) -> Iterator[bytes]:
    """Regroup blocks into chunks that end right after a newline.

    Only the last chunk may lack a final newline. A line longer than a block
    is kept whole, so a chunk holds at least one line.
    """
    pending = b""
    for block in blocks:
        pending += block
        cut = pending.rfind(b"\n") + 1
        if cut:
            yield pending[:cut]
            pending = pending[cut:]
    if pending:
        yield pending
