"""Benchmark: the transformers generation engine (padded batches, and transformers' continuous
batching) against a plain loop and transformers' pipeline, and the whole `bonito generate` run
against its engine, with the run's seconds per stage.

A Llama built from a config (random weights): `--model-size small` or `tiny` on a CPU, `150m`
on a GPU; with `--tokenizer bpe` (the default) an 8,000-token byte-level BPE tokenizer
trained at run time on the benchmark's corpus, whose words are drawn with Zipf-like frequencies
from 20,000 made-up words (so rare words split into several tokens, as in real text), or with
`--tokenizer word` the project's word-level test tokenizer over a 89-word text. 256 passages of 20
to 300 words, n=1, exactly `--new-tokens` new tokens each (EOS is suppressed until then, so every
method does the same work), the same sampling for all (temperature 0.5, top_p 0.95, no top-k).
Each method runs in its own process, one after the other, so its peak memory is its own:
  loop         model.generate on one passage at a time
  pipeline-B   pipeline("text-generation", batch_size=B) for each B of --pipeline-batch-size
  sorted       the dozen-line loop anyone would write: prompts sorted by length, model.generate in
               left-padded batches of 32 with the dynamic cache
  padded       bonito_hub's TransformersEngine, padded batches sorted by length (its CPU default)
  continuous   the same engine with transformers' continuous batching, generate_batch (its CUDA
               default)
  generate     `bonito generate` with the CLI's defaults, run as a user runs it (a new process:
               imports, model load, passages, chunks, engine, filters, Parquet), and the seconds
               per stage its run.json records
Then, unless --skip-memory, the memory check: the whole run on a 100x larger corpus with
max_tokens=1 on a tiny model, against the same run on the small corpus.

With --ray, instead: `bonito generate` in one process against `bonito generate --ray` (a local
Ray started by the command, its default workers: one per CPU here) on 4,096 passages, five chunks
at the default chunk budget, timed as the user waits (Ray's start and each worker's model load
included), and the two outputs compared row for row.

    python benchmarks/generate.py                                 # this CPU
    python benchmarks/generate.py --passages 2048 --methods padded continuous generate --skip-memory
    python benchmarks/generate.py --device cuda --model-size 150m --new-tokens 96 --pipeline-batch-size 16 64
    python benchmarks/generate.py --device cuda --model-size 150m --new-tokens 96 --passages 2048 \
        --methods padded continuous generate --skip-memory
    python benchmarks/generate.py --ray --new-tokens 32           # Ray's overhead on this machine
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

# --ray: about 4.4 MB of text, five chunks at the default chunk budget (2**18 tokens of 4 characters)
RAY_PASSAGES = 4096
MODEL_SIZES = {  # hidden, layers, heads, intermediate
    "small": (256, 6, 4, 1024),  # 11M parameters with the BPE tokenizer: the CPU default
    "tiny": (384, 6, 6, 1536),  # 14M with the word-level tokenizer, 20M with the BPE one
    "150m": (768, 16, 12, 3072),
    "micro": (32, 2, 4, 128),  # the tests' size: benchmarks/gpu.py --tiny, every step in about two minutes
}


BPE_VOCAB = 8000
MADE_UP_WORDS = 20_000
SORTED_BATCH = 32


def made_up_words(n: int = MADE_UP_WORDS, seed: int = 0) -> list[str]:
    """n distinct made-up words of one to four syllables, the commonest first."""
    rng = random.Random(seed)
    syllables = [c + v + e for c in "bcdfghklmnprstvwz" for v in "aeiou" for e in ("", "", "n", "r", "s")]
    words: dict[str, None] = {}
    while len(words) < n:
        words["".join(rng.choice(syllables) for _ in range(rng.choice((1, 2, 2, 3, 3, 4))))] = None
    return list(words)


def corpus(n: int, seed: int = 0, tokenizer: str = "bpe") -> list[str]:
    """n passages of 20 to 300 words: over the test text's 89 words (`word`), or drawn with Zipf-like
    frequencies from made-up words, with a full stop every 8 to 20 words (`bpe`)."""
    import itertools

    from bonito_hub.testing import BASE_TEXT

    rng = random.Random(seed)
    if tokenizer == "word":
        words = BASE_TEXT.split()
        return [" ".join(rng.choice(words) for _ in range(rng.randint(20, 300))) for _ in range(n)]
    vocab = made_up_words()
    weights = list(itertools.accumulate(1 / (i + 1) for i in range(len(vocab))))
    passages = []
    for _ in range(n):
        words = rng.choices(vocab, cum_weights=weights, k=rng.randint(20, 300))
        for i in range(rng.randint(8, 20), len(words), rng.randint(8, 20)):
            words[i] += "."
        passages.append(" ".join(words).capitalize() + ".")
    return passages


def bpe_tokenizer(texts: list[str]):
    """A byte-level BPE tokenizer of BPE_VOCAB tokens trained on `texts` and the generator's prompt."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    from bonito_hub.format import generator_input

    specials = ["<s>", "</s>", "<pad>", "<unk>"]
    trainer = ByteLevelBPETokenizer()
    trainer.train_from_iterator([*texts, *(generator_input("exqa", t) for t in texts[:64])], vocab_size=BPE_VOCAB,
                                min_frequency=2, special_tokens=specials)
    return PreTrainedTokenizerFast(tokenizer_object=trainer._tokenizer, bos_token="<s>", eos_token="</s>",
                                   pad_token="<pad>", unk_token="<unk>")


