"""Every way into generation goes through `generate(config)`; library errors name the field the
caller set, and the command line says its flag; the spellings of 0.1 still work, with a warning."""

from __future__ import annotations

import json

import datasets
import pytest

from bonito_hub.cli import main
from bonito_hub.errors import ConfigError
from bonito_hub.generate import Bonito, GenerateConfig, SamplingConfig
from bonito_hub.testing.engines import ScriptedEngine


def test_bonito_generate_goes_through_generate(spy, tiny_bonito, docs_jsonl, tmp_path):
    out = tmp_path / "out"
    assert main(["generate", "--model", tiny_bonito, "--input", docs_jsonl, "--task-type", "exqa", "--output",
                 str(out), "--max-tokens", "16", "--chunk-size", "4", "--no-progress"]) == 0
    (config,) = spy.calls
    assert isinstance(config, GenerateConfig) and config.model == tiny_bonito and config.chunk_docs == 4
    assert config.sampling.max_tokens == 16 and json.loads((out / "funnel.json").read_text())["complete"]


def test_the_api_goes_through_generate(spy):
    texts = datasets.Dataset.from_dict({"text": ["In 1894 a storm destroyed the old wooden pier."] * 3})
    rows = Bonito(None, engine=ScriptedEngine()).generate_tasks(texts, "text", "ynqa", {"n": 4}, progress=False)
    (config,) = spy.calls
    assert config.task_type == "ynqa" and config.sampling.n == 4 and config.output is not None
    assert rows.num_rows > 0 and set(rows["task_type"]) == {"yes-no question answering"}


def test_adapt_goes_through_generate(spy, tiny_bonito, tiny_llama, docs_jsonl, tmp_path, capsys):
    spy.stop = True
    assert main(["adapt", "--corpus", docs_jsonl, "--task-type", "ynqa", "--generator", tiny_bonito, "--student",
                 tiny_llama, "--recipe", "smoke/student", "--output", str(tmp_path / "run"), "--backend",
                 "transformers", "--no-progress"]) == 2
    assert "stopped by the test" in capsys.readouterr().err
    (config,) = spy.calls
    assert (config.model, config.input, config.task_type) == (tiny_bonito, docs_jsonl, "ynqa")
    assert config.output == tmp_path / "run" / "generated" and config.backend == "transformers"


def test_library_errors_name_the_field_and_the_cli_its_flag(tmp_path, docs_jsonl, capsys):
    texts = datasets.Dataset.from_dict({"text": ["The pier."]})
    with pytest.raises(ConfigError) as caught:
        Bonito(None, engine=ScriptedEngine()).generate_tasks(texts, "text", "exqa", chunk_docs=0, progress=False)
    assert str(caught.value) == "`chunk_docs` must be at least 1, got 0" and caught.value.field == "chunk_docs"
    with pytest.raises(ConfigError, match="^`n` must be at least 1, got 0$"):
        SamplingConfig(n=0)
    with pytest.raises(ConfigError, match="^`shard` 2/2: need 0 <= i < N$"):
        GenerateConfig(model="m", input=docs_jsonl, task_type="exqa", output=tmp_path / "o", shard="2/2")
    with pytest.raises(ConfigError, match="^`workers` goes with `ray`$"):
        GenerateConfig(model="m", input=docs_jsonl, task_type="exqa", output=tmp_path / "o", workers=2)
    with pytest.raises(ConfigError, match="^`cpus_per_worker` must be more than 0, got 0$"):
        GenerateConfig(model="m", input=docs_jsonl, task_type="exqa", output=tmp_path / "o", ray=True,
                       cpus_per_worker=0)
    # the same mistakes on the command line, in its flags
    base = ["generate", "--model", "m", "--input", docs_jsonl, "--task-type", "exqa", "--output", str(tmp_path / "o")]
    for extra, said in [(["--chunk-size", "0"], "--chunk-size must be at least 1, got 0"),
                        (["--num-samples", "0"], "--num-samples must be at least 1, got 0"),
                        (["--ray", "--cpus-per-worker", "0"], "--cpus-per-worker must be more than 0, got 0.0"),
                        (["--ray", "--shard", "1/2"], "--ray schedules every chunk itself; leave --shard out")]:
        assert main(base + extra) == 2
        assert capsys.readouterr().err == f"bonito: error: {said}\n"
    assert not (tmp_path / "o").exists()


def test_the_old_spellings_still_work_with_a_warning(tiny_bonito, docs_jsonl, tmp_path, capsys):
    from bonito_hub.evaluation import EvaluationConfig

    out = tmp_path / "out"
    assert main(["generate", "--model", tiny_bonito, "--input", docs_jsonl, "--task-type", "exqa", "--output",
                 str(out), "--max-tokens", "16", "--format", "prompt-completion", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "bonito: warning: deprecated: --format 'prompt-completion' is now called 'standard'" in err
    assert json.loads((out / "run.json").read_text())["options"]["format"] == "standard"
    assert "completion" in datasets.load_dataset(str(out), split="train").column_names
    assert EvaluationConfig(target="t.jsonl", model="m", prompt_format="plain").prompt_style == "plain"
