import dataclasses

import pytest

from streamfit.errors import OptionError, UserError
from streamfit.sources.spec import SourceSpec, file_format, guess_format, parse_columns


def test_parse_columns_names_indexes_and_mixed():
    assert parse_columns("text") == ("text",)
    assert parse_columns("1,2") == (1, 2)
    assert parse_columns("title, body") == ("title", "body")
    assert parse_columns("0,body") == (0, "body")


@pytest.mark.parametrize("value", ["", "a,,b", " , "])
def test_parse_columns_rejects_empty_parts(value):
    with pytest.raises(UserError, match="empty part"):
        parse_columns(value)


def test_spec_normalises_single_path_and_column():
    spec = SourceSpec("a.csv", text="body")
    assert spec.paths == ("a.csv",)
    assert spec.text == ("body",)
    assert SourceSpec(["a.csv", "b.csv"]).paths == ("a.csv", "b.csv")


@pytest.mark.parametrize("options, message", [
    ({"format": "xml"}, r"^format='xml' is unknown; use one of csv, tsv"),
    ({"preset": "yelp"}, r"^preset='yelp' is unknown; use one of zhang"),
    ({"text": ()}, r"^text=\(\) names no column"),
    ({"block_size": 0}, r"^block_size=0 must be an integer >= 1"),
])
def test_spec_rejects_bad_options(options, message):
    with pytest.raises(OptionError, match=message) as error:
        SourceSpec(("a.csv",), **options)
    assert error.value.option == next(iter(options))


def test_spec_needs_a_path():
    with pytest.raises(OptionError, match=r"^paths=\(\) is empty; pass at least one file"):
        SourceSpec(())


@pytest.mark.parametrize("path, fmt", [
    ("a.csv", "csv"), ("a.CSV.gz", "csv"), ("a.tsv.bz2", "tsv"), ("a.jsonl.xz", "jsonl"),
    ("a.ndjson.zst", "jsonl"), ("a.parquet", "parquet"), ("a.ft", "fasttext"),
    ("a.txt", "text"), ("a.json", None), ("train", None),
])
def test_guess_format_strips_compression(path, fmt):
    assert guess_format(path) == fmt


def test_file_format_prefers_the_spec_and_the_preset():
    assert file_format(SourceSpec(("x",), format="fasttext"), "cooking.train") == "fasttext"
    assert file_format(SourceSpec(("x",), preset="zhang"), "train.data") == "csv"
    with pytest.raises(OptionError, match=r"^format=None is needed: the extension of cooking.train "
                                          r"names no format; give one of csv, tsv"):
        file_format(SourceSpec(("x",)), "cooking.train")


@pytest.mark.parametrize("value", [True, "", -1, 1.5, ("a",)])
def test_spec_rejects_an_id_that_is_no_column(value):
    with pytest.raises(OptionError, match=r"is not a column; give a column name or a 0-based index") as error:
        SourceSpec(("a.csv",), id=value)
    assert error.value.option == "id"


def test_the_id_defaults_to_none_and_comes_last():
    spec = SourceSpec(("a.csv",))
    assert spec.id is None
    # after every older field (the multi-label fields of issue 14 follow it)
    assert list(dataclasses.asdict(spec))[-3:] == ["id", "multi_label", "label_sep"]
    # positional construction is as it was
    assert SourceSpec(("a.csv",), "csv", ("t",), "y").label == "y"
    assert SourceSpec(("a.csv",), id="key").id == "key"
    assert SourceSpec(("a.csv",), id=0).id == 0
