"""Each option declared once: a dataclass field with its help and flag (bonito_hub.options), from
which `bonito generate`'s and `bonito adapt`'s parsers, --help, docs/cli.md, the field -> flag words
of messages and `--config FILE.yaml` are all derived."""

from __future__ import annotations

import inspect
import json
import re
from dataclasses import dataclass, fields

import pytest

from bonito_hub.adapt import AdaptConfig
from bonito_hub.cli import main
from bonito_hub.errors import ConfigError
from bonito_hub.generate import GenerateConfig, GenerationOptions
from bonito_hub.generate.config import SamplingOptions
from bonito_hub.generate.engine_options import ENGINES, EngineOptions
from bonito_hub.options import option


@dataclass(kw_only=True)
class MoreSampling(SamplingOptions):
    min_p: float | None = option(None, help="drop tokens under this share of the likeliest one's probability")


@pytest.fixture()
def captured(monkeypatch):
    """The GenerateConfig `bonito generate` and the AdaptConfig `bonito adapt` build, not run."""
    import bonito_hub.adapt
    import bonito_hub.generate

    seen = {}

    def generate(config, **_):
        seen["generate"] = config
        raise SystemExit(0)

    def adapt(config, output, **_):
        seen["adapt"] = config
        raise SystemExit(0)

    monkeypatch.setattr(bonito_hub.generate, "generate", generate)
    monkeypatch.setattr(bonito_hub.adapt, "adapt", adapt)
    return seen


def _help(argv, capsys, monkeypatch) -> str:
    monkeypatch.setenv("COLUMNS", "400")
    with pytest.raises(SystemExit):
        main([*argv, "--help"])
    return capsys.readouterr().out


def test_an_option_added_to_a_part_is_offered_by_generate_and_adapt(monkeypatch, capsys, captured, tmp_path):
    """Adding a sampling option is one field: both parsers, --help and the reference offer it, and
    it reaches the config each command builds."""
    from bonito_hub.commands.reference import cli_reference

    monkeypatch.setitem(GenerationOptions.PARTS, "sampling", MoreSampling)
    for command in ("generate", "adapt"):
        shown = _help([command], capsys, monkeypatch)
        assert re.search(r"--min-p MIN_P\s+drop tokens under this share", shown), command
    reference = cli_reference()
    assert reference.split("## `bonito adapt`")[1].count("`--min-p`") == 1
    assert reference.split("## `bonito generate`")[1].split("\n## ")[0].count("`--min-p`") == 1

    with pytest.raises(SystemExit):
        main(["generate", "--model", "m", "--input", "i", "--output", str(tmp_path / "o"), "--task-type", "exqa",
              "--min-p", "0.05"])
    assert isinstance(captured["generate"].options.sampling, MoreSampling)
    assert captured["generate"].options.sampling.min_p == 0.05 and captured["generate"].min_p == 0.05
    with pytest.raises(SystemExit):
        main(["adapt", "--corpus", "c", "--generator", "g", "--student", "s", "--output", str(tmp_path / "a"),
              "--task-type", "exqa", "--min-p", "0.1"])
    assert captured["adapt"].generation.sampling.min_p == 0.1


def test_adapt_takes_every_generation_option_generate_takes(capsys, monkeypatch):
    def flags(command):
        return set(re.findall(r"^\s+(--[a-z][a-z0-9-]+)", _help([command], capsys, monkeypatch), re.M))

    own_to_generate = {"--model", "--input", "--output", "--exclude-overlap", "--shard", "--overwrite",
                       "--push-to-hub", "--public", "--config", "--help", "--verbose", "--quiet", "--no-progress"}
    missing = flags("generate") - flags("adapt") - own_to_generate
    assert missing == set()
    assert {"--base-url", "--api-key-env", "--concurrency", "--batch-size", "--engine-arg", "--ray"} <= flags("adapt")


