"""The `streamfit` command end to end on small generated data, and every user error."""

import json
import re
import subprocess
import sys

import pytest

from streamfit.cli.main import main


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def trained(tmp_path, write_corpus, capsys):
    train = write_corpus(tmp_path / "train.csv", 600)
    test = write_corpus(tmp_path / "test.csv", 200, seed=9)
    code, out, err = run(capsys, "train", train, "--output", tmp_path / "model", "--cache",
                         tmp_path / "cache", "--epochs", "4", "--batch-size", "32")
    assert code == 0, err
    return tmp_path, test, out


def test_train_prints_one_line_per_epoch_and_saves_a_bundle(trained):
    tmp_path, _, out = trained
    assert out.count("Epoch ") >= 2
    assert "read 600 rows, used 600, skipped none" in out
    assert (tmp_path / "model" / "bundle.json").is_file()


def test_evaluate_json_and_text(trained, capsys):
    tmp_path, test, _ = trained
    code, out, _ = run(capsys, "evaluate", tmp_path / "model", test, "--json")
    report = json.loads(out)
    assert code == 0 and report["samples"] == 200
    assert report["accuracy"] > 0.9 and 0 < report["macro_f1"] <= 1
    assert sum(map(sum, report["confusion_matrix"])) == 200
    code, out, _ = run(capsys, "evaluate", tmp_path / "model", test)
    assert "macro F1" in out and "confusion matrix" in out


def test_predict_writes_one_row_per_input_row(trained, capsys):
    tmp_path, test, _ = trained
    code, out, _ = run(capsys, "predict", tmp_path / "model", test)
    lines = out.splitlines()
    assert code == 0 and lines[0] == '"row","file","line","label","probability","skipped"' and len(lines) == 201
    assert run(capsys, "predict", tmp_path / "model", test, "--output", tmp_path / "p.jsonl")[0] == 0
    rows = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert len(rows) == 200 and {r["label"] for r in rows} <= {"neg", "pos"}
    assert all(0.5 <= r["probability"] <= 1 for r in rows)


def test_inspect_json(tmp_path, write_corpus, capsys):
    data = write_corpus(tmp_path / "a.csv", 100)
    code, out, _ = run(capsys, "inspect", data, "--json")
    report = json.loads(out)
    assert code == 0
    assert report["rows_read"] == report["rows_used"] == 100 and report["skipped"] == {}
    assert report["classes"] == {"neg": 50, "pos": 50}
    assert report["median_words_per_sample"] > 0 and report["recommended_model"] == "mlp"
    assert report["samples_per_word_ratio"] == pytest.approx(100 / report["median_words_per_sample"])


def test_prepare_then_train_reuses_the_cache(tmp_path, write_corpus, capsys):
    data = write_corpus(tmp_path / "a.csv", 200)
    assert run(capsys, "prepare", data, "--cache", tmp_path / "c")[0] == 0
    code, out, _ = run(capsys, "train", data, "--cache", tmp_path / "c", "--output", tmp_path / "m",
                       "--epochs", "1")
    assert code == 0 and "prepare: reused" in out


def test_prepare_reports_labels_per_row_for_multi_label_data(tmp_path, capsys):
    rows = ["__label__a __label__b one two", "__label__a three", "__label__b __label__c four",
            "__label__c five six", "__label__a __label__b seven"]
    data = tmp_path / "tags.ft"
    data.write_text("\n".join(rows * 4) + "\n", encoding="utf-8")
    code, out, _ = run(capsys, "prepare", data, "--multi-label", "--cache", tmp_path / "c",
                       "--validation-split", "0")
    assert code == 0
    # 20 rows holding 8 labels per 5 rows, in 4 distinct sets: {a, b}, {a}, {b, c}, {c}.
    assert "20 training rows, 0 validation rows, 3 labels (1.60 per row, 4 label sets)" in out
    code, out, _ = run(capsys, "prepare", data, "--cache", tmp_path / "c1", "--validation-split", "0")
    assert code == 0 and ", 3 classes, " in out