def build_model(path: Path, size: str, new_tokens: int, tokenizer: str = "bpe") -> None:
    from transformers import GenerationConfig

    from bonito_hub.testing import make_tiny_llama

    hidden, layers, heads, intermediate = MODEL_SIZES[size]
    tok = bpe_tokenizer(corpus(4096, seed=2)) if tokenizer == "bpe" else None  # None: the word-level one
    make_tiny_llama(path, hidden_size=hidden, layers=layers, heads=heads, intermediate_size=intermediate,
                    max_position_embeddings=2048, tokenizer=tok)
    # every method generates exactly new_tokens tokens
    from transformers import AutoTokenizer

    saved = AutoTokenizer.from_pretrained(str(path))
    GenerationConfig(min_new_tokens=new_tokens, max_new_tokens=new_tokens, pad_token_id=saved.pad_token_id,
                     bos_token_id=saved.bos_token_id, eos_token_id=saved.eos_token_id).save_pretrained(str(path))


def peak_memory_gb(device: str) -> float:
    if device.startswith("cuda"):
        import torch

        return torch.cuda.max_memory_allocated() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024


def run_method(method: str, model_dir: str, n: int, new_tokens: int, device: str, work: str,
               tokenizer: str = "bpe") -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, pipeline

    from bonito_hub.format import generator_input
    from bonito_hub.generate.config import SamplingConfig
    from bonito_hub.generate.engines import TransformersEngine

    texts = corpus(n, tokenizer=tokenizer)
    prompts = [generator_input("exqa", p) for p in texts]
    sampling = dict(do_sample=True, temperature=0.5, top_p=0.95, top_k=0, max_new_tokens=new_tokens)
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32

    def sync():
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    start = time.perf_counter()
    if method == "loop":
        tok = AutoTokenizer.from_pretrained(model_dir)
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype).to(device).eval()
        start = time.perf_counter()
        with torch.inference_mode():
            for p in prompts:
                model.generate(**tok(p, return_tensors="pt").to(device), **sampling)
    elif method == "sorted":
        tok = AutoTokenizer.from_pretrained(model_dir, padding_side="left")
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype).to(device).eval()
        start = time.perf_counter()
        order = sorted(range(len(prompts)), key=lambda i: len(tok(prompts[i])["input_ids"]))
        with torch.inference_mode():
            for b in range(0, len(order), SORTED_BATCH):
                batch = tok([prompts[i] for i in order[b:b + SORTED_BATCH]], return_tensors="pt", padding=True)
                out = model.generate(**batch.to(device), **sampling)
                tok.batch_decode(out[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)
    elif method.startswith("pipeline-"):
        tok = AutoTokenizer.from_pretrained(model_dir, padding_side="left")
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype).to(device).eval()
        pipe = pipeline("text-generation", model=model, tokenizer=tok, batch_size=int(method.split("-")[1]),
                        device=torch.device(device))
        start = time.perf_counter()
        pipe(prompts, return_full_text=False, **sampling)
    elif method in ("padded", "continuous"):
        engine = TransformersEngine(model_dir, device=device, batching=method)  # otherwise its defaults
        start = time.perf_counter()
        engine.generate(prompts, SamplingConfig(n=1, temperature=0.5, top_p=0.95, max_tokens=new_tokens), seed=0)
    elif method in ("generate", "generate-ray"):
        path = Path(work) / f"corpus-{n}.jsonl"
        path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
        out = Path(work) / f"generate-out-{time.time_ns()}"
        command = [sys.executable, "-m", "bonito_hub.cli", "generate", "--model", model_dir, "--input", str(path),
                   "--task-type", "exqa", "--output", str(out), "--max-tokens", str(new_tokens), "--no-progress",
                   "-q"] + (["--ray"] if method == "generate-ray" else [])  # a local Ray with its default workers
        start = time.perf_counter()  # the user's wait, from the command's start to its end
        subprocess.run(command, check=True)
        seconds = time.perf_counter() - start
        if method == "generate-ray":  # the same funnel and rows as the single-process run of the same corpus
            single = sorted(Path(work).glob("generate-out-*"))[0]
            assert single != out and same_output(single, out), f"{out} differs from {single}"
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 / 1024
        return {"method": method, "seconds": seconds, "examples_per_s": n / seconds,
                "tokens_per_s": n * new_tokens / seconds, "peak_gb": peak,
                "stages": json.loads((out / "run.json").read_text()).get("stages")}
    sync()
    seconds = time.perf_counter() - start
    return {"method": method, "seconds": seconds, "examples_per_s": n / seconds,
            "tokens_per_s": n * new_tokens / seconds, "peak_gb": peak_memory_gb(device)}


