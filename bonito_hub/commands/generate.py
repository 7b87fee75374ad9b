"""`bonito generate`: instruction-tuning data from unannotated text (bonito_hub.generate.generate)."""

from __future__ import annotations

from bonito_hub.commands.base import Command, config_from, key_values


class Generate(Command):
    name = "generate"
    help = "generate instruction-tuning data from unannotated text"
    interrupted = "nothing was saved"
    after_os_error = "the finished chunks are kept; run the same command to resume"

    def add_arguments(self, g) -> None:
        from bonito_hub import tasks
        from bonito_hub.generate import GENERATION_BACKENDS, CHUNK_TOKENS, FILTERS, FORMAT_ALIASES, FORMATS, generation_presets

        table = generation_presets()
        g.add_argument("--model", required=True, help="task generator: a local folder or a Hub id")
        g.add_argument("--input", required=True,
                       help="JSONL/CSV/Parquet/text/HTML file, PDF/DOCX file (pip install 'bonito-hub[documents]'), "
                            "folder of .txt/.md/.pdf/.html/.docx, data set folder, or Hub id")
        g.add_argument("--skip-bad-files", action="store_true",
                       help="skip a PDF/HTML/DOCX file with no text to read (no text layer, encrypted, corrupt), a "
                            "link out of the input folder or a file that is not a regular one, and count it by "
                            "reason, instead of stopping")
        g.add_argument("--follow-links", action="store_true",
                       help="read files that symbolic links in the input folder point to outside it (never devices, "
                            "pipes or /proc)")
        g.add_argument("--max-document-mb", type=float, default=256, metavar="MB",
                       help="the most one document may take: its file, a Word file's parts unpacked, its text "
                            "(default: 256); larger ones are refused, or skipped with --skip-bad-files")
        g.add_argument("--max-document-pages", type=int, default=10_000, metavar="N",
                       help="the most pages a PDF may have (default: 10000)")
        g.add_argument("--task-type", metavar="TYPE[,TYPE...]",
                       help="short or full task-type name, several joined by commas (each passage gets every one), "
                            "or all-applicable: " + ", ".join(tasks.short_names()) + " (bonito tasks lists them)")
        g.add_argument("--task-mix", metavar="TYPE=SHARE,...",
                       help="instead of --task-type: one type a passage, drawn with these shares (they sum to 1), "
                            "for example exqa=0.5,ynqa=0.3,nli=0.2")
        g.add_argument("--output", required=True, help="folder to write; the same command resumes an interrupted run")
        g.add_argument("--holdout", type=float, metavar="SHARE",
                       help="set this share of the documents aside (seeded, e.g. 0.1): their tasks become evaluation "
                            "sets in OUTPUT/heldout/TYPE.jsonl (for bonito evaluate --target), never training rows")
        g.add_argument("--exclude-overlap", metavar="TARGET",
                       help="leave out passages sharing a 13-word n-gram with TARGET's passages or questions (a "
                            "built-in target or a JSONL file in bonito evaluate's schema); see bonito check-overlap")
        g.add_argument("--text-column", default="text", help="column holding the documents (default: text)")
        g.add_argument("--split", default="train", help="split of a data set input (default: train)")
        g.add_argument("--encoding", default="utf-8",
                       help="encoding of text inputs (default: utf-8; every byte must decode, e.g. latin-1 for older "
                            "corpora)")
        g.add_argument("--preset", choices=list(table), default="default",
                       help="sampling and filters: " + "; ".join(
                           f"{k}: {v['about']} (temperature {v['temperature']}, top_p {v['top_p']})"
                           for k, v in table.items()))
        g.add_argument("--num-samples", dest="n", type=int, help="generations per passage (preset: 1)")
        g.add_argument("--temperature", type=float, help="sampling temperature (preset default: 0.5, paper: 0.95)")
        g.add_argument("--top-p", type=float, help="nucleus sampling (preset default: 0.95, paper: 0.5)")
        g.add_argument("--max-tokens", type=int, help="new tokens per generation (preset: 256)")
        g.add_argument("--seed", type=int, default=0, help="sampling seed; chunk k samples with a seed from (seed, k)")
        g.add_argument("--backend", choices=GENERATION_BACKENDS, default="auto",
                       help="auto: vLLM when it is installed and a GPU is visible, else transformers; openai: a "
                            "model an OpenAI-compatible server serves (--base-url)")
        e = g.add_argument_group("engine options (each applies to the engine named; giving one to the other is an "
                                 "error)")
        e.add_argument("--batch-size", type=int, help="transformers: most prompts a batch (default: 48 on a CPU, "
                       "on a GPU as many as 40%% of free memory holds, at most 512)")
        e.add_argument("--batching", choices=["auto", "continuous", "padded"],
                       help="transformers: continuous (transformers' generate_batch, paged KV cache) or padded batches "
                            "sorted by length (default auto: continuous on a GPU, padded on a CPU, where it measured "
                            "faster)")
        e.add_argument("--tensor-parallel-size", type=int, help="vLLM: GPUs per model")
        e.add_argument("--gpu-memory-utilization", type=float, help="vLLM: share of GPU memory it may take")
        e.add_argument("--max-model-len", type=int, help="vLLM: context length (smaller saves KV-cache memory); "
                       "openai: the server's context length when its /models does not say it")
        e.add_argument("--dtype", help="both: weights' dtype (auto, bfloat16, float16, float32)")
        e.add_argument("--engine-arg", dest="engine_args", action="append", default=[], metavar="KEY=VALUE",
                       help="both, repeatable: passed to vllm.LLM(...) or AutoModelForCausalLM.from_pretrained(...); "
                            "VALUE is read as YAML (8, 0.5, true, {a: 1})")
        o = g.add_argument_group("OpenAI-compatible server (--backend openai; pip install 'bonito-hub[openai]'): vLLM "
                                 "serve, SGLang, TGI, llama.cpp, Ollama, transformers serve or a hosted endpoint")
        o.add_argument("--base-url", metavar="URL", help="the server's API root, e.g. http://127.0.0.1:8000/v1 "
                       "(--model is the model's name there)")
        o.add_argument("--api-key-env", metavar="NAME", help="environment variable holding the API key (the key is "
                       "never a flag, never printed or written; default: no key)")
        o.add_argument("--concurrency", type=int, help="requests in flight (default: 32)")
        o.add_argument("--request-timeout", type=float, metavar="SECONDS",
                       help="seconds a request may take before it is retried (default: 300)")
        o.add_argument("--tokenizer", help="openai, transformers: the model's tokenizer, a folder or Hub id, which "
                       "cuts passages to fit (default: --model)")
        g.add_argument("--shard", default="0/1", help="i/N: take the i-th of N disjoint parts of the input")
        g.add_argument("--chunk-tokens", type=int, default=CHUNK_TOKENS,
                       help=f"passage tokens a written chunk holds, about 4 characters each (default: {CHUNK_TOKENS})")
        g.add_argument("--chunk-size", dest="chunk_docs", type=int, metavar="DOCS", help="also close a chunk at this many documents")
        g.add_argument("--max-passage-tokens", type=int, help="split documents into passages of at most this many "
                       "tokens (default: the model's context minus --max-tokens)")
        g.add_argument("--format", choices=[*FORMATS, *FORMAT_ALIASES], default="standard",
                       help="TRL dataset format of the columns besides input/output: standard (prompt, completion) or "
                            "conversational (messages); default: standard (prompt-completion and messages: the "
                            "deprecated names)")
        g.add_argument("--no-filter", action="append", default=[], choices=list(FILTERS), metavar="NAME",
                       help=f"switch a filter off (repeatable): {', '.join(FILTERS)}")
        g.add_argument("--overwrite", action="store_true", help="replace a folder holding a different run")
        g.add_argument("--push-to-hub", metavar="ORG/NAME",
                       help="when the run is complete, push it with its card (as `bonito push dataset`; private)")
        g.add_argument("--public", action="store_true", help="with --push-to-hub: create the repo public")
        r = g.add_argument_group("Ray (pip install 'bonito-hub[ray]'): the chunks on a Ray cluster, same rows and files")
        r.add_argument("--ray", action="store_true", help="run the chunks on Ray workers (a local Ray unless "
                       "--ray-address)")
        r.add_argument("--ray-address", metavar="ADDR", help="join a running cluster: HOST:PORT, ray://HOST:PORT or auto")
        r.add_argument("--workers", type=int, help="Ray workers, each loading the engine once (default: the cluster's "
                       "GPUs / --gpus-per-worker, or its CPUs / --cpus-per-worker without GPUs)")
        r.add_argument("--gpus-per-worker", type=float, help="GPUs a worker takes (default: 1 on a cluster with GPUs, "
                       "else 0)")
        r.add_argument("--cpus-per-worker", type=float, default=1, help="CPUs a worker takes (default: 1)")

    def run(self, args) -> int:
        import yaml

        from bonito_hub.generate import GenerateConfig, generate
        from bonito_hub.timing import StageTimer

        engine_args = {key.replace("-", "_"): yaml.safe_load(value) if value else ""
                       for key, value in key_values(args.engine_args, "--engine-arg")}
        config = config_from(GenerateConfig, args, engine_args=engine_args or None, no_filter=tuple(args.no_filter),
                             progress=not args.no_progress)
        result = generate(config, timer=StageTimer())  # stages counted from the process's start
        f, out = result.funnel, config.output
        print(f"funnel ({result.engine} engine): documents {f['documents']} (empty {f['empty_documents']}) -> "
              f"passages {f['passages']} -> generations {f['generations']} -> kept {f['kept']}")
        for short, counts in f.get("by_type", {}).items():
            print(f"  {short}: generations {counts['generations']} -> kept {counts['kept']}")
        for reason, n in f.get("skipped_files", {}).items():
            print(f"  files skipped, {reason}: {n}")
        for reason, n in f["dropped"].items():
            print(f"  dropped {reason}: {n}")
        if "overlapping_passages" in f:
            print(f"  passages left out (they share an n-gram with {config.exclude_overlap}): "
                  f"{f['overlapping_passages']}")
        held = f.get("heldout")
        if held:
            print(f"held out: {held['documents']} documents -> {held['passages']} passages -> generations "
                  f"{held['generations']} -> kept {held['kept']} (not training rows)")
            for short, counts in held.get("evaluation", {}).items():
                where = f" in {out}/{counts['file']}" if counts.get("file") else ""
                print(f"  {short}: {counts['rows']} evaluation rows{where}")
        if f["complete"] and not f["kept"]:
            print(f"done, but no generation was kept: {out} holds no data file (see the reasons above)")
        elif f["complete"]:
            print(f"done: {out} (load with datasets.load_dataset({str(out)!r}); funnel in funnel.json)")
        else:
            i, n = config.shard
            print(f"shard {i}/{n} done; {f['chunks_done']} of {f['chunks']} chunks finished overall")
        if result.pushed is not None:
            say_pushed(result.pushed, config.public)
        elif result.not_pushed:
            print(f"not pushed to {config.push_to_hub}: {result.not_pushed}")
        return 0


def say_pushed(upload, public: bool) -> None:
    print(f"pushed {len(upload.files)} files to {upload.url} ({'public' if public else 'private'})")
