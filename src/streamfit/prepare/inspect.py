"""Statistics of a source in one streaming pass, without writing a cache."""

from __future__ import annotations

from streamfit.prepare.labels import LabelCounter, sort_labels
from streamfit.prepare.stats import LengthStats, samples_per_word_ratio
from streamfit.prepare.tokenize import Tokenizer
from streamfit.sources import RowAccounting, SourceSpec, iter_records


def inspect_source(spec: SourceSpec, tokenizer: Tokenizer | None = None) -> dict:
    """Row accounting, classes, lengths and the guide's model recommendation.

    Returns:
        A JSON-ready dict with `rows_read`, `rows_used`, `skipped` (cause to
        count), `examples` (cause to first locations), `notes`, `classes`
        (label to count), `median_words_per_sample`, `samples_per_word_ratio`
        and `recommended_model`.
    """
    from streamfit.models.select import choose_model  # the models package loads torch

    tokenizer = tokenizer or Tokenizer()
    accounting = RowAccounting(strict=spec.strict)
    labels = LabelCounter()
    lengths = LengthStats()
    for batch in iter_records(spec, accounting):
        lengths.update(tokenizer(batch.column("text")))
        if spec.label is not None:
            labels.update(batch.column("label"))
    median = lengths.median()
    report = accounting.to_dict()
    report.update({
        "files": accounting.files,
        "classes": {name: labels.counts[name] for name in sort_labels(labels.counts)},
        "median_words_per_sample": median,
        "max_words_per_sample": lengths.max_length,
        "samples_per_word_ratio": samples_per_word_ratio(accounting.rows_used, median),
        "recommended_model": choose_model(accounting.rows_used, median) if accounting.rows_used else None,
    })
    return report
