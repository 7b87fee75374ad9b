"""`bonito`: the command line. Each sub-command parses its arguments, calls the library, reports.

What a command produced (counts, where it wrote) goes to stdout; log messages and progress bars go
to stderr. An error the user can fix (a BonitoError) is one line and exit status 2.
"""

from __future__ import annotations

import argparse
import sys


def _common() -> argparse.ArgumentParser:
    """Flags every sub-command takes: how much it says, and whether it draws progress bars."""
    common = argparse.ArgumentParser(add_help=False)
    g = common.add_argument_group("output")
    g.add_argument("-v", "--verbose", action="count", default=0, help="say more (debug messages)")
    g.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors; no progress bars")
    g.add_argument("--no-progress", action="store_true", help="no progress bars (also off when stderr is not a terminal)")
    return common


def _add_ctga(sub, common) -> None:
    ctga = sub.add_parser("ctga", help="build the CTGA training set for task generators")
    ctga_sub = ctga.add_subparsers(dest="ctga_command", required=True)
    b = ctga_sub.add_parser("build", parents=[common], help="render P3 sources with meta-templates into a CTGA folder")
    b.add_argument("--output", required=True, help="folder to write (Parquet shards and README.md card)")
    b.add_argument("--sources-dir", help="read sources from SRC/<name>/<split>.jsonl|.parquet instead of the Hub")
    b.add_argument("--registry", help="a sources.yaml to use instead of the packaged one (dataset_builders/ctga/sources.yaml)")
    b.add_argument("--promptsource-dir", help="folder with promptsource's templates or its sdist (default: fetch with pip)")
    b.add_argument("--skip-missing", action="store_true", help="build without sources that fail to load (listed in the card)")
    b.add_argument("--max-per-source", type=int, default=100_000, help="rows sampled per source (default: 100000)")
    b.add_argument("--task-types", nargs="+", metavar="TYPE",
                   help="only these task types (short or full names; bonito tasks lists them)")
    b.add_argument("--seed", type=int, default=42, help="draws rows, templates and choices inside them (default: 42)")
    b.add_argument("--num-proc", type=int, default=1, help="processes rendering rows")
    b.add_argument("--validation-fraction", type=float, default=0.01, help="share of each source's sample held out")
    b.add_argument("--no-truncate", dest="truncate", action="store_false",
                   help="keep whole fields (CTGA-v1 cut them at 2,048 characters)")
    b.add_argument("--task-table", default="bonito-hub",
                   help="which templates, with which task types: bonito-hub (ours, default), ctga-v1 (exactly "
                        "CTGA-v1's, from the table released with the paper), or a YAML file in our table's format")
    b.add_argument("--overwrite", action="store_true", help="replace a folder that holds another build")


def _ctga_build(args) -> int:
    from bonito_hub.ctga.build import build
    from bonito_hub.ctga.builder import CtgaConfig

    config = CtgaConfig(
        name="all", task_types=args.task_types, seed=args.seed, max_per_source=args.max_per_source,
        validation_fraction=args.validation_fraction, truncate=args.truncate, task_table=args.task_table,
        registry=args.registry, sources_dir=args.sources_dir, promptsource_dir=args.promptsource_dir,
        skip_missing=args.skip_missing,
    )
    record = build(config, args.output, num_proc=args.num_proc, overwrite=args.overwrite)
    print(f"CTGA build {record['build_id']}: {record['rows']} rows in {record['seconds']} s -> {args.output}")
    for t, n in record["rows_per_task_type"].items():
        print(f"  {t:<14} train {n['train']:>9}  validation {n['validation']:>7}")
    dropped = sum(record["skipped_by_reason"].values())
    if dropped:
        reasons = ", ".join(f"{r} {n}" for r, n in sorted(record["skipped_by_reason"].items()))
        print(f"  rows that gave no example: {dropped} ({reasons})")
    for name, why in record["skipped_sources"].items():
        print(f"  skipped source {name}: {why}")
    return 0


