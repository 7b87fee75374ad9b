"""`bonito check-overlap`: n-grams a corpus shares with an evaluation target (bonito_hub.overlap)."""

from __future__ import annotations

from bonito_hub.commands.base import Command


class CheckOverlap(Command):
    name = "check-overlap"
    help = "the share of a target's rows that share a 13-word n-gram with a corpus (contamination)"

    def options(self) -> list[type]:
        from bonito_hub.generate import InputOptions
        from bonito_hub.overlap import OverlapArgs

        return [OverlapArgs, InputOptions]

    def run(self, args) -> int:
        import json
        from pathlib import Path

        from bonito_hub.documents import Limits, ocr_available
        from bonito_hub.errors import OutputError
        from bonito_hub.folders import write_atomic
        from bonito_hub.generate import InputOptions
        from bonito_hub.options import parts_from
        from bonito_hub.overlap import check_overlap, describe

        if args.output:
            out = Path(args.output)
            if out.exists() and not _ours(out):
                raise OutputError(f"`output` {out} exists and is not a report of bonito check-overlap; choose "
                                  "another file", field="output")
        (read,) = parts_from(args, InputOptions)
        report = check_overlap(args.corpus, args.target, data=args.data, text_column=read.text_column,
                               split=read.split, encoding=read.encoding, n=args.ngram, progress=not args.no_progress,
                               skip_bad_files=read.skip_bad_files, follow_links=read.follow_links,
                               limits=Limits(read.max_document_mb, read.max_document_pages),
                               config=read.input_config, clean=not read.keep_page_furniture,
                               ocr=read.ocr == "auto" and ocr_available())
        print(describe(report))
        print(f"checked {report['corpus_texts']} texts in {report['seconds']} s")
        if args.output:
            write_atomic(Path(args.output), json.dumps(report, indent=2, ensure_ascii=False) + "\n")
            print(f"report: {Path(args.output).name}")
        return 0


def _ours(path) -> bool:
    import json

    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(report, dict) and {"ngram", "evaluation_rows", "overlapping_rows"} <= set(report)
