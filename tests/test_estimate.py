"""`bonito generate --dry-run` and `--max-tokens-budget`: the counts a run will make, from the
tokenizer alone, equal to the funnel the run then writes."""

from __future__ import annotations

import json

import pytest

from bonito_hub.cli import main

from conftest import error_line  # noqa: E402


def _no_weights(monkeypatch):
    """Loading any model's weights fails: a dry run must not."""
    import transformers

    def refuse(*args, **kwargs):
        raise AssertionError("a model's weights were loaded")

    monkeypatch.setattr(transformers.PreTrainedModel, "from_pretrained", classmethod(refuse))
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", classmethod(refuse))


@pytest.fixture()
def corpus(tmp_path, docs):
    path = tmp_path / "docs.jsonl"
    rows = [{"text": t} for t in docs] + [{"text": "Der Hafen von Ellmere liegt an der Mündung eines langsamen braunen "
                                                   "Flusses. Seine Fischer fahren vor dem Morgengrauen hinaus und "
                                                   "kehren zurück, wenn die Flut kommt."}] * 2
    path.write_text("".join(json.dumps(r) + "\n" for r in rows * 2))
    return str(path)


@pytest.mark.parametrize("extra", [
    ["--task-type", "exqa,ynqa", "--holdout", "0.25"],
    ["--task-mix", "exqa=0.5,ynqa=0.5", "--language-filter", "en", "--num-samples", "2"],
])
def test_the_dry_run_counts_are_the_real_runs_funnel(tiny_bonito, corpus, tmp_path, capsys, monkeypatch, extra):
    from bonito_hub.generate import GenerateConfig, estimate

    common = ["--model", tiny_bonito, "--input", corpus, "--output", str(tmp_path / "out"), "--max-tokens", "16",
              "--chunk-size", "3", "--no-progress", *extra]
    with monkeypatch.context() as m:
        _no_weights(m)
        assert main(["generate", *common, "--dry-run", "--tokens-per-second", "100", "--price-per-mtok", "1,2"]) == 0
    out = capsys.readouterr().out
    assert "nothing was generated or written" in out and not (tmp_path / "out").exists()
    values = dict(model=tiny_bonito, input=corpus, output=str(tmp_path / "out"), max_tokens=16, chunk_docs=3)
    values.update({"task_type": "exqa,ynqa", "holdout": 0.25} if "--holdout" in extra else
                  {"task_mix": "exqa=0.5,ynqa=0.5", "language_filter": "en", "n": 2})
    with monkeypatch.context() as m:
        _no_weights(m)
        found = estimate(GenerateConfig(**values))
    assert main(["generate", *common]) == 0
    funnel = json.loads((tmp_path / "out" / "funnel.json").read_text())
    for key in ("documents", "empty_documents", "passages", "generations", "languages", "language_filtered",
                "removed", "chunks"):
        assert found.funnel.get(key) == funnel.get(key), key
    assert {t: {"generations": by["generations"]} for t, by in (funnel.get("by_type") or {}).items()} == \
        (found.funnel.get("by_type") or {})
    if "--holdout" in extra:
        assert funnel["heldout"]["documents"] > 0
        assert {k: funnel["heldout"][k] for k in ("documents", "passages", "generations")} == found.funnel["heldout"]
    assert sum(found.prompts.values()) + found.heldout_prompts == funnel["generations"] // found.samples
    assert f"passages {funnel['passages']}" in out and f"generations {funnel['generations']:,}" in out
    assert found.max_tokens == found.prompt_tokens * found.samples + funnel["generations"] * 16
    assert f"upper bound: {found.max_tokens:,} tokens" in out
    seconds = funnel["generations"] * 16 / 100
    assert f"time: at most {seconds:.0f} s at 100 generated tokens/s (the rate you gave)" in out
    cost = (found.prompt_tokens * found.samples * 1 + funnel["generations"] * 16 * 2) / 1e6
    assert f"cost: at most ${cost:,.2f}" in out


