"""Engine choice and options, against a vLLM stand-in with vLLM 0.33.0's contract (tests/standins/vllm)."""

import json
from pathlib import Path

import datasets
import pytest

from bonito_hub.cli import main
from bonito_hub.format import generator_input
from bonito_hub.generate import Bonito, SamplingConfig
from bonito_hub.generate.backends import make_engine
from bonito_hub.generate.engines import TransformersEngine, VllmEngine

STANDINS = Path(__file__).parent / "standins"


@pytest.fixture()
def vllm_on_a_gpu(monkeypatch):
    """`import vllm` finds the strict stand-in, and torch reports a CUDA GPU."""
    import sys

    import torch

    real = sys.modules.pop("vllm", None)
    monkeypatch.syspath_prepend(str(STANDINS))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    import vllm

    vllm.LLM.instances.clear()
    yield vllm
    sys.modules.pop("vllm", None)  # later tests must not find the stand-in
    if real is not None:
        sys.modules["vllm"] = real


def test_the_stand_in_rejects_what_vllm_rejects(vllm_on_a_gpu, tiny_llama):
    vllm = vllm_on_a_gpu
    with pytest.raises(TypeError, match="EngineArgs.__init__\\(\\) got an unexpected keyword argument 'batch_size'"):
        vllm.LLM(tiny_llama, batch_size=24)  # what `bonito generate` passed at its defaults before
    with pytest.raises(TypeError, match="Unexpected keyword argument 'top_k_off'"):
        vllm.SamplingParams(top_k_off=True)
    llm = vllm.LLM(tiny_llama, max_num_seqs=64, tensor_parallel_size=1)  # an EngineArgs field passes
    assert llm.kwargs["max_num_seqs"] == 64
    with pytest.raises(TypeError):
        llm.generate(["x"], vllm.SamplingParams(), True)  # use_tqdm is keyword-only


def gen_args(model, inp, out, *extra):
    return ["generate", "--model", model, "--input", inp, "--task-type", "exqa", "--output", str(out),
            "--no-progress", *extra]