@pytest.mark.parametrize("argv, message", [
    (["train", "{tmp}/missing.csv", "--output", "{tmp}/m"], "missing.csv"),
    (["train", "{data}", "--text", "body", "--output", "{tmp}/m"], "body"),
    (["train", "{empty}", "--output", "{tmp}/m"], "empty.csv"),
    (["train", "{nolabels}", "--output", "{tmp}/m"], "nolabels.csv"),
    (["evaluate", "{tmp}", "{data}"], "not a streamfit bundle"),
    (["predict", "{tmp}/nothing", "{data}"], "not a streamfit bundle"),
    (["train", "{data}", "--output", "{data}"], "--output"),
    (["train", "{data}", "--output", "{tmp}/m", "--epochs", "0"], "--epochs"),
    (["train", "{data}", "--output", "{tmp}/m", "--validation-split", "2"], "--validation-split"),
])
def test_user_errors_are_one_line_with_status_2(tmp_path, write_corpus, capsys, argv, message):
    data = write_corpus(tmp_path / "data.csv", 50)
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "nolabels.csv").write_text('label,text\n"","some words"\n"","more words"\n')
    argv = [a.format(tmp=tmp_path, data=data, empty=tmp_path / "empty.csv",
                     nolabels=tmp_path / "nolabels.csv") for a in argv]
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert err.startswith("streamfit: error: ") and err.count("\n") == 1, err
    assert message in err and "Traceback" not in err


