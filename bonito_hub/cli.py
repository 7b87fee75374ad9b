"""`bonito`: the command line. Each sub-command (bonito_hub/commands/) parses its arguments into
the library's config, makes one library call and reports.

What a command produced (counts, where it wrote) goes to stdout; log messages and progress bars go
to stderr. An error the user can fix (a BonitoError) is one line, in the command's flags, and exit
status 2.
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


def build_parser(commands: dict | None = None) -> argparse.ArgumentParser:
    """The parser of `bonito`; `commands`, when given, is filled with its commands by name."""
    from bonito_hub import __version__
    from bonito_hub.commands import COMMANDS

    parser = argparse.ArgumentParser(prog="bonito", description="Bonito task generation on the Hugging Face stack")
    parser.add_argument("--version", action="version", version=f"bonito-hub {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    common = _common()
    commands = {} if commands is None else commands
    for command in (cls() for cls in COMMANDS):
        command.register(sub, common)
        commands[command.name] = command
    return parser


def main(argv: list[str] | None = None) -> int:
    from bonito_hub import console
    from bonito_hub.errors import BonitoError, disk_full

    commands: dict = {}
    args = build_parser(commands).parse_args(argv)
    command = commands[args.command]
    console.configure(verbosity=-1 if args.quiet else args.verbose, progress=False if args.no_progress else None,
                      words=command.explain)
    try:
        return command.run(args)
    except BonitoError as exc:
        print(f"bonito: error: {command.explain(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:  # the machine, not the code: a full disk, a folder taken away mid-run
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        print(f"bonito: error: {exc.strerror or exc}{where}; {command.after_os_error}", file=sys.stderr)
        return 2
    except Exception as exc:
        if not disk_full(exc):
            raise  # a bug: keep its traceback
        print(f"bonito: error: no space left on device; {command.after_os_error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        print(f"bonito: interrupted; {str(exc) or command.interrupted}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
