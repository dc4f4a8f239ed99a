import pickle

import numpy as np
import pytest

from streamfit.batches import LineBatches
from streamfit.batches.lines import index_lines
from streamfit.errors import UserError
from streamfit.loader import BatchLoader


def process_line(line):
    """The guide's shape: two inputs and one output per line."""
    a, b, label = line.split(",")
    return {"input_1": int(a), "input_2": np.array([float(b), -float(b)])}, {"output": int(label)}


def write_rows(path, n, header=False, newline="\n", trailing=True):
    lines = (["a,b,label"] if header else []) + [f"{i},{i / 2},{i % 3}" for i in range(n)]
    path.write_bytes((newline.join(lines) + (newline if trailing else "")).encode())
    return path


def all_input_1(batches, epoch):
    return [batches.batch(epoch, i)[0]["input_1"].tolist() for i in range(len(batches))]


def test_stacked_fields_of_each_batch_in_file_order(tmp_path):
    batches = LineBatches(write_rows(tmp_path / "d.csv", 10), process_line, batch_size=4,
                          shuffle=False)
    assert len(batches) == 3
    assert batches.num_samples == 10
    x, y = batches.batch(0, 2)
    assert x["input_1"].tolist() == [8, 9]
    assert x["input_2"].tolist() == [[4.0, -4.0], [4.5, -4.5]]
    assert y["output"].tolist() == [2, 0]


@pytest.mark.parametrize("newline,trailing", [("\n", True), ("\n", False), ("\r\n", True)])
def test_header_line_endings_and_blank_lines(tmp_path, newline, trailing):
    path = write_rows(tmp_path / "d.csv", 5, header=True, newline=newline, trailing=trailing)
    path.write_bytes(path.read_bytes() + (newline * 2).encode() if trailing else path.read_bytes())
    batches = LineBatches(path, process_line, batch_size=10, shuffle=False, skip_header=True)
    assert all_input_1(batches, 0) == [[0, 1, 2, 3, 4]]
    assert batches.blank_lines == (2 if trailing else 0)