def _add_generate(sub, common) -> None:
    from bonito_hub import tasks
    from bonito_hub.generate.filters import FILTERS
    from bonito_hub.generate.presets import presets
    from bonito_hub.generate.run import CHUNK_TOKENS

    table = presets()
    g = sub.add_parser("generate", parents=[common], help="generate instruction-tuning data from unannotated text")
    g.add_argument("--model", required=True, help="task generator: a local folder or a Hub id")
    g.add_argument("--input", required=True, help="JSONL/CSV/Parquet/text file, folder of .txt/.md, data set folder, or Hub id")
    g.add_argument("--task-type", required=True, metavar="TYPE",
                   help="short or full task-type name: " + ", ".join(tasks.short_names()) + " (bonito tasks lists them)")
    g.add_argument("--output", required=True, help="folder to write; the same command resumes an interrupted run")
    g.add_argument("--text-column", default="text", help="column holding the documents (default: text)")
    g.add_argument("--split", default="train", help="split of a data set input (default: train)")
    g.add_argument("--encoding", default="utf-8",
                   help="encoding of text inputs (default: utf-8; every byte must decode, e.g. latin-1 for older corpora)")
    g.add_argument("--preset", choices=list(table), default="default",
                   help="sampling and filters: " + "; ".join(f"{k}: {v['about']} (temperature {v['temperature']}, "
                                                             f"top_p {v['top_p']})" for k, v in table.items()))
    g.add_argument("--num-samples", type=int, help="generations per passage (preset: 1)")
    g.add_argument("--temperature", type=float, help="sampling temperature (preset default: 0.5, paper: 0.95)")
    g.add_argument("--top-p", type=float, help="nucleus sampling (preset default: 0.95, paper: 0.5)")
    g.add_argument("--max-tokens", type=int, help="new tokens per generation (preset: 256)")
    g.add_argument("--seed", type=int, default=0, help="sampling seed; chunk k samples with a seed from (seed, k)")
    g.add_argument("--backend", choices=["auto", "transformers", "vllm"], default="auto",
                   help="auto: vLLM when it is installed and a GPU is visible, else transformers")
    e = g.add_argument_group("engine options (each applies to the engine named; giving one to the other is an error)")
    e.add_argument("--batch-size", type=int, help="transformers: most prompts a batch (default: 24 on a CPU, "
                   "on a GPU as many as 40%% of free memory holds, at most 512)")
    e.add_argument("--tensor-parallel-size", type=int, help="vLLM: GPUs per model")
    e.add_argument("--gpu-memory-utilization", type=float, help="vLLM: share of GPU memory it may take")
    e.add_argument("--max-model-len", type=int, help="vLLM: context length (smaller saves KV-cache memory)")
    e.add_argument("--dtype", help="both: weights' dtype (auto, bfloat16, float16, float32)")
    e.add_argument("--engine-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="both, repeatable: passed to vllm.LLM(...) or AutoModelForCausalLM.from_pretrained(...); "
                        "VALUE is read as YAML (8, 0.5, true, {a: 1})")
    g.add_argument("--shard", default="0/1", help="i/N: take the i-th of N disjoint parts of the input")
    g.add_argument("--chunk-tokens", type=int, default=CHUNK_TOKENS,
                   help=f"passage tokens a written chunk holds, about 4 characters each (default: {CHUNK_TOKENS})")
    g.add_argument("--chunk-size", type=int, help="also close a chunk at this many documents")
    g.add_argument("--max-passage-tokens", type=int, help="split documents into passages of at most this many tokens "
                   "(default: the model's context minus --max-tokens)")
    g.add_argument("--format", choices=["prompt-completion", "messages"], default="prompt-completion",
                   help="columns for TRL besides input/output (default: prompt-completion)")
    g.add_argument("--no-filter", action="append", default=[], choices=list(FILTERS), metavar="NAME",
                   help=f"switch a filter off (repeatable): {', '.join(FILTERS)}")
    g.add_argument("--overwrite", action="store_true", help="replace a folder holding a different run")
    g.add_argument("--push-to-hub", metavar="ORG/NAME",
                   help="when the run is complete, push it with its card (as `bonito push dataset`; private)")
    g.add_argument("--public", action="store_true", help="with --push-to-hub: create the repo public")
    r = g.add_argument_group("Ray (pip install 'bonito-hub[ray]'): the chunks on a Ray cluster, same rows and files")
    r.add_argument("--ray", action="store_true", help="run the chunks on Ray workers (a local Ray unless --ray-address)")
    r.add_argument("--ray-address", metavar="ADDR", help="join a running cluster: HOST:PORT, ray://HOST:PORT or auto")
    r.add_argument("--workers", type=int, help="Ray workers, each loading the engine once (default: the cluster's "
                   "GPUs / --gpus-per-worker, or its CPUs / --cpus-per-worker without GPUs)")
    r.add_argument("--gpus-per-worker", type=float, help="GPUs a worker takes (default: 1 on a cluster with GPUs, else 0)")
    r.add_argument("--cpus-per-worker", type=float, default=1, help="CPUs a worker takes (default: 1)")


