"""`streamfit predict DIR -`: standard input, each answer out as soon as its line is in."""

import csv
import gzip
import io
import json
import os
import random
import select
import subprocess
import sys
import threading
import time

import pytest

from streamfit.cli.main import main
from streamfit.recipe import TrainConfig, train_text_classifier
from streamfit.sources import SourceSpec

CUES = {"food": "pasta bread cheese soup", "sports": "goal match team score"}
WAIT = 30  # seconds an answer may take (a loaded machine); a missing one fails at once after


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    directory = tmp_path_factory.mktemp("stdin")
    rng = random.Random(1)
    with open(directory / "train.ft", "w") as f:
        for i in range(300):
            label = list(CUES)[i % 2]
            words = CUES[label].split() * 2 + ["the", "a", "of"]
            rng.shuffle(words)
            f.write(f"__label__{label} {' '.join(words)}\n")
    config = TrainConfig(output=str(directory / "model"), model_kind="mlp", epochs=3, batch_size=32,
                         cache=str(directory / "cache"), verbose=0, validation_split=0)
    train_text_classifier(SourceSpec((str(directory / "train.ft"),)), config, log=lambda line: None)
    return str(directory / "model")


def read_lines(fd, count, timeout=WAIT):
    """`count` whole lines from `fd`, waiting at most `timeout` seconds in all (else what came)."""
    data, deadline = b"", time.monotonic() + timeout
    while data.count(b"\n") < count:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            break
        data += chunk
    return data.decode().splitlines()


class Piped:
    """`main(["predict", ...])` on a thread, its stdin and stdout pipes held by the test."""

    def __init__(self, monkeypatch, argv):
        stdin, self.send_fd = os.pipe()
        self.answers_fd, stdout = os.pipe()
        monkeypatch.setattr(sys, "stdin", os.fdopen(stdin, "rb", buffering=0))
        self.out = io.TextIOWrapper(os.fdopen(stdout, "wb"), write_through=True)
        monkeypatch.setattr(sys, "stdout", self.out)
        self.code = None
        self.thread = threading.Thread(target=self._run, args=(argv,), daemon=True)
        self.thread.start()

    def _run(self, argv):
        try:
            self.code = main(["predict", *argv])
        finally:
            self.out.close()

    def send(self, text):
        os.write(self.send_fd, text.encode())

    def close(self):
        os.close(self.send_fd)
        self.thread.join(WAIT)
        rest = read_lines(self.answers_fd, 10**9, timeout=1)
        os.close(self.answers_fd)
        return self.code, rest


LINES = {
    "text": ["goal match team", "pasta soup"],
    "fasttext": ["__label__x goal match team", "pasta __label__y soup"],
    "jsonl": ['{"text": "goal match team"}', '{"text": "pasta soup"}'],
}


@pytest.mark.parametrize("fmt", ["text", "fasttext", "jsonl", "csv"])
def test_each_answer_comes_before_the_next_line_is_written(bundle, monkeypatch, fmt):
    piped = Piped(monkeypatch, [bundle, "-", "--format", fmt, "--output-format", "jsonl"])
    lines = LINES.get(fmt, ['"goal match team"', '"pasta soup"'])
    if fmt == "csv":
        piped.send("text\n")
    answers = []
    for i, line in enumerate(lines + (["{bad"] if fmt == "jsonl" else []), start=1):
        piped.send(line + "\n")
        (answer,) = read_lines(piped.answers_fd, 1)
        answers.append(json.loads(answer))
        assert answers[-1]["row"] == i and answers[-1]["file"] == "-"
    if fmt == "csv":  # a quoted field over two lines, in two writes: answered once it closes
        piped.send('"cheese and\n')
        assert read_lines(piped.answers_fd, 1, timeout=0.5) == []
        piped.send('bread"\n')
        answers.append(json.loads(read_lines(piped.answers_fd, 1)[0]))
    code, rest = piped.close()
    assert code == 0 and rest == []
    assert [a["label"] for a in answers[:2]] == ["sports", "food"]
    first_line = 2 if fmt == "csv" else 1
    assert [a["line"] for a in answers] == list(range(first_line, first_line + len(answers)))
    if fmt == "jsonl":
        assert answers[2]["skipped"] == "bad_json" and answers[2]["label"] is None
    if fmt == "csv":
        assert answers[2]["label"] == "food" and answers[2]["line"] == 4


