"""The one exit point: runs the app and turns errors into messages and exit codes."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from cfgroll.errors import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, CfgrollError, os_error

DEBUG_ENV = "CFGROLL_DEBUG"  # or `--debug` anywhere on the command line: show tracebacks


def main(argv: Sequence[str] | None = None) -> int:
    """Run cfgroll with `argv` (default: the process's arguments); return the exit code."""
    import typer

    from cfgroll.cli.app import build, command_of

    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get(DEBUG_ENV, "") not in ("", "0")
    args = [a for a in args if a != "--debug"]
    _interruptible()
    app = build(command_of(args))
    try:
        result = app(args=args, prog_name="cfgroll", standalone_mode=False)
    except CfgrollError as exc:
        _traceback(exc, debug)
        _error(str(exc))
        if exc.details:
            print("\n".join("  " + line for line in exc.details.splitlines()), file=sys.stderr)
        return exc.exit_code
    except typer.TyperException as exc:  # usage errors: typer prints them its own way
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            _error(exc.format_message())
        return exc.exit_code
    except (KeyboardInterrupt, typer.Abort):
        _error("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK
    except OSError as exc:  # a full disk, a permission, a read-only file system: say which path
        _traceback(exc, debug)
        _error(os_error(exc))
        return EXIT_ERROR
    except Exception as exc:  # noqa: BLE001 - the last resort: a short report, not a traceback
        import traceback

        _error(f"unexpected {type(exc).__name__}: {exc}")
        print("".join(traceback.format_exception(exc)[-3:]).rstrip(), file=sys.stderr)
        print("please report this, with the command you ran", file=sys.stderr)
        return EXIT_ERROR
    if result == EXIT_INTERRUPTED:  # typer turns Ctrl-C into a silent exit 130
        _error("interrupted")
    return result if isinstance(result, int) else EXIT_OK


def _traceback(exc: BaseException, debug: bool) -> None:
    if debug:
        import traceback

        traceback.print_exception(exc, file=sys.stderr)


def _interruptible() -> None:
    """Make Ctrl-C interrupt cfgroll (and reach the Compose processes it starts) however it was
    started. A shell's background job inherits SIGINT ignored; Python then installs no
    handler, the deploy would run on through a Ctrl-C, and its children would ignore it too."""
    import signal

    try:
        if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
            signal.signal(signal.SIGINT, signal.default_int_handler)
    except ValueError:  # not the main thread: leave signals to whoever owns it
        pass


def _error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


def exit_with(code: int) -> NoReturn:
    """End the process with `code`. After a Ctrl-C, directly: a Ctrl-C that lands while a C
    extension runs Python code during an import leaves Python's own "unhandled Ctrl-C" mark
    set even though cfgroll handled it, and Python would then end the process by SIGINT at
    exit instead of with 130."""
    if code == EXIT_INTERRUPTED:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)
    sys.exit(code)


def _run() -> None:
    """The `cfgroll` console script."""
    exit_with(main())