def test_flags_come_from_the_fields_not_from_a_parser():
    from bonito_hub.commands import Adapt, Generate

    generate = Generate()  # never registered: no parser to walk
    assert generate.parser is None
    said = generate.flags()
    assert said["chunk_docs"] == "--chunk-size" and said["n"] == "--num-samples"
    assert said["engine_args"] == "--engine-arg" and said["base_url"] == "--base-url"
    assert "filters" not in said and "progress" not in said  # Python-only fields have no flag
    assert Adapt().flags()["recipe_overrides"] == "--recipe-arg"
    assert Adapt().explain("`concurrency` must be at least 1") == "--concurrency must be at least 1"


def test_generate_reads_a_config_file_and_the_command_line_wins(tmp_path, captured):
    run = tmp_path / "run.yaml"
    run.write_text("model: some/generator\ninput: docs.jsonl\noutput: out\ntask_type: exqa,ynqa\nmax_tokens: 64\n"
                   "temperature: 0.2\nnum-samples: 3\nchunk-size: 5\nengine_args: {max_num_seqs: 8}\n"
                   "backend: transformers\nno_filter: [duplicate]\n")
    with pytest.raises(SystemExit):
        main(["generate", "--config", str(run), "--max-tokens", "16"])
    config = captured["generate"]
    assert (config.model, config.input, config.output) == ("some/generator", "docs.jsonl", "out")
    assert config.sampling.max_tokens == 16 and config.sampling.temperature == 0.2 and config.sampling.n == 3
    assert config.run.types == ("exqa", "ynqa") and config.run.chunk_docs == 5
    assert config.engine_options() == {"engine_args": {"max_num_seqs": 8}}
    assert "duplicate" not in config.run.filters


def test_adapt_reads_a_config_file(tmp_path, captured):
    run = tmp_path / "run.yaml"
    run.write_text("corpus: c.jsonl\ngenerator: g\nstudent: s\noutput: out\ntask_type: exqa\nbackend: openai\n"
                   "base_url: http://127.0.0.1:1/v1\nrecipe_overrides: {max_steps: 2}\n")
    with pytest.raises(SystemExit):
        main(["adapt", "--config", str(run), "--recipe-arg", "learning_rate=0.1"])
    config = captured["adapt"]
    assert config.generation.engine.backend == "openai" and config.generation.engine.base_url.endswith(":1/v1")
    assert config.generation.tasks.holdout == 0.1  # adapt's own default, under the file's options
    assert config.recipe_args == ["--max_steps", "2", "--learning_rate", "0.1"]  # the file's, then the line's


