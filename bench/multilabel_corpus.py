"""A multi-label corpus from 20 Newsgroups: real cross-posts plus a documented mixture.

    python bench/multilabel_corpus.py --out bench/runs/multilabel          # seed 0
    python bench/multilabel_corpus.py --out DIR --seed 1 --mix-share 0.35

Reuters-21578, the usual multi-label benchmark, cannot be shipped, so this
builds one from ``../shared/datasets/20newsgroups/{train,test}.csv.gz``
(header ``label,newsgroup,doc_id,text``; raw posts with their headers, the
"bydate" split). Each split is built on its own, so no post is in both, and
every post of a split is used exactly once.

How a row is made:

1. **Text**: the post's ``Subject:`` value, a blank line, then its body (all
   that follows the first blank line). Every other header is dropped:
   ``From:``, ``Organization:``, ``NNTP-Posting-Host:`` name the author and
   site, which identify the group better than the words do. The "bydate"
   release already removed the ``Newsgroups:``, ``Path:`` and ``Xref:`` lines
   that list the groups a post went to; a ``Newsgroups:`` line quoted inside
   a body (a forwarded message: 36 train, 45 test posts) is dropped too, so
   that no line of the text lists groups. Posts whose body is empty after this
   are left out (18 train, 16 test).
2. **Real cross-posts**: the "bydate" release also kept one copy of each
   cross-posted message, so the ``Newsgroups:`` header cannot be recovered.
   What is left of them are posts with an identical body in several group
   folders (6 in train, 3 in test); each such set becomes one row labelled
   with all its groups. That is 0.1% of the rows: far too few for a
   multi-label task.
3. **Synthetic mixture**: so the remaining posts are shuffled (``--seed``) and
   taken in turn as the first part of a row; with probability
   ``--mix-share`` (0.35) the row gets one more part (or two, with
   probability ``--three-share``, 0.2, of the mixed rows), each an unused post
   of a group not yet in the row. With probability ``--related`` (0.7) that
   group is drawn from the first part's topic family, as real cross-posts
   mostly are (comp.*; rec.*; sci.*; talk.politics.*; religion:
   alt.atheism, soc.religion.christian, talk.religion.misc; misc.forsale has
   none, so its partners come from anywhere), else from all other groups;
   either way in proportion to the group's unused posts. The parts are
   joined in random order with a blank line between them, and the row's
   labels are the union of its parts' groups. So the labels are exactly
   the groups whose posts make up the text.

Identical bodies inside one group (26 train, 14 test; repeated short
replies and re-posts) are kept once.

The labels are the group names (``comp.graphics``, ...), sorted within a row.
Rows come in random order, not grouped by label. With the defaults (seed 0):

| split | rows | 1 / 2 / 3 labels | several labels | label cardinality | label sets | rows per label |
| --- | ---: | --- | ---: | ---: | ---: | --- |
| train | 7,917 | 5,143 / 2,195 / 579 | 35.0% | 1.42 | 461 | 376-599 |
| test | 5,273 | 3,429 / 1,459 / 385 | 35.0% | 1.42 | 363 | 251-399 |

It is a hard task: a mixed row often joins a long post and a two-line reply,
and 70% of the mixtures are of related groups (mac and pc hardware, guns and
politics.misc). A one-vs-rest linear SVM on TF-IDF unigrams finds the top
label of 85% of the single-label test rows, but its micro-F1 over all rows
is 0.70, and it gets 18% of the two-label rows exactly right.

Output, in ``--out``:

| file | format |
| --- | --- |
| ``train.ft``, ``test.ft`` | fastText: ``__label__a __label__b text`` per line, text on one line (white space runs made one space) |
| ``train.jsonl``, ``test.jsonl`` | ``{"text": ..., "labels": [...]}`` per line, text as made above (newlines kept) |
| ``stats.json`` | the arguments and, per split, rows, rows by number of labels, label cardinality, distinct label sets, rows per label, posts used, left out and merged |

The same arguments always give the same files, byte for byte. Standard
library only, so the tests can import it without the bench extra.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import random
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT.parent / "shared" / "datasets" / "20newsgroups"
SPLITS = ("train", "test")
PREFIX = "__label__"

# The usual six topic families of 20 Newsgroups; cross-posts mostly stay inside one.
FAMILIES = {
    "comp": [
        "comp.graphics", "comp.os.ms-windows.misc", "comp.sys.ibm.pc.hardware",
        "comp.sys.mac.hardware", "comp.windows.x",
    ],
    "rec": ["rec.autos", "rec.motorcycles", "rec.sport.baseball", "rec.sport.hockey"],
    "sci": ["sci.crypt", "sci.electronics", "sci.med", "sci.space"],
    "politics": ["talk.politics.guns", "talk.politics.mideast", "talk.politics.misc"],
    "religion": ["alt.atheism", "soc.religion.christian", "talk.religion.misc"],
    "forsale": ["misc.forsale"],
}
FAMILY_OF = {group: name for name, groups in FAMILIES.items() for group in groups}

QUOTED_NEWSGROUPS = re.compile(r"(?im)^[ \t>|]*newsgroups:.*(?:\n|$)")
SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Post:
    """One source post, or a set of identical cross-posted ones.

    Attributes:
        labels: Its groups, sorted (one, unless it was found in several folders).
        text: The subject, a blank line and the body.
    """

    labels: tuple[str, ...]
    text: str


def post_parts(raw: str) -> tuple[str, str]:
    """What a row keeps from a raw post: its subject and its body, no other header.

    Args:
        raw: The post as stored: header lines, a blank line, the body.

    Returns:
        The ``Subject`` value ("" when there is none) and the body without
        quoted ``Newsgroups:`` lines, both stripped.
    """
    head, _, body = raw.partition("\n\n")
    body = QUOTED_NEWSGROUPS.sub("", body).strip()
    subject = ""
    for line in head.split("\n"):
        if line.lower().startswith("subject:"):
            subject = line[len("subject:"):].strip()
            break
    return subject, body


def read_posts(path: Path) -> tuple[list[Post], dict[str, int]]:
    """The posts of one split, identical bodies in several groups merged into one.

    Args:
        path: ``train.csv.gz`` or ``test.csv.gz`` of 20 Newsgroups.

    Returns:
        The posts in file order (a merged one where its first copy was) and
        counts: ``source_posts``, ``empty_left_out``, ``cross_posts_merged``
        (posts that became part of a merged one) and ``cross_post_rows``.

    Raises:
        SystemExit: When the file is missing or lacks the ``newsgroup`` or
            ``text`` column.
    """
    if not path.exists():
        sys.exit(f"multilabel_corpus.py: {path} is missing; pass --data-dir")
    csv.field_size_limit(sys.maxsize)
    by_body: dict[str, list[str]] = {}
    source = empty = 0
    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        if not {"newsgroup", "text"} <= set(reader.fieldnames or ()):
            sys.exit(f"multilabel_corpus.py: {path} needs the columns newsgroup and text")
        for row in reader:
            source += 1
            subject, body = post_parts(row["text"])
            if not body:
                empty += 1
                continue
            # Cross-posts are found by their body: the subject may differ ("Re:") between copies.
            text = f"{subject}\n\n{body}" if subject else body
            by_body.setdefault(body, []).append((row["newsgroup"], text))
    posts, merged, merged_rows = [], 0, 0
    for copies in by_body.values():
        labels = tuple(sorted({group for group, _ in copies}))
        if len(labels) > 1:
            merged += len(copies)
            merged_rows += 1
        posts.append(Post(labels, copies[0][1]))
    counts = {
        "source_posts": source,
        "empty_left_out": empty,
        # identical copies inside one group are kept once, as the release meant to
        "duplicates_in_one_group": sum(
            len(c) - 1 for c in by_body.values() if len({g for g, _ in c}) == 1
        ),
        "cross_posts_merged": merged,
        "cross_post_rows": merged_rows,
    }
    return posts, counts


def mix(posts: list[Post], rng: random.Random, mix_share: float, three_share: float,
        related: float) -> list[Post]:
    """Rows made of the posts, each used once: a share of rows concatenates posts of 2-3 groups.

    Args:
        posts: The split's posts; a merged cross-post is always a row on its own.
        rng: The random source (the order and every draw come from it).
        mix_share: Probability that a row gets more than one part.
        three_share: Probability that a mixed row has three parts rather than two.
        related: Probability that a further part's group is drawn from the first
            part's topic family (when it has unused posts there).

    Returns:
        The rows, in random order.
    """
    order = list(range(len(posts)))
    rng.shuffle(order)
    pools: dict[str, list[int]] = {}
    for i in order:
        if len(posts[i].labels) == 1:
            pools.setdefault(posts[i].labels[0], []).append(i)
    # Each pool is consumed from its end; `used` marks posts taken as a first part.
    for pool in pools.values():
        pool.reverse()
    used = [False] * len(posts)

    def left(group: str) -> int:
        pool = pools[group]
        while pool and used[pool[-1]]:
            pool.pop()
        return len(pool)

    rows = []
    for i in order:
        if used[i]:
            continue
        used[i] = True
        post = posts[i]
        parts = [post]
        if len(post.labels) == 1 and rng.random() < mix_share:
            extra = 2 if rng.random() < three_share else 1
            family = FAMILY_OF.get(post.labels[0])
            for _ in range(extra):
                in_row = {label for p in parts for label in p.labels}
                choices = sorted(g for g in pools if g not in in_row and left(g))
                near = [g for g in choices if FAMILY_OF.get(g) == family]
                if near and rng.random() < related:
                    choices = near
                if not choices:
                    break
                group = rng.choices(choices, weights=[left(g) for g in choices])[0]
                j = pools[group].pop()
                used[j] = True
                parts.append(posts[j])
            rng.shuffle(parts)
        labels = tuple(sorted({label for p in parts for label in p.labels}))
        rows.append(Post(labels, "\n\n".join(p.text for p in parts)))
    return rows


def fasttext_line(row: Post) -> str:
    """A row as one fastText line: its ``__label__`` words, then the text on one line."""
    # A "__label__" inside the text would read as one more label.
    text = SPACES.sub(" ", row.text.replace(PREFIX, "label")).strip()
    return " ".join([*(PREFIX + label for label in row.labels), text])


def split_stats(rows: list[Post], counts: dict[str, int]) -> dict:
    """What a split holds: rows, labels per row, label sets, rows per label."""
    sizes = Counter(len(r.labels) for r in rows)
    per_label = Counter(label for r in rows for label in r.labels)
    return {
        "rows": len(rows),
        "rows_by_label_count": {str(k): sizes[k] for k in sorted(sizes)},
        "several_labels_share": round(sum(v for k, v in sizes.items() if k > 1) / len(rows), 4),
        "label_cardinality": round(sum(k * v for k, v in sizes.items()) / len(rows), 4),
        "label_sets": len({r.labels for r in rows}),
        "rows_per_label": dict(sorted(per_label.items())),
        **counts,
    }


def build(out: Path, data_dir: Path = DATA_DIR, seed: int = 0, mix_share: float = 0.35,
          three_share: float = 0.2, related: float = 0.7) -> dict:
    """Write the corpus (fastText and JSON Lines, train and test) and its statistics.

    Args:
        out: The folder to write (created if needed; its files are replaced).
        data_dir: The folder holding 20 Newsgroups' ``train.csv.gz`` and ``test.csv.gz``.
        seed: Seed of the mixture; the test split uses ``seed + 1``.
        mix_share: Probability that a row concatenates several posts.
        three_share: Probability that a mixed row has three posts, not two.
        related: Probability that a further post comes from the same topic family.

    Returns:
        The statistics also written to ``stats.json``.

    Raises:
        ValueError: When a probability is outside [0, 1].
    """
    for name, value in (("mix_share", mix_share), ("three_share", three_share),
                        ("related", related)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {value}")
    out.mkdir(parents=True, exist_ok=True)
    stats = {"seed": seed, "mix_share": mix_share, "three_share": three_share,
             "related": related}
    for offset, split in enumerate(SPLITS):
        posts, counts = read_posts(data_dir / f"{split}.csv.gz")
        rows = mix(posts, random.Random(seed + offset), mix_share, three_share, related)
        with open(out / f"{split}.ft", "w", encoding="utf-8", newline="\n") as f:
            f.writelines(fasttext_line(r) + "\n" for r in rows)
        with open(out / f"{split}.jsonl", "w", encoding="utf-8", newline="\n") as f:
            f.writelines(
                json.dumps({"text": r.text, "labels": list(r.labels)}, ensure_ascii=False) + "\n"
                for r in rows
            )
        stats[split] = split_stats(rows, counts)
    (out / "stats.json").write_text(json.dumps(stats, indent=2) + "\n", encoding="utf-8")
    return stats


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "runs" / "multilabel",
                        help="folder to write (default: bench/runs/multilabel, git-ignored)")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR,
                        help="folder with 20 Newsgroups' train.csv.gz and test.csv.gz")
    parser.add_argument("--seed", type=int, default=0, help="seed of the mixture (test: seed+1)")
    parser.add_argument("--mix-share", type=float, default=0.35,
                        help="probability that a row concatenates several posts (default 0.35)")
    parser.add_argument("--three-share", type=float, default=0.2,
                        help="probability that a mixed row has three posts (default 0.2)")
    parser.add_argument("--related", type=float, default=0.7,
                        help="probability that a further post is of the same topic family "
                             "(default 0.7)")
    args = parser.parse_args(argv)
    try:
        stats = build(args.out, args.data_dir, args.seed, args.mix_share, args.three_share,
                      args.related)
    except ValueError as e:
        parser.error(str(e))
    for split in SPLITS:
        s = stats[split]
        print(f"{split}: {s['rows']} rows, {100 * s['several_labels_share']:.1f}% with several "
              f"labels, cardinality {s['label_cardinality']:.2f}, {s['label_sets']} label sets, "
              f"{s['cross_post_rows']} real cross-posts -> {args.out}")


if __name__ == "__main__":
    main()