def test_cli_defaults_choose_vllm_and_finish(vllm_on_a_gpu, tiny_llama, docs_jsonl, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(gen_args(tiny_llama, docs_jsonl, out)) == 0  # no backend flag, no engine option
    assert "funnel (vllm engine)" in capsys.readouterr().out
    (llm,) = vllm_on_a_gpu.LLM.instances
    assert "batch_size" not in llm.kwargs
    prompts, params = llm.calls[0]
    assert len(llm.calls) == 1  # 18 short documents: one chunk, one LLM.generate over all its prompts
    assert {(p.n, p.temperature, p.top_p, p.max_tokens, p.top_k) for p in params} == {(1, 0.5, 0.95, 256, 0)}
    funnel = json.loads((out / "funnel.json").read_text())
    assert funnel["complete"] and funnel["kept"] == funnel["generations"] == 12
    rows = datasets.load_dataset(str(out), split="train")
    assert all(r["output"] in r["input"] for r in rows)  # the stand-in answers with a passage word


def test_vllm_options_reach_llm(vllm_on_a_gpu, tiny_llama, docs_jsonl, tmp_path):
    out = tmp_path / "out"
    assert main(gen_args(tiny_llama, docs_jsonl, out, "--tensor-parallel-size", "1", "--gpu-memory-utilization", "0.5",
                         "--max-model-len", "400", "--max-tokens", "32", "--dtype", "bfloat16", "--engine-arg", "max_num_seqs=32",
                         "--engine-arg", "enforce_eager=true")) == 0
    (llm,) = vllm_on_a_gpu.LLM.instances
    assert {k: llm.kwargs[k] for k in ("tensor_parallel_size", "gpu_memory_utilization", "max_model_len", "dtype",
                                       "max_num_seqs")} == \
        {"tensor_parallel_size": 1, "gpu_memory_utilization": 0.5, "max_model_len": 400, "dtype": "bfloat16",
         "max_num_seqs": 32}
    assert llm.llm_engine.model_config.max_model_len == 400


@pytest.mark.parametrize("extra, message", [
    (["--batch-size", "8"], "--batch-size applies to the transformers engine, but the vllm engine runs "
                            "(--backend auto found vLLM and a GPU)"),
    (["--engine-arg", "bogus=1"], "EngineArgs.__init__() got an unexpected keyword argument 'bogus'"),
    (["--engine-arg", "novalue"], "--engine-arg takes KEY=VALUE"),
])
def test_vllm_option_errors(vllm_on_a_gpu, tiny_llama, docs_jsonl, tmp_path, capsys, extra, message):
    assert main(gen_args(tiny_llama, docs_jsonl, tmp_path / "out", *extra)) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_vllm_options_on_the_transformers_engine_are_errors(tiny_llama, docs_jsonl, tmp_path, capsys):
    assert main(gen_args(tiny_llama, docs_jsonl, tmp_path / "out", "--backend", "transformers",
                         "--tensor-parallel-size", "2")) == 2
    assert "--tensor-parallel-size applies to the vllm engine, but the transformers engine runs" \
        in capsys.readouterr().err
    with pytest.raises(ValueError, match="gpu_memory_utilization"):
        make_engine(tiny_llama, "transformers", gpu_memory_utilization=0.5)


def test_vllm_engine_one_call_per_chunk_and_a_seed_per_request(vllm_on_a_gpu, tiny_llama):
    engine = make_engine(tiny_llama, "auto")
    assert isinstance(engine, VllmEngine)
    texts = datasets.Dataset.from_dict({"text": ["A storm destroyed the pier.", "The pier was rebuilt.",
                                                 "Boats left at dawn.", "The harbour froze in March.",
                                                 "A new quay opened.", "Gulls nested on the roof."]})
    bonito = Bonito(None, engine=engine)
    out = bonito.generate_tasks(texts, "text", "exqa", {"n": 2, "max_tokens": 7, "temperature": 0.9, "top_p": 0.5},
                                chunk_docs=4, progress=False)
    llm = engine.llm
    assert len(llm.calls) == 2  # one LLM.generate per chunk, over all its prompts
    prompts, params = llm.calls[0]
    assert prompts[0] == generator_input("exqa", "A storm destroyed the pier.")
    assert {(p.n, p.max_tokens, p.temperature, p.top_p) for p in params} == {(2, 7, 0.9, 0.5)}
    assert len({p.seed for p in params}) == len(params)  # one seed per request
    assert out.num_rows == 12 and set(out["doc_index"]) == set(range(6))


def test_transformers_engine_samples_as_vllm_does(tiny_llama, monkeypatch):
    """Temperature and top_p only (transformers' default top-k of 50 is off); on a CPU drawn by
    bonito-hub's sampler (generate/sampling.py), n samples a prompt, fixed by the seed."""
    from bonito_hub.generate.sampling import TopPSampler

    engine = TransformersEngine(tiny_llama)
    seen = {}
    real = engine.model.generate

    def spy(**kwargs):
        seen.update(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(engine.model, "generate", spy)
    prompts = [generator_input("qa", "The pier."), generator_input("exqa", "The old wooden pier burned.")]
    first = engine.generate(prompts, SamplingConfig(n=3, max_tokens=4), seed=7)
    sampler = seen["logits_processor"][0]
    assert isinstance(sampler, TopPSampler) and (sampler.temperature, sampler.top_p) == (0.5, 0.95)
    assert seen["do_sample"] is False and "top_k" not in seen and seen["input_ids"].shape[0] == 6  # n rows a prompt
    assert [len(texts) for texts in first] == [3, 3]
    assert engine.generate(prompts, SamplingConfig(n=3, max_tokens=4), seed=7) == first
    assert engine.generate(prompts, SamplingConfig(n=3, max_tokens=4), seed=8) != first


def test_batch_limits_by_device(tiny_llama):
    cpu = TransformersEngine(tiny_llama)
    assert cpu.batch_limits() == (48, 24576) and cpu.cache_implementation == "static"
    assert TransformersEngine(tiny_llama, batch_size=5).batch_limits() == (5, 24576)
    gpu = TransformersEngine(tiny_llama)
    gpu.device = "cuda"  # the plan only; nothing runs on it
    per_token = gpu.kv_bytes_per_token()
    config = gpu.model.config
    assert per_token == 2 * config.num_hidden_layers * config.num_key_value_heads * \
        (config.hidden_size // config.num_attention_heads) * 4
    prompts, tokens = gpu.batch_limits(free_memory=8 * 2**30)
    assert prompts == 512 and tokens == int(8 * 2**30 * 0.4) // per_token
    lengths = [30 + (i * 37) % 400 for i in range(256)]
    batches = gpu.batches(lengths, SamplingConfig(max_tokens=96), limits=(prompts, tokens))
    assert len(batches) == 1  # a small model on a large GPU: every prompt in one batch
