import pyarrow as pa

from streamfit.prepare.tokenize import Tokenizer


def test_lowercases_splits_on_non_word_and_keeps_apostrophes():
    tokens = Tokenizer()(pa.array(["Don't STOP<br />now!", "", "  ...  ", "naïve café 42"]))
    assert tokens.to_pylist() == [["don't", "stop", "br", "now"], [], [], ["naïve", "café", "42"]]


def test_case_kept_when_asked():
    assert Tokenizer(lowercase=False)(pa.array(["A b"])).to_pylist() == [["A", "b"]]


def test_chunked_input_and_offsets_are_exact():
    tokens = Tokenizer()(pa.chunked_array([["a b", ",c"], ["", "d,,e f"]]))
    assert tokens.offsets.to_pylist() == [0, 2, 3, 3, 6]
    assert tokens.to_pylist() == [["a", "b"], ["c"], [], ["d", "e", "f"]]
