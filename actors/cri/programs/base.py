"""What the shipped images run, written once for both runtimes.

A program is ``async def main(ctx: Context, argv: list[str]) -> int`` (the
exit code). ``Context`` is the container's world: its environment, stdout
and stderr, time, files under its working directory, and the network. The
``process`` runtime runs a program in a real OS process
(``python -m actors.cri.programs <argv...>``) with a context over the real
OS; the ``sim`` runtime runs it in-process with a simulated context, so a
`sleep 30`, an `agnhost fail 3` or an HTTP server behave the same in both.

Programs are found by the first word of a container's command line (its
basename: ``/bin/sh`` and ``sh`` are the same program).
"""
from __future__ import annotations

import asyncio
import posixpath
from typing import Any, Awaitable, Callable, NoReturn, Protocol

from netsim.traffic import HTTPHandler  # noqa: F401  (programs' servers are written against it)


TAKE_TERMINAL_ENV = "RAYKUBE_TAKE_TERMINAL"  # set by the runtime: stdin is a terminal to make ours (exec -t)
BIND_IP_ENV = "RAYKUBE_BIND_IP"    # where a real process's servers listen (its pod IP moved into 127/8)
POD_IP_ENV = "RAYKUBE_POD_IP"      # the pod's address in the pod network (what ``hostname -i`` says)
GATEWAY_ENV = "RAYKUBE_NETSIM_GATEWAY"   # host:port of the node's egress gateway into the pod network


