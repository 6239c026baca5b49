"""``python -m actors.cri.programs <argv...>``: one container's process for
the ``process`` runtime. The pod's addresses come from ``RAYKUBE_POD_IP`` and ``RAYKUBE_BIND_IP``.

SIGTERM cancels the program: it exits 143 unless the program handles the
termination (servers exit 0, as a graceful shutdown); SIGINT likewise, 130."""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys

from . import run_program
from .base import BIND_IP_ENV, GATEWAY_ENV, POD_IP_ENV, TAKE_TERMINAL_ENV
from .osctx import OSContext

RUNTIME_PID_ENV = "RAYKUBE_RUNTIME_PID"  # the runtime that started us: we die with it


def take_terminal() -> None:
    """Make the terminal on stdin our controlling one (we lead a session of our
    own), so ^C typed into it is SIGINT to us. Done here rather than in a
    preexec hook, which runs before the terminal is on fd 0 under uvloop."""
    if os.environ.get(TAKE_TERMINAL_ENV) != "1":
        return
    import fcntl
    import termios
    try:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    except OSError:
        pass   # not a session leader, or not a terminal: the command runs without job control


def die_with_runtime() -> None:
    """Ask Linux to SIGKILL this process when the runtime that started it dies
    (a crashed CRI actor must not leave its containers running); if it is
    already gone, go now."""
    runtime = os.environ.get(RUNTIME_PID_ENV)
    if not runtime or not sys.platform.startswith("linux"):
        return
    import ctypes
    pr_set_pdeathsig = 1
    try:
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != int(runtime):
        os._exit(137)


def context_from_environment() -> OSContext:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAYKUBE_")}
    hostname = os.environ.get("HOSTNAME") or socket.gethostname()
    bind = os.environ.get(BIND_IP_ENV) or "127.0.0.1"
    return OSContext(env, hostname, os.getcwd(), bind, ip=os.environ.get(POD_IP_ENV) or bind,
                     gateway=os.environ.get(GATEWAY_ENV, ""))


async def main(ctx: OSContext, argv: list[str]) -> int:
    task = asyncio.ensure_future(run_program(ctx, argv))
    loop = asyncio.get_running_loop()
    got: list[int] = []

    def on_signal(signum: int) -> None:
        got.append(signum)
        task.cancel()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        return await task
    except asyncio.CancelledError:
        return 128 + (got[0] if got else signal.SIGTERM)


if __name__ == "__main__":
    die_with_runtime()
    take_terminal()
    sys.exit(asyncio.run(main(context_from_environment(), sys.argv[1:])))