def _cluster():
    """bonito_hub.generate.cluster, which needs Ray; without Ray, one line saying how to install it."""
    from bonito_hub.errors import ConfigError

    try:
        from bonito_hub.generate import cluster
    except ImportError as exc:
        raise ConfigError(f"--ray needs Ray: pip install 'bonito-hub[ray]' ({exc})") from None
    return cluster


def _generate_on_ray(args, texts, config, shard, engine_options) -> dict:
    from bonito_hub.errors import ConfigError
    from bonito_hub.generate.engines import BACKENDS, check_engine_options
    from bonito_hub.generate.run import GenerationRun
    from bonito_hub.models import check_model_source

    if shard != (0, 1):
        raise ConfigError("--ray schedules every chunk itself; leave --shard out")
    run_on_ray = _cluster().run_on_ray
    check_model_source(args.model)
    if args.backend in BACKENDS and args.backend != "auto":
        check_engine_options(args.backend, engine_options)
    run = GenerationRun(None, texts, args.output, config, model_name=args.model, engine_name=args.backend)
    return run_on_ray(run, args.model, args.backend, {k: v for k, v in engine_options.items() if v is not None},
                      address=args.ray_address, workers=args.workers, gpus_per_worker=args.gpus_per_worker,
                      cpus_per_worker=args.cpus_per_worker, overwrite=args.overwrite,
                      progress=not args.no_progress)


def _parse_shard(text: str) -> tuple[int, int]:
    from bonito_hub.errors import ConfigError

    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise ConfigError(f"--shard takes i/N (for example 0/4), got {text!r}") from None
    if not 0 <= i < n:
        raise ConfigError(f"--shard {text}: need 0 <= i < N")
    return i, n


def _key_values(pairs: list[str], flag: str) -> list[tuple[str, str]]:
    """A repeatable KEY=VALUE flag's (key, value) pairs; a pair without `=` or key is an error."""
    from bonito_hub.errors import ConfigError

    out = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{flag} takes KEY=VALUE, got {pair!r}")
        out.append((key.strip(), value))
    return out


def _parse_engine_args(pairs: list[str]) -> dict:
    import yaml

    return {key.replace("-", "_"): yaml.safe_load(value) if value else ""
            for key, value in _key_values(pairs, "--engine-arg")}


