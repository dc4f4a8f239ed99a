"""`streamfit serve`: the real server (uvicorn, in a subprocess, on a free port) over HTTP."""

import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from streamfit.cli.main import main  # noqa: E402
from streamfit.recipe import TrainConfig, load_bundle, train_text_classifier  # noqa: E402
from streamfit.sources import SourceSpec  # noqa: E402

POSITIVE = "great wonderful loved excellent"
NEGATIVE = "awful boring hated terrible"
TOPICS = {"food": ["pasta", "bread", "cheese", "soup"], "sports": ["goal", "match", "team", "score"],
          "tech": ["laptop", "code", "chip", "software"]}
JSON = {"content-type": "application/json"}


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(*argv):
    """`streamfit serve ARGV` in a subprocess on a free port: (process, base URL)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "streamfit", "serve", *map(str, argv), "--port", str(port),
         "--no-access-log"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return process, f"http://127.0.0.1:{port}"


def wait_ready(process, url, seconds=90):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited {process.returncode}: {process.stdout.read()}")
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail("the server did not answer /health in time")


def stop(process):
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def bundles(tmp_path_factory, write_corpus):
    """A single-label bundle `reviews` (recipe API) and a multi-label one `topics` (the CLI)."""
    tmp = tmp_path_factory.mktemp("serve")
    data = write_corpus(tmp / "train.csv", 400)
    config = TrainConfig(output=str(tmp / "reviews"), model_kind="mlp", epochs=4, batch_size=32,
                         cache=str(tmp / "cache"), verbose=0, validation_split=0)
    train_text_classifier(SourceSpec((str(data),)), config, log=lambda line: None)
    rng = random.Random(0)
    lines = []
    for _ in range(400):
        labels = rng.sample(sorted(TOPICS), rng.choice([1, 2, 2, 3]))
        words = [w for label in labels for w in rng.sample(TOPICS[label], 3)] + ["the", "a"]
        rng.shuffle(words)
        lines.append(" ".join([f"__label__{label}" for label in labels] + words))
    (tmp / "topics.txt").write_text("\n".join(lines) + "\n")
    code = main([str(a) for a in ("train", tmp / "topics.txt", "--format", "fasttext",
                                  "--multi-label", "--output", tmp / "topics", "--cache",
                                  tmp / "cache2", "--epochs", "8", "--batch-size", "32")])
    assert code == 0
    return tmp / "reviews", tmp / "topics"


@pytest.fixture(scope="module")
def servers(bundles):
    """Three servers, started at once: one bundle with small limits, two bundles on two
    workers, and one bundle for the shutdown test."""
    reviews, topics = bundles
    started = {"one": start(reviews, "--max-batch", 8, "--max-body-bytes", 4096),
               "two": start(reviews, topics, "--workers", 2),
               "stop": start(reviews, "--max-batch", 4000, "--max-body-bytes", 1 << 22)}
    try:
        for process, url in started.values():
            wait_ready(process, url)
        yield started
    finally:
        for process, _ in started.values():
            stop(process)


def predictions(answer):
    return [[(p["label"], p["probability"]) for p in row] for row in answer["predictions"]]


def same(served, expected):
    assert [[label for label, _ in row] for row in served] == [[label for label, _ in row]
                                                               for row in expected]
    for row, reference in zip(served, expected, strict=True):
        for (_, p), (_, q) in zip(row, reference, strict=True):
            assert abs(p - q) < 1e-6


def test_predict_one_text_and_a_batch_as_the_bundle_does(servers, bundles):
    _, url = servers["one"]
    bundle = load_bundle(bundles[0])
    answer = httpx.post(url + "/predict", json={"text": POSITIVE}).json()
    same(predictions(answer), bundle.predict([POSITIVE]))
    assert predictions(answer)[0][0][0] == "pos"
    texts = [POSITIVE, NEGATIVE, "", "the of", NEGATIVE + " " + POSITIVE]
    for options in ({}, {"k": 2}, {"k": -1, "threshold": 0.3}, {"threshold": 0.99}):
        response = httpx.post(url + "/predict", json={"texts": texts, **options})
        assert response.status_code == 200, response.text
        same(predictions(response.json()), bundle.predict(texts, **options))
    assert httpx.post(url + "/predict", json={"texts": []}).json() == {"predictions": []}
    empty = predictions(httpx.post(url + "/predict", json={"text": ""}).json())
    assert len(empty) == 1 and len(empty[0]) == 1  # an empty text is a text


def test_concurrent_requests_joined_in_one_pass_each_get_their_own_answers(servers, bundles):
    _, url = servers["one"]
    bundle = load_bundle(bundles[0])
    requests = [[POSITIVE] * (i % 3) + [NEGATIVE] + [""] * (i % 2) for i in range(24)]
    answers = [None] * len(requests)

    def send(i):
        with httpx.Client(base_url=url, timeout=30) as client:
            for _ in range(3):
                answers[i] = client.post("/predict", json={"texts": requests[i], "k": 2}).json()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for texts, answer in zip(requests, answers, strict=True):
        same(predictions(answer), bundle.predict(texts, k=2))


def test_health_metadata_and_docs(servers, bundles):
    _, url = servers["one"]
    assert httpx.get(url + "/health").json() == {"status": "ok", "models": ["reviews"]}
    meta = httpx.get(url + "/metadata").json()
    assert meta["name"] == "reviews" and meta["kind"] == "mlp" and meta["labels"] == ["neg", "pos"]
    assert meta["multi_label"] is False and meta["thresholds"] is None
    assert meta["training"]["epochs"] == 4 and len(meta["training"]["history"]["loss"]) == 4
    assert str(bundles[0].parent) not in json.dumps(meta)  # no file name of the server's
    assert httpx.get(url + "/models/reviews/metadata").json() == meta
    assert httpx.get(url + "/docs").status_code == 200
    paths = httpx.get(url + "/openapi.json").json()["paths"]
    assert {"/predict", "/metadata", "/health", "/models/{name}/predict"} <= set(paths)


@pytest.mark.parametrize("body, message", [
    ('{"texts": ', "not valid JSON"),
    ('{"texts": ["a", 3]}', "texts.1: Input should be a valid string"),
    ('{"text": ["a"]}', "text: Input should be a valid string"),
    ('["a"]', "valid dictionary"),
    ('{"text": "a", "texts": ["b"]}', "exactly one of text"),
    ("{}", "exactly one of text"),
    ('{"text": "a", "file": "/etc/passwd"}', "file: Extra inputs are not permitted"),
    ('{"text": "a", "k": "3"}', "k: Input should be a valid integer"),
    ('{"text": "a", "k": 0}', "k=0 must be an integer >= 1"),
    ('{"text": "a", "threshold": NaN}', "threshold=nan must be a probability"),
    ('{"text": "a", "threshold": 1e400}', "threshold=inf must be a probability"),
    ('{"text": "\\ud800"}', "not valid Unicode"),
    ('{"texts": ["ok", "\\udfff x"]}', "texts[1] is not valid Unicode"),
    ("[" * 1500 + "]" * 1500, "could not be parsed as JSON"),
    ("", "the body is empty"),
])
def test_malformed_requests_are_422_with_a_message(servers, body, message):
    _, url = servers["one"]
    response = httpx.post(url + "/predict", content=body.encode(), headers=JSON)
    assert response.status_code == 422, response.text
    assert message in response.json()["detail"]


def test_a_body_that_is_not_sent_as_json_is_422_naming_the_header(servers):
    _, url = servers["one"]
    response = httpx.post(url + "/predict", content=b'{"text": "a"}',
                          headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 422 and "Content-Type: application/json" in response.json()["detail"]


def test_body_and_batch_limits_are_413_and_the_server_goes_on(servers):
    process, url = servers["one"]
    response = httpx.post(url + "/predict", json={"texts": ["a"] * 9})
    assert response.status_code == 413 and "limit of 8 (--max-batch)" in response.json()["detail"]
    assert httpx.post(url + "/predict", json={"texts": ["a"] * 8}).status_code == 200
    response = httpx.post(url + "/predict", json={"text": "a " * 2100})
    assert response.status_code == 413 and "--max-body-bytes" in response.json()["detail"]

    def chunks():  # no Content-Length: counted as it arrives
        for _ in range(5):
            yield b" " * 1000
        yield b'{"text": "a"}'

    response = httpx.post(url + "/predict", content=chunks(), headers=JSON)
    assert response.status_code == 413 and "limit of 4096" in response.json()["detail"]
    assert httpx.post(url + "/predict", content=iter([b'{"text": ', b'"a"}']),
                      headers=JSON).status_code == 200
    assert httpx.post(url + "/predict", json={"text": "a " * 2000}).status_code == 200
    assert process.poll() is None and httpx.get(url + "/health").status_code == 200


def test_the_server_of_a_bag_model_runs_without_torch(servers):
    process, url = servers["one"]
    maps = f"/proc/{process.pid}/maps"
    if not os.path.exists(maps):
        pytest.skip("no /proc here")
    assert httpx.post(url + "/predict", json={"text": POSITIVE}).status_code == 200
    with open(maps) as f:
        assert "libtorch" not in f.read()  # numpy alone (weights.npz, inference.forward)


def test_names_are_never_paths(servers):
    _, url = servers["one"]
    for name in ("..%2F..%2Fetc", "%2Fetc%2Fpasswd", "nope", "reviews%00", "%2E%2E"):
        response = httpx.post(url + f"/models/{name}/predict", json={"text": "a"})
        assert response.status_code == 404, (name, response.text)
    assert "the models are reviews" in httpx.get(url + "/models/nope/metadata").json()["detail"]


def test_several_bundles_by_name_on_two_workers(servers, bundles):
    process, url = servers["two"]
    reviews, topics = (load_bundle(directory) for directory in bundles)
    assert httpx.get(url + "/health").json()["models"] == ["reviews", "topics"]
    texts = ["goal match team score pasta bread cheese soup", "laptop code", "", "cheese soup team"]
    answer = httpx.post(url + "/models/topics/predict", json={"texts": texts}).json()
    same(predictions(answer), topics.predict(texts))  # multi-label: its tuned thresholds
    assert {label for label, _ in predictions(answer)[0]} >= {"sports", "food"}
    answer = httpx.post(url + "/models/topics/predict", json={"texts": texts, "k": 1,
                                                              "threshold": 0.0}).json()
    same(predictions(answer), topics.predict(texts, k=1, threshold=0.0))
    answer = httpx.post(url + "/models/reviews/predict", json={"text": NEGATIVE}).json()
    same(predictions(answer), reviews.predict([NEGATIVE]))
    meta = httpx.get(url + "/models/topics/metadata").json()
    assert meta["multi_label"] is True and len(meta["thresholds"]) == 3
    assert meta["labels"] == topics.labels.names
    assert [m["name"] for m in httpx.get(url + "/models").json()["models"]] == ["reviews", "topics"]
    response = httpx.post(url + "/predict", json={"text": "a"})
    assert response.status_code == 404 and "/models/NAME/predict" in response.json()["detail"]
    assert httpx.get(url + "/metadata").status_code == 404
    with httpx.Client(base_url=url) as client:  # many requests over two processes
        for _ in range(40):
            assert client.post("/models/reviews/predict", json={"text": POSITIVE}).status_code == 200


def test_sigterm_answers_the_requests_in_flight_then_exits_0(servers):
    process, url = servers["stop"]
    texts = [POSITIVE, NEGATIVE] * 1500
    body = json.dumps({"texts": texts}).encode()
    first_part_sent, go_on = threading.Event(), threading.Event()

    def chunks():
        yield body[:100]
        first_part_sent.set()
        go_on.wait(20)
        yield body[100:]

    result = {}

    def post():
        try:
            result["response"] = httpx.post(url + "/predict", content=chunks(), headers=JSON,
                                            timeout=60)
        except Exception as error:  # noqa: BLE001 (reported below)
            result["error"] = error

    client = threading.Thread(target=post)
    client.start()
    assert first_part_sent.wait(20)
    time.sleep(0.5)  # the server has the request's headers: it is in flight
    process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # the server stops taking new connections
        try:
            httpx.get(url + "/health", timeout=1)
            time.sleep(0.1)
        except httpx.TransportError:
            break
    else:
        pytest.fail("the server still takes connections after SIGTERM")
    assert process.poll() is None  # still answering the request in flight
    go_on.set()
    client.join(60)
    assert "error" not in result, result.get("error")
    response = result["response"]
    assert response.status_code == 200
    labels = [row[0]["label"] for row in response.json()["predictions"]]
    assert labels == ["pos", "neg"] * 1500
    assert process.wait(30) == 0


def test_without_the_serve_extra_one_line_names_the_install(bundles, monkeypatch, capsys):
    for module in [name for name in sys.modules if name.startswith("streamfit.serve.")
                   and name != "streamfit.serve.limits"]:
        monkeypatch.delitem(sys.modules, module)
    monkeypatch.setitem(sys.modules, "fastapi", None)
    assert main(["serve", str(bundles[0])]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pip install 'streamfit[serve]'" in err


def test_bad_bundles_and_options_are_one_line_errors(bundles, tmp_path, capsys, servers):
    reviews, _ = bundles
    other = tmp_path / "reviews"
    other.mkdir()
    cases = [(["serve", str(tmp_path / "nope")], "not a streamfit bundle"),
             (["serve", str(reviews), str(other)], "are both named 'reviews'"),
             (["serve", str(reviews), "--max-batch", "0"], "--max-batch 0 must be an integer >= 1"),
             (["serve", str(reviews), "--port", "70000"], "--port 70000 must be a TCP port"),
             (["serve", str(reviews), "--workers", "0"], "--workers 0 must be an integer >= 1")]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err.strip().splitlines()[-1], (argv, err)
    # A port in use: in a process of its own, since uvicorn configures logging
    # on the stderr it finds (here pytest's capture, closed after the test).
    taken = servers["one"][1].rsplit(":", 1)[1]
    result = subprocess.run([sys.executable, "-m", "streamfit", "serve", str(reviews), "--port", taken],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "could not listen on 127.0.0.1" in result.stderr.strip().splitlines()[-1], result.stderr


if os.name != "posix":  # pragma: no cover
    pytestmark = pytest.mark.skip("signals and free ports as on POSIX")
