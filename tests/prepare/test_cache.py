import numpy as np

from streamfit.prepare.cache import PreparedSplit, SplitWriter


def write_rows(path, rows, labels, chunk):
    writer = SplitWriter(path)
    for s in range(0, len(rows), chunk):
        part = rows[s:s + chunk]
        offsets = np.concatenate([[0], np.cumsum([len(r) for r in part])])
        writer.write(offsets, np.concatenate(part).astype(np.int32), labels[s:s + chunk])
    writer.close()


def test_take_returns_exact_rows_in_the_asked_order(tmp_path):
    rng = np.random.default_rng(0)
    rows = [rng.integers(2, 100, rng.integers(0, 9)) for _ in range(1000)]
    labels = rng.integers(0, 3, 1000)
    write_rows(tmp_path / "train.arrow", rows, labels, chunk=300)
    split = PreparedSplit(tmp_path / "train.arrow")
    assert len(split) == 1000
    for asked in (np.array([999, 0, 5, 299, 300, 301, 5]), np.arange(1000), np.array([], dtype=np.int64)):
        offsets, ids, got_labels = split.take(asked)
        assert len(offsets) == len(asked) + 1
        for i, r in enumerate(asked):
            assert ids[offsets[i]:offsets[i + 1]].tolist() == rows[r].tolist()
        assert got_labels.tolist() == labels[asked].tolist()


def test_split_pickles_without_its_file_descriptor(tmp_path):
    import pickle

    write_rows(tmp_path / "s.arrow", [np.array([2, 3]), np.array([4])], np.array([0, 1]), chunk=2)
    split = PreparedSplit(tmp_path / "s.arrow")
    split.take(np.array([0]))
    clone = pickle.loads(pickle.dumps(split))
    assert clone._fd is None
    assert clone.take(np.array([1]))[1].tolist() == [4]


def test_a_split_is_checksummed_as_it_is_written(tmp_path):
    import zlib

    from streamfit.prepare.cache import Checksums

    checksums = Checksums()
    writer = SplitWriter(tmp_path / "train.arrow", checksums)
    writer.write(np.array([0, 2, 3]), np.array([2, 3, 4], np.int32), np.array([0, 1]))
    writer.close()
    raw = (tmp_path / "train.arrow").read_bytes()
    assert checksums.contents == {"train.arrow": {"size": len(raw), "crc32": f"{zlib.crc32(raw):08x}"}}
    assert PreparedSplit(tmp_path / "train.arrow").take(np.array([1]))[1].tolist() == [4]