def _generate(args) -> int:
    from bonito_hub.generate.engines import SamplingConfig, make_engine
    from bonito_hub.corpus import check_text_column, load_texts
    from bonito_hub.generate.presets import resolve
    from bonito_hub import resources
    from bonito_hub.errors import ConfigError
    from bonito_hub.generate.run import GenerationRun, RunConfig, check_output, run_record

    shard = _parse_shard(args.shard)
    if args.ray and args.ray_address:  # an unreachable cluster is said in seconds, before any reading
        _cluster().check_address(args.ray_address)
    sampling, filters = resolve(args.preset, {"n": args.num_samples, "temperature": args.temperature,
                                              "top_p": args.top_p, "max_tokens": args.max_tokens}, args.no_filter)
    config = RunConfig(
        task_type=args.task_type, text_column=args.text_column,
        sampling=SamplingConfig.from_any({**sampling, "seed": args.seed}),
        filters=filters, format=args.format, chunk_docs=args.chunk_size, chunk_tokens=args.chunk_tokens,
        max_passage_tokens=args.max_passage_tokens,
    )
    # Everything that can be checked before the model loads is checked here: fail in seconds, not hours.
    from bonito_hub import hub
    from bonito_hub.push import check_repo_id

    if args.push_to_hub:
        check_repo_id(args.push_to_hub)
        hub.check_reachable(f"--push-to-hub {args.push_to_hub}")

    if not hub.is_local(args.input):
        hub.check_reachable(f"--input {args.input}")
    texts = load_texts(args.input, split=args.split, encoding=args.encoding)
    check_text_column(texts, args.text_column)
    check_output(args.output, run_record(config, args.model, texts), args.overwrite)
    resources.data_file("cards/generated.md")
    if not hub.is_local(args.model):  # a path is checked by make_engine, before anything loads
        hub.check_reachable(f"--model {args.model}")
    # Only what the user set; make_engine refuses an option the chosen engine does not take.
    engine_options = {"batch_size": args.batch_size, "tensor_parallel_size": args.tensor_parallel_size,
                      "gpu_memory_utilization": args.gpu_memory_utilization, "max_model_len": args.max_model_len,
                      "dtype": args.dtype, "engine_args": _parse_engine_args(args.engine_arg) or None}
    if args.ray:
        funnel = _generate_on_ray(args, texts, config, shard, engine_options)
    else:
        if args.ray_address or args.workers or args.gpus_per_worker is not None:
            raise ConfigError("--ray-address, --workers and --gpus-per-worker go with --ray")
        engine = make_engine(args.model, args.backend, **engine_options)
        funnel = GenerationRun(engine, texts, args.output, config).run(shard=shard, overwrite=args.overwrite)
    print(f"funnel ({'Ray, ' + args.backend if args.ray else engine.name} engine): documents {funnel['documents']} (empty {funnel['empty_documents']}) -> "
          f"passages {funnel['passages']} -> generations {funnel['generations']} -> kept {funnel['kept']}")
    for reason, n in funnel["dropped"].items():
        print(f"  dropped {reason}: {n}")
    if funnel["complete"] and not funnel["kept"]:
        print(f"done, but no generation was kept: {args.output} holds no data file (see the reasons above)")
    elif funnel["complete"]:
        print(f"done: {args.output} (load with datasets.load_dataset({args.output!r}); funnel in funnel.json)")
    else:
        print(f"shard {shard[0]}/{shard[1]} done; {funnel['chunks_done']} of {funnel['chunks']} chunks finished overall")
    if args.push_to_hub and funnel["complete"] and funnel["kept"]:
        from bonito_hub.push import push

        _say_pushed(push("dataset", args.output, args.push_to_hub, public=args.public), args.public)
    elif args.push_to_hub:
        print(f"not pushed to {args.push_to_hub}: " + ("the run kept no rows" if funnel["complete"] else
              "the run is not complete; the command that finishes its last chunk pushes it"))
    return 0


