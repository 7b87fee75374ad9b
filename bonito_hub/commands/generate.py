"""`bonito generate`: instruction-tuning data from unannotated text (bonito_hub.generate.generate)."""

from __future__ import annotations

from bonito_hub.commands.base import Command


class Generate(Command):
    name = "generate"
    help = "generate instruction-tuning data from unannotated text"
    interrupted = "nothing was saved"
    after_os_error = "the finished chunks are kept; run the same command to resume"

    config_file = True

    def options(self) -> list[type]:
        from bonito_hub.generate import GenerateArgs, GenerationOptions

        return [GenerateArgs, *GenerationOptions.parts()]

    def run(self, args) -> int:
        from bonito_hub.generate import generate
        from bonito_hub.generate import GenerateArgs, GenerateConfig, GenerationOptions
        from bonito_hub.options import parts_from, values_from
        from bonito_hub.timing import StageTimer

        options = GenerationOptions(**dict(zip(GenerationOptions.PARTS, parts_from(args, *GenerationOptions.parts()))))
        config = GenerateConfig(**values_from(args, GenerateArgs), options=options, progress=not args.no_progress)
        if config.dry_run:
            from bonito_hub.generate import check_budget, estimate

            found = estimate(config, config)
            print(f"dry run of {config.run.task_type}: nothing was generated or written")
            for line in found.lines():
                print(line)
            check_budget(found, config.max_tokens_budget)
            return 0

        result = generate(config, timer=StageTimer())  # stages counted from the process's start
        f, out = result.funnel, config.output
        print(f"funnel ({result.engine} engine): documents {f.documents} (empty {f.empty_documents}) -> "
              f"passages {f.passages} -> generations {f.generations} -> kept {f.kept}")
        for kind, n in (f.removed or {}).items():
            print(f"  passages too short to prompt: {n}" if kind == "too_short" else f"  removed from the documents, {kind}: {n}")
        if f.ocr_pages:
            print(f"  scanned PDF pages read by OCR: {f.ocr_pages}")
        for kind, n in (f.joined or {}).items():
            print(f"  joined in the documents, {kind}: {n}")
        if f.languages:
            print("  languages: " + ", ".join(f"{code} {by['documents']} documents ({by['passages']} passages)"
                                             for code, by in f.languages.items()))
        if f.language_filtered is not None:
            print(f"  left out by --language-filter {','.join(config.run.language_filter)}: "
                  f"{f.language_filtered['documents']} documents ({f.language_filtered['passages']} passages)")
        for short, counts in (f.by_type or {}).items():
            print(f"  {short}: generations {counts['generations']} -> kept {counts['kept']}")
        for reason, n in (f.skipped_files or {}).items():
            print(f"  files skipped, {reason}: {n}")
        for reason, n in f.dropped.items():
            print(f"  dropped {reason}: {n}")
        if f.review:
            print(f"  reviewed (bonito review): {f.review['reject']} rejected, {f.review['edit']} edited, "
                  f"{f.review['accept']} accepted")
        if f.overlapping_passages is not None:
            print(f"  passages left out (they share an n-gram with {config.exclude_overlap}): "
                  f"{f.overlapping_passages}")
        if f.heldout:
            held = f.heldout
            print(f"held out: {held.documents} documents -> {held.passages} passages -> generations "
                  f"{held.generations} -> kept {held.kept} (not training rows)")
            for short, counts in f.evaluation.items():
                where = f" in {out}/{counts['file']}" if counts.get("file") else ""
                print(f"  {short}: {counts['rows']} evaluation rows{where}")
        if f.complete and not f.kept:
            print(f"done, but no generation was kept: {out} holds no data file (see the reasons above)")
        elif f.complete:
            print(f"done: {out} (load with datasets.load_dataset({str(out)!r}); funnel in funnel.json)")
        else:
            i, n = config.shard
            print(f"shard {i}/{n} done; {f.chunks_done} of {f.chunks} chunks finished overall")
        if result.pushed is not None:
            say_pushed(result.pushed, config.public)
        elif result.not_pushed:
            print(f"not pushed to {config.push_to_hub}: {result.not_pushed}")
        return 0


def say_pushed(upload, public: bool) -> None:
    print(f"pushed {len(upload.files)} files to {upload.url} ({'public' if public else 'private'})")
