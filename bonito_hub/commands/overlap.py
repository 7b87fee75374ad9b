"""`bonito check-overlap`: n-grams a corpus shares with an evaluation target (bonito_hub.overlap)."""

from __future__ import annotations

from bonito_hub.commands.base import Command


class CheckOverlap(Command):
    name = "check-overlap"
    help = "the share of a target's rows that share a 13-word n-gram with a corpus (contamination)"

    def add_arguments(self, c) -> None:
        from bonito_hub.evaluation import builtin_targets
        from bonito_hub.overlap import NGRAM

        c.add_argument("--corpus", required=True, help="the corpus, as bonito generate --input takes it")
        c.add_argument("--target", required=True,
                       help="a built-in target (" + ", ".join(builtin_targets()) + ") or a JSON Lines file in "
                            "bonito evaluate's schema (passage, question, answer)")
        c.add_argument("--data", help="a built-in target's test split from a local file instead of the Hub")
        c.add_argument("--text-column", default="text", help="column holding the documents (default: text)")
        c.add_argument("--split", default="train", help="split of a data set corpus (default: train)")
        c.add_argument("--encoding", default="utf-8", help="encoding of text corpora (default: utf-8)")
        c.add_argument("--skip-bad-files", action="store_true",
                       help="skip documents with no text to read, links out of the corpus folder and files that are "
                            "not regular ones, instead of stopping (as bonito generate does)")
        c.add_argument("--follow-links", action="store_true",
                       help="read files that links in the corpus folder point to outside it")
        c.add_argument("--ngram", type=int, default=NGRAM, help=f"words an n-gram holds (default: {NGRAM})")
        c.add_argument("--output", metavar="FILE.json", help="also write the report here (a new file, or a report "
                       "this command wrote before)")

    def run(self, args) -> int:
        import json
        from pathlib import Path

        from bonito_hub.errors import OutputError
        from bonito_hub.folders import write_atomic
        from bonito_hub.overlap import check_overlap, describe

        if args.output:
            out = Path(args.output)
            if out.exists() and not _ours(out):
                raise OutputError(f"`output` {out} exists and is not a report of bonito check-overlap; choose "
                                  "another file", field="output")
        report = check_overlap(args.corpus, args.target, data=args.data, text_column=args.text_column,
                               split=args.split, encoding=args.encoding, n=args.ngram, progress=not args.no_progress,
                               skip_bad_files=args.skip_bad_files, follow_links=args.follow_links)
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