def test_rows_of_standard_input_are_accounted_as_a_file_named_dash(bundle, monkeypatch, capsys):
    piped = Piped(monkeypatch, [bundle, "-", "--format", "csv", "--id", "id", "-k", "2"])
    piped.send('id,text\n"a","goal match"\n"b","x","y"\n\n"c","pasta soup"\n"d"\n')
    code, rows = piped.close()
    assert code == 0
    rows = list(csv.DictReader(io.StringIO("\n".join(rows))))
    assert [(row["row"], row["file"], row["line"], row["id"], row["skipped"]) for row in rows] == [
        ("1", "-", "2", "a", ""), ("2", "-", "3", "", "wrong_field_count"), ("3", "-", "5", "c", ""),
        ("4", "-", "6", "", "wrong_field_count")]
    assert [label for label, _ in json.loads(rows[2]["labels"])] == ["food", "sports"]
    err = capsys.readouterr().err
    assert "read 4 rows, used 2, skipped 2: 2 wrong_field_count (-:3, -:6)" in err


@pytest.mark.parametrize("argv, stdin, message", [
    (["-", "{data}"], b"", "DATA -: standard input is read alone"),
    (["-"], b"goal\n", "--format is needed to read standard input (-)"),
    (["-", "--format", "parquet"], b"PAR1", "--format parquet cannot be read from standard input"),
    (["-", "--format", "text"], gzip.compress(b"goal\n"), "-: standard input is compressed"),
])
def test_what_standard_input_cannot_be_is_one_line(bundle, monkeypatch, capsys, tmp_path, argv,
                                                    stdin, message):
    data = tmp_path / "d.txt"
    data.write_text("goal\n")
    read, write = os.pipe()
    os.write(write, stdin)
    os.close(write)
    monkeypatch.setattr(sys, "stdin", os.fdopen(read, "rb", buffering=0))
    assert main(["predict", bundle, *[arg.format(data=data) for arg in argv]]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err


def test_an_empty_standard_input_is_no_rows_and_no_error(bundle, monkeypatch, capsys):
    read, write = os.pipe()
    os.close(write)
    monkeypatch.setattr(sys, "stdin", os.fdopen(read, "rb", buffering=0))
    assert main(["predict", bundle, "-", "--format", "text"]) == 0
    assert capsys.readouterr() == ("", "")


def command(bundle, *argv):
    return [sys.executable, "-m", "streamfit", "predict", bundle, "-", *argv]


def test_a_real_pipe_into_the_command_answers_each_line_before_stdin_closes(bundle):
    process = subprocess.Popen(command(bundle, "--format", "text"), stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        texts, expected = ["goal match team", "pasta soup", "score goal", "cheese bread"], []
        for i, text in enumerate(texts):
            process.stdin.write(text.encode() + b"\n")
            process.stdin.flush()
            got = read_lines(process.stdout.fileno(), 2 if i == 0 else 1, timeout=60 if i == 0 else WAIT)
            assert process.poll() is None and len(got) == (2 if i == 0 else 1), got
            expected += got
            time.sleep(0.2)  # a slow writer
        process.stdin.close()
        assert process.wait(WAIT) == 0
        assert process.stdout.read() == b"" and process.stderr.read() == b""
    finally:
        if process.poll() is None:
            process.kill()
    rows = list(csv.DictReader(io.StringIO("\n".join(expected))))
    assert [(row["row"], row["line"], row["label"]) for row in rows] == [
        ("1", "1", "sports"), ("2", "2", "food"), ("3", "3", "sports"), ("4", "4", "food")]


def test_a_closed_output_pipe_ends_the_command_quietly(bundle, tmp_path):
    writer = (f"{sys.executable} -c 'import time\nwhile True:\n print(\"goal match\", flush=True)\n"
              " time.sleep(0.1)' 2>/dev/null")
    predict = " ".join(command(bundle, "--format", "text"))
    script = (f"{writer} | {predict} 2>{tmp_path}/err | head -1 >{tmp_path}/out; "
              f"echo ${{PIPESTATUS[1]}} >{tmp_path}/rc")
    subprocess.run(["bash", "-c", script], timeout=120, check=True)
    assert (tmp_path / "rc").read_text() == "0\n"
    assert (tmp_path / "err").read_text() == ""
    assert (tmp_path / "out").read_text() == '"row","file","line","label","probability","skipped"\n'