def _add_evaluate(sub, common) -> None:
    from bonito_hub.evaluation.harness import FORMATS
    from bonito_hub.evaluation.targets import builtin_targets

    e = sub.add_parser("evaluate", parents=[common],
                       help="score a model (and its adapter) on a target with the paper's protocol, on lm-eval")
    e.add_argument("--model", help="base model: a local folder or a Hub id (default: the adapter's base model)")
    e.add_argument("--adapter", help="a LoRA adapter folder (recipes/sft.py output) to evaluate on top of --model")
    e.add_argument("--target", required=True,
                   help="a built-in target (" + ", ".join(builtin_targets()) + ") or your labelled JSON Lines file: "
                        "passage, question or hypothesis, answer, and choices for classification")
    e.add_argument("--output", required=True, help="folder to write: scores.json, predictions/, tasks/")
    e.add_argument("--data", help="a built-in target's test split from a local file (.parquet/.arrow/.jsonl) "
                                  "instead of the Hub")
    e.add_argument("--prompt-format", choices=["auto", *FORMATS], default="auto",
                   help="how prompts reach the model; auto: as the adapter's student was trained (its training "
                        "record), else chat when the tokenizer has a chat template, else plain")
    e.add_argument("--backend", choices=["auto", "transformers", "vllm"], default="auto",
                   help="lm-eval's model: auto picks vLLM when it is installed and a GPU is visible")
    e.add_argument("--batch-size", type=int, help="prompts a batch (default: 8 on a CPU, lm-eval's auto on a GPU)")
    e.add_argument("--dtype", default="auto", help="weights' dtype (default: float32 on a CPU, the model's own on a GPU)")
    e.add_argument("--limit", type=int, help="only the first N rows: a quick look, not the protocol")
    e.add_argument("--overwrite", action="store_true", help="replace an earlier evaluation in --output")


def _evaluate(args) -> int:
    from bonito_hub.evaluation.run import EvaluationConfig, evaluate

    config = EvaluationConfig(target=args.target, model=args.model, adapter=args.adapter, data=args.data,
                              prompt_format=args.prompt_format, backend=args.backend, batch_size=args.batch_size,
                              dtype=args.dtype, limit=args.limit)
    record = evaluate(config, args.output, overwrite=args.overwrite)
    print(_scores_table(record))
    print(f"scores: {args.output}/scores.json; predictions: {args.output}/predictions/")
    return 0


def _scores_table(record: dict) -> str:
    target, scores, metrics = record["target"], record["scores"], record["metrics"]
    who = record["model"] + (f" + {record['adapter']}" if record["adapter"] else "")
    lines = [f"{target['title']} ({target['kind']}, {target['rows']} rows, {record['prompt_format']} format): {who}",
             f"  {'template':<22}" + "".join(f"{m:>13}" for m in metrics)]
    for name, row in scores["per_template"].items():
        lines.append(f"  {name:<22}" + "".join(f"{row[m]:>13.1f}" for m in metrics))
    lines.append(f"  {'mean':<22}" + "".join(f"{scores['mean'][m]:>13.1f}" for m in metrics))
    return "\n".join(lines)


def _add_adapt(sub, common) -> None:
    from bonito_hub import tasks
    from bonito_hub.adapt import DEFAULT_RECIPE
    from bonito_hub.generate.presets import presets

    a = sub.add_parser("adapt", parents=[common], help="generate, train the student, evaluate before and after, "
                                                      "push: one resumable command")
    a.add_argument("--corpus", required=True, help="your unannotated text (any input bonito generate reads)")
    a.add_argument("--task-type", required=True, metavar="TYPE", help="task type: " + ", ".join(tasks.short_names()))
    a.add_argument("--generator", required=True, help="task generator (e.g. BatsResearch/bonito-v1)")
    a.add_argument("--student", required=True, help="the model to adapt: a local folder or a Hub id")
    a.add_argument("--output", required=True,
                   help="folder for the run; one subfolder a step; the same command resumes an interrupted run")
    a.add_argument("--target", help="evaluate before and after on this target (built-in name or JSON Lines file)")
    a.add_argument("--target-data", help="a built-in target's test split from a local file instead of the Hub")
    a.add_argument("--recipe", default=DEFAULT_RECIPE,
                   help=f"student recipe: packaged name or YAML file (default: {DEFAULT_RECIPE}, the paper's Q-LoRA)")
    a.add_argument("--recipe-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe key (repeatable), e.g. --recipe-arg max_steps=500")
    a.add_argument("--text-column", default="text", help="column holding the documents (default: text)")
    a.add_argument("--preset", choices=list(presets()), default="default", help="generation preset (bonito generate)")
    a.add_argument("--backend", choices=["auto", "transformers", "vllm"], default="auto", help="generation engine")
    a.add_argument("--eval-limit", type=int, help="evaluate on the first N target rows only (a quick look)")
    a.add_argument("--push", metavar="ORG/NAME", help="push the adapter to ORG/NAME and the generated set to "
                                                     "ORG/NAME-tasks, with cards (private unless --public)")
    a.add_argument("--public", action="store_true", help="with --push: create the repos public")
    a.add_argument("--dry-run", action="store_true", help="with --push: write the folders and cards, send nothing")
    a.add_argument("--base-model", metavar="HUB_ID", help="with --push: the student's Hub id when --student is a folder")


