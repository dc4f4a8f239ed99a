import pytest

from streamfit.errors import OptionError, UserError
from streamfit.sources import SourceSpec
from streamfit.sources.columns import select_columns


def spec(**options):
    return SourceSpec(("f.csv",), **options)


def test_names_and_indexes():
    names = ["id", "title", "body", "label"]
    assert select_columns(spec(text=("title", "body")), "f.csv", names, 4) == ([1, 2], 3, None)
    assert select_columns(spec(text=(2,), label=0), "f.csv", None, 3) == ([2], 0, None)
    assert select_columns(spec(label=None), "f.csv", ["text"], 1) == ([0], None, None)


def test_zhang_layout():
    assert select_columns(spec(preset="zhang"), "f.csv", None, 3) == ([1, 2], 0, None)
    assert select_columns(spec(preset="zhang", label=None), "f.csv", None, 3) == ([1, 2], None, None)
    assert select_columns(spec(preset="zhang", label=2), "f.csv", None, 3) == ([0, 1], 2, None)
    assert select_columns(spec(preset="zhang", text=(2,)), "f.csv", None, 3) == ([2], 0, None)
    with pytest.raises(UserError, match="the zhang preset needs a label column and at least one"):
        select_columns(spec(preset="zhang"), "f.csv", None, 1)


def test_errors():
    with pytest.raises(OptionError, match=r"^label=4 is out of range: f.csv has 2 "
                                          r"columns \(0..1\)$"):
        select_columns(spec(text=(0,), label=4), "f.csv", None, 2)
    with pytest.raises(OptionError, match=r"^label='label' is a name, but f.csv is read without a "
                                          r"header, .*give a 0-based index"):
        select_columns(spec(), "f.csv", None, 2)
    with pytest.raises(OptionError, match=r"^text='body' is not a column of f.csv; its columns are "
                                          r"'label', 'text'; give one of them$") as error:
        select_columns(spec(text=("body",)), "f.csv", ["label", "text"], 2)
    assert (error.value.option, error.value.value) == ("text", "body")
    with pytest.raises(OptionError, match=r"^label='y' is not a column .*, or no label for prediction$"):
        select_columns(spec(label="y"), "f.csv", ["label", "text"], 2)


def test_the_id_column_by_name_or_index_changes_no_other_column():
    names = ["id", "title", "body", "label"]
    assert select_columns(spec(text=("title", "body"), id="id"), "f.csv", names, 4) == ([1, 2], 3, 0)
    assert select_columns(spec(text=(2,), label=None, id=1), "f.csv", None, 3) == ([2], None, 1)
    # zhang's text is still every column but the label, id or not
    assert select_columns(spec(preset="zhang", id=1), "f.csv", None, 3) == ([1, 2], 0, 1)


def test_id_errors_name_the_id():
    with pytest.raises(OptionError, match=r"^id='key' is not a column of f.csv; its columns are "
                                          r"'text', 'label'; give one of them$") as error:
        select_columns(spec(id="key"), "f.csv", ["text", "label"], 2)
    assert (error.value.option, error.value.value) == ("id", "key")
    with pytest.raises(OptionError, match=r"^id=5 is out of range: f.csv has 2 columns") as error:
        select_columns(spec(text=(0,), label=1, id=5), "f.csv", None, 2)
    assert error.value.option == "id"
