"""The ``genguard`` command: one entry point, subcommands registered from their own modules.

Exit codes (scripts and CI can branch on them):

====  =====================================================================
0     success
1     the generation failed (provider error, timeout, breaker open...)
2     bad usage or configuration (unknown flag or profile, missing key, bad file)
3     the prompt or the image was blocked on safety grounds
4     the image was generated but could not be written as asked
130   interrupted
141   standard out was closed by its reader (``genguard demo | head``)
====  =====================================================================

Every failure is one clear line on standard error (no traceback) and, with
``--json``, one JSON document on standard out. A subcommand lives in its own
module with a ``register(commands)`` function; adding one is one line in
:data:`COMMANDS`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import itertools
import json
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, NoReturn, TextIO, TypeVar

from .errors import ConfigError, ConfigErrors, ContentBlocked, GenGuardError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_BLOCKED, EXIT_OUTPUT = 0, 1, 2, 3, 4
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141

#: (name, "module:function"): each function adds one subcommand (see ``Commands``).
COMMANDS: list[tuple[str, str]] = [
    ("generate", "genguard.commands.generate:register"),
    ("demo", "genguard.commands.demo:register"),
    ("sim", "genguard.commands.sim:register"),
    ("config", "genguard.commands.config:register"),
    ("batch", "genguard.commands.batch:register"),
    ("check-stack", "genguard.commands.check_stack:register"),
    ("models", "genguard.catalogue.cli:register"),
]

T = TypeVar("T")
LoopFactory = Callable[[], asyncio.AbstractEventLoop]
Run = Callable[[argparse.Namespace, "Output"], int]


class CommandError(GenGuardError):
    """A command cannot go on: bad usage, a missing key, an unwritable file.

    ``exit_code`` is what the process exits with; ``details`` go into ``--json`` output.
    """

    def __init__(
        self, message: str, *, exit_code: int = EXIT_USAGE, details: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.details = dict(details or {})


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is a CommandError (so ``--json`` and exit 2 apply)."""

    def error(self, message: str) -> NoReturn:
        raise CommandError(f"{message} (see: {self.prog} --help)", exit_code=EXIT_USAGE)


def _common(suppress: bool) -> argparse.ArgumentParser:
    """The flags every command takes, before or after its name."""
    default: Any = argparse.SUPPRESS
    common = _Parser(add_help=False)
    common.add_argument(
        "--json",
        action="store_true",
        default=default if suppress else False,
        help="print one JSON document on standard out (errors too)",
    )
    common.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=default if suppress else 0,
        help="show genguard's log lines on standard error (-vv: debug)",
    )
    common.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=default if suppress else False,
        help="no notes or progress on standard error; errors only",
    )
    return common


class Commands:
    """What a subcommand module's ``register`` gets: ``add`` a command, or a ``group``."""

    def __init__(self, subparsers: Any, common: argparse.ArgumentParser) -> None:
        self._subparsers = subparsers
        self._common = common

    def add(
        self, name: str, run: Run, *, help: str, description: str | None = None
    ) -> argparse.ArgumentParser:
        """A subcommand calling ``run(args, output)``; add its arguments to the parser returned."""
        parser: argparse.ArgumentParser = self._subparsers.add_parser(
            name, help=help, description=description or help, parents=[self._common]
        )
        parser.set_defaults(_run=run, _parser=parser)
        return parser

    def adopt(
        self,
        name: str,
        add_parser: Callable[[Any], None],
        run: Callable[[argparse.Namespace], int],
    ) -> argparse.ArgumentParser:
        """A command built on argparse directly: ``add_parser(subparsers)`` adds ``name``,
        ``run(args)`` runs it. Global flags work before its name."""
        add_parser(self._subparsers)
        parser: argparse.ArgumentParser = self._subparsers.choices[name]
        parser.set_defaults(_run=lambda args, output: run(args), _parser=parser)
        return parser

    def group(self, name: str, *, help: str, description: str | None = None) -> Commands:
        """A subcommand with subcommands of its own (``genguard config check``)."""
        parser: argparse.ArgumentParser = self._subparsers.add_parser(
            name, help=help, description=description or help, parents=[self._common]
        )
        parser.set_defaults(_run=None, _parser=parser)
        return Commands(parser.add_subparsers(metavar="SUBCOMMAND"), self._common)


class Output:
    """Where a command's results, notes and progress go, honouring ``--json`` and ``-q``.

    Results go to standard out (one JSON document with ``--json``); notes and
    progress go to standard error, progress only on a terminal.
    """

    def __init__(
        self,
        *,
        json_mode: bool = False,
        verbosity: int = 0,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
        loop_factory: LoopFactory | None = None,
    ) -> None:
        self.json = json_mode
        self.verbosity = verbosity
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.loop_factory = loop_factory
        self._emitted = False

    @property
    def quiet(self) -> bool:
        return self.verbosity < 0

    def note(self, message: str) -> None:
        """A line for the human at the terminal (standard error), unless ``-q``."""
        if not self.quiet:
            print(f"genguard: {message}", file=self.stderr)

    def result(self, data: Mapping[str, Any], human: str | Iterable[str] = ()) -> None:
        """The command's result: ``data`` as JSON, or the ``human`` lines."""
        self._emitted = True
        if self.json:
            print(json.dumps({"ok": True, **data}, default=str), file=self.stdout)
            return
        for line in [human] if isinstance(human, str) else human:
            print(line, file=self.stdout)

    def failure(self, error: BaseException, code: int) -> None:
        """Report ``error`` (one line on standard error; a JSON document with ``--json``)."""
        message = _message(error)
        lines = message.splitlines() or [message]
        for line in lines:
            print(f"genguard: {line}", file=self.stderr)
        if self.json and not self._emitted:
            details: dict[str, Any] = {
                "type": type(error).__name__,
                "message": message,
                "exit_code": code,
            }
            details.update(_facts(error))
            print(json.dumps({"ok": False, "error": details}, default=str), file=self.stdout)

    def run(self, work: Awaitable[T]) -> T:
        """Run a coroutine to completion on a fresh event loop."""
        with asyncio.Runner(loop_factory=self.loop_factory) as runner:
            return runner.run(_as_coroutine(work))

    @contextlib.asynccontextmanager
    async def progress(self, label: str, *, after: float = 1.0) -> AsyncIterator[None]:
        """A spinner with elapsed seconds on standard error, shown once ``label`` takes
        longer than ``after`` seconds, only on a terminal and never with ``-q``."""
        stream = self.stderr
        if self.quiet or not _isatty(stream):
            yield
            return
        task = asyncio.create_task(_spin(stream, label, after))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _as_coroutine(work: Awaitable[T]) -> T:
    return await work


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


