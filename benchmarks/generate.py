"""Benchmark: the transformers generation engine against a plain loop and transformers' pipeline.

A Llama of about 15M parameters built from a config (random weights, word-level tokenizer),
256 passages of 20 to 300 words, n=1, exactly 64 new tokens each (EOS is suppressed until then,
so every method does the same work). Each method runs in its own process, one after the other,
so its peak RSS is its own:
  loop      model.generate on one passage at a time
  pipeline  pipeline("text-generation", batch_size=16)
  engine    bonito_hub's TransformersEngine (length-sorted batches, left padding, KV cache)
  generate  the whole `Bonito.generate_tasks` run (engine + passages + filters + Parquet)
Then the memory check: the whole run on a 100x larger corpus with max_tokens=1 on a tiny model,
against the same run on the small corpus.

    python benchmarks/generate.py [--passages 256] [--batch-size 24]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
NEW_TOKENS = 64


def corpus(n: int, seed: int = 0) -> list[str]:
    from bonito_hub.testing import BASE_TEXT

    words = BASE_TEXT.split()
    rng = random.Random(seed)
    return [" ".join(rng.choice(words) for _ in range(rng.randint(20, 300))) for _ in range(n)]


def build_model(path: Path) -> None:
    from transformers import GenerationConfig

    from bonito_hub.testing import make_tiny_llama

    make_tiny_llama(path, hidden_size=384, layers=6, heads=6, intermediate_size=1536, max_position_embeddings=1024)
    # every method generates exactly NEW_TOKENS tokens
    GenerationConfig(min_new_tokens=NEW_TOKENS, max_new_tokens=NEW_TOKENS, pad_token_id=2, bos_token_id=0,
                     eos_token_id=1).save_pretrained(str(path))


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024


def run_method(method: str, model_dir: str, n: int, batch_size: int) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, pipeline

    from bonito_hub.format import generator_input
    from bonito_hub.generate.engines import SamplingConfig, TransformersEngine

    prompts = [generator_input("exqa", p) for p in corpus(n)]
    sampling = dict(do_sample=True, temperature=0.5, top_p=0.95, max_new_tokens=NEW_TOKENS)
    start = time.perf_counter()
    if method == "loop":
        tok = AutoTokenizer.from_pretrained(model_dir)
        model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
        start = time.perf_counter()
        with torch.inference_mode():
            for p in prompts:
                model.generate(**tok(p, return_tensors="pt"), **sampling)
    elif method == "pipeline":
        tok = AutoTokenizer.from_pretrained(model_dir, padding_side="left")
        model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
        pipe = pipeline("text-generation", model=model, tokenizer=tok, batch_size=16)
        start = time.perf_counter()
        pipe(prompts, return_full_text=False, **sampling)
    elif method == "engine":
        engine = TransformersEngine(model_dir, batch_size=batch_size)
        start = time.perf_counter()
        engine.generate(prompts, SamplingConfig(n=1, temperature=0.5, top_p=0.95, max_tokens=NEW_TOKENS), seed=0)
    elif method == "generate":
        import datasets

        from bonito_hub.generate import Bonito

        texts = datasets.Dataset.from_dict({"text": corpus(n)})
        bonito = Bonito(model_dir, backend="transformers", batch_size=batch_size)
        start = time.perf_counter()
        bonito.generate_tasks(texts, "text", "exqa", {"max_tokens": NEW_TOKENS}, chunk_docs=n, progress=False)
    seconds = time.perf_counter() - start
    return {"method": method, "seconds": seconds, "examples_per_s": n / seconds,
            "tokens_per_s": n * NEW_TOKENS / seconds, "peak_rss_gb": peak_rss_gb()}


def run_memory(model_dir: str, docs: int, work: str) -> dict:
    import json as _json

    from bonito_hub.cli import main

    path = Path(work) / f"corpus-{docs}.jsonl"
    with open(path, "w") as f:
        for i, t in enumerate(corpus(docs, seed=1)):
            f.write(_json.dumps({"id": i, "text": t}) + "\n")
    start = time.perf_counter()
    rc = main(["generate", "--model", model_dir, "--input", str(path), "--task-type", "exqa",
               "--output", str(Path(work) / f"out-{docs}"), "--max-tokens", "1", "--no-progress",
               "--chunk-size", "256"])
    assert rc == 0
    return {"docs": docs, "seconds": time.perf_counter() - start, "peak_rss_gb": peak_rss_gb()}


def child(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=24)
    parser.add_argument("--methods", nargs="+", default=["loop", "pipeline", "engine", "generate"])
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        result = run_method(rest[0], rest[1], int(rest[2]), int(rest[3])) if kind == "method" else \
            run_memory(rest[0], int(rest[1]), rest[2])
        print(json.dumps(result))
        return

    import torch
    from transformers import AutoModelForCausalLM

    work = tempfile.mkdtemp(prefix="bonito-bench-gen-")
    model_dir = str(Path(work) / "llama")
    build_model(Path(model_dir))
    params = sum(p.numel() for p in AutoModelForCausalLM.from_pretrained(model_dir).parameters())
    print(f"model: Llama, {params / 1e6:.1f}M parameters; {args.passages} passages of 20-300 words; "
          f"n=1, {NEW_TOKENS} new tokens each; torch threads {torch.get_num_threads()}")
    results = {}
    for method in args.methods:
        r = child(["method", method, model_dir, str(args.passages), str(args.batch_size)])
        results[method] = r
        print(f"{method:>9}: {r['seconds']:7.1f} s  {r['examples_per_s']:6.2f} examples/s  "
              f"{r['tokens_per_s']:7.0f} generated tokens/s  peak RSS {r['peak_rss_gb']:.2f} GB")
    if "engine" in results:
        e = results["engine"]["examples_per_s"]
        for base, target in (("loop", 5.0), ("pipeline", 1.4)):
            if base in results:
                ratio = e / results[base]["examples_per_s"]
                print(f"engine vs {base}: {ratio:.2f}x (target {target}x: {'met' if ratio >= target else 'missed'})")
    if not args.skip_memory:
        tiny = str(Path(work) / "tiny")
        from bonito_hub.testing import make_tiny_llama

        make_tiny_llama(tiny)
        small = child(["memory", tiny, str(args.passages), work])
        large = child(["memory", tiny, str(args.passages * 100), work])
        ratio = large["peak_rss_gb"] / small["peak_rss_gb"]
        print(f"memory, whole run with max_tokens=1: {small['docs']} docs peak RSS {small['peak_rss_gb']:.2f} GB "
              f"({small['seconds']:.1f} s); {large['docs']} docs peak RSS {large['peak_rss_gb']:.2f} GB "
              f"({large['seconds']:.1f} s); ratio {ratio:.2f} (target <= 1.5: {'met' if ratio <= 1.5 else 'missed'})")


if __name__ == "__main__":
    main()
