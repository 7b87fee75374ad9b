"""What a generation will make and cost, before it runs (`bonito generate --dry-run`, `bonito
adapt --dry-run`, and the check of `--max-tokens-budget`).

The corpus is read and cut exactly as the run reads and cuts it (the same GenerationRun code,
chunk by chunk), with the generator's tokenizer and config only: no weights are loaded. So the
documents, passages (per language, left out, held out), prompts per task type and generations are
the counts the run's funnel will hold; the prompt tokens are the tokens those prompts take; the
output is bounded by `max_tokens` a generation. Time comes from a rate the user gives
(`--tokens-per-second`) or from a rate measured on this device class for a model of this size
(bonito_hub/data/throughput.yaml), and cost from the prices the user gives (`--price-per-mtok`).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bonito_hub import resources
from bonito_hub.console import get_logger
from bonito_hub.errors import ConfigError, ModelLoadError, cause
from bonito_hub.generate.config import EstimateOptions, prices

log = get_logger(__name__)


class TokenizerOnly:
    """The generator as a dry run needs it: its tokenizer, and its context length from its config
    (as the transformers engine takes it) or `max_model_len`. It loads no weights and generates
    nothing."""

    name = "dry run"

    def __init__(self, model: str, tokenizer: str | None = None, max_model_len: int | None = None):
        from transformers import AutoConfig, AutoTokenizer

        from bonito_hub.generate.engines import context_length

        self.model_name = str(model)
        source = str(tokenizer or model)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(source)
        except Exception as exc:
            raise ModelLoadError(f"could not read the tokenizer of {Path(source).name!r} for the estimate: "
                                 f"{cause(exc)}; give `tokenizer`", field="tokenizer") from None
        try:
            self.config = AutoConfig.from_pretrained(str(model))
        except Exception:  # a server's model name: the tokenizer's limit, or max_model_len
            self.config = None
        positions = getattr(self.config, "max_position_embeddings", None) or 4096
        self.max_context = int(max_model_len or context_length(_Positions(positions), self.tokenizer))

    def generate(self, prompts, sampling, seed, progress=None):
        raise RuntimeError("a dry run generates nothing")


@dataclass
class _Positions:
    max_position_embeddings: int


@dataclass
class Estimate:
    """What a run will make: `funnel` (funnel.json's counts up to the generations; nothing kept
    yet), `prompts` per task type (held-out documents' apart), the prompt tokens, and the bounds
    and estimates derived from them."""

    funnel: dict
    prompts: dict[str, int]
    heldout_prompts: int
    prompt_tokens: int
    max_new_tokens: int
    samples: int
    chunks: int
    passage_budget: int
    rate: float | None = None  # generated tokens per second
    rate_source: str | None = None
    prices: tuple[float, float] | None = None
    extra: dict = field(default_factory=dict)

    @property
    def generations(self) -> int:
        return self.funnel["generations"]

    @property
    def max_output_tokens(self) -> int:
        return self.generations * self.max_new_tokens

    @property
    def max_tokens(self) -> int:
        """The upper bound of tokens the run spends: every prompt once a sample, every generation at
        its longest."""
        return self.prompt_tokens * self.samples + self.max_output_tokens

    @property
    def seconds(self) -> float | None:
        return None if not self.rate else self.max_output_tokens / self.rate

    @property
    def cost(self) -> float | None:
        if self.prices is None:
            return None
        return (self.prompt_tokens * self.samples * self.prices[0] + self.max_output_tokens * self.prices[1]) / 1e6

    def lines(self) -> list[str]:
        """What `--dry-run` prints."""
        f = self.funnel
        out = [f"documents {f['documents']} (empty {f['empty_documents']}"
               + "".join(f", skipped {k} {n}" for k, n in (f.get("skipped_files") or {}).items()) + ")"
               + f" in {self.chunks} chunk(s); passages of at most {self.passage_budget} tokens"]
        if f.get("languages"):
            out.append("  languages: " + ", ".join(f"{code} {by['documents']} documents ({by['passages']} passages)"
                                                   for code, by in f["languages"].items()))
        if f.get("language_filtered"):
            out.append(f"  left out by the language filter: {f['language_filtered']['documents']} documents "
                       f"({f['language_filtered']['passages']} passages)")
        if (f.get("removed") or {}).get("too_short"):
            out.append(f"  passages too short to prompt: {f['removed']['too_short']}")
        if f.get("overlapping_passages") is not None:
            out.append(f"  passages left out for sharing an n-gram with the evaluation set: {f['overlapping_passages']}")
        out.append(f"passages {f['passages']}" + (f" (of which {f['heldout']['passages']} from held-out documents)"
                                                   if f.get("heldout") else ""))
        out.append("prompts " + str(sum(self.prompts.values()) + self.heldout_prompts) + ": "
                   + ", ".join(f"{t} {n}" for t, n in self.prompts.items())
                   + (f", held out {self.heldout_prompts}" if self.heldout_prompts else ""))
        out.append(f"prompt tokens {self.prompt_tokens:,}; generations {self.generations:,} ({self.samples} a prompt), "
                   f"at most {self.max_new_tokens} new tokens each: at most {self.max_output_tokens:,} generated tokens")
        out.append(f"upper bound: {self.max_tokens:,} tokens")
        if self.seconds is not None:
            out.append(f"time: at most {_duration(self.seconds)} at {self.rate:,.0f} generated tokens/s "
                       f"({self.rate_source})")
        else:
            out.append(f"time: {self.rate_source}")
        if self.cost is not None:
            out.append(f"cost: at most ${self.cost:,.2f} at ${self.prices[0]:g} and ${self.prices[1]:g} per million "
                       "prompt and generated tokens")
        return out


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def parameters(model: str) -> int | None:
    """A local model's parameter count from its safetensors files' headers (the tensors' shapes;
    no weights are read); None when that cannot be told."""
    import struct

    path = Path(model)
    files = sorted(path.glob("*.safetensors")) if path.is_dir() else []
    if not files:
        return None
    total = 0
    for file in files:
        with open(file, "rb") as f:
            size = struct.unpack("<Q", f.read(8))[0]
            if size > 100_000_000:
                return None
            header = json.loads(f.read(size))
        for name, info in header.items():
            if name != "__metadata__":
                n = 1
                for d in info["shape"]:
                    n *= d
                total += n
    return total


def device_class() -> str:
    try:
        import torch

        if torch.cuda.is_available():
            return "cuda:" + torch.cuda.get_device_name(0)
    except Exception:
        pass
    return "cpu"


def measured_rate(model: str) -> tuple[float | None, str]:
    """A generated-tokens-per-second rate measured on this device class for a model of this size
    (bonito_hub/data/throughput.yaml), and where it comes from; (None, why) without one."""
    import yaml

    device = device_class()
    n = parameters(model)
    for entry in yaml.safe_load(resources.read_text("throughput.yaml"))["measured"]:
        if device.startswith(entry["device"]) and n is not None and n <= entry["max_parameters"]:
            return float(entry["generated_tokens_per_second"]), f"measured {entry['measured']}"
    size = f"a {n / 1e9:.1f}B-parameter model" if n and n >= 1e8 else "this model" if n is None else \
        f"a {n / 1e6:.0f}M-parameter model"
    return None, (f"no rate was measured for {size} on {device}; give --tokens-per-second (your measured "
                  "generated tokens per second) for an estimate")


def estimate(config, options: EstimateOptions | None = None, *, texts=None, settings=None, engine=None) -> Estimate:
    """The Estimate of the run `config` (a GenerateConfig) would make, its shard only; nothing is
    written and no weights are loaded. `texts` and `settings`: the input and the run's settings,
    when the caller has them already; `engine`: an engine already loaded, whose tokenizer and
    context length are used (else the generator's tokenizer and config files are read)."""
    from bonito_hub.generate.folder import RunFolder
    from bonito_hub.generate.funnel import Funnel, empty_counts
    from bonito_hub.generate.inputs import read_input, run_settings
    from bonito_hub.generate.run import GenerationRun

    options = options or EstimateOptions()
    settings = settings or run_settings(config)
    texts = texts if texts is not None else read_input(config, survey=False)
    engine = engine or TokenizerOnly(config.model, config.tokenizer, config.max_model_len)
    folder = RunFolder(texts, config.output, settings, engine.model_name, TokenizerOnly.name)
    run = GenerationRun(engine, texts, config.output, settings, folder=folder)
    index, count = config.shard
    chunks = [k for k in range(folder.n_chunks) if k % count == index]
    tokenizer, n = engine.tokenizer, settings.sampling.n
    done, prompts, held_prompts, prompt_tokens = {}, Counter(), 0, 0
    for k in chunks:
        passages, counts = run.chunk_passages(k)
        items = run.assign(passages)
        texts_k = run.prompts(items)
        if texts_k:
            prompt_tokens += count_tokens(tokenizer, texts_k)
        by_type = {t: {"generations": 0, "kept": 0} for t in settings.types}
        held = {"documents": set(), "passages": set(), "generations": 0, "kept": 0}
        for passage, task_type in items:
            if passage.doc_index in folder.heldout:
                held["documents"].add(passage.doc_index)
                held["passages"].add((passage.doc_index, passage.index))
                held["generations"] += n
                held_prompts += 1
            else:
                by_type[task_type]["generations"] += n
                prompts[task_type] += 1
        counts = {**empty_counts(), **counts, "generations": len(items) * n}
        if folder.heldout:
            counts["heldout"] = {"documents": len(held["documents"]), "passages": len(held["passages"]),
                                 "generations": held["generations"], "kept": 0}
        if len(settings.types) > 1:
            counts["by_type"] = by_type
        done[k] = {"counts": counts}
    funnel = Funnel.aggregate(done, len(chunks)).to_dict()
    for key in ("kept", "dropped", "chunks_done", "complete"):  # what only the run can tell
        funnel.pop(key, None)
    if funnel.get("by_type"):
        funnel["by_type"] = {t: {"generations": by["generations"]} for t, by in funnel["by_type"].items()}
    if funnel.get("heldout"):
        funnel["heldout"] = {k: v for k, v in funnel["heldout"].items() if k in ("documents", "passages", "generations")}
    if options.tokens_per_second:
        rate, source = options.tokens_per_second, "the rate you gave"
    else:
        rate, source = measured_rate(config.model)
    return Estimate(funnel=funnel, prompts={t: prompts[t] for t in settings.types}, heldout_prompts=held_prompts,
                    prompt_tokens=prompt_tokens, max_new_tokens=settings.sampling.max_tokens, samples=n,
                    chunks=len(chunks), passage_budget=run.splitter.max_tokens,
                    rate=rate, rate_source=source,
                    prices=prices(options.price_per_mtok) if options.price_per_mtok else None)


def count_tokens(tokenizer, texts: list[str]) -> int:
    """The tokens `texts` take as the engines tokenise their prompts (special tokens included); a
    fast tokenizer's Rust encoder directly, without building Python objects for each encoding."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        return sum(len(e.ids) for e in backend.encode_batch(texts, add_special_tokens=True))
    return sum(len(ids) for ids in tokenizer(texts)["input_ids"])


def check_budget(estimate_: Estimate, budget: int | None) -> None:
    """A ConfigError, naming `max_tokens_budget`, when the run's upper bound exceeds the budget."""
    if budget is not None and estimate_.max_tokens > budget:
        raise ConfigError(f"this run may spend up to {estimate_.max_tokens:,} tokens ({estimate_.prompt_tokens:,} "
                          f"prompt tokens x {estimate_.samples} + {estimate_.generations:,} generations x "
                          f"{estimate_.max_new_tokens} new tokens), over `max_tokens_budget` {budget:,}; cut the "
                          "input, --num-samples or --max-tokens, or raise the budget", field="max_tokens_budget")
