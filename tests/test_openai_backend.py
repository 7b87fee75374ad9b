"""--backend openai: against `transformers serve` (a real OpenAI-compatible server, started on a
loopback port with the tiny generator), and against a stand-in (tests/standins/openai_server.py)
for the faults a real server rarely shows: each is retried or said in one line, and nothing is
lost or counted twice. The API key never reaches a file or the output."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bonito_hub.cli import main
from bonito_hub.errors import ConfigError, ServerError
from bonito_hub.format import generator_input
from bonito_hub.generate import SamplingConfig
from bonito_hub.generate.backends import make_engine
from bonito_hub.generate.engines import derive_seed
from bonito_hub.generate.server import OpenAIEngine
from bonito_hub.testing import make_tokenizer
from standins.openai_server import FaultyServer, completion_text

KEY = "sk-test-0123456789abcdef"
PROMPTS = [generator_input("exqa", f"Passage {i} tells of the harbour town and its pier.") for i in range(6)]


def engine_for(server: FaultyServer, **options) -> OpenAIEngine:
    options = {"tokenizer": make_tokenizer(), "backoff": 0.01, **options}
    return OpenAIEngine(server.model, base_url=server.base_url, **options)


def expected(prompts, n: int, seed: int) -> list[list[str]]:
    return [[completion_text(p, derive_seed(seed, i), s) for s in range(n)] for i, p in enumerate(prompts)]


# -- faults, against the stand-in --------------------------------------------------------------

@pytest.mark.parametrize("kind, reason", [("429", "429"), ("500", "500"), ("drop", "connection"),
                                          ("slow", "timeout"), ("malformed", "malformed body"),
                                          ("trickle", "timeout"), ("huge", "oversized body")])
def test_each_fault_is_retried_and_nothing_is_lost_or_counted_twice(kind, reason):
    with FaultyServer() as server:
        engine = engine_for(server, request_timeout=0.5 if kind in ("slow", "trickle") else 30, concurrency=4)
        server.fail(kind, times=2)
        out = engine.generate(PROMPTS, SamplingConfig(n=2), seed=7)
        assert out == expected(PROMPTS, 2, 7)  # every prompt, its two samples, in order
        assert engine.retried == {reason: 2}
        # each prompt was answered exactly once (a retried request is not a second sample)
        assert sorted(p for p, _, _ in server.answered) == sorted(PROMPTS)


def test_a_completion_longer_than_max_tokens_is_cut_and_counted():
    with FaultyServer() as server:
        engine = engine_for(server, concurrency=1)
        server.fail("long", times=1)
        out = engine.generate(PROMPTS[:2], SamplingConfig(n=1, max_tokens=24), seed=7)
        assert engine.cut == 1 and len(engine.tokenizer(out[0][0], add_special_tokens=False)["input_ids"]) <= 24
        assert out[1] == expected(PROMPTS[:2], 1, 7)[1]


def test_a_200_error_body_is_said_in_one_line_with_the_key_masked(monkeypatch):
    monkeypatch.setenv("MY_KEY", KEY)
    with FaultyServer() as server:
        engine = engine_for(server, api_key_env="MY_KEY")
        server.fail("error200", times=1)
        with pytest.raises(ServerError, match=r"answered a completion request with an error \(200\): CUDA out of "
                                              r"memory \(key \*\*\*\)") as caught:
            engine.generate(PROMPTS[:1], SamplingConfig(n=1), seed=0)
        assert KEY not in str(caught.value)


def test_a_redirect_to_another_host_is_refused_and_one_to_the_same_is_followed():
    with FaultyServer(redirect_to="http://127.0.0.2:9") as server:
        engine = engine_for(server)
        server.fail("redirect_same", times=1)
        assert engine.generate(PROMPTS[:1], SamplingConfig(n=1), seed=3) == expected(PROMPTS[:1], 1, 3)
        server.fail("redirect", times=1)
        with pytest.raises(ServerError, match=r"redirected a request to 127\.0\.0\.2:9 .*refused"):
            engine.generate(PROMPTS[:1], SamplingConfig(n=1), seed=3)


def test_the_tokenizer_check_is_one_line_in_seconds_offline(monkeypatch):
    import time

    from bonito_hub import hub

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)  # as a process started online
    monkeypatch.setattr(hub, "_reachable", {})
    with FaultyServer() as server:
        started = time.time()
        with pytest.raises(ConfigError, match="give `tokenizer`") as caught:
            OpenAIEngine(server.model, base_url=server.base_url)
        assert time.time() - started < 5 and caught.value.field == "tokenizer"


def test_retry_after_is_honoured_and_counts_once():
    """The openai client's own retries wait what Retry-After asks (its backoff is 0.5 s), and the
    engine counts the retry once, by its status."""
    import time

    with FaultyServer() as server:
        engine = engine_for(server, backoff=0.01)  # this engine's own backoff plays no part in it
        server.retry_after = "1.5"
        server.fail("429")
        started = time.monotonic()
        assert engine.generate(PROMPTS[:1], SamplingConfig(), seed=1) == expected(PROMPTS[:1], 1, 1)
        assert time.monotonic() - started >= 1.5
    assert engine.retried == {"429": 1}


def test_the_client_retries_statuses_and_this_engine_only_what_the_client_cannot_see():
    """One request id for a request and the client's retries of it; a new one for each of this
    engine's own tries (a body that is not a completion)."""
    with FaultyServer() as server:
        engine = engine_for(server, concurrency=1)
        server.fail("500", times=1)
        engine.generate(PROMPTS[:1], SamplingConfig(), seed=1)
        first = [r["headers"] for r in server.requests if r.get("body")]
        assert [h["x-stainless-retry-count"] for h in first] == ["0", "1"]
        assert first[0]["x-bonito-request"] == first[1]["x-bonito-request"]
        server.requests.clear()
        server.fail("malformed", times=1)
        engine.generate(PROMPTS[:1], SamplingConfig(), seed=2)
        again = [r["headers"] for r in server.requests if r.get("body")]
        assert [h["x-stainless-retry-count"] for h in again] == ["0", "0"]
        assert again[0]["x-bonito-request"] != again[1]["x-bonito-request"]
    assert engine.retried == {"500": 1, "malformed body": 1}


