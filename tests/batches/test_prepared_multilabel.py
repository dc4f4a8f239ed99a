import numpy as np

from streamfit.batches.prepared import PreparedBatches
from streamfit.prepare.cache import PreparedSplit, SplitWriter


def write_split(path, label_sets, multi_label=True):
    writer = SplitWriter(path, multi_label=multi_label)
    offsets = np.arange(len(label_sets) + 1, dtype=np.int64)
    ids = np.arange(2, 2 + len(label_sets), dtype=np.int32)
    if multi_label:
        bounds = np.concatenate(([0], np.cumsum([len(s) for s in label_sets])))
        writer.write(offsets, ids, (bounds, np.array(sum(label_sets, []), np.int32)))
    else:
        writer.write(offsets, ids, np.array(label_sets, np.int32))
    writer.close()
    return path


def test_multi_label_batches_give_dense_float32_multi_hot_targets(tmp_path):
    sets = [[0, 2], [], [1], [0, 1, 2], [2]]
    split = PreparedSplit(write_split(tmp_path / "s.arrow", sets), num_classes=4)
    batches = PreparedBatches(split, lambda offsets, ids: ids.copy(), batch_size=2, shuffle=True, seed=3)
    assert batches.multi_label and batches.num_classes == 4
    seen = []
    for step in range(len(batches)):
        x, y = batches.batch(0, step)
        assert isinstance(y, np.ndarray) and y.dtype == np.float32 and y.shape == (len(x), 4)
        for row_ids, row in zip(x.tolist(), y.tolist(), strict=True):
            seen.append(row_ids - 2)
            assert row == [float(j in sets[row_ids - 2]) for j in range(4)]
    assert sorted(seen) == list(range(5))


def test_single_label_batches_still_give_int64_class_ids(tmp_path):
    split = PreparedSplit(write_split(tmp_path / "s.arrow", [1, 0, 1], multi_label=False))
    batches = PreparedBatches(split, lambda offsets, ids: ids.copy(), batch_size=3, shuffle=False)
    assert not batches.multi_label
    x, y = batches.batch(0, 0)
    assert y.dtype == np.int64 and y.tolist() == [1, 0, 1]
