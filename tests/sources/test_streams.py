import bz2
import gzip
import lzma

import pytest
import zstandard

from streamfit.errors import UserError
from streamfit.sources.streams import iter_blocks, iter_line_chunks

CONTENT = "label,text\n1,café au lait\n0,\"two\nlines\"\n".encode() * 50

WRITERS = {
    ".gz": gzip.compress,
    ".bz2": bz2.compress,
    ".xz": lzma.compress,
    ".zst": lambda data: zstandard.ZstdCompressor().compress(data),
}


@pytest.mark.parametrize("suffix", ["", *WRITERS])
def test_blocks_decompress_every_codec(tmp_path, suffix):
    path = tmp_path / f"data.csv{suffix}"
    path.write_bytes(WRITERS.get(suffix, bytes)(CONTENT))
    blocks = list(iter_blocks(str(path), "utf-8", 100))
    assert b"".join(blocks) == CONTENT
    assert max(len(block) for block in blocks) <= 100


def test_latin1_is_transcoded_even_across_blocks(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes(b"caf\xe9 cr\xe8me " * 10)
    assert b"".join(iter_blocks(str(path), "latin-1", 3)) == "café crème ".encode() * 10


def test_multibyte_codec_split_across_blocks(tmp_path):
    path = tmp_path / "utf16.txt"
    path.write_bytes("héllo\nwörld\n".encode("utf-16"))
    assert b"".join(iter_blocks(str(path), "utf-16", 3)) == "héllo\nwörld\n".encode()


def test_utf8_bom_is_dropped(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbflabel,text\n")
    assert b"".join(iter_blocks(str(path), "utf-8", 2)) == b"label,text\n"


def test_unknown_encoding(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes(b"x")
    with pytest.raises(UserError, match=r"^encoding='klingon' is unknown; use a Python codec name"):
        list(iter_blocks(str(path), "klingon", 10))


def test_corrupt_compressed_file(tmp_path):
    path = tmp_path / "a.csv.gz"
    path.write_bytes(b"not gzip at all")
    with pytest.raises(UserError, match=r"a.csv.gz: cannot read the file"):
        list(iter_blocks(str(path), "utf-8", 10))


def test_line_chunks_end_at_newlines():
    blocks = [b"ab", b"c\nde", b"f", b"\ng", b"h"]
    assert list(iter_line_chunks(iter(blocks))) == [b"abc\n", b"def\n", b"gh"]
    assert list(iter_line_chunks(iter([b"a\n"]))) == [b"a\n"]
