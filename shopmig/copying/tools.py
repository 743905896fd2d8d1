"""Running the databases' own dump and restore tools: one alone, or a dump piped into a restore
(through a :class:`~shopmig.dialects.base.DumpRewriter` when the dump needs changing on its
way). What to run comes from the dialect (``find_tool``, ``dump_args``, ``restore_args``,
``tool_env``); this module only runs it.

Passwords reach the tools through their environment, never their command lines. A tool that
fails raises :class:`~shopmig.errors.BackupFailedError` with the first lines of its error
output, every password masked. An interrupted run (Ctrl-C, any error) ends the processes it
started.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from sqlalchemy.engine import URL

from shopmig.db import mask_url
from shopmig.dialects.base import DumpRewriter, url_password
from shopmig.errors import BackupFailedError
from shopmig.masking import mask_text

TOOL_TIMEOUT_S = 6 * 60 * 60
STDERR_LINES = 3
CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class Command:
    """One tool run: its arguments, extra environment, and the database it works on (for
    error messages, password masked)."""

    args: Sequence[str]
    url: URL
    env: dict[str, str] = field(default_factory=dict)

    @property
    def tool(self) -> str:
        """The tool's name (``pg_dump``, ``mariadb``...)."""
        return Path(self.args[0]).name


def first_lines(text: str, url: URL) -> str:
    """The first lines of a tool's error output as one line, with every password hidden."""
    password = url_password(url)
    if password:
        text = text.replace(password, "***")
    lines = [line.strip() for line in mask_text(text).splitlines() if line.strip()]
    shown = " | ".join(lines[:STDERR_LINES]) or "no error output"
    more = len(lines) - STDERR_LINES
    return shown + (f" | ... ({more} more lines)" if more > 0 else "")


def _failed(command: Command, returncode: int, stderr: IO[bytes]) -> BackupFailedError:
    stderr.seek(0)
    detail = first_lines(stderr.read().decode("utf-8", "replace"), command.url)
    return BackupFailedError(command.tool, mask_url(command.url),
                             f"exit code {returncode}: {detail}")


@contextlib.contextmanager
def _started(command: Command, **kwargs: object) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``command``; kill it if the block is left by an exception."""
    try:
        process = subprocess.Popen(
            list(command.args), env={**os.environ, **command.env}, **kwargs)  # type: ignore[call-overload]
    except OSError as exc:
        raise BackupFailedError(command.tool, mask_url(command.url),
                                first_lines(str(exc), command.url)) from None
    try:
        yield process
    except BaseException:
        process.kill()
        process.wait()
        raise


def _wait(process: subprocess.Popen[bytes], command: Command) -> int:
    try:
        return process.wait(timeout=TOOL_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise BackupFailedError(command.tool, mask_url(command.url),
                                f"still running after {TOOL_TIMEOUT_S} s, stopped") from None


def run(command: Command, *, stdin: Path | None = None) -> None:
    """Run one tool to its end (reading ``stdin`` if given); a non-zero exit raises
    :class:`BackupFailedError`."""
    with contextlib.ExitStack() as stack:
        err = stack.enter_context(tempfile.TemporaryFile())
        source = stack.enter_context(stdin.open("rb")) if stdin else subprocess.DEVNULL
        process = stack.enter_context(_started(command, stdin=source,
                                               stdout=subprocess.DEVNULL, stderr=err))
        code = _wait(process, command)
        if code != 0:
            raise _failed(command, code, err)


def pipe(dump: Command, restore: Command | None, *, rewriter: DumpRewriter | None = None,
         output: Path | None = None) -> None:
    """Run ``dump`` and feed its output to ``restore`` (or into the file ``output``),
    through ``rewriter`` when given (the tools are connected directly otherwise). Both must
    succeed; the first failure raises :class:`BackupFailedError` naming its tool."""
    if (restore is None) == (output is None):
        raise ValueError("pipe() needs exactly one of restore and output")
    with contextlib.ExitStack() as stack:
        dump_err = stack.enter_context(tempfile.TemporaryFile())
        producer = stack.enter_context(_started(dump, stdin=subprocess.DEVNULL,
                                                stdout=subprocess.PIPE, stderr=dump_err))
        assert producer.stdout is not None
        consumer = None
        restore_err = stack.enter_context(tempfile.TemporaryFile())
        if restore is not None and rewriter is None:
            consumer = stack.enter_context(_started(restore, stdin=producer.stdout,
                                                    stdout=subprocess.DEVNULL,
                                                    stderr=restore_err))
            producer.stdout.close()  # the dump sees a broken pipe if the restore stops
        else:
            if restore is not None:
                consumer = stack.enter_context(_started(restore, stdin=subprocess.PIPE,
                                                        stdout=subprocess.DEVNULL,
                                                        stderr=restore_err))
                assert consumer.stdin is not None
                sink: IO[bytes] = consumer.stdin
            else:
                assert output is not None
                sink = stack.enter_context(output.open("wb"))
            _copy_stream(producer.stdout, sink, rewriter, producer, dump, dump_err)
        dump_code = _wait(producer, dump)
        restore_code = _wait(consumer, restore) if consumer is not None and restore else 0
        if dump_code != 0:
            raise _failed(dump, dump_code, dump_err)
        if restore_code != 0:
            assert restore is not None
            raise _failed(restore, restore_code, restore_err)


def _copy_stream(source: IO[bytes], sink: IO[bytes], rewriter: DumpRewriter | None,
                 producer: subprocess.Popen[bytes], dump: Command, dump_err: IO[bytes]) -> None:
    """Copy the dump into ``sink`` (line by line through ``rewriter``), then the rewriter's
    trailer once the dump has ended well. A restore that stops early ends the copy."""
    try:
        if rewriter is None:
            while chunk := source.read(CHUNK_BYTES):
                sink.write(chunk)
        else:
            for line in source:
                sink.write(rewriter.line(line))
            code = _wait(producer, dump)
            if code != 0:
                raise _failed(dump, code, dump_err)
            sink.write(rewriter.trailer())
    except BrokenPipeError:
        pass  # the restore stopped: its exit code and error output say why
    finally:
        source.close()
        with contextlib.suppress(BrokenPipeError):
            sink.close()
