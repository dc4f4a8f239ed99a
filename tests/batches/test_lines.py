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
    with pytest.raises(UserError, match=r"d\.csv:1: process_line returned int"):
        LineBatches(path, lambda line: 1, batch_size=3, shuffle=False).batch(0, 0)


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