def _adapt(args) -> int:
    from bonito_hub.adapt import AdaptConfig, Adaptation, summary_table

    recipe_args = [arg for key, value in _key_values(args.recipe_arg, "--recipe-arg")
                   for arg in (f"--{key.lstrip('-')}", value)]
    config = AdaptConfig(corpus=args.corpus, task_type=args.task_type, generator=args.generator, student=args.student,
                         target=args.target, target_data=args.target_data, recipe=args.recipe, recipe_args=recipe_args,
                         text_column=args.text_column, preset=args.preset, backend=args.backend, push=args.push,
                         public=args.public, dry_run=args.dry_run, base_model=args.base_model,
                         eval_limit=args.eval_limit)
    if args.push:
        from bonito_hub.push import check_repo_id

        check_repo_id(args.push)
    record = Adaptation(config, args.output, progress=not args.no_progress).run()
    print(summary_table(record))
    print(f"done: {args.output} (record in {args.output}/adapt.json)")
    return 0


def _add_demo(sub, common) -> None:
    d = sub.add_parser("demo", parents=[common], help="the whole loop offline on a CPU with tiny models (about a minute)")
    d.add_argument("--output", default="bonito-demo", help="folder to write (default: ./bonito-demo)")


def _demo(args) -> int:
    from bonito_hub.adapt import summary_table
    from bonito_hub.demo import REAL_RUN, run_demo

    record = run_demo(args.output, progress=not args.no_progress)
    print("bonito demo: the whole loop ran on tiny models built just now. They are random and tiny, so the tasks "
          "they write and the scores below mean nothing; the demo shows the machinery, not quality.")
    print(summary_table({"summary": record["adapt"]}))
    print("steps: " + ", ".join(f"{k} {v} s" for k, v in record["steps"].items()) + f"; total {record['seconds']} s")
    print("artifacts:")
    for item in record["artifacts"]:
        print(f"  {item['path']:<44} {item['about']}{'' if item['exists'] else ' (MISSING)'}")
    print()
    print(REAL_RUN)
    return 0 if all(item["exists"] for item in record["artifacts"]) else 1


def _add_push(sub, common) -> None:
    p = sub.add_parser("push", help="publish a generated data set, an adapter or a CTGA build to the Hub, with its card")
    kinds = p.add_subparsers(dest="push_kind", required=True)
    about = {"dataset": "a `bonito generate` output folder", "adapter": "an adapter folder from recipes/sft.py",
             "ctga": "a `bonito ctga build` output folder"}
    for kind, what in about.items():
        k = kinds.add_parser(kind, parents=[common], help=f"push {what}")
        k.add_argument("folder", help=what)
        k.add_argument("--repo-id", required=True, help="ORG/NAME on the Hub (created if missing)")
        k.add_argument("--public", action="store_true", help="create the repo public (default: private)")
        k.add_argument("--dry-run", action="store_true",
                       help="write the exact folder that would be uploaded, print its files and card; send nothing")
        if kind == "dataset":
            k.add_argument("--include-examples", action="store_true",
                           help="quote three generated rows in the card (by default the card quotes no text)")
            k.add_argument("--generator", metavar="HUB_ID",
                           help="the task generator's Hub id for the card (a generator loaded from a folder is "
                                "otherwise named by the folder's name only)")
            k.add_argument("--language", nargs="+", metavar="CODE", help="the corpus's language(s), e.g. en")
        if kind == "adapter":
            k.add_argument("--base-model", metavar="HUB_ID",
                           help="the base model's Hub id, needed when training loaded it from a local folder")
            k.add_argument("--scores", metavar="SCORES_JSON",
                           help="`bonito evaluate --adapter` output (its scores.json): the card reports it and "
                                "carries it as the model-index")
            k.add_argument("--baseline-scores", metavar="SCORES_JSON",
                           help="the same target's scores.json for the base model alone, shown beside --scores")


