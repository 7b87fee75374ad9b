"""`bonito review OUT`: the tasks of a generation run in the browser, and the decisions fed back
(bonito_hub.generate.review)."""

from __future__ import annotations

from dataclasses import dataclass

from bonito_hub.commands.base import Command
from bonito_hub.options import option


@dataclass(kw_only=True)
class ReviewArgs:
    """What `bonito review` takes besides the run's folder."""

    port: int = option(0, help="the port on 127.0.0.1 to serve the page on (0: a free one, printed)")
    static: str | None = option(None, metavar="FILE.html", help="write the page as one self-contained HTML file to "
                                "share (no server, no network, no path of this machine); its reader exports their "
                                "decisions as a file for --import")
    import_file: str | None = option(None, flag="--import", metavar="FILE.jsonl", help="merge the decisions a "
                                     "static page exported, apply them and stop")
    apply: bool = option(False, help="apply the saved decisions to the training rows and stop (the server applies "
                                     "each one as it is made)")
    no_browser: bool = option(False, help="do not open the page in a browser")


class Review(Command):
    name = "review"
    help = "review a generation run's tasks in the browser: accept, reject or edit them"
    interrupted = "every decision made was saved"

    def options(self) -> list[type]:
        return [ReviewArgs]

    def add_arguments(self, parser) -> None:
        parser.add_argument("folder", help="a `bonito generate` output folder")

    def run(self, args) -> int:
        import time
        from pathlib import Path

        from bonito_hub import generate
        from bonito_hub.folders import lock

        review = generate.review

        folder = Path(args.folder)
        review.tasks_of(folder)  # a folder that is no run is said before anything starts
        if args.static:
            path = review.static_page(folder, args.static)
            print(f"wrote {path.name}: {len(review.tasks_of(folder)['tasks'])} tasks in one HTML file; its reader "
                  f"exports decisions.jsonl, which `bonito review {args.folder} --import decisions.jsonl` merges")
            return 0
        if args.import_file:
            say(review.import_decisions(folder, args.import_file), folder)
            return 0
        if args.apply:
            say(review.apply(folder), folder)
            return 0
        with lock(folder, field="folder"):  # one writer: no generation or other review meanwhile
            if review.apply_if_decided(folder) is not None:
                print("the saved decisions are applied")
            server = review.serve(folder, args.port)
            print(f"reviewing {folder.name} at {server.url} (Ctrl-C stops; every decision is saved as it is made)",
                  flush=True)
            if not args.no_browser:
                import webbrowser

                try:
                    webbrowser.open(server.url)
                except Exception:  # no browser here: the address is printed
                    pass
            try:
                while True:
                    time.sleep(3600)
            finally:
                server.shutdown()


def say(result: dict, folder) -> None:
    print(f"review applied to {folder}: {result['rejected']} rows rejected, {result['edited']} edited, "
          f"{result['accepted']} accepted")
    if result["missing"]:
        print(f"{len(result['missing'])} decisions name tasks that are not training rows of this run: "
              + ", ".join(result["missing"][:5]) + (" ..." if len(result["missing"]) > 5 else ""))