def test_python_dash_m_runs_the_command():
    result = subprocess.run([sys.executable, "-m", "streamfit", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "train" in result.stdout


def test_predict_keeps_rows_with_empty_text_one_prediction_per_row(trained, capsys):
    tmp_path, _, _ = trained
    data = tmp_path / "new.csv"
    data.write_text('label,text\n"pos","a great film"\n"","   "\n"neg","awful and boring"\n')
    code, out, _ = run(capsys, "predict", tmp_path / "model", data)
    assert code == 0 and len(out.splitlines()) == 4
    labels = [line.split(",")[3] for line in out.splitlines()[1:]]
    assert labels[0] == '"pos"' and labels[2] == '"neg"'


def test_evaluate_reports_labels_training_never_saw_with_their_lines(trained, capsys):
    tmp_path, _, _ = trained
    data = tmp_path / "odd.csv"
    data.write_text('label,text\n"pos","a great film"\n"meh","so so"\n"neg","awful film"\n"meh","fine"\n')
    code, out, _ = run(capsys, "evaluate", tmp_path / "model", data, "--json")
    report = json.loads(out)
    assert code == 0 and report["samples"] == 2
    assert report["data"]["skipped"] == {"unseen_label": 2}
    assert report["data"]["examples"]["unseen_label"] == [f"{data}:3", f"{data}:5"]
    assert report["data"]["rows_read"] == 4 and report["data"]["rows_used"] == 2


def test_the_command_line_prepares_in_a_child_while_torch_loads(tmp_path, write_corpus):
    # Loading the command line must not load torch: `train` forks the prepare
    # process first (streamfit.prepare.background), and a child forked after
    # torch would overlap nothing.
    probe = "import sys, streamfit.cli.main; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"
    data = write_corpus(tmp_path / "a.csv", 300)
    run = subprocess.run([sys.executable, "-m", "streamfit", "train", str(data), "--output",
                          str(tmp_path / "model"), "--cache", str(tmp_path / "cache"), "--epochs", "1"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    # The child's progress lines come first, once each, then the parent's.
    assert lines[:2] == ["prepare: reading and tokenizing", "prepare: writing token ids"]
    assert lines[2].startswith(f"prepare: built {tmp_path / 'cache'} (270 training rows, 30 validation)")
    assert (tmp_path / "model" / "bundle.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "cache", "model"]


@pytest.mark.parametrize("argv, line", [
    (["--dropout", "1.5"], "streamfit: error: --dropout 1.5 must be a number in [0, 1)"),
    (["--batch-size", "0"], "streamfit: error: --batch-size 0 must be an integer >= 1"),
    (["--ngrams", "0"], "streamfit: error: --ngrams 0 must be an integer >= 1"),
    (["--nproc", "0"], "streamfit: error: --nproc 0 must be an integer >= 1"),
    (["--validation-split", "1.5"], "streamfit: error: --validation-split 1.5 must be a number in [0, 1)"),
    (["--output", "{data}"], "streamfit: error: --output {data} is a file; give a directory for the bundle"),
])
def test_a_bad_option_value_is_named_by_its_flag(tmp_path, write_corpus, capsys, argv, line):
    data = write_corpus(tmp_path / "data.csv", 50)
    argv = [a.format(data=data) for a in argv]
    code, _, err = run(capsys, "train", data, "--output", tmp_path / "m", "--cache", tmp_path / "c", *argv)
    assert code == 2 and err == line.format(data=data) + "\n"
    assert not (tmp_path / "c").exists()  # refused before preparing


def test_an_unknown_class_weight_is_refused_by_its_flag(tmp_path, write_corpus, capsys):
    data = write_corpus(tmp_path / "data.csv", 50)
    with pytest.raises(SystemExit) as exited:
        main(["train", str(data), "--output", str(tmp_path / "m"), "--class-weight", "even"])
    assert exited.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "streamfit train: error: argument --class-weight: invalid choice: 'even' (choose from 'balanced')")


def test_train_help_shows_every_option_of_the_config_with_its_default(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for phrase in ("--output DIR, -o DIR", "--model {auto,mlp,sepcnn,fasttext}", "rule (default: auto)",
                   "--batch-size BATCH_SIZE", "(default: 512)", "--ngrams N", "(default: 2)",
                   "--checkpoint-every N", "--checkpoint-every-minutes M", "--keep-checkpoints K",
                   "(default: 3)", "--resume", "--nproc N", "--validation DATA",
                   "(default: ~/.cache/streamfit/<digest>)"):
        assert phrase in text, phrase


def test_the_flags_build_the_config_field_by_field():
    from streamfit.cli.args import config_values
    from streamfit.cli.main import build_parser
    from streamfit.recipe import TrainConfig

    args = build_parser().parse_args(["train", "d.csv", "-o", "m", "--model", "mlp", "--ngrams", "3",
                                      "--checkpoint-every", "5", "--resume", "--class-weight", "balanced"])
    config = TrainConfig(**config_values(args))
    assert (config.output, config.model_kind, config.ngram_range) == ("m", "mlp", (1, 3))
    assert (config.checkpoint_every_steps, config.resume, config.class_weight) == (5, True, "balanced")
    assert (config.epochs, config.batch_size, config.verbose) == (10, 512, 2)


def test_train_starts_preparing_before_torch_is_imported(tmp_path, write_corpus):
    data = write_corpus(tmp_path / "a.csv", 50)
    probe = (
        "import sys\n"
        "import streamfit.cli.train as train\n"
        "from streamfit.cli.main import main\n"
        "def start_prepare(*args, **kwargs):\n"
        "    print('torch' in sys.modules)\n"
        "    raise SystemExit(0)\n"
        "train.start_prepare = start_prepare\n"
        f"main(['train', {str(data)!r}, '--output', {str(tmp_path / 'm')!r}])\n")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_prepare_takes_train_s_own_preparing_options(tmp_path, write_corpus, capsys):
    from streamfit.cli.args import config_values
    from streamfit.cli.main import build_parser
    from streamfit.cli.prepare import PREPARE_OPTIONS

    args = build_parser().parse_args(["prepare", "d.csv", "--cache", "c", "--ngrams", "3",
                                      "--validation-split", "0.2", "--seed", "4"])
    assert config_values(args, PREPARE_OPTIONS) == {
        "cache": "c", "ngram_range": (1, 3), "validation_split": 0.2, "seed": 4}
    data = write_corpus(tmp_path / "d.csv", 50)
    code, _, err = run(capsys, "prepare", data, "--cache", tmp_path / "c", "--ngrams", "0")
    assert (code, err) == (2, "streamfit: error: --ngrams 0 must be an integer >= 1\n")


def _train(capsys, data, tmp_path, *extra):
    return run(capsys, "train", data, "--output", tmp_path / "m", "--cache", tmp_path / "c",
               "--epochs", "1", "--batch-size", "32", *extra)


def test_train_shows_the_data_notes_that_inspect_shows(tmp_path, write_corpus, capsys):
    data = write_corpus(tmp_path / "a.csv", 100)
    text = data.read_text(encoding="utf-8").splitlines(keepends=True)
    text[3] = text[3].replace('"', '"café ', 1)  # one row in latin-1, read without --encoding
    data.write_bytes("".join(text[:3]).encode() + text[3].encode("latin-1") + "".join(text[4:]).encode())
    code, inspected, _ = run(capsys, "inspect", data)
    assert code == 0 and "note invalid_utf8_rows: 1" in inspected
    code, out, err = _train(capsys, data, tmp_path)
    assert code == 0, err
    assert "data: note invalid_utf8_rows: 1" in out.splitlines()


def test_train_says_it_replaced_its_own_bundle(tmp_path, write_corpus, capsys):
    data = write_corpus(tmp_path / "a.csv", 100)
    code, out, _ = _train(capsys, data, tmp_path)
    assert code == 0 and "replaced the bundle" not in out
    code, out, _ = _train(capsys, data, tmp_path)
    assert code == 0
    replaced = [line for line in out.splitlines() if line.startswith("replaced")]
    assert len(replaced) == 1 and re.fullmatch(
        rf"replaced the bundle in {re.escape(str(tmp_path / 'm'))} \(mlp, \d+ training rows, "
        r"written \d{4}-\d\d-\d\d \d\d:\d\d\)", replaced[0]), replaced


@pytest.mark.parametrize("planted, line", [
    ({"bundle.json": '{"format": "someone-else"}'},
     "--output {m} holds a bundle.json that is not a streamfit bundle's; choose an empty or new "
     "directory (streamfit replaces only its own bundles)"),
    ({"notes.txt": "mine"},
     "--output {m} exists and is not a streamfit bundle (it holds 'notes.txt'); choose an empty or "
     "new directory"),
])
def test_train_does_not_overwrite_what_is_not_its_bundle(tmp_path, write_corpus, capsys, planted, line):
    data = write_corpus(tmp_path / "a.csv", 100)
    (tmp_path / "m").mkdir()
    for name, text in planted.items():
        (tmp_path / "m" / name).write_text(text)
    code, _, err = _train(capsys, data, tmp_path)
    assert code == 2 and err == f"streamfit: error: {line.format(m=tmp_path / 'm')}\n"
    assert {p.name: p.read_text() for p in (tmp_path / "m").iterdir()} == planted
    assert not (tmp_path / "c").exists()  # refused before preparing


def test_a_bundle_with_a_stranger_file_is_not_replaced(tmp_path, write_corpus, capsys):
    data = write_corpus(tmp_path / "a.csv", 100)
    assert _train(capsys, data, tmp_path)[0] == 0
    (tmp_path / "m" / "notes.txt").write_text("mine")
    before = {p.name: p.read_bytes() for p in (tmp_path / "m").iterdir() if p.is_file()}
    code, _, err = _train(capsys, data, tmp_path)
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"streamfit: error: --output {tmp_path / 'm'} is a streamfit bundle but also "
                          "holds 'notes.txt', which streamfit did not write, so it is not replaced")
    assert {p.name: p.read_bytes() for p in (tmp_path / "m").iterdir() if p.is_file()} == before


@pytest.mark.parametrize("change, named", [
    ("data", "the file {data} changed (size or modification time)"),
    ("layers", "layers is 2 in the checkpoint but 3 now"),
])
def test_resume_after_the_data_or_options_changed_is_refused_before_preparing(
        tmp_path, write_corpus, capsys, change, named):
    data = write_corpus(tmp_path / "a.csv", 100)
    argv = ["train", data, "--output", tmp_path / "m", "--epochs", "2", "--batch-size", "16",
            "--checkpoint-every", "2", "--verbose", "0"]
    assert run(capsys, *argv, "--cache", tmp_path / "c")[0] == 0
    if change == "data":
        write_corpus(data, 120)
    else:
        argv += ["--layers", "3"]
    code, out, err = run(capsys, *argv, "--cache", tmp_path / "c2", "--resume")
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"streamfit: error: --resume cannot continue from {tmp_path / 'm'}/checkpoints/ckpt-")
    assert named.format(data=data) in err
    assert "checkpoint_dir" not in err and "drop the option to train from the start" in err
    assert not (tmp_path / "c2").exists()  # refused before preparing
