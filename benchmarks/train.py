"""Benchmark: padded batches against padding-free and packed batches for SFT, in one run.

A Llama of about 5M parameters from a config, 384 prompt/completion examples whose lengths follow
a long-tailed mix (prompts 20-700 tokens, completions 5-120), one epoch of full fine-tuning with
SFTTrainer for each of
  padded        batches padded to their longest example (TRL's default)
  padding_free  the batch flattened into one sequence, position ids restarting per example
  packed        examples packed into max_length sequences (best-fit decreasing)
Prints training tokens/s (tokens that are not padding), the share of padding in the batches, and
the loss on the same held-out examples after training, so speed is compared at equal quality.

    python benchmarks/train.py [--examples 384]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")


def examples(n: int, seed: int) -> list[dict]:
    from bonito_hub.testing import BASE_TEXT

    words = BASE_TEXT.split()
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        p = min(700, max(20, int(rng.lognormvariate(4.6, 0.8))))
        c = min(120, max(5, int(rng.lognormvariate(3.0, 0.7))))
        out.append({"input": " ".join(rng.choice(words) for _ in range(p)),
                    "output": " ".join(words[(i * 7) % len(words)] for i in range(c))})
    return out


def run(mode: str, model_dir: str, train_rows, eval_rows, work: str) -> dict:
    import datasets
    import torch
    from transformers import AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from bonito_hub import training

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(model_dir)
    args = training.RecipeConfig(dataset_name="bench")
    train = training.prepare_dataset(datasets.Dataset.from_list(train_rows), "student", tok, args)
    evaluation = training.prepare_dataset(datasets.Dataset.from_list(eval_rows), "student", tok, args)
    config = SFTConfig(
        output_dir=f"{work}/{mode}", use_cpu=True, bf16=False, num_train_epochs=1, per_device_train_batch_size=8,
        per_device_eval_batch_size=8, learning_rate=1e-3, lr_scheduler_type="linear", max_length=None if mode == "padding_free" else 1024,
        logging_steps=1000, save_strategy="no", report_to="none", seed=0, dataloader_num_workers=0,
        padding_free=mode == "padding_free", packing=mode == "packed", eval_packing=False,
        gradient_checkpointing=False, disable_tqdm=True,
    )
    trainer = SFTTrainer(model=model_dir, args=config, train_dataset=train, eval_dataset=evaluation, processing_class=tok)
    real = padded = 0
    for batch in trainer.get_train_dataloader():
        total = batch["input_ids"].numel()
        pads = int((batch["attention_mask"] == 0).sum()) if "attention_mask" in batch else 0
        if "position_ids" in batch and "attention_mask" not in batch:
            # padding-free: only the tail after the last sequence can be padding
            pads = int((batch["input_ids"] == tok.pad_token_id).sum())
        real += total - pads
        padded += total
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    loss = trainer.evaluate()["eval_loss"]
    return {"mode": mode, "seconds": seconds, "tokens_per_s": real / seconds, "padding": 1 - real / padded,
            "steps": trainer.state.global_step, "eval_loss": loss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=384)
    parser.add_argument("--modes", nargs="+", default=["padded", "padding_free", "packed"])
    args = parser.parse_args()
    import torch
    from transformers import AutoModelForCausalLM

    from bonito_hub.testing import make_tiny_llama

    work = tempfile.mkdtemp(prefix="bonito-bench-train-")
    model_dir = str(make_tiny_llama(Path(work) / "llama", hidden_size=256, layers=4, heads=4, intermediate_size=768,
                                    max_position_embeddings=2048, initializer_range=0.05))
    params = sum(p.numel() for p in AutoModelForCausalLM.from_pretrained(model_dir).parameters())
    train_rows, eval_rows = examples(args.examples, 0), examples(64, 1)
    print(f"model: Llama, {params / 1e6:.1f}M parameters; {args.examples} training examples, 64 held out; "
          f"torch threads {torch.get_num_threads()}")
    results = {}
    for mode in args.modes:
        r = run(mode, model_dir, train_rows, eval_rows, work)
        results[mode] = r
        print(f"{mode:>13}: {r['seconds']:6.1f} s  {r['tokens_per_s']:7.0f} training tokens/s  padding {r['padding']:5.1%}  "
              f"{r['steps']:3d} steps  held-out loss {r['eval_loss']:.3f}")
    base = results.get("padded")
    if base:
        for mode, r in results.items():
            if mode != "padded":
                print(f"{mode} vs padded: {r['tokens_per_s'] / base['tokens_per_s']:.2f}x tokens/s, "
                      f"held-out loss {r['eval_loss'] - base['eval_loss']:+.3f}")


if __name__ == "__main__":
    main()
