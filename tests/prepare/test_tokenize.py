import pyarrow as pa
import pyarrow.compute as pc

from streamfit.prepare.tokenize import DEFAULT_PATTERN, Tokenizer


def test_lowercases_splits_on_non_word_and_keeps_apostrophes():
    tokens = Tokenizer()(pa.array(["Don't STOP<br />now!", "", "  ...  ", "naïve café 42"]))
    assert tokens.to_pylist() == [["don't", "stop", "br", "now"], [], [], ["naïve", "café", "42"]]


def test_case_kept_when_asked():
    assert Tokenizer(lowercase=False)(pa.array(["A b"])).to_pylist() == [["A", "b"]]


def test_chunked_input_and_offsets_are_exact():
    tokens = Tokenizer()(pa.chunked_array([["a b", ",c"], ["", "d,,e f"]]))
    assert tokens.offsets.to_pylist() == [0, 2, 3, 3, 6]
    assert tokens.to_pylist() == [["a", "b"], ["c"], [], ["d", "e", "f"]]


def _regex_tokens(text: pa.Array) -> list[list[str]]:
    """The slow reference: RE2 over every row, empty tokens dropped."""
    lists = pc.split_pattern_regex(pc.utf8_lower(text), DEFAULT_PATTERN).to_pylist()
    return [[t for t in row if t] if row is not None else [] for row in lists]


def test_default_pattern_gives_the_regex_tokens_on_ascii_and_other_rows():
    rows = ["Hello, World! don't", None, "", "  \t\n", "naïve café—ok", "<br />x_y 3.14",
            "ÀB–cd…", "a\x00b\x7fc\x1fd", "'quoted' \"too\"", "UPPER lower", "日本語 テキスト", "x" * 300,
            "tab\tsep|pipe/slash\\back", "emoji 🙂 here", "\u00a0nbsp\u2003em"]
    text = pa.array(rows)
    expected = _regex_tokens(text)
    assert Tokenizer()(text).to_pylist() == expected
    # A slice (non-zero offset), all-ASCII chunks, and 64-bit offsets.
    assert Tokenizer()(text.slice(3, 7)).to_pylist() == expected[3:10]
    ascii_only = pa.array([r for r in rows if r is None or r.isascii()])
    assert Tokenizer()(ascii_only).to_pylist() == _regex_tokens(ascii_only)
    assert Tokenizer()(text.cast(pa.large_string())).to_pylist() == expected