def test_a_request_failing_every_time_stops_in_one_line():
    with FaultyServer() as server:
        engine = engine_for(server, max_attempts=3)
        server.fail("500", times=50)
        with pytest.raises(ServerError) as err:
            engine.generate(PROMPTS[:1], SamplingConfig(), seed=1)
    message = str(err.value)
    assert "\n" not in message and "3 times (last: 500)" in message and "resume" in message


def test_a_refusal_is_one_line_not_retried():
    with FaultyServer() as server:
        engine = engine_for(server)
        server.fail("401", times=1)
        with pytest.raises(ServerError, match=r"refused a completion request \(401\): fault 401$"):
            engine.generate(PROMPTS[:1], SamplingConfig(), seed=1)
        assert engine.retried == {}


def test_server_checks_come_before_any_work(monkeypatch):
    monkeypatch.setenv("BONITO_TEST_KEY", KEY)
    with FaultyServer(models_status=401) as server:
        with pytest.raises(ServerError) as err:
            engine_for(server, api_key_env="BONITO_TEST_KEY")
        assert str(err.value) == "the server at %s refused the key in $BONITO_TEST_KEY: 401" % server.base_url[7:-3]
        assert not [r for r in server.requests if r["path"].endswith("/completions")]
    with FaultyServer() as server:
        with pytest.raises(ServerError, match=r"does not serve `model` 'other'; it lists: served \(a completion of it: "
                                              r"404: The model `other` does not exist.\)$"):
            OpenAIEngine("other", base_url=server.base_url, tokenizer=make_tokenizer())
        with pytest.raises(ServerError, match="no /models under `base_url`.*ending in /v1"):
            OpenAIEngine("served", base_url=server.base_url[:-3], tokenizer=make_tokenizer())
        with pytest.raises(ConfigError, match="`tokenizer`"):
            OpenAIEngine("served", base_url=server.base_url)  # "served" names no tokenizer
    port = free_port()
    with pytest.raises(ServerError, match=f"cannot reach the server at 127.0.0.1:{port}"):
        OpenAIEngine("served", base_url=f"http://127.0.0.1:{port}/v1", tokenizer=make_tokenizer())
    with pytest.raises(ConfigError, match="no such environment variable"):
        OpenAIEngine("served", base_url="http://127.0.0.1:1/v1", api_key_env="BONITO_NO_SUCH_KEY")
    with pytest.raises(ConfigError, match="must not hold credentials"):
        OpenAIEngine("served", base_url="http://user:pw@127.0.0.1:1/v1")
    with pytest.raises(ConfigError, match="http:// or https://"):
        OpenAIEngine("served", base_url="127.0.0.1:8000/v1")


@pytest.mark.parametrize("server", [dict(listed=False), dict(models_status=500)], ids=["unlisted", "list-fails"])
def test_a_model_the_list_leaves_out_is_asked_for_itself(server, caplog):
    with FaultyServer(**server) as fake:
        with caplog.at_level("INFO", logger="bonito"):
            engine = OpenAIEngine("served", base_url=fake.base_url, tokenizer=make_tokenizer())
        assert engine.generate(PROMPTS[:1], SamplingConfig(), seed=1) == expected(PROMPTS[:1], 1, 1)
        assert any("does not list `model` 'served'" in r.getMessage() for r in caplog.records)
        with pytest.raises(ServerError, match="does not serve `model` 'other'; it lists: nothing"):
            OpenAIEngine("other", base_url=fake.base_url, tokenizer=make_tokenizer())


