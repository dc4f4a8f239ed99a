"""bench/multilabel_corpus.py: the multi-label corpus made from 20 Newsgroups posts."""

from __future__ import annotations

import csv
import gzip
import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

BUILDER = Path(__file__).resolve().parents[2] / "bench" / "multilabel_corpus.py"
_spec = importlib.util.spec_from_file_location("multilabel_corpus", BUILDER)
corpus = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("multilabel_corpus", corpus)  # its dataclass looks its module up
_spec.loader.exec_module(corpus)

GROUPS = ["comp.graphics", "comp.windows.x", "rec.autos", "sci.med", "misc.forsale"]


def raw_post(group: str, i: int, body: str | None = None) -> str:
    body = f"word{i} about {group.replace('.', ' ')} number {i}\nsecond line" if body is None \
        else body
    return (f"From: someone{i}@{group}.example (Some One)\nSubject: Re: question {i}\n"
            f"Organization: {group} university\nLines: 2\n\n{body}\n")


def write_split(path: Path, rows: list[tuple[str, str]]) -> None:
    with gzip.open(path, "wt", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["label", "newsgroup", "doc_id", "text"])
        for n, (group, text) in enumerate(rows):
            writer.writerow([GROUPS.index(group), group, 1000 + n, text])


@pytest.fixture
def data_dir(tmp_path):
    folder = tmp_path / "20ng"
    folder.mkdir()
    for split, per_group in (("train", 12), ("test", 6)):
        write_split(folder / f"{split}.csv.gz",
                    [(g, raw_post(g, i)) for g in GROUPS for i in range(per_group)])
    return folder


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_post_parts_keeps_subject_and_body_and_drops_every_other_header():
    raw = ("From: a@b.c\nSubject: Re: drivers\nNewsgroups: comp.graphics,comp.windows.x\n"
           "Organization: Site\n\nIn a forwarded note:\n> Newsgroups: sci.med\n"
           "  Newsgroups: rec.autos\nthe text\n")
    assert corpus.post_parts(raw) == ("Re: drivers", "In a forwarded note:\nthe text")


def test_every_post_is_used_once_and_labels_are_the_groups_of_its_parts(data_dir, tmp_path):
    stats = corpus.build(tmp_path / "out", data_dir, seed=3, mix_share=0.5)
    for split, per_group in (("train", 12), ("test", 6)):
        rows = read_jsonl(tmp_path / "out" / f"{split}.jsonl")
        parts = [(label, int(m.group(1))) for row in rows
                 for label in row["labels"]
                 for m in re.finditer(rf"word(\d+) about {label.replace('.', ' ')} ",
                                      row["text"])]
        assert sorted(parts) == sorted((g, i) for g in GROUPS for i in range(per_group))
        for row in rows:
            # one part per label: the text holds exactly as many posts as the row has labels
            assert row["text"].count("second line") == len(row["labels"])
            assert row["labels"] == sorted(set(row["labels"]))
            assert "From:" not in row["text"] and "Organization" not in row["text"]
        sizes = [len(r["labels"]) for r in rows]
        assert stats[split]["rows"] == len(rows)
        assert stats[split]["label_cardinality"] == round(sum(sizes) / len(rows), 4)
        assert 1 < max(sizes) <= 3


def test_fasttext_and_jsonl_files_hold_the_same_rows(data_dir, tmp_path):
    corpus.build(tmp_path / "out", data_dir, seed=0)
    rows = read_jsonl(tmp_path / "out" / "train.jsonl")
    lines = (tmp_path / "out" / "train.ft").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(rows)
    for line, row in zip(lines, rows, strict=True):
        labels = " ".join("__label__" + label for label in row["labels"])
        assert line == labels + " " + " ".join(row["text"].split())


