"""`bonito generate --ray`: the chunks on a local two-worker Ray (CPU, tiny models), against a
single-process run of the same corpus and seed."""

import json
import os
import signal
import socket
import time

import pytest

ray = pytest.importorskip("ray")  # the `ray` extra; CI installs it (dev extra)

from bonito_hub.corpus import load_texts  # noqa: E402
from bonito_hub.generate.backends import make_engine  # noqa: E402
from bonito_hub.generate.config import SamplingConfig  # noqa: E402
from bonito_hub.generate.folder import Interrupted, finished_chunks  # noqa: E402
from bonito_hub.generate.run import GenerationRun, RunConfig  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray with two CPUs for the module (each run joins it instead of starting its own)."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, docs):
    path = tmp_path_factory.mktemp("ray") / "docs.jsonl"
    rows = [{"id": f"doc{i}", "text": t} for i, t in enumerate(docs * 3)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return load_texts(str(path))


CONFIG = RunConfig(task_type="exqa", sampling=SamplingConfig(n=2, max_tokens=24, seed=7), chunk_docs=1)


@pytest.fixture(scope="module")
def reference(tiny_bonito, corpus, tmp_path_factory):
    """The same run in one process: its rows and funnel."""
    out = tmp_path_factory.mktemp("single") / "out"
    funnel = GenerationRun(make_engine(tiny_bonito, "transformers"), corpus, out, CONFIG).run(progress=False)
    return rows_of(out), funnel, out


def rows_of(out) -> list[dict]:
    import datasets

    return datasets.load_dataset(str(out), split="train").to_list()


def ray_run(tiny_bonito, corpus, out, on_chunk=None):
    from bonito_hub.generate import GenerateConfig, generate

    s = CONFIG.sampling
    config = GenerateConfig(model=tiny_bonito, input=corpus, task_type="exqa", output=out, n=s.n,
                            max_tokens=s.max_tokens, seed=s.seed, chunk_docs=1, backend="transformers", ray=True,
                            workers=2, progress=False)
    return generate(config, on_chunk=on_chunk).funnel


def test_ray_writes_the_rows_and_funnel_of_a_single_process_run(local_ray, tiny_bonito, corpus, reference, tmp_path):
    from bonito_hub.generate import review

    rows, funnel, single = reference
    out = tmp_path / "ray"
    assert ray_run(tiny_bonito, corpus, out) == funnel
    assert funnel["chunks"] == 18 and funnel["kept"] > 0
    assert funnel["dropped"]["near_duplicate"] > 0  # the corpus three times over: the run-wide pass ran on Ray too
    assert rows_of(out) == rows
    assert json.loads((out / "funnel.json").read_text()) == funnel
    assert len(finished_chunks(out)) == 18 and (out / "README.md").is_file()
    shown = review.tasks_of(out)["tasks"]  # the dropped generations and passages kept for review, alike
    assert shown == review.tasks_of(single)["tasks"] and {t["status"] for t in shown} == {"kept", "dropped"}


def _workers() -> list:
    import psutil

    found = []
    for p in psutil.process_iter(["cmdline"]):
        if "ChunkWorker" in " ".join(p.info["cmdline"] or []):
            found.append(p)
    return found


def test_a_killed_worker_loses_and_duplicates_nothing(local_ray, tiny_bonito, corpus, reference, tmp_path):
    rows, funnel, _ = reference
    killed = []

    def kill_one(result):
        if not killed:  # after the first chunk: the other worker (or this one) has work in flight
            victim = _workers()[0]
            killed.append(victim.pid)
            os.kill(victim.pid, signal.SIGKILL)

    out = tmp_path / "ray"
    assert ray_run(tiny_bonito, corpus, out, on_chunk=kill_one) == funnel
    assert killed
    assert rows_of(out) == rows  # nothing lost, nothing twice
    named = {r["data_file"] for r in finished_chunks(out).values() if r["data_file"]}
    on_disk = {f"data/{p.name}" for p in (out / "data").iterdir()}
    assert on_disk == named  # no file of a killed attempt is left behind


def test_an_interrupted_ray_run_resumes_without_ray_and_the_other_way(local_ray, tiny_bonito, corpus, reference,
                                                                         tmp_path):
    rows, funnel, _ = reference
    seen = []

    def interrupt(result):
        seen.append(result)
        if len(seen) == 3:
            raise KeyboardInterrupt

    out = tmp_path / "a"
    with pytest.raises(Interrupted, match="chunks are saved"):
        ray_run(tiny_bonito, corpus, out, on_chunk=interrupt)
    assert 3 <= len(finished_chunks(out)) < 18 and not (out / "funnel.json").exists()
    resumed = GenerationRun(make_engine(tiny_bonito, "transformers"), corpus, out, CONFIG).run(progress=False)
    assert resumed == funnel and rows_of(out) == rows

    out = tmp_path / "b"  # half the chunks in one process (shard 0/2), the rest on Ray
    GenerationRun(make_engine(tiny_bonito, "transformers"), corpus, out, CONFIG).run(shard=(0, 2), progress=False)
    assert len(finished_chunks(out)) == 9
    assert ray_run(tiny_bonito, corpus, out) == funnel and rows_of(out) == rows


def test_an_unreachable_ray_address_is_one_error_in_seconds(tiny_bonito, docs_jsonl, tmp_path, capsys, spy):
    from bonito_hub.cli import main

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.time()
    code = main(["generate", "--model", tiny_bonito, "--input", docs_jsonl, "--task-type", "exqa", "--output",
                 str(tmp_path / "out"), "--ray", "--ray-address", f"127.0.0.1:{port}"])
    assert code == 2 and time.time() - started < 10
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"bonito: error: --ray-address 127.0.0.1:{port}: no Ray cluster answers there (Connection refused); "
                   "start one with `ray start --head` or leave --ray-address out to start a local Ray"]
    assert not (tmp_path / "out").exists()
    assert [c.ray_address for c in spy.calls] == [f"127.0.0.1:{port}"]  # --ray went through generate(config)
    assert main(["generate", "--model", tiny_bonito, "--input", docs_jsonl, "--task-type", "exqa", "--output",
                 str(tmp_path / "out"), "--workers", "2"]) == 2
    assert "--workers goes with --ray" in capsys.readouterr().err


def test_the_python_api_runs_on_ray_too(local_ray, tiny_bonito, corpus, reference, tmp_path, spy):
    from bonito_hub.generate import Bonito

    rows, funnel, _ = reference
    bonito = Bonito(tiny_bonito, backend="transformers", ray=True)
    assert bonito.engine is None
    synthetic = bonito.generate_tasks(corpus, context_col="text", task_type="exqa", sampling_params=CONFIG.sampling,
                                      chunk_docs=1, output_dir=tmp_path / "api", workers=2, progress=False)
    assert bonito.funnel == funnel and synthetic.to_list() == rows
    assert [(c.ray, c.workers) for c in spy.calls] == [(True, 2)]