async def _spin(stream: TextIO, label: str, after: float) -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    await asyncio.sleep(after)
    shown = False
    try:
        for frame in itertools.cycle("|/-\\"):
            stream.write(f"\r{frame} {label} {loop.time() - start:.0f}s ")
            stream.flush()
            shown = True
            await asyncio.sleep(0.2)
    finally:
        if shown:
            stream.write("\r" + " " * (len(label) + 12) + "\r")
            stream.flush()


def _message(error: BaseException) -> str:
    if isinstance(error, ConfigErrors):
        return "config error:\n" + "\n".join(_dedupe(str(e) for e in error.errors))
    if isinstance(error, ConfigError):
        return f"config error: {error}"
    if isinstance(error, CommandError):
        return str(error)
    if isinstance(error, GenGuardError):
        return f"{type(error).__name__}: {error}"
    return str(error)


def _dedupe(lines: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for line in lines:
        seen.setdefault(line, None)
    return list(seen)


_FACTS = (
    "status",
    "code",
    "retry_after",
    "request_id",
    "provider",
    "stage",
    "category",
    "source",
    "path",
    "attempts",
    "timeout",
)


def _facts(error: BaseException) -> dict[str, Any]:
    facts = {
        name: getattr(error, name) for name in _FACTS if getattr(error, name, None) is not None
    }
    if isinstance(error, ConfigErrors):
        facts["errors"] = [{"path": e.path, "message": e.reason} for e in error.errors]
    if isinstance(error, CommandError):
        facts.update(error.details)
    return facts


def exit_code_of(error: BaseException) -> int:
    """The documented exit code for an error a command let out."""
    if isinstance(error, CommandError):
        return error.exit_code
    if isinstance(error, ConfigError):
        return EXIT_USAGE
    if isinstance(error, ContentBlocked):
        return EXIT_BLOCKED
    return EXIT_FAILED


def _version() -> str:
    from . import __version__

    return __version__


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: global flags, then every registered subcommand."""
    parser = _Parser(
        prog="genguard",
        description="Safe calls to AI image-generation APIs: retry, rate limits, circuit "
        "breaking, safety and telemetry around Gemini and OpenAI Images.",
        parents=[_common(suppress=False)],
        epilog="exit codes: 0 ok, 1 generation failed, 2 usage or configuration error, "
        "3 blocked on safety grounds, 4 image not written as asked, 130 interrupted",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    subparsers = parser.add_subparsers(metavar="COMMAND")
    commands = Commands(subparsers, _common(suppress=True))
    for name, target in COMMANDS:
        module_name, _, function = target.partition(":")
        register = getattr(importlib.import_module(module_name), function)
        register(commands)
        del name
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    loop_factory: LoopFactory | None = None,
) -> int:
    """Run the command line; returns the exit code. ``loop_factory`` picks the event loop."""
    argv = list(sys.argv[1:] if argv is None else argv)
    output = Output(
        json_mode="--json" in argv, stdout=stdout, stderr=stderr, loop_factory=loop_factory
    )
    configured = False
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        output.json = bool(args.json)
        output.verbosity = -1 if args.quiet else int(args.verbose)
        if args.version:
            output.result({"version": _version()}, f"genguard {_version()}")
            return EXIT_OK
        run: Run | None = getattr(args, "_run", None)
        if run is None:
            target = getattr(args, "_parser", parser)
            target.print_help(output.stderr)
            raise CommandError("no command given", exit_code=EXIT_USAGE)
        if output.verbosity > 0:
            from .telemetry.logging import configure_logging

            level = "debug" if output.verbosity > 1 else "info"
            configure_logging(json=output.json, level=level, stream=output.stderr)
            configured = True
        return run(args, output)
    except SystemExit as done:  # --help: argparse has printed it
        return done.code if isinstance(done.code, int) else EXIT_OK
    except KeyboardInterrupt:
        output.failure(CommandError("interrupted", exit_code=EXIT_INTERRUPTED), EXIT_INTERRUPTED)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader went away (``genguard demo | head``): stop quietly, as Unix tools do
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, output.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except GenGuardError as error:
        code = exit_code_of(error)
        output.failure(error, code)
        return code
    finally:
        if configured:
            from .telemetry.logging import reset_logging

            reset_logging()


if __name__ == "__main__":  # pragma: no cover
    # ``python -m genguard.cli``: run the imported module, so the commands and this
    # entry point share one CommandError class.
    from genguard.cli import main as _main

    raise SystemExit(_main())


__all__ = [
    "COMMANDS",
    "EXIT_BLOCKED",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_OUTPUT",
    "EXIT_USAGE",
    "CommandError",
    "Commands",
    "Output",
    "build_parser",
    "exit_code_of",
    "main",
]