def test_options_of_other_engines_are_refused():
    with pytest.raises(ConfigError, match="`batch_size` applies to the transformers engine, but the openai engine"):
        make_engine("served", "openai", base_url="http://127.0.0.1:1/v1", batch_size=8)
    with pytest.raises(ConfigError, match="`base_url` applies to the openai engine, but the transformers engine"):
        make_engine("served", "transformers", base_url="http://127.0.0.1:1/v1")


def test_a_server_that_ignores_n_is_asked_once_per_sample_with_seeds_of_their_own():
    with FaultyServer(ignore_n=True) as server:
        engine = engine_for(server)
        first = engine.generate(PROMPTS, SamplingConfig(n=3), seed=5)
        asked_first = sorted((p, s) for p, _, s in server.answered)
        server.answered.clear()
        again = engine_for(server).generate(PROMPTS, SamplingConfig(n=3), seed=5)  # knows nothing yet
        server.answered.clear()
        known = engine.generate(PROMPTS, SamplingConfig(n=3), seed=5)  # knows the server ignores n
        asked_known = sorted((p, s) for p, _, s in server.answered)
    assert first == again == known
    assert asked_first == asked_known and len(asked_known) == 3 * len(PROMPTS)
    for i, texts in enumerate(first):
        seed = derive_seed(5, i)
        assert texts == [completion_text(PROMPTS[i], s, 0) for s in (seed, derive_seed(seed, 1), derive_seed(seed, 2))]


def test_greedy_asks_once_and_repeats_as_the_other_engines():
    with FaultyServer() as server:
        out = engine_for(server).generate(PROMPTS[:2], SamplingConfig(n=3, temperature=0), seed=1)
        assert [n for _, n, _ in server.answered] == [1, 1]
    assert all(len(set(texts)) == 1 and len(texts) == 3 for texts in out)


def test_the_key_goes_only_in_the_header_and_never_to_a_file_or_the_output(tmp_path, monkeypatch, capsys, docs_jsonl):
    monkeypatch.setenv("BONITO_TEST_KEY", KEY)
    tokenizer_dir = tmp_path / "tok"
    make_tokenizer().save_pretrained(tokenizer_dir)
    with FaultyServer() as server:
        server.fail("429")
        code = main(["generate", "--backend", "openai", "--base-url", server.base_url, "--model", "served",
                     "--api-key-env", "BONITO_TEST_KEY", "--tokenizer", str(tokenizer_dir), "--input", docs_jsonl,
                     "--task-type", "exqa", "--output", str(tmp_path / "out"), "--no-progress", "-v"])
        assert code == 0
        assert {r["headers"].get("authorization") for r in server.requests} == {f"Bearer {KEY}"}
    said = capsys.readouterr()
    assert KEY not in said.out + said.err and "retried" in said.err
    out = tmp_path / "out"
    for path in out.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path
    record = json.loads((out / "run.json").read_text())
    assert record["engine"] == "openai" and record["server"] == {"host": server.base_url[7:-3], "model": "served"}
    assert f"served at `{server.base_url[7:-3]}`" in (out / "README.md").read_text()


# -- against `transformers serve` ---------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tiny_bonito, tmp_path_factory):
    """`transformers serve tiny` on a loopback port; the model's name there is "tiny"."""
    where = tmp_path_factory.mktemp("serve")
    (where / "tiny").symlink_to(tiny_bonito)
    port = free_port()
    log = open(where / "serve.log", "wb")
    process = subprocess.Popen([sys.executable, "-m", "transformers.cli.transformers", "serve", "tiny", "--host",
                                "127.0.0.1", "--port", str(port), "--device", "cpu"], cwd=where, stdout=log,
                               stderr=subprocess.STDOUT)
    import urllib.request

    base_url = f"http://127.0.0.1:{port}/v1"
    deadline = time.time() + 180
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as answer:
                if answer.status == 200:
                    break
        except OSError:
            pass
        if process.poll() is not None or time.time() > deadline:
            process.kill()
            pytest.fail("transformers serve did not start:\n" + (where / "serve.log").read_text()[-3000:])
        time.sleep(0.5)
    yield base_url
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


def rows(folder) -> list[dict]:
    import datasets

    return datasets.load_dataset(str(folder), split="train").to_list()


def many_docs(tmp_path, n: int = 12) -> str:
    from conftest import DOCS

    path = tmp_path / "many.jsonl"
    texts = [t for t in DOCS if t.strip()]
    path.write_text("".join(json.dumps({"id": f"d{i}", "text": f"{texts[i % len(texts)]} Item {i}."}) + "\n"
                            for i in range(n)))
    return str(path)