def test_blank_line_in_the_middle_is_skipped_and_counted(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("0,0,0\n\n1,1,1\r\n\r\n2,2,2\n")
    offsets, blank = index_lines(path)
    assert offsets.tolist() == [0, 7, 16]
    assert blank == 2


def test_shuffled_epochs_cover_every_line_once_in_new_orders(tmp_path):
    batches = LineBatches(write_rows(tmp_path / "d.csv", 53), process_line, batch_size=8, seed=3)
    orders = [sum(all_input_1(batches, epoch), []) for epoch in range(3)]
    for order in orders:
        assert sorted(order) == list(range(53))
    assert orders[0] != orders[1] != orders[2]


def test_three_field_samples_and_scalars(tmp_path):
    path = tmp_path / "d.txt"
    path.write_text("".join(f"{i} {i % 2}\n" for i in range(6)))

    def parse(line):
        x, y = line.split()
        return np.array([int(x), 1]), int(y), 0.5

    x, y, w = LineBatches(path, parse, batch_size=4, shuffle=False).batch(0, 0)
    assert x.tolist() == [[0, 1], [1, 1], [2, 1], [3, 1]]
    assert y.tolist() == [0, 1, 0, 1]
    assert w.tolist() == [0.5] * 4


def test_pickle_is_small_and_reopens(tmp_path):
    batches = LineBatches(write_rows(tmp_path / "d.csv", 100), process_line, batch_size=8, seed=1)
    expected = batches.batch(1, 4)
    data = pickle.dumps(batches)
    assert len(data) < 100 * 8 + 2000
    copy = pickle.loads(data)
    got = copy.batch(1, 4)
    assert got[0]["input_1"].tolist() == expected[0]["input_1"].tolist()


@pytest.mark.parametrize("processes", [False, True])
def test_same_batches_from_workers(tmp_path, processes):
    batches = LineBatches(write_rows(tmp_path / "d.csv", 70), process_line, batch_size=8, seed=2)
    batches.batch(0, 0)  # the parent's descriptor is open before the fork
    expected = all_input_1(batches, 0)
    with BatchLoader(batches, workers=2, use_multiprocessing=processes) as loader:
        got = [x["input_1"].tolist() for x, _ in loader.iterate(0, len(batches))]
    assert got == expected
    assert all_input_1(batches, 0) == expected


def test_process_line_error_names_file_and_line(tmp_path):
    path = write_rows(tmp_path / "d.csv", 6, header=True)
    path.write_text(path.read_text().replace("3,1.5,0", "3,oops,0"))
    batches = LineBatches(path, process_line, batch_size=10, shuffle=False, skip_header=True)
    with pytest.raises(UserError, match=r"d\.csv:5: process_line failed with ValueError: "
                                        r"could not convert string to float: 'oops'"):
        batches.batch(0, 0)


def test_inconsistent_samples_name_both_lines(tmp_path):
    path = tmp_path / "d.txt"
    path.write_text("1\n2\n3 3\n")

    def parse(line):
        return np.array([int(v) for v in line.split()]), 0

    with pytest.raises(UserError, match=r"d\.txt:3: .* but .* for .*d\.txt:1"):
        LineBatches(path, parse, batch_size=3, shuffle=False).batch(0, 0)


def test_wrong_return_type(tmp_path):
    path = write_rows(tmp_path / "d.csv", 3)
    with pytest.raises(UserError, match=r"^.*d\.csv:1: process_line returned tuple of 4 values; "
                                        r"return x, \(x, y\) or \(x, y, sample_weight\), with "
                                        r"several inputs as a tuple or dict: \(\(x1, x2\), y\)$"):
        LineBatches(path, lambda line: (1, 2, 3, 4), batch_size=3, shuffle=False).batch(0, 0)
    with pytest.raises(UserError, match=r"d\.csv:1: process_line returned NoneType; return x"):
        LineBatches(path, lambda line: None, batch_size=3, shuffle=False).batch(0, 0)


def _tutorial_line(line):
    """The Keras tutorial's process_line: two inputs and a label, as three values."""
    a, b, label = line.split(",")
    return np.array([float(a), 1.0]), np.array([float(b), 2.0]), int(label)


def test_the_tutorials_x1_x2_y_is_an_error_that_shows_the_fix(tmp_path):
    path = write_rows(tmp_path / "d.csv", 4)
    with pytest.raises(UserError, match=(
            r"d\.csv:1: process_line returned 3 values, read as \(x, y, sample_weight\), but its "
            r"second value has the first's shape \(2,\), as a second input would, and its third "
            r"is an integer, as a class id would; for two inputs and a target return \(x1, x2\), "
            r"y or \{'input_1': x1, 'input_2': x2\}, y$")):
        LineBatches(path, _tutorial_line, batch_size=4, shuffle=False).batch(0, 0)

    def label_array(line):
        x1, x2, label = _tutorial_line(line)
        return x1, x2, np.eye(3)[label][:2].astype("U1")

    with pytest.raises(UserError, match="its third value is <U1 data, not a number"):
        LineBatches(path, label_array, batch_size=4, shuffle=False).batch(0, 0)

    def wide_weight(line):
        x1, _, label = _tutorial_line(line)
        return x1, label, np.ones(3)

    with pytest.raises(UserError, match=r"its third value has shape \(3,\), neither one weight "
                                        r"per line nor one per target value \(shape \(\)\)"):
        LineBatches(path, wide_weight, batch_size=4, shuffle=False).batch(0, 0)


def test_the_accepted_shapes(tmp_path):
    path = write_rows(tmp_path / "d.csv", 4)
    read = {
        "x": lambda line: _tutorial_line(line)[0],
        "tuple": lambda line: (_tutorial_line(line)[:2], _tutorial_line(line)[2]),
        "dict": lambda line: ({"a": _tutorial_line(line)[0], "b": _tutorial_line(line)[1]},
                              _tutorial_line(line)[2]),
        "mask": lambda line: (_tutorial_line(line)[0], np.array([1, 0]), np.array([1.0, 0.0])),
    }
    (x,) = LineBatches(path, read["x"], batch_size=4, shuffle=False).batch(0, 0)
    assert x.shape == (4, 2)
    (x1, x2), y = LineBatches(path, read["tuple"], batch_size=4, shuffle=False).batch(0, 0)
    assert x1[:, 0].tolist() == [0, 1, 2, 3] and x2[:, 0].tolist() == [0, 0.5, 1, 1.5]
    assert y.tolist() == [0, 1, 2, 0]
    x, y = LineBatches(path, read["dict"], batch_size=4, shuffle=False).batch(0, 0)
    assert x["b"].shape == (4, 2) and y.shape == (4,)
    x, y, w = LineBatches(path, read["mask"], batch_size=4, shuffle=False).batch(0, 0)
    assert y.shape == w.shape == (4, 2)


def test_two_inputs_as_a_tuple_train_a_two_input_module(tmp_path):
    import torch

    from streamfit.training import Model

    class Two(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = torch.nn.Linear(2, 3), torch.nn.Linear(2, 3)

        def forward(self, x1, x2):
            return self.a(x1) + self.b(x2)

    path = write_rows(tmp_path / "d.csv", 8)
    batches = LineBatches(path, lambda line: (_tutorial_line(line)[:2], _tutorial_line(line)[2]),
                          batch_size=4, seed=0)
    history = Model(Two(), loss="sparse_categorical_crossentropy", seed=0).fit(batches, verbose=0)
    assert len(history.history["loss"]) == 1


def test_undecodable_line(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(b"1,1,1\n2,\xff,0\n")
    with pytest.raises(UserError, match=r"d\.csv:2: not valid utf-8"):
        LineBatches(path, process_line, batch_size=2, shuffle=False).batch(0, 0)


def test_file_errors(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        LineBatches(tmp_path / "missing.csv", process_line)
    (tmp_path / "d.csv.gz").write_bytes(b"")
    with pytest.raises(UserError, match="compressed"):
        LineBatches(tmp_path / "d.csv.gz", process_line)
    (tmp_path / "empty.csv").write_text("\n\n")
    with pytest.raises(UserError, match="no lines"):
        LineBatches(tmp_path / "empty.csv", process_line)


def test_lines_longer_than_a_read_block_come_back_whole(tmp_path):
    long_line = "x" * 20_000  # several 8 KiB reads
    path = tmp_path / "data.txt"
    path.write_text(f"a\n{long_line}\nb\n")
    batches = LineBatches(path, lambda line: (np.array([len(line)]), np.array([0])), batch_size=3,
                          shuffle=False)
    x, _ = batches.batch(0, 0)
    assert x[:, 0].tolist() == [1, 20_000, 1]
