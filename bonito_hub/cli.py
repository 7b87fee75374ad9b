"""`bonito`: the command line. Each sub-command (bonito_hub/commands/) parses its arguments into
the library's config, makes one library call and reports.

What a command produced (counts, where it wrote) goes to stdout; log messages and progress bars go
to stderr. An error the user can fix (a BonitoError) is one line, in the command's flags, and exit
status 2.
"""

from __future__ import annotations

import sys

from bonito_hub.commands import build_parser  # noqa: F401  (the parser; tests and docs build it from here too)


def main(argv: list[str] | None = None) -> int:
    from bonito_hub import console
    from bonito_hub.commands import command_of
    from bonito_hub.errors import BonitoError, disk_full

    argv = list(sys.argv[1:] if argv is None else argv)
    named, commands = command_of(argv), {}
    parser = build_parser(commands, only=named.name if named else "")  # only the named command's options
    if named is not None:
        try:  # a --config file's options become the command's defaults: the command line wins over them
            commands[named.name].read_config_in(argv)
        except BonitoError as exc:
            print(f"bonito: error: {commands[named.name].explain(exc)}", file=sys.stderr)
            return 2
    args = parser.parse_args(argv)
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