GREEDY = ["--task-type", "exqa", "--temperature", "0", "--max-tokens", "40", "--no-progress"]


@pytest.mark.slow
def test_served_model_writes_what_the_transformers_engine_writes(served, tiny_bonito, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BONITO_TEST_KEY", KEY)
    docs = many_docs(tmp_path, 6)
    assert main(["generate", "--backend", "openai", "--base-url", served, "--model", "tiny", "--tokenizer",
                 tiny_bonito, "--api-key-env", "BONITO_TEST_KEY", "--input", docs, "--output",
                 str(tmp_path / "served"), *GREEDY]) == 0
    assert main(["generate", "--backend", "transformers", "--model", tiny_bonito, "--input", docs, "--output",
                 str(tmp_path / "local"), *GREEDY]) == 0
    said = capsys.readouterr()
    assert KEY not in said.out + said.err
    served_rows, local_rows = rows(tmp_path / "served"), rows(tmp_path / "local")
    assert served_rows and [(r["input"], r["output"]) for r in served_rows] == \
        [(r["input"], r["output"]) for r in local_rows]

    def shape(folder):
        return sorted(str(p.relative_to(folder)).split("-")[0] for p in folder.rglob("*") if p.is_file())

    assert shape(tmp_path / "served") == shape(tmp_path / "local")
    for path in (tmp_path / "served").rglob("*"):
        assert not path.is_file() or KEY.encode() not in path.read_bytes()


@pytest.mark.slow
def test_served_run_resumes_after_sigkill_with_the_rows_of_an_uninterrupted_run(served, tiny_bonito, tmp_path):
    docs = many_docs(tmp_path, 16)
    command = [sys.executable, "-m", "bonito_hub.cli", "generate", "--backend", "openai", "--base-url", served,
               "--model", "tiny", "--tokenizer", tiny_bonito, "--input", docs, "--chunk-size", "1",
               "--concurrency", "1", *GREEDY]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    whole = tmp_path / "whole"
    subprocess.run([*command, "--output", str(whole)], check=True, env=env, capture_output=True)

    killed = tmp_path / "killed"
    process = subprocess.Popen([*command, "--output", str(killed)], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while len(list((killed / "chunks").glob("chunk-*.json"))) < 3 and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done_before = len(list((killed / "chunks").glob("chunk-*.json")))
    assert 3 <= done_before < 16 and not (killed / "funnel.json").exists()
    result = subprocess.run([*command, "--output", str(killed)], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "resuming the run" in result.stderr
    assert [(r["doc_id"], r["input"], r["output"]) for r in rows(killed)] == \
        [(r["doc_id"], r["input"], r["output"]) for r in rows(whole)]
    assert json.loads((killed / "funnel.json").read_text()) == json.loads((whole / "funnel.json").read_text())


@pytest.mark.slow
def test_adapt_runs_the_whole_loop_against_a_served_generator(served, tiny_bonito, tiny_llama, tmp_path, monkeypatch,
                                                             capsys):
    """`bonito adapt --backend openai`: adapt takes every option generate takes (it embeds them), so
    a generator someone serves runs the whole loop; its rows are those generate writes from it."""
    monkeypatch.setenv("BONITO_TEST_KEY", KEY)
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"id": f"doc{i}", "text": f"Record {i} of the harbour. In 1894 a storm "
                                          "destroyed the old wooden pier."}) + "\n" for i in range(10)))
    served_options = ["--backend", "openai", "--base-url", served, "--tokenizer", tiny_bonito, "--api-key-env",
                      "BONITO_TEST_KEY", "--concurrency", "2", "--request-timeout", "120", *GREEDY]
    out = tmp_path / "run"
    assert main(["adapt", "--corpus", str(corpus), "--generator", "tiny", "--student", tiny_llama, "--recipe",
                 "smoke/student", "--recipe-arg", "max_steps=2", "--holdout", "0.2", "--output", str(out),
                 *served_options]) == 0
    said = capsys.readouterr()
    assert "held-out exqa: 2 rows, generated from your held-out documents" in said.out
    assert KEY not in said.out + said.err
    record = json.loads((out / "adapt.json").read_text())
    assert [record["steps"][s]["status"] for s in ("generate", "overlap", "before", "train", "after")] == ["done"] * 5
    assert record["steps"]["generate"]["inputs"]["backend"] == "openai"
    assert json.loads((out / "generated" / "run.json").read_text())["engine"] == "openai"
    alone = tmp_path / "alone"
    assert main(["generate", "--model", "tiny", "--input", str(corpus), "--output", str(alone), "--holdout", "0.2",
                 *served_options]) == 0
    assert [(r["input"], r["output"]) for r in rows(out / "generated")] == [(r["input"], r["output"])
                                                                            for r in rows(alone)]
    for path in out.rglob("*"):
        assert not path.is_file() or KEY.encode() not in path.read_bytes()
