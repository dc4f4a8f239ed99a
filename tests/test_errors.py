"""Errors by kind: what the Python API raises and what the command line makes of each."""

import math

import numpy as np
import pytest

from streamfit.cli import main as cli_main
from streamfit.errors import (
    DataError,
    OptionError,
    TrainingInterrupted,
    UserError,
    check_number,
)


def test_user_errors_are_value_errors_and_interruptions_are_not():
    assert issubclass(UserError, ValueError)
    assert issubclass(OptionError, UserError) and issubclass(DataError, UserError)
    assert not issubclass(TrainingInterrupted, ValueError)


@pytest.mark.parametrize(("value", "bounds", "message"), [
    (0, {"minimum": 1}, "batch_size=0 must be an integer >= 1"),
    (True, {"minimum": 0}, "batch_size=True must be an integer >= 0"),
    (2.0, {"minimum": 1}, "batch_size=2.0 must be an integer >= 1"),
    (1.0, {"minimum": 0, "below": 1, "integer": False}, "batch_size=1.0 must be a number in [0, 1)"),
    (math.nan, {"minimum": 0, "integer": False}, "batch_size=nan must be a number >= 0"),
    (0, {"above": 0, "integer": False, "optional": True}, "batch_size=0 must be a number > 0 or None"),
    ("5", {"minimum": 1}, "batch_size='5' must be an integer >= 1"),
])
def test_check_number_names_the_argument_and_the_range(value, bounds, message):
    with pytest.raises(OptionError) as caught:
        check_number("batch_size", value, **bounds)
    assert str(caught.value) == message
    assert caught.value.option == "batch_size" and caught.value.value is value


@pytest.mark.parametrize(("value", "bounds"), [
    (1, {"minimum": 1}), (np.int64(3), {"minimum": 1}), (0.5, {"above": 0, "below": 1, "integer": False}),
    (None, {"minimum": 1, "optional": True}), (7, {"integer": True}),
])
def test_check_number_returns_what_it_accepts(value, bounds):
    assert check_number("x", value, **bounds) is value


def test_the_flag_form_leaves_out_what_only_python_callers_can_give():
    error = OptionError("threads", 0, "must be an integer >= 1", python_note=" or None")
    assert str(error) == "threads=0 must be an integer >= 1 or None"
    assert error.with_flag("--threads") == "--threads 0 must be an integer >= 1"


def test_a_bug_is_a_traceback_and_status_70_not_a_user_error(monkeypatch, capsys):
    def broken(args):
        raise RuntimeError("an invariant broke")

    parser = cli_main.build_parser()
    args = parser.parse_args(["inspect", "x.csv"])
    monkeypatch.setattr(cli_main.argparse.ArgumentParser, "parse_args", lambda self, argv=None: args)
    args.run = broken
    assert cli_main.main(["inspect", "x.csv"]) == cli_main.EXIT_BUG
    err = capsys.readouterr().err
    assert "Traceback" in err and "RuntimeError: an invariant broke" in err
    assert err.rstrip().endswith("please report it with the traceback above")


def test_an_option_error_from_the_library_is_shown_with_the_flag(monkeypatch, capsys):
    def refuse(args):
        raise OptionError("validation_split", 1.5, "must be a number in [0, 1)")

    args = cli_main.build_parser().parse_args(["train", "x.csv", "--output", "out"])
    monkeypatch.setattr(cli_main.argparse.ArgumentParser, "parse_args", lambda self, argv=None: args)
    args.run = refuse
    assert cli_main.main(["train", "x.csv", "--output", "out"]) == cli_main.EXIT_USER_ERROR
    assert capsys.readouterr().err == (
        "streamfit: error: --validation-split 1.5 must be a number in [0, 1)\n")