def test_the_prompt_tokens_are_the_prompts_tokens(tiny_bonito, corpus, tmp_path):
    from transformers import AutoTokenizer

    from bonito_hub.format import generator_input
    from bonito_hub.generate import GenerateConfig, GenerationRun, estimate
    from bonito_hub.generate.forecast import TokenizerOnly

    config = GenerateConfig(model=tiny_bonito, input=corpus, output=str(tmp_path / "o"), task_type="exqa,nli",
                            max_tokens=16)
    found = estimate(config)
    tok = AutoTokenizer.from_pretrained(tiny_bonito)
    import datasets

    texts = datasets.Dataset.from_json(corpus)
    run = GenerationRun(TokenizerOnly(tiny_bonito), texts, tmp_path / "o", config.run)
    passages, _ = run.chunk_passages(0)
    expected = sum(len(tok(generator_input(t, p.text))["input_ids"]) for p in passages for t in ("exqa", "nli"))
    assert found.prompt_tokens == expected > 0 and found.prompts == {"exqa": len(passages), "nli": len(passages)}


def test_a_run_over_its_budget_is_refused_in_one_line_before_any_model_loads(tiny_bonito, corpus, tmp_path, capsys,
                                                                           monkeypatch):
    _no_weights(monkeypatch)
    args = ["generate", "--model", tiny_bonito, "--input", corpus, "--task-type", "exqa", "--output",
            str(tmp_path / "out"), "--max-tokens", "16", "--no-progress", "--max-tokens-budget", "100"]
    assert main(args) == 2
    line = error_line(capsys)
    assert "over --max-tokens-budget 100" in line and "this run may spend up to" in line
    assert not list((tmp_path / "out").glob("data/*")) and not (tmp_path / "out" / "run.json").exists()
    assert main([*args[:-1], "1", "--dry-run"]) == 2  # the dry run says the same, after its counts
    captured = capsys.readouterr()
    assert "upper bound:" in captured.out and "over --max-tokens-budget 1" in captured.err


@pytest.mark.parametrize("flag, value, message", [
    ("--tokens-per-second", "0", "--tokens-per-second must be more than 0"),
    ("--price-per-mtok", "0.2", "--price-per-mtok takes IN,OUT"),
    ("--max-tokens-budget", "0", "--max-tokens-budget must be at least 1"),
])
def test_bad_estimate_options_are_one_line(tiny_bonito, corpus, tmp_path, capsys, flag, value, message):
    assert main(["generate", "--model", tiny_bonito, "--input", corpus, "--task-type", "exqa", "--output",
                 str(tmp_path / "out"), "--dry-run", flag, value]) == 2
    assert message in error_line(capsys)


def test_without_a_measured_rate_the_time_is_not_guessed(tmp_path, corpus, capsys):
    from bonito_hub.testing import make_tiny_llama

    model = make_tiny_llama(tmp_path / "wide", hidden_size=256, layers=12, intermediate_size=2048)  # about 22M parameters
    from bonito_hub.generate.forecast import measured_rate, parameters

    n = parameters(str(model))
    assert n == sum(p.numel() for p in __import__("transformers").AutoModelForCausalLM.from_pretrained(model).parameters())
    rate, source = measured_rate(str(model))
    assert (rate is not None) == (n <= 50_000_000)
    rate, source = measured_rate("someone/some-7b-model")
    assert rate is None and "give --tokens-per-second" in source


def test_adapt_dry_run_prints_the_generation_steps_estimate(tiny_bonito, tiny_llama, corpus, tmp_path, capsys,
                                                            monkeypatch):
    _no_weights(monkeypatch)
    common = ["--corpus", corpus, "--generator", tiny_bonito, "--student", tiny_llama, "--task-type", "exqa",
              "--max-tokens", "16", "--output", str(tmp_path / "ad"), "--dry-run"]
    assert main(["adapt", *common]) == 0
    adapt_out = capsys.readouterr().out
    assert "generation step, estimated" in adapt_out and not (tmp_path / "ad").exists()
    assert main(["generate", "--model", tiny_bonito, "--input", corpus, "--task-type", "exqa", "--holdout", "0.1",
                 "--max-tokens", "16", "--output", str(tmp_path / "g"), "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()[1:]
    assert all(f"  {line}" in adapt_out for line in lines)  # adapt holds out 0.1 by default, as given here
    assert main(["adapt", *common, "--max-tokens-budget", "10"]) == 2
    assert "over --max-tokens-budget 10" in error_line(capsys)