@pytest.mark.parametrize("text, said", [
    ("model: m\nbogus: 1\n", "bonito: error: --config .*run.yaml: 'bogus' is not an option of this command"),
    ("- a\n- b\n", "bonito: error: --config .*run.yaml must hold a mapping of options"),
    ("model: [unclosed\n", "bonito: error: --config .*run.yaml is not YAML"),
])
def test_a_bad_config_file_is_one_line_naming_the_flag(tmp_path, capsys, text, said):
    run = tmp_path / "run.yaml"
    run.write_text(text)
    assert main(["generate", "--config", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and re.fullmatch(said + ".*", err), err


def test_each_engine_takes_its_own_options_object():
    from bonito_hub.generate.engines import TransformersEngine, VllmEngine
    from bonito_hub.generate.server import OpenAIEngine

    engines = {"transformers": TransformersEngine, "vllm": VllmEngine, "openai": OpenAIEngine}
    for name, cls in ENGINES.items():
        takes = set(inspect.signature(engines[name].__init__).parameters)
        assert {f.name for f in fields(cls)} <= takes, name
    typed = EngineOptions(backend="openai", base_url="http://x/v1", concurrency=4).for_engine("openai")
    assert type(typed) is ENGINES["openai"] and typed.concurrency == 4
    with pytest.raises(ConfigError, match="`batch_size` applies to the transformers engine, but the openai engine runs"):
        EngineOptions(batch_size=4).for_engine("openai")
    with pytest.raises(ConfigError, match="`max_model_len` applies to the vllm and openai engines"):
        EngineOptions(max_model_len=512).for_engine("transformers")


def test_configs_are_made_from_options_by_name_as_before():
    config = GenerateConfig(model="m", input="i", task_type="exqa", output="o", max_tokens=16, backend="openai",
                            base_url="http://127.0.0.1:1/v1", text_column="body", ray=False)
    o = config.options
    assert (o.sampling.max_tokens, o.engine.base_url, o.documents.text_column) == (16, "http://127.0.0.1:1/v1", "body")
    assert config.max_tokens == 16 and config.sampling.max_tokens == 16 and config.text_column == "body"
    with pytest.raises(TypeError, match="unknown generation option bogus"):
        GenerateConfig(model="m", input="i", task_type="exqa", output="o", bogus=1)
    adapt = AdaptConfig(corpus="c", generator="g", student="s", task_type="exqa", backend="openai",
                        base_url="http://127.0.0.1:1/v1", concurrency=2, recipe_args=["--max_steps", "2"])
    assert adapt.generation.engine.concurrency == 2 and adapt.recipe_overrides == {"max_steps": "2"}
    assert adapt.generation.tasks.holdout == 0.1 and adapt.task_type == "exqa"
    assert json.loads(json.dumps(adapt.recipe_args)) == ["--max_steps", "2"]


@pytest.mark.parametrize("given", [
    {"recipe_args": ["--output_dir=elsewhere"]},  # slipped past the check of 0.1, which read every other word
    {"recipe_args": ["--max_steps", "2", "--dataset-name", "x"]},
    {"recipe_overrides": {"model_name_or_path": "other"}},
    {"recipe_overrides": ["--objective=generator"]},
])
def test_every_recipe_override_is_checked(given):
    with pytest.raises(ConfigError, match="adapt sets it itself"):
        AdaptConfig(corpus="c", generator="g", student="s", task_type="exqa", **given)


def test_a_ray_option_without_ray_names_its_flag(capsys, tmp_path):
    assert main(["generate", "--model", "m", "--input", "i", "--output", str(tmp_path / "o"), "--task-type",
                 "exqa", "--workers", "2"]) == 2
    assert capsys.readouterr().err.strip() == "bonito: error: --workers goes with --ray"


def test_a_command_builds_only_its_own_parser():
    """`bonito --help` and `bonito tasks` import no other command's options, nor the libraries
    (transformers, TRL, datasets) the derived parsers come from; `bonito generate` does."""
    import subprocess
    import sys

    probe = ("import sys, contextlib, io\nfrom bonito_hub.cli import main\n"
             "with contextlib.redirect_stdout(io.StringIO()):\n"
             "    try:\n        main(sys.argv[1:])\n    except SystemExit:\n        pass\n"
             "print(sorted(m for m in ('transformers', 'trl', 'datasets', 'bonito_hub.generate') if m in sys.modules))")
    said = {}
    for argv in (["--help"], ["tasks"], ["generate", "--help"]):
        result = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True, timeout=120)
        said[argv[0]] = result.stdout.strip().splitlines()[-1]
    assert said["--help"] == "[]" and said["tasks"] == "[]"
    assert "'transformers'" in said["generate"] and "'bonito_hub.generate'" in said["generate"]


def test_a_config_file_may_name_an_option_by_any_of_its_names(tmp_path, captured):
    for key in ("recipe_overrides", "recipe-arg", "recipe_args"):  # the field, its flag, its name in 0.1
        run = tmp_path / f"{key}.yaml"
        run.write_text(f"corpus: c.jsonl\ngenerator: g\nstudent: s\noutput: out\ntask_type: exqa\n"
                       f"{key}: {{max_steps: 2}}\n")
        with pytest.raises(SystemExit):
            main(["adapt", "--config", str(run)])
        assert captured["adapt"].recipe_overrides == {"max_steps": 2}, key


def test_a_config_never_changes_the_options_it_was_made_from():
    options = GenerationOptions().replace(task_type="extractive question answering", format="prompt-completion")
    config = GenerateConfig(model="m", input="i", output="o", options=options)
    assert config.run.task_type == "exqa" and config.options.tasks.format == "standard"
    assert options.tasks.task_type == "extractive question answering" and options.tasks.format == "prompt-completion"
    adapt = AdaptConfig(corpus="c", generator="g", student="s", generation=options.replace(holdout=0))
    assert adapt.generation.tasks.holdout is None and options.tasks.holdout is None
    assert AdaptConfig(corpus="c", generator="g", student="s", generation=options).generation is not options