def _scores_file(path: str) -> dict:
    import json

    from bonito_hub.errors import InputError

    try:
        record = json.loads(open(path, encoding="utf-8").read())
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable scores.json ({exc})") from None
    if not isinstance(record, dict) or "scores" not in record or "target" not in record:
        raise InputError(f"{path} is not a `bonito evaluate` scores.json (no scores or target in it)")
    return record


def _push(args) -> int:
    from bonito_hub.errors import ConfigError
    from bonito_hub.push import push

    evaluation = None
    if getattr(args, "scores", None):
        evaluation = {"before": _scores_file(args.baseline_scores) if args.baseline_scores else None,
                      "after": _scores_file(args.scores)}
    elif getattr(args, "baseline_scores", None):
        raise ConfigError("--baseline-scores goes with --scores")
    upload = push(args.push_kind, args.folder, args.repo_id, public=args.public, dry_run=args.dry_run,
                  base_model=getattr(args, "base_model", None), include_examples=getattr(args, "include_examples", False),
                  generator=getattr(args, "generator", None), language=getattr(args, "language", None),
                  evaluation=evaluation)
    if args.dry_run:
        print(f"dry run: {upload.folder} holds what would be pushed to {args.repo_id} "
              f"({'public' if args.public else 'private'}); nothing was sent")
        for name in upload.files:
            print(f"  {name}")
        print("--- README.md ---")
        print((upload.folder / "README.md").read_text(encoding="utf-8"))
    else:
        _say_pushed(upload, args.public)
    return 0


def _say_pushed(upload, public: bool) -> None:
    print(f"pushed {len(upload.files)} files to {upload.url} ({'public' if public else 'private'})")


def _add_tasks(sub, common) -> None:
    sub.add_parser("tasks", parents=[common], help="list the 16 task types, short and full names")


def _tasks(args) -> int:
    from bonito_hub import tasks

    for short in tasks.short_names():
        print(f"{short:<14} {tasks.full_name(short)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from bonito_hub import __version__

    parser = argparse.ArgumentParser(prog="bonito", description="Bonito task generation on the Hugging Face stack")
    parser.add_argument("--version", action="version", version=f"bonito-hub {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    common = _common()
    _add_ctga(sub, common)
    _add_generate(sub, common)
    _add_evaluate(sub, common)
    _add_adapt(sub, common)
    _add_demo(sub, common)
    _add_push(sub, common)
    _add_tasks(sub, common)
    return parser


COMMANDS = {"ctga": _ctga_build, "generate": _generate, "evaluate": _evaluate, "adapt": _adapt, "demo": _demo,
            "push": _push, "tasks": _tasks}  # `ctga` has one sub-command, build


def main(argv: list[str] | None = None) -> int:
    from bonito_hub import console
    from bonito_hub.errors import BonitoError

    args = build_parser().parse_args(argv)
    console.configure(verbosity=-1 if args.quiet else args.verbose, progress=False if args.no_progress else None)
    try:
        return COMMANDS[args.command](args)
    except BonitoError as exc:
        print(f"bonito: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the machine, not the code: a full disk, a folder taken away mid-run
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        print(f"bonito: error: {exc.strerror or exc}{where}; what was finished is kept (run the same command "
              "to resume a generation)", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        said = str(exc) or {"ctga": "nothing was written; the output folder is as it was",
                            "evaluate": "nothing was written; the output folder is as it was",
                            "adapt": "the finished steps are kept; run the same command to resume"}.get(
                                args.command, "nothing was saved")
        print(f"bonito: interrupted; {said}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