def test_the_same_seed_gives_the_same_bytes_and_another_seed_another_corpus(data_dir, tmp_path):
    files = ("train.ft", "test.ft", "train.jsonl", "test.jsonl", "stats.json")
    corpus.build(tmp_path / "a", data_dir, seed=7)
    corpus.build(tmp_path / "b", data_dir, seed=7)
    corpus.build(tmp_path / "c", data_dir, seed=8)
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (tmp_path / "a" / "train.ft").read_bytes() != (tmp_path / "c" / "train.ft").read_bytes()


def family_posts() -> list:
    groups = ["comp.graphics", "comp.windows.x", "rec.autos", "rec.motorcycles"]
    return [corpus.Post((g,), f"{g} post {i}") for g in groups for i in range(10)]


def test_mix_share_zero_keeps_one_post_per_row(data_dir, tmp_path):
    stats = corpus.build(tmp_path / "none", data_dir, mix_share=0.0)
    assert stats["train"]["rows_by_label_count"] == {"1": 60}
    assert stats["test"]["rows_by_label_count"] == {"1": 30}


def test_related_one_pairs_every_post_inside_its_topic_family():
    rows = corpus.mix(family_posts(), corpus.random.Random(0), mix_share=1.0, three_share=0.0,
                      related=1.0)
    # a pair takes one post of each comp group (or rec group), so a partner is always left
    assert sorted(r.labels for r in rows) == (
        [("comp.graphics", "comp.windows.x")] * 10 + [("rec.autos", "rec.motorcycles")] * 10)
    texts = sorted(part for r in rows for part in r.text.split("\n\n"))
    assert texts == sorted(p.text for p in family_posts())


def test_related_zero_also_pairs_across_families_and_three_share_adds_a_third_post():
    rows = corpus.mix(family_posts(), corpus.random.Random(0), mix_share=1.0, three_share=0.0,
                      related=0.0)
    families = [{label.split(".")[0] for label in r.labels} for r in rows]
    assert {"comp", "rec"} in families
    rows = corpus.mix(family_posts(), corpus.random.Random(0), mix_share=1.0, three_share=1.0,
                      related=1.0)
    sizes = [len(r.labels) for r in rows]
    assert sum(sizes) == 40 and sizes.count(3) >= 10


def test_identical_bodies_in_two_groups_become_one_cross_posted_row(tmp_path):
    folder = tmp_path / "20ng"
    folder.mkdir()
    shared = "the same announcement, posted to both groups"
    rows = [("sci.med", raw_post("sci.med", 0, shared)),
            ("rec.autos", raw_post("rec.autos", 1, shared)),
            ("rec.autos", raw_post("rec.autos", 2, "")),  # empty body: left out
            *((g, raw_post(g, 10 + i)) for i, g in enumerate(GROUPS))]
    write_split(folder / "train.csv.gz", rows)
    write_split(folder / "test.csv.gz", rows)
    stats = corpus.build(tmp_path / "out", folder, mix_share=1.0)
    out = read_jsonl(tmp_path / "out" / "train.jsonl")
    crossed = [r for r in out if shared in r["text"]]
    assert crossed == [{"text": f"Re: question 0\n\n{shared}", "labels": ["rec.autos", "sci.med"]}]
    assert stats["train"]["cross_post_rows"] == 1
    assert stats["train"]["cross_posts_merged"] == 2
    assert stats["train"]["empty_left_out"] == 1
    assert stats["train"]["source_posts"] == 8


def test_a_label_prefix_inside_the_text_cannot_add_a_label():
    row = corpus.Post(("sci.med",), "see __label__rec.autos\nhere")
    assert corpus.fasttext_line(row) == "__label__sci.med see labelrec.autos here"


@pytest.mark.parametrize("name", ["mix_share", "three_share", "related"])
def test_a_probability_outside_zero_to_one_is_refused(name, data_dir, tmp_path):
    with pytest.raises(ValueError, match=name):
        corpus.build(tmp_path / "out", data_dir, **{name: 1.5})