def same_output(a: Path, b: Path) -> bool:
    """Two finished runs with the same funnel and the same rows in chunk order."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from bonito_hub.generate.folder import data_files, finished_chunks

    def rows(out: Path):
        files = data_files(finished_chunks(out))
        return pa.concat_tables([pq.read_table(out / f) for f in files]).to_pylist() if files else []

    funnel = [json.loads((out / "funnel.json").read_text()) for out in (a, b)]
    return funnel[0] == funnel[1] and rows(a) == rows(b)


def run_memory(model_dir: str, docs: int, work: str) -> dict:
    import json as _json

    from bonito_hub.cli import main

    path = Path(work) / f"corpus-{docs}.jsonl"
    with open(path, "w") as f:
        for i, t in enumerate(corpus(docs, seed=1, tokenizer="word")):
            f.write(_json.dumps({"id": i, "text": t}) + "\n")
    start = time.perf_counter()
    rc = main(["generate", "--model", model_dir, "--input", str(path), "--task-type", "exqa",
               "--output", str(Path(work) / f"out-{docs}"), "--max-tokens", "1", "--no-progress"])
    assert rc == 0
    return {"docs": docs, "seconds": time.perf_counter() - start, "peak_rss_gb": peak_memory_gb("cpu")}


def child(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=256)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--model-size", choices=list(MODEL_SIZES),
                        help="default: small with the BPE tokenizer, tiny with the word-level one")
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--pipeline-batch-size", type=int, nargs="+", default=[16])
    parser.add_argument("--methods", nargs="+", default=["pipeline", "sorted", "padded", "continuous", "generate"],
                        help="any of loop, pipeline, sorted, padded, continuous, generate")
    parser.add_argument("--tokenizer", choices=["bpe", "word"], default="bpe",
                        help=f"bpe: a {BPE_VOCAB}-token byte-level BPE trained on the corpus; word: the test tokenizer")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--ray", action="store_true",
                        help="instead: `bonito generate` in one process against `bonito generate --ray` (a local "
                             "Ray, its default workers) on a corpus of several default-sized chunks")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        result = run_method(rest[0], rest[1], int(rest[2]), int(rest[3]), rest[4], rest[5], rest[6]) if kind == "method" \
            else run_memory(rest[0], int(rest[1]), rest[2])
        print(json.dumps(result))
        return

    import torch
    from transformers import AutoModelForCausalLM

    if args.ray:
        args.methods, args.skip_memory = ["generate", "generate-ray"], True
        if args.passages == parser.get_default("passages"):
            args.passages = RAY_PASSAGES
    args.model_size = args.model_size or ("small" if args.tokenizer == "bpe" else "tiny")
    work = tempfile.mkdtemp(prefix="bonito-bench-gen-")
    model_dir = str(Path(work) / "llama")
    build_model(Path(model_dir), args.model_size, args.new_tokens, args.tokenizer)
    params = sum(p.numel() for p in AutoModelForCausalLM.from_pretrained(model_dir).parameters())
    device_name = torch.cuda.get_device_name() if args.device.startswith("cuda") else f"CPU, {torch.get_num_threads()} threads"
    import transformers
    from transformers import AutoTokenizer

    from bonito_hub.format import generator_input

    tok = AutoTokenizer.from_pretrained(model_dir)
    lengths = [len(tok(generator_input("exqa", t))["input_ids"]) for t in corpus(args.passages, tokenizer=args.tokenizer)]
    print(f"model: Llama, {params / 1e6:.1f}M parameters, {args.tokenizer} tokenizer of {len(tok)} tokens; "
          f"{args.passages} passages of 20-300 words, prompts of {min(lengths)}-{max(lengths)} tokens (mean "
          f"{sum(lengths) / len(lengths):.0f}); n=1, {args.new_tokens} new tokens each; {device_name}; transformers "
          f"{transformers.__version__}, torch {torch.__version__}")
    methods = [m for name in args.methods for m in
               ([f"pipeline-{b}" for b in args.pipeline_batch_size] if name == "pipeline" else [name])]
    results = {}
    for method in methods:
        r = child(["method", method, model_dir, str(args.passages), str(args.new_tokens), args.device, work,
                   args.tokenizer])
        results[method] = r
        print(f"{method:>12}: {r['seconds']:7.1f} s  {r['examples_per_s']:7.2f} examples/s  "
              f"{r['tokens_per_s']:8.0f} generated tokens/s  peak {'GPU' if args.device != 'cpu' else 'RSS'} "
              f"{r['peak_gb']:.2f} GB" + (" (the driver; Ray's workers are not its children)"
                                          if method == "generate-ray" else ""))
    on_gpu = args.device.startswith("cuda")
    from bonito_hub.generate.engines import AUTO_BATCHING

    default = AUTO_BATCHING["cuda" if on_gpu else "cpu"]  # the engine's default batching on this device
    baselines = [b for b in ("sorted", "pipeline-16") if b in results]
    if baselines:
        print("ratios (examples/s over the baseline's):")
        print(f"  {'method':>12}" + "".join(f"{'vs ' + b:>16}" for b in baselines))
        for method, r in results.items():
            print(f"  {method:>12}" + "".join(f"{r['examples_per_s'] / results[b]['examples_per_s']:>15.2f}x"
                                            for b in baselines))
    targets = {"sorted": 1.4, "pipeline-16": 5.0 if on_gpu else 2.0, "loop": 5.0, "pipeline-64": 2.0}
    if on_gpu:
        targets["padded"] = 1.5  # continuous batching against the padded engine on the GPU
    if default in results:
        e = results[default]["examples_per_s"]
        for base, r in results.items():
            if base in targets and base != default:
                ratio = e / r["examples_per_s"]
                print(f"engine ({default}, its default here) vs {base}: {ratio:.2f}x "
                      f"(target {targets[base]}x: {'met' if ratio >= targets[base] else 'missed'})")
        other = "padded" if default == "continuous" else "continuous"
        if other in results and other not in targets:
            print(f"{other} vs {default}: {results[other]['examples_per_s'] / e:.2f}x")
        if "generate" in results:
            g = results["generate"]
            ratio = g["examples_per_s"] / e
            print(f"generate vs engine: {ratio:.2f}x (target 0.9x: {'met' if ratio >= 0.9 else 'missed'})")
            if g.get("stages"):
                stages = dict(g["stages"])
                total = stages.pop("total")
                print("generate's stages (run.json): " + ", ".join(f"{k} {v:.1f} s" for k, v in stages.items()) +
                      f"; total {total:.1f} s in the run, {g['seconds']:.1f} s as the user waits; "
                      f"the engine alone {results[default]['seconds']:.1f} s")
    if "generate-ray" in results:
        single, on_ray = results["generate"]["seconds"], results["generate-ray"]["seconds"]
        overhead = (on_ray - single) / single
        print(f"Ray overhead: {on_ray:.1f} s on a local Ray against {single:.1f} s in one process = {overhead:+.1%} "
              f"(target <= +15%: {'met' if overhead <= 0.15 else 'missed'}); the same rows")
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
