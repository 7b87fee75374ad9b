"""Every GPU path in one short run: one table row a step, each step under its own time limit.

Made for the short GPU loans this project gets (about 15 minutes, start-up included): run it as
`bash benchmarks/gpu.sh` (which first installs the project from wheels carried beside it), and
paste the table into benchmarks/README.md. The steps, in order:

  padded-256 / continuous-256 / pipeline-16-256 / pipeline-64-256
                    the transformers engine (padded batches; transformers' continuous batching)
                    and transformers' pipeline at batch 16 and 64, 256 passages (generate.py's
                    methods, each in its own process)
  padded-2048 / continuous-2048
                    the two engines on 2,048 passages
  generate          the whole `bonito generate` at its defaults on the 2,048 passages, as a user
                    runs it, with the seconds per stage its run.json records
  openai / openai-cb
                    `bonito generate --backend openai` against `transformers serve` on the same
                    device, without and with the server's --continuous-batching (64 passages: a
                    server without continuous batching answers one request at a time)
  train             `bonito train --recipe student/mistral-7b-qlora` as shipped (Q-LoRA, 4-bit,
                    paged AdamW) on the benchmark model: steps per second
  evaluate          `bonito evaluate --protocol paper` on PubMedQA-schema rows: seconds

Each row: the step, seconds, its rate (examples/s, steps/s or rows/s), and the peak memory of the
step's processes (GPU: the device's memory in use above what it was at the step's start; CPU: the
resident memory of the step's process tree). A step that fails or runs out of its time says so in
its row and the run goes on.

`--device cpu --tiny` runs the same steps on a CPU with a tiny model and a few passages, in about
two minutes; CI runs it so the script cannot rot between GPU loans. On a CPU the student recipe
runs as plain LoRA in float32 (bitsandbytes' 4-bit loading and paged optimizer need CUDA), said in
its row. `--skip STEP ...` leaves steps out.

    bash benchmarks/gpu.sh                                  # a CUDA machine: the 150M model
    bash benchmarks/gpu.sh --device cpu --tiny              # this machine: every step, small
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import generate as gen  # noqa: E402  (benchmarks/generate.py: the corpus, the model and the methods)

STEPS = ("padded-256", "continuous-256", "pipeline-16-256", "pipeline-64-256", "padded-2048", "continuous-2048",
         "generate", "openai", "openai-cb", "train", "evaluate")
# (passages for "256" and "2048", passages sent to the server, new tokens, model size, tokenizer,
# training steps, evaluation rows). A server without continuous batching answers one request at a
# time, so the openai steps send 64 passages, not 256.
SCALE = {"full": (256, 2048, 64, 96, "150m", "bpe", 40, 64), "tiny": (16, 32, 16, 8, "micro", "word", 4, 4)}
LIMIT_S = {"full": 75, "tiny": 60}  # each step's time limit; what does not fit is left out with --skip
SERVE_START_S = 120
# transformers serve --continuous-batching sizes its paged cache from the memory it sees: on this
# 24 GB CPU machine 15 GB for the 32-wide test model, and 36 s to start. On a CPU it gets 8,192
# tokens of cache instead; on a GPU its own sizing, as a user gets it.
CPU_CACHE = ["--cb-num-blocks", "256", "--cb-block-size", "32"]


class Peak:
    """The peak memory of a step, sampled four times a second: the GPU's memory in use above its
    level at the start (nvidia-smi, else torch), or the resident memory of this process's children."""

    def __init__(self, device: str):
        self.device, self.peak, self.stop = device, 0.0, threading.Event()
        self.base = self._now()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _now(self) -> float:
        if self.device.startswith("cuda"):
            try:
                out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                                     capture_output=True, text=True, timeout=5).stdout.split()
                return float(out[0]) / 1024
            except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
                import torch

                free, total = torch.cuda.mem_get_info()
                return (total - free) / 2**30
        import psutil

        total = 0
        for child in psutil.Process().children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:
                pass
        return total / 2**30

    def _run(self):
        while not self.stop.wait(0.25):
            self.peak = max(self.peak, self._now() - (self.base if self.device.startswith("cuda") else 0))

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def run(command: list[str], limit: float, env: dict | None = None) -> tuple[int, str, str]:
    """A command under its time limit: (exit status, its standard output, the tail of both); 124
    when it ran out of time."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=limit, env=env)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return 124, out, out[-2000:]
    return done.returncode, done.stdout, (done.stdout + done.stderr)[-2000:]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    """`transformers serve` with the benchmark's model on a loopback port, on the device."""

    def __init__(self, model_dir: str, device: str, work: Path, continuous: bool):
        self.where = work / ("serve-cb" if continuous else "serve")
        self.where.mkdir(exist_ok=True)
        link = self.where / "bench"
        if not link.exists():
            link.symlink_to(model_dir)
        self.port = free_port()
        self.log = open(self.where / "serve.log", "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "transformers.cli.transformers", "serve", "bench", "--host", "127.0.0.1",
             "--port", str(self.port), "--device", device, *(["--continuous-batching"] if continuous else []),
             *(CPU_CACHE if continuous and device == "cpu" else [])],
            cwd=self.where, stdout=self.log, stderr=subprocess.STDOUT)

    def wait(self, limit: float) -> bool:
        import urllib.request

        deadline = time.time() + limit
        while time.time() < deadline and self.process.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as answer:
                    if answer.status == 200:
                        return True
            except OSError:
                time.sleep(0.5)
        return False

    def close(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def pubmedqa_rows(n: int) -> list[dict]:
    """n rows in the schema of BatsResearch/bonito-experiment-eval's pubmed_qa config."""
    answers = ("yes", "no", "maybe")
    words = gen.corpus(n, seed=3, tokenizer="word")
    return [{"pubid": i, "question": f"Does finding {i} hold?", "final_decision": answers[i % 3],
             "long_answer": "It does.", "context": {"contexts": [words[i]], "labels": ["R"], "meshes": []}}
            for i in range(n)]


def student_rows(n: int) -> list[dict]:
    texts = gen.corpus(n, seed=4, tokenizer="word")
    return [{"input": f"{t}\nWhat is the first word?", "output": t.split()[0]} for t in texts]


def row(step: str, seconds: float | None, rate: str, peak: float | None, note: str = "") -> str:
    took = f"{seconds:8.1f}" if seconds is not None else "       -"
    mem = f"{peak:7.2f}" if peak is not None else "      -"
    return f"| {step:<16} | {took} | {rate:<22} | {mem} | {note} |"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None, help="cuda or cpu (default: cuda when torch sees one)")
    parser.add_argument("--tiny", action="store_true", help="a tiny model and a few passages: every step in "
                        "about two minutes on a CPU")
    parser.add_argument("--skip", nargs="+", default=[], choices=STEPS, metavar="STEP",
                        help=f"steps to leave out: {', '.join(STEPS)}")
    parser.add_argument("--limit", type=float, default=None, help="each step's time limit in seconds (default: "
                        f"{LIMIT_S['full']} on a GPU, {LIMIT_S['tiny']} with --tiny)")
    parser.add_argument("--work", default=None, help="the folder to work in (default: a new temporary one, "
                        "removed at the end)")
    args = parser.parse_args(argv)
    import torch
    import transformers

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        print("--device cuda: torch sees no CUDA GPU here (torch.cuda.is_available() is False)", file=sys.stderr)
        return 2
    scale = "tiny" if args.tiny else "full"
    n_small, n_large, n_served, new_tokens, size, tokenizer, train_steps, eval_rows = SCALE[scale]
    limit = args.limit or LIMIT_S[scale]
    work = Path(args.work or tempfile.mkdtemp(prefix="bonito-gpu-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    model_dir = str(work / "llama")
    transformers.utils.logging.disable_progress_bar()
    if not Path(model_dir, "config.json").exists():
        gen.build_model(Path(model_dir), size, new_tokens, tokenizer)
    name = torch.cuda.get_device_name() if device.startswith("cuda") else f"CPU, {os.cpu_count()} cores"
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(model_dir)
    print(f"{time.strftime('%Y-%m-%d')}; {name}; torch {torch.__version__}, transformers {transformers.__version__}; "
          f"Llama {config.hidden_size}x{config.num_hidden_layers} ({size}), {tokenizer} tokenizer; "
          f"{new_tokens} new tokens a passage; each step at most {limit:.0f} s")
    print(f"| {'step':<16} | {'seconds':>8} | {'rate':<22} | {'peak GB':>7} | note |")
    print("|" + "|".join("-" * w for w in (18, 10, 24, 9, 6)) + "|")
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    failures = 0

    def report(step, status, out, seconds, rate, peak, note=""):
        nonlocal failures
        if status != 0:
            failures += 1
            why = "ran out of its time (--limit, or --skip it)" if status == 124 else \
                f"failed ({status}): " + (out.strip().splitlines() or ["no output"])[-1][:160]
            print(row(step, seconds, "-", peak, why), flush=True)
        else:
            print(row(step, seconds, rate, peak, note), flush=True)

    corpus_files = {}
    for n in {n_small, n_large, n_served}:
        path = work / f"corpus-{n}.jsonl"
        path.write_text("".join(json.dumps({"text": t}) + "\n" for t in gen.corpus(n, tokenizer=tokenizer)))
        corpus_files[n] = path
    for step in STEPS:
        if step in args.skip:
            continue
        if step.split("-")[0] in ("padded", "continuous", "pipeline"):
            method, n = step.rsplit("-", 1)
            n = n_small if n == "256" else n_large
            with Peak(device) as peak:
                status, stdout, out = run([sys.executable, str(HERE / "generate.py"), "--child", "method", method,
                                           model_dir, str(n), str(new_tokens), device, str(work), tokenizer], limit, env)
            result = json.loads(stdout.strip().splitlines()[-1]) if status == 0 else {}
            report(step, status, out, result.get("seconds"), f"{result.get('examples_per_s', 0):.2f} examples/s",
                   peak.peak, f"{n} passages")
        elif step == "generate":
            out_dir = work / "generated"
            shutil.rmtree(out_dir, ignore_errors=True)
            command = [sys.executable, "-m", "bonito_hub.cli", "generate", "--model", model_dir, "--input",
                       str(corpus_files[n_large]), "--task-type", "exqa", "--output", str(out_dir), "--max-tokens",
                       str(new_tokens), "--no-progress", "-q"]
            t0 = time.perf_counter()
            with Peak(device) as peak:
                status, _, out = run(command, limit, env)
            seconds = time.perf_counter() - t0
            stages = json.loads((out_dir / "run.json").read_text()).get("stages", {}) if status == 0 else {}
            note = f"{n_large} passages; stages: " + ", ".join(f"{k} {v:.1f}" for k, v in stages.items() if k != "total")
            report(step, status, out, seconds, f"{n_large / seconds:.2f} examples/s", peak.peak, note)
        elif step in ("openai", "openai-cb"):
            with Peak(device) as peak:
                served = Served(model_dir, device, work, continuous=step == "openai-cb")
                try:
                    t0 = time.perf_counter()
                    if not served.wait(min(SERVE_START_S, limit)):
                        tail = (served.where / "serve.log").read_text(errors="replace")[-300:]
                        report(step, 1, "transformers serve did not start: " + tail.replace("\n", " "), None, "",
                               peak.peak)
                        continue
                    start_s = time.perf_counter() - t0
                    out_dir = work / f"generated-{step}"
                    shutil.rmtree(out_dir, ignore_errors=True)
                    command = [sys.executable, "-m", "bonito_hub.cli", "generate", "--backend", "openai", "--base-url",
                               f"http://127.0.0.1:{served.port}/v1", "--model", "bench", "--tokenizer", model_dir,
                               "--input", str(corpus_files[n_served]), "--task-type", "exqa", "--output",
                               str(out_dir), "--max-tokens", str(new_tokens), "--no-progress", "-q"]
                    t0 = time.perf_counter()
                    status, _, out = run(command, limit, env)
                    seconds = time.perf_counter() - t0
                finally:
                    served.close()
            report(step, status, out, seconds, f"{n_served / seconds:.2f} examples/s", peak.peak,
                   f"{n_served} passages; the server started in {start_s:.0f} s")
        elif step == "train":
            data = work / "student.jsonl"
            data.write_text("".join(json.dumps(r) + "\n" for r in student_rows(256)))
            out_dir = work / "student"
            shutil.rmtree(out_dir, ignore_errors=True)
            overrides = [f"model_name_or_path={model_dir}", f"dataset_name={data}", f"output_dir={out_dir}",
                         f"max_steps={train_steps}", "save_strategy=no", f"logging_steps={train_steps}"]
            note = "as shipped: Q-LoRA (4-bit nf4), paged AdamW, bf16"
            if not device.startswith("cuda"):
                overrides += ["load_in_4bit=false", "use_bnb_nested_quant=false", "optim=adamw_torch", "bf16=false",
                              "dtype=float32", "use_cpu=true"]
                note = "on a CPU: plain LoRA in float32 (4-bit and paged AdamW need CUDA)"
            command = [sys.executable, "-m", "bonito_hub.cli", "train", "--recipe", "student/mistral-7b-qlora",
                       "--no-progress", *overrides]
            with Peak(device) as peak:
                status, _, out = run(command, limit, env)
            metrics = {}
            if status == 0:
                metrics = json.loads((out_dir / "training_record.json").read_text()).get("metrics", {})
            report(step, status, out, metrics.get("train_runtime"),
                   f"{metrics.get('train_steps_per_second', 0):.2f} steps/s", peak.peak,
                   f"{train_steps} steps of 16 examples; {note}")
        elif step == "evaluate":
            data = work / "pubmedqa.jsonl"
            data.write_text("".join(json.dumps(r) + "\n" for r in pubmedqa_rows(eval_rows)))
            out_dir = work / "evaluated"
            shutil.rmtree(out_dir, ignore_errors=True)
            command = [sys.executable, "-m", "bonito_hub.cli", "evaluate", "--model", model_dir, "--target",
                       "pubmedqa", "--data", str(data), "--protocol", "paper", "--output", str(out_dir),
                       "--no-progress", "-q"]
            t0 = time.perf_counter()
            with Peak(device) as peak:
                status, _, out = run(command, limit, env)
            seconds = time.perf_counter() - t0
            backend = json.loads((out_dir / "scores.json").read_text()).get("backend") if status == 0 else "-"
            report(step, status, out, seconds, f"{eval_rows * 5 / seconds:.2f} prompts/s", peak.peak,
                   f"{eval_rows} rows x 5 prompts x 3 choices; {backend} backend")
    print(f"all steps: {time.perf_counter() - started:.0f} s; {failures} failed")
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
