"""Feature extractors: word-id rows in, model input out.

| module | extractor | output |
| --- | --- | --- |
| `key_index.py` | `KeyIndex` | the column of each n-gram key (keys: `streamfit.prepare.ngrams`) |
| `tfidf.py` | `NgramTfidf` | CSR TF-IDF over the top-k n-grams (the guide's MLP input) |
| `hashing.py` | `HashedNgrams` | CSR bag of words + hashed n-grams (fastText-style) |
| `sequences.py` | `Sequences` | int64 padded sequences (the guide's sepCNN input) |
"""

from __future__ import annotations

from typing import Any

from streamfit.errors import OptionError
from streamfit.features.base import FeatureExtractor
from streamfit.features.hashing import HashedNgrams
from streamfit.features.sequences import Sequences
from streamfit.features.tfidf import NgramTfidf

EXTRACTORS: dict[str, type[FeatureExtractor]] = {
    cls.name: cls for cls in (NgramTfidf, HashedNgrams, Sequences)
}


def build_extractor(name: str, config: dict[str, Any] | None = None) -> FeatureExtractor:
    """Build an unfitted extractor by registry name ("tfidf", "hashing", "sequences").

    Raises:
        OptionError: the name is unknown.
    """
    if name not in EXTRACTORS:
        raise OptionError("name", name, f"is an unknown feature extractor; use one of {', '.join(EXTRACTORS)}")
    return EXTRACTORS[name].from_config(config or {})


__all__ = ["EXTRACTORS", "FeatureExtractor", "HashedNgrams", "NgramTfidf", "Sequences",
           "build_extractor"]