class ProgramExit(Exception):
    """Raised by ``ctx.exit(code)``: the program ends with ``code``."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class Stdin:
    """A process's standard input: bytes its runtime feeds in, read by chunk or
    by line. One is shared by a process tree (a shell and the commands it
    runs), as a file descriptor is, so what one reader leaves the next gets."""

    def __init__(self, data: bytes = b"", *, closed: bool = False) -> None:
        self._buf = bytearray(data)
        self._eof = closed
        self._more = asyncio.Event()

    @classmethod
    def empty(cls) -> "Stdin":
        """A container started without stdin: end of file at once."""
        return cls(closed=True)

    def feed(self, data: bytes) -> None:
        if data and not self._eof:
            self._buf.extend(data)
            self._more.set()

    def close(self) -> None:
        self._eof = True
        self._more.set()

    @property
    def closed(self) -> bool:
        return self._eof

    async def _wait(self) -> None:
        self._more.clear()
        await self._more.wait()

    async def read(self) -> bytes:
        """What is there (waiting for some); b"" at end of file."""
        while not self._buf and not self._eof:
            await self._wait()
        out = bytes(self._buf)
        self._buf.clear()
        return out

    async def readline(self) -> bytes:
        """One line with its newline; the rest without one at end of file, then b""."""
        while True:
            nl = self._buf.find(b"\n")
            if nl >= 0 or self._eof:
                end = nl + 1 if nl >= 0 else len(self._buf)
                out = bytes(self._buf[:end])
                del self._buf[:end]
                return out
            await self._wait()


class Context(Protocol):
    """A running container as its program sees it."""

    env: dict[str, str]
    hostname: str
    cwd: str
    stdin: Stdin
    tty: bool          # stdin and stdout are a terminal (``kubectl exec -t``): a shell prompts

    def stdout(self, data: str | bytes) -> None: ...

    def stderr(self, data: str | bytes) -> None: ...

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...

    def exit(self, code: int) -> None:
        """End the program with ``code`` (raises :class:`ProgramExit`)."""

    def read_file(self, path: str) -> bytes: ...

    def write_file(self, path: str, data: bytes) -> None: ...

    def remove_file(self, path: str) -> None:
        """Delete a file (FileNotFoundError when there is none)."""

    async def serve_http(self, port: int, handler: HTTPHandler) -> None:
        """Listen on ``port`` of the pod's network and answer with ``handler`` until the program ends.
        Raises OSError (EADDRINUSE) when the port is taken in the pod. The call itself
        serves: it returns only by raising (cancelled with the program, closing the port);
        see :func:`serve` to run servers next to other work."""

    async def http_request(self, method: str, url: str, body: bytes = b"",
                           timeout: float = 10.0) -> tuple[int, bytes]:
        """An HTTP request from the pod: (status, body); OSError when it cannot connect."""

    async def lookup(self, name: str) -> Any:
        """``name`` resolved as the pod's resolver would (its resolv.conf): a
        :class:`netsim.host.Resolved`; LookupError when it does not resolve."""

    async def run(self, argv: list[str]) -> int:
        """Run another program in this container (a shell's commands), to its exit code."""

    def allocate(self, nbytes: int) -> None:
        """Hold ``nbytes`` of memory until the program ends (agnhost's consume-memory)."""


Program = Callable[[Context, list[str]], Awaitable[int]]

PROGRAMS: dict[str, Program] = {}


def program(*names: str) -> Callable[[Program], Program]:
    """Register a program under ``names`` (as its binaries are named in images)."""
    def register(fn: Program) -> Program:
        for n in names:
            PROGRAMS[n] = fn
        return fn
    return register


def lookup(argv0: str) -> Program | None:
    return PROGRAMS.get(posixpath.basename(argv0))


async def run_program(ctx: Context, argv: list[str]) -> int:
    """Run ``argv`` in ``ctx`` to its exit code: 127 for an unknown program
    (as a shell says ``not found``), the code of ``ctx.exit``, 1 for a crash."""
    if not argv:
        ctx.stderr("no command given\n")
        return 127
    fn = lookup(argv[0])
    if fn is None:
        ctx.stderr(f"exec {argv[0]}: executable file not found in $PATH\n")
        return 127
    try:
        return await fn(ctx, list(argv[1:]))
    except ProgramExit as e:
        return e.code
    except Exception as e:  # a crashing program is a process dying, not a runtime error
        ctx.stderr(f"{posixpath.basename(argv[0])}: {type(e).__name__}: {e}\n")
        return 1


# ------------------------------------------------------------------ helpers
SIGTERM_EXIT = 143   # 128 + SIGTERM: a program that let the termination end it
SIGKILL_EXIT = 137   # 128 + SIGKILL


def task_exit_code(task: "asyncio.Task[int]") -> int:
    """The exit code of a finished program task: its result, SIGTERM_EXIT when
    the termination (a cancel) ended it, 1 when it crashed outside run_program."""
    if task.cancelled():
        return SIGTERM_EXIT
    if task.exception() is not None:
        return 1
    return int(task.result())


async def forever() -> NoReturn:
    """Wait until cancelled (a terminated container), without touching any clock."""
    await asyncio.get_running_loop().create_future()
    raise AssertionError("unreachable")


def terminating() -> bool:
    """Whether the current program task has been asked to stop (a shell checks it
    between commands so a handled SIGTERM of its child also ends the shell)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class SubContext:
    """A context derived from another one: a shell's redirected or re-environed
    command, a captured command substitution. Everything it does not override
    goes to the parent."""

    def __init__(self, parent: Context, *, env: dict[str, str] | None = None,
                 stdout: Callable[[bytes], None] | None = None,
                 stderr: Callable[[bytes], None] | None = None) -> None:
        self._parent = parent
        self.env = parent.env if env is None else env
        self._out = stdout
        self._err = stderr

    def __getattr__(self, name: str) -> Any:
        return getattr(self._parent, name)

    def stdout(self, data: str | bytes) -> None:
        if self._out is None:
            self._parent.stdout(data)
        else:
            self._out(to_bytes(data))

    def stderr(self, data: str | bytes) -> None:
        if self._err is None:
            self._parent.stderr(data)
        else:
            self._err(to_bytes(data))

    def exit(self, code: int) -> None:
        raise ProgramExit(code)

    async def run(self, argv: list[str]) -> int:
        return await run_program(self, argv)  # type: ignore[arg-type]


async def capture(ctx: Context, argv: list[str], *, merge: bool = False) -> tuple[int, bytes, bytes]:
    """Run ``argv`` in ``ctx`` collecting its output: (code, stdout, stderr);
    ``merge`` sends stderr into stdout (as ``2>&1``)."""
    out, err = bytearray(), bytearray()
    sub = SubContext(ctx, stdout=out.extend, stderr=out.extend if merge else err.extend)
    code = await sub.run(argv)
    return code, bytes(out), bytes(err)


async def serve(ctx: Context, servers: list[tuple[int, HTTPHandler]],
                until: "asyncio.Future[int] | None" = None) -> int:
    """Run HTTP servers until ``until`` resolves (its result is returned) or one
    of them fails (its error is raised, e.g. EADDRINUSE); the ports close on return."""
    tasks = [asyncio.ensure_future(ctx.serve_http(port, h)) for port, h in servers]
    waiting: set[asyncio.Future] = set(tasks)
    if until is not None:
        waiting.add(until)
    try:
        while True:
            done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if until is not None and until in done:
                return until.result()
            for t in done:
                if t.exception() is not None:
                    raise t.exception()  # type: ignore[misc]
                waiting.discard(t)
            if not waiting:
                return 0
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def to_bytes(data: str | bytes) -> bytes:
    return data.encode() if isinstance(data, str) else bytes(data)
