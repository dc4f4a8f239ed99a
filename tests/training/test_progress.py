"""verbose 0 / 1 / 2 output, and the data-wait meter."""

from __future__ import annotations

import re
import sys
import time

import pytest

from streamfit.callbacks import ProgbarLogger
from streamfit.errors import OptionError
from streamfit.training import Model
from streamfit.training.progress import Progress, format_logs, resolve_verbose

SPARSE_CE = "sparse_categorical_crossentropy"
NUMBER = r"\d+\.\d{4}"


def _model(mlp) -> Model:
    return Model(mlp(), loss=SPARSE_CE, metrics=["accuracy"], seed=0)


def test_verbose_0_is_silent(data, mlp, capsys):
    x, y = data
    model = _model(mlp)
    model.fit(x, y, epochs=2, verbose=0, validation_split=0.2)
    model.evaluate(x, y)
    model.predict(x)
    assert capsys.readouterr() == ("", "")


def test_verbose_2_prints_one_keras_line_per_epoch(data, mlp, capsys):
    x, y = data
    _model(mlp).fit(x, y, epochs=2, verbose=2, validation_split=0.2)
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == 2 and err == ""
    for number, line in enumerate(lines, start=1):
        assert re.fullmatch(
            rf"Epoch {number}/2 - \d+\.\ds - loss: {NUMBER} - accuracy: {NUMBER} - "
            rf"val_loss: {NUMBER} - val_accuracy: {NUMBER} - data_wait: \d+\.\d%", line), line


def test_verbose_1_heads_a_bar_per_epoch_on_stdout_as_keras(data, mlp, capsys):
    x, y = data
    _model(mlp).fit(x, y, epochs=2, verbose=1, batch_size=100)
    out, err = capsys.readouterr()
    assert err == ""
    parts = out.split("Epoch 2/2\n")
    assert out.startswith("Epoch 1/2\n") and len(parts) == 2
    for bar in parts:
        final = bar.rstrip("\n").split("\r")[-1]
        assert "100%" in final and "6/6" in final
        assert re.search(rf"loss: {NUMBER} - accuracy: {NUMBER} - data_wait: \d+\.\d% - "
                         r"\d+ samples/s", final), final


def test_one_epoch_has_no_header_as_in_keras_3(data, mlp, capsys):
    x, y = data
    _model(mlp).fit(x, y, epochs=1, verbose=1, batch_size=100)
    out = capsys.readouterr().out
    assert "Epoch 1/1" in out and "Epoch 1/1\n" not in out  # the bar's own title, no header


def test_verbose_auto_is_a_bar_on_a_terminal_and_lines_otherwise(data, mlp, capsys, monkeypatch):
    x, y = data
    model = _model(mlp)
    model.fit(x, y, epochs=2, verbose="auto", batch_size=300)
    out = capsys.readouterr().out
    assert [line.split(" - ")[0] for line in out.splitlines()] == ["Epoch 1/2", "Epoch 2/2"]
    model.evaluate(x, y, verbose="auto")
    assert capsys.readouterr().out.startswith("evaluate - ")
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert resolve_verbose("auto") == 1
    model.predict(x, verbose="auto")
    assert "100%" in capsys.readouterr().out
    with pytest.raises(OptionError, match=r"^verbose='yes' must be 0 \(silent\), 1"):
        model.fit(x, y, verbose="yes")
    with pytest.raises(OptionError, match="^verbose=3 must be"):
        model.evaluate(x, y, verbose=3)
    assert (resolve_verbose(True), resolve_verbose(False)) == (1, 0)


def test_a_progbar_logger_draws_the_one_bar(data, mlp, capsys):
    x, y = data
    model = _model(mlp)
    model.fit(x, y, epochs=2, verbose=1, batch_size=100, callbacks=[ProgbarLogger()])
    out = capsys.readouterr().out
    assert out.count("Epoch 2/2\n") == 1 and out.count("6/6") == 2  # not two bars per epoch
    assert "accuracy: " in out and "data_wait" not in out
    model.fit(x, y, epochs=2, verbose=0, callbacks=[ProgbarLogger()])
    assert capsys.readouterr().out == ""  # Keras' ProgbarLogger follows fit's verbose
    model.fit(x, y, epochs=2, verbose=2, batch_size=300, validation_split=0.5,
              callbacks=[ProgbarLogger()])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and all("val_loss" in line for line in lines), lines
    model.evaluate(x, y, verbose=1, batch_size=100, callbacks=[ProgbarLogger()])
    assert capsys.readouterr().out.count("evaluate: 100%") == 1
    model.predict(x, verbose=1, batch_size=100, callbacks=[ProgbarLogger()])
    assert re.search(r"predict: 100%.* 6/6 .*\d+ samples/s", capsys.readouterr().out)


def test_evaluate_verbose_2_prints_one_line(data, mlp, capsys):
    x, y = data
    _model(mlp).evaluate(x, y, verbose=2)
    assert re.fullmatch(rf"evaluate - \d+\.\ds - loss: {NUMBER} - accuracy: {NUMBER}\n",
                        capsys.readouterr().out)


def test_data_wait_is_recorded_per_epoch_outside_history(data, mlp):
    x, y = data
    history = _model(mlp).fit(x, y, epochs=3, verbose=0)
    assert len(history.data_wait) == 3
    assert all(0.0 <= fraction <= 1.0 for fraction in history.data_wait)
    assert "data_wait" not in history.history


def test_a_slow_generator_shows_as_data_wait(data, mlp):
    x, y = data

    def slow():
        while True:
            time.sleep(0.2)
            yield x[:8], y[:8]

    # A step of this model takes about a millisecond; the margin allows a busy machine.
    history = _model(mlp).fit(slow(), steps_per_epoch=3, verbose=0)
    assert 0.25 < history.data_wait[0] <= 1.0


def test_format_logs_and_an_aborted_bar(capsys):
    assert format_logs({"loss": 0.30123, "size": 32}) == "loss: 0.3012 - size: 32"
    with pytest.raises(RuntimeError), Progress(1, 3, "Epoch 1/1") as progress:
        progress.update(8, dict)
        raise RuntimeError("stop")
    assert progress.bar is None and "1/3" in capsys.readouterr().out
