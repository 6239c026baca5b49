"""The runtimes' streaming server: exec sessions (``kubectl exec``).

Upstream, the CRI ``Exec`` call answers with a URL on the runtime's
streaming server, and the kubelet proxies the client's WebSocket to it. Here
the URL is a session id, and the stream is a sequence of polls:
``exec_stream(session, stdin)`` hands in what the client sent and returns what
the command wrote since (waiting a little for something), so a session
crosses Ray calls holding nothing open. A session no one polls for
``IDLE_TIMEOUT`` seconds (its apiserver died) has its command killed.

With a terminal (``exec -t``) the process runtime gives the command a real
pseudo-terminal; the sim runtime has :class:`LineDiscipline` play the
kernel's part.
"""
from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from typing import Callable

from . import api
from .programs.base import Stdin

IDLE_TIMEOUT = 60.0           # seconds without a poll before a session's command is killed
MAX_BUFFERED = 4 * 1024 * 1024  # bytes kept per stream for a slow reader; older output is dropped


def _nothing(*_args: object) -> None:
    return None


@dataclass(eq=False)
class ExecSession:
    """One exec's pipes, as its runtime wires them: ``write``/``close_stdin``
    feed the command, ``output``/``finish`` are called by the runtime as it
    writes and ends, ``kill`` ends it early."""

    id: str
    tty: bool = False
    write: Callable[[bytes], None] = _nothing
    close_stdin: Callable[[], None] = _nothing
    resize: Callable[[int, int], None] = _nothing
    kill: Callable[[], None] = _nothing
    last_used: float = 0.0
    exit_code: int | None = None
    task: asyncio.Task | None = None   # the runtime's watch over the command, kept alive here
    _out: bytearray = field(default_factory=bytearray)
    _err: bytearray = field(default_factory=bytearray)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _taken: int = 0

    def output(self, stream: str, data: bytes) -> None:
        buf = self._err if stream == "stderr" else self._out
        buf.extend(data)
        if len(buf) > MAX_BUFFERED:
            del buf[:len(buf) - MAX_BUFFERED]
        self._changed.set()

    def finish(self, code: int) -> None:
        if self.exit_code is None:
            self.exit_code = code
            self._changed.set()

    async def take(self, wait: float) -> api.ExecOutput:
        """What was written since the last take (waiting up to ``wait`` s for
        something), with the exit code once the command ended."""
        if not (self._out or self._err or self.exit_code is not None) and wait > 0:
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), wait)
            except asyncio.TimeoutError:
                pass
        out = api.ExecOutput(bytes(self._out), bytes(self._err), self.exit_code)
        if out.stdout or out.stderr or out.exit_code is not None:
            self._taken += 1
            out.seq = self._taken
        self._out.clear()
        self._err.clear()
        return out


class ExecSessions:
    """The sessions of one runtime, by id."""

    def __init__(self, *, idle_timeout: float = IDLE_TIMEOUT,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.idle_timeout = idle_timeout
        self._clock = clock
        self._sessions: dict[str, ExecSession] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    def open(self, tty: bool = False) -> ExecSession:
        self._reap()
        session = ExecSession(os.urandom(16).hex(), tty, last_used=self._clock())
        self._sessions[session.id] = session
        return session

    def _get(self, session_id: str) -> ExecSession:
        session = self._sessions.get(session_id)
        if session is None:
            raise api.NotFound(f"exec session {session_id!r} not found (ended, or idle too long)")
        return session

    async def stream(self, session_id: str, stdin: bytes = b"", close_stdin: bool = False,
                     resize: tuple[int, int] | None = None, wait: float = 1.0) -> api.ExecOutput:
        self._reap()
        session = self._get(session_id)
        session.last_used = self._clock()
        if stdin:
            session.write(bytes(stdin))
        if close_stdin:
            session.close_stdin()
        if resize is not None:
            session.resize(int(resize[0]), int(resize[1]))
        out = await session.take(max(0.0, min(float(wait), self.idle_timeout / 2)))
        session.last_used = self._clock()
        if out.exit_code is not None:
            self._sessions.pop(session_id, None)
        return out

    def cancel(self, session_id: str) -> None:
        session = self._sessions.pop(session_id, None)
        if session is not None and session.exit_code is None:
            session.kill()

    def close(self) -> None:
        for sid in list(self._sessions):
            self.cancel(sid)

    def _reap(self) -> None:
        now = self._clock()
        for sid, s in list(self._sessions.items()):
            if now - s.last_used > self.idle_timeout:
                self.cancel(sid)


class ExecStreaming:
    """The streaming half of a runtime's RuntimeService, over its ``streams``."""

    streams: ExecSessions

    async def exec_stream(self, session: str, stdin: bytes = b"", close_stdin: bool = False,
                          resize: tuple[int, int] | None = None, wait: float = 1.0) -> api.ExecOutput:
        return await self.streams.stream(session, stdin, close_stdin, resize, wait)

    async def exec_cancel(self, session: str) -> None:
        self.streams.cancel(session)


def check_exec(req: api.ExecRequest) -> None:
    """Upstream's checks of an ExecRequest (before the container is looked at)."""
    if not req.cmd:
        raise api.InvalidArgument("cmd must not be empty")
    if req.tty and req.stderr:
        raise api.InvalidArgument("tty and stderr cannot both be true")
    if not (req.stdin or req.stdout or req.stderr):
        raise api.InvalidArgument("one of stdin, stdout, or stderr must be set")


class LineDiscipline:
    """A terminal in cooked mode, for simulated programs: typed bytes are echoed
    and handed to the program a line at a time (Enter's CR as NL); backspace
    erases, ^U kills the line, ^C drops it, ^D on an empty line is end of file;
    what the program writes gets NL as CR NL."""

    def __init__(self, stdin: Stdin, echo: Callable[[bytes], None]) -> None:
        self.stdin = stdin
        self.echo = echo
        self._line = bytearray()

    def input(self, data: bytes) -> None:
        echoed = bytearray()
        for b in data:
            ch = bytes([b])
            if ch in (b"\r", b"\n"):
                self._line.extend(b"\n")
                echoed.extend(b"\r\n")
                self.stdin.feed(bytes(self._line))
                self._line.clear()
            elif ch in (b"\x7f", b"\x08"):
                if self._line:
                    self._line.pop()
                    echoed.extend(b"\b \b")
            elif ch == b"\x15":      # ^U
                echoed.extend(b"\b \b" * len(self._line))
                self._line.clear()
            elif ch == b"\x03":      # ^C
                self._line.clear()
                echoed.extend(b"^C\r\n")
            elif ch == b"\x04":      # ^D
                if self._line:
                    self.stdin.feed(bytes(self._line))
                    self._line.clear()
                else:
                    self.stdin.close()
            else:
                self._line.extend(ch)
                echoed.extend(ch)
        if echoed:
            self.echo(bytes(echoed))

    @staticmethod
    def output(data: bytes) -> bytes:
        return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
