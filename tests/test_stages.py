"""Where a generation's time goes (bonito_hub.timing): run.json, the chunk records and the log;
the model loading while the input is read; transformers' continuous batching in the engine."""

from __future__ import annotations

import json
import logging

import pytest

from bonito_hub.cli import main
from bonito_hub.errors import ConfigError
from bonito_hub.generate import GenerateConfig, SamplingConfig, generate
from bonito_hub.generate.backends import make_engine
from bonito_hub.generate.engines import TransformersEngine
from bonito_hub.generate.passages import PassageSplitter
from bonito_hub.testing import make_tokenizer
from bonito_hub.timing import STAGES, StageTimer, process_started


def test_run_json_chunk_records_and_the_log_say_where_the_time_went(tiny_bonito, docs_jsonl, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["generate", "--model", tiny_bonito, "--input", docs_jsonl, "--task-type", "exqa", "--output",
                 str(out), "--max-tokens", "16", "--chunk-size", "6", "--no-progress"]) == 0
    stages = json.loads((out / "run.json").read_text())["stages"]
    assert list(stages) == [*STAGES, "total"]
    assert all(v >= 0 for v in stages.values())
    # start counts from the process's start (pytest's, here), so the total is at least every
    # stage that does not overlap another; reading and loading the model overlap
    assert stages["total"] >= stages["start"] + stages["split"] + stages["generate"] + stages["filter"]
    assert stages["generate"] > 0 and stages["load_model"] > 0
    chunks = [json.loads(p.read_text()) for p in sorted((out / "chunks").glob("chunk-*.json"))]
    assert len(chunks) == 3 and all(set(c["stages"]) == {"split", "generate", "filter"} for c in chunks)
    assert abs(sum(c["stages"]["generate"] for c in chunks) - stages["generate"]) < 0.05
    err = capsys.readouterr().err
    line = next(line for line in err.splitlines() if line.startswith("bonito: time: "))
    assert "load model" in line and line.endswith(" s")
    # the log's total is taken a moment after run.json's, when the run has finished writing
    assert -0.1 < float(line.rsplit("total ", 1)[1][:-2]) - stages["total"] < 1.0  # printed to the tenth


def test_a_library_call_counts_from_the_call_not_the_process(tiny_bonito, docs_jsonl, tmp_path):
    result = generate(GenerateConfig(model=tiny_bonito, input=docs_jsonl, task_type="exqa", output=tmp_path / "o",
                                     max_tokens=8, progress=False))
    assert "start" not in result.stages and result.stages["total"] >= result.stages["generate"]


def test_process_start_is_before_now():
    started = process_started()
    import time

    assert started is not None and started <= time.time()
    timer = StageTimer()
    assert timer.seconds["start"] > 0
    with timer.stage("read"):
        pass
    assert "read 0.0 s" in timer.summary() and timer.summary().startswith("start ")


def test_a_model_that_fails_to_load_while_the_input_is_read_is_one_line(tmp_path, docs_jsonl, capsys):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    code = main(["generate", "--model", str(broken), "--input", docs_jsonl, "--task-type", "exqa", "--output",
                 str(tmp_path / "out"), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("bonito: error: could not load model")


def test_split_many_is_split_for_each_text():
    tok = make_tokenizer()
    splitter = PassageSplitter(tok, 12)
    texts = ["", "One short text.", "A longer text. " * 20, "   ", "Para one is here.\n\nPara two is here. " * 4]
    assert splitter.split_many(texts) == [splitter.split(t) for t in texts]
    assert [bool(p) for p in splitter.split_many(texts)] == [False, True, True, False, True]


@pytest.mark.slow
def test_continuous_batching_writes_what_padded_batches_write(tiny_bonito, docs_jsonl, tmp_path):
    rows = {}
    for batching in ("padded", "continuous"):
        generate(GenerateConfig(model=tiny_bonito, input=docs_jsonl, task_type="exqa", output=tmp_path / batching,
                                temperature=0, max_tokens=24, batching=batching, progress=False))
        import datasets

        rows[batching] = [(r["input"], r["output"]) for r in
                          datasets.load_dataset(str(tmp_path / batching), split="train").to_list()]
    assert rows["padded"] and rows["padded"] == rows["continuous"]


def test_continuous_batching_samples_n_per_prompt_and_falls_back_in_one_log_line(tiny_bonito, caplog):
    engine = TransformersEngine(tiny_bonito, batching="continuous")
    prompts = ["Hello there", "A second, longer prompt about the harbour"]
    out = engine.generate(prompts, SamplingConfig(n=3, max_tokens=6, temperature=1.0), seed=1)
    assert [len(texts) for texts in out] == [3, 3] and engine.batching == "continuous"

    def broken(*args, **kwargs):
        raise NotImplementedError("no paged attention for this model")

    engine.model.generate_batch = broken
    with caplog.at_level(logging.INFO, logger="bonito"):
        again = engine.generate(prompts, SamplingConfig(n=2, max_tokens=6, temperature=1.0), seed=1)
    assert [len(texts) for texts in again] == [2, 2] and engine.batching == "padded"
    said = [r.getMessage() for r in caplog.records if "continuous batching is not available" in r.getMessage()]
    assert said == ["continuous batching is not available (NotImplementedError: no paged attention for this model); "
                    "the transformers engine pads its batches"]


def test_batching_defaults_to_padded_on_a_cpu_and_refuses_unknown(tiny_bonito):
    assert TransformersEngine(tiny_bonito).batching == "padded"
    with pytest.raises(ConfigError, match="`batching` must be one of auto, continuous, padded"):
        TransformersEngine(tiny_bonito, batching="paged")
    with pytest.raises(ConfigError, match="`batching` applies to the transformers engine"):
        make_engine("served", "openai", base_url="http://127.0.0.1:1/v1", batching="continuous")


def test_batching_auto_on_cuda_is_the_engine_a_gpu_figure_supports(tiny_bonito, monkeypatch):
    """`auto` on CUDA runs the way benchmarks/README.md's table of defaults says a GPU figure
    supports: padded batches until benchmarks/gpu.sh measures continuous batching faster there."""
    import re
    from pathlib import Path

    from transformers import AutoModelForCausalLM, AutoTokenizer

    from bonito_hub.generate.engines import AUTO_BATCHING

    model = AutoModelForCausalLM.from_pretrained(tiny_bonito)
    monkeypatch.setattr(model, "to", lambda *args, **kwargs: model)  # "cuda" without a GPU: the choice only
    engine = TransformersEngine(model, AutoTokenizer.from_pretrained(tiny_bonito), device="cuda")
    assert engine.batching == AUTO_BATCHING["cuda"] == "padded"
    table = (Path(__file__).parents[1] / "benchmarks" / "README.md").read_text()
    for device, label in (("cpu", "a CPU"), ("cuda", "CUDA")):
        documented = re.search(rf"^\| `--batching auto` on {label} \| (\w+) batches \|", table, re.M)
        assert documented and documented.group(1) == AUTO_BATCHING[device], (device, documented)
