"""The ``sim`` container runtime: CRI's RuntimeService with containers as
in-process state machines (as KWOK fakes nodes), cheap enough for 100,000
of them on one machine.

A container's program (``sleep``, ``sh``, ``agnhost netexec``...) runs as an
asyncio task in a :class:`SimContext`, against the injected clock and sleep,
so a test (or a seeded simulation) drives time. Pods of one runtime -- and
of every runtime sharing the same ``network`` -- reach each other by IP.

Signals are simulated with task cancellation: SIGTERM cancels the program
task (a program that does not handle it exits 143; one that catches the
cancellation may exit 0 as a graceful shutdown), SIGKILL marks the
container exited with 137 whatever the program does. Output becomes CRI
log lines, kept in memory (bounded) and, with ``log_root``, on disk.
"""
from __future__ import annotations

import asyncio
import itertools
import os
import random
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Awaitable, Callable

from actors.cri import api
from actors.cri.images import ImageDef, ImageStore, container_argv
from actors.cri.logformat import cri_log_lines, rfc3339nano
from actors.cri.programs import base
from netsim.pods import PodNetwork
from actors.cri.programs.simctx import SimContext
from actors.cri.netsetup import PodNetworking, pod_files, setup_network, teardown_network
from actors.cri.streaming import ExecSessions, ExecStreaming, LineDiscipline, check_exec

RUNTIME_NAME = "raykube-sim"
RUNTIME_VERSION = "0.1.0"

EXIT_SIGTERM = 143          # 128 + SIGTERM
EXIT_SIGKILL = 137          # 128 + SIGKILL
DEFAULT_LOG_LINES = 1000    # in-memory lines kept per container
MAX_EXEC_SECONDS = 3600.0   # ExecSync's cap when the caller asks for no timeout
KILL_ROUNDS = 10            # cancels a SIGKILL repeats on a program that swallows them
KILL_ROUND_SECONDS = 0.05   # real time a killed program gets per round to unwind

# ------------------------------------------------------------------- state
@dataclass(slots=True, eq=False)
class _Sandbox:
    id: str
    config: api.PodSandboxConfig
    created_at: int
    ip: str
    runtime_handler: str
    state: api.PodSandboxState = api.PodSandboxState.SANDBOX_READY
    containers: dict[str, "_Container"] = field(default_factory=dict)


@dataclass(slots=True, eq=False)
class _Container:
    id: str
    sandbox: _Sandbox
    config: api.ContainerConfig
    image: ImageDef
    argv: list[str]
    env: dict[str, str]
    working_dir: str
    created_at: int
    log_file: str                      # "" when logs are kept in memory only
    log_path: str                      # what ContainerStatus reports
    state: api.ContainerState = api.ContainerState.CONTAINER_CREATED
    started_at: int = 0
    finished_at: int = 0
    exit_code: int = 0
    reason: str = ""
    message: str = ""
    terminating: bool = False          # SIGTERM delivered
    allocated: int = 0                 # bytes its programs hold (agnhost consume-memory)
    files: dict | None = None          # the container's filesystem, shared with its execs
    task: asyncio.Task | None = None
    logs: deque | None = None          # created on first output
    logged: int = 0                    # lines ever logged (read_log's cursor)
    execs: set | None = None           # running exec tasks


# ----------------------------------------------------------------- runtime
class SimRuntime(ExecStreaming, PodNetworking):
    """api.RuntimeService over simulated containers (see the module docstring)."""

    def __init__(self, images: ImageStore, *, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 network: PodNetwork | None = None, log_root: str | None = None,
                 log_lines: int = DEFAULT_LOG_LINES, rng: random.Random | None = None) -> None:
        """``network``: the node's pod network (a node of its own by default)."""
        self.images = images
        self.network = network if network is not None else PodNetwork.standalone(sleep=sleep)
        self._clock = clock
        self._sleep = sleep
        self._log_root = log_root
        self._log_lines = log_lines
        self._rng = rng
        self._sandboxes: dict[str, _Sandbox] = {}
        self._containers: dict[str, _Container] = {}
        self.streams = ExecSessions()

    # ------------------------------------------------------------ helpers
    def _now(self) -> int:
        return int(self._clock() * 1_000_000_000)

    def _new_id(self, taken: dict) -> str:
        while True:
            bits = self._rng.getrandbits(256) if self._rng is not None else int.from_bytes(os.urandom(32), "big")
            new = f"{bits:064x}"
            if new not in taken:
                return new

    def _sandbox(self, sandbox_id: str) -> _Sandbox:
        s = self._sandboxes.get(sandbox_id)
        if s is None:
            raise api.NotFound(f"an error occurred when try to find sandbox {sandbox_id!r}: not found")
        return s

    def _container(self, container_id: str) -> _Container:
        c = self._containers.get(container_id)
        if c is None:
            raise api.NotFound(f"an error occurred when try to find container {container_id!r}: not found")
        return c

    async def _wait(self, task: asyncio.Future, seconds: float) -> bool:
        """Wait for ``task`` at most ``seconds`` of the runtime's time; True when it finished."""
        if task.done():
            return True
        sleeper = asyncio.ensure_future(self._sleep(max(0.0, seconds)))
        try:
            await asyncio.wait({task, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
        return task.done()

    def _log_paths(self, s: _Sandbox, config: api.ContainerConfig) -> tuple[str, str]:
        """(file written, path reported): the sandbox's log directory, re-rooted
        under ``log_root`` when logs go to disk (log_root "/" is the directory itself)."""
        if not config.log_path:
            return "", ""
        logical = os.path.join(s.config.log_directory or s.id, config.log_path)
        if self._log_root is None:
            return "", logical
        disk = os.path.join(self._log_root, logical.lstrip("/"))
        return disk, disk

    # ------------------------------------------------------------- output
    def _output(self, c: _Container, stream: str, data: str | bytes) -> None:
        if c.state != api.ContainerState.CONTAINER_RUNNING:
            return                       # a killed program's leftovers go nowhere
        text = data.decode("utf-8", "replace") if isinstance(data, (bytes, bytearray)) else str(data)
        if not text:
            return
        lines = cri_log_lines(rfc3339nano(self._now()), "stderr" if stream == "stderr" else "stdout", text)
        if c.logs is None:
            c.logs = deque(maxlen=self._log_lines)
        c.logs.extend(lines)
        c.logged += len(lines)
        if c.log_file:
            try:
                with open(c.log_file, "a", encoding="utf-8") as f:
                    f.write("".join(line + "\n" for line in lines))
            except OSError:
                pass                     # a full or vanished disk loses file logs, not the container

    async def read_log(self, container_id: str, cursor: int = 0) -> api.LogChunk:
        """The container's CRI log lines from ``cursor`` (a count of lines ever
        logged) on, of the most recent ones kept in memory (even when written to disk)."""
        c = self._container(container_id)
        if c.logs is None:
            return api.LogChunk([], c.logged)
        first = c.logged - len(c.logs)
        return api.LogChunk(list(itertools.islice(c.logs, max(0, cursor - first), None)), c.logged)

    # ----------------------------------------------------------- programs
    def _context(self, c: _Container, on_output: Callable[[str, bytes], None],
                 stdin: base.Stdin | None = None, tty: bool = False) -> SimContext:
        ctx = SimContext(c.env, c.sandbox.config.hostname or c.sandbox.config.metadata.name,
                         c.sandbox.ip, clock=self._clock, sleep=self._sleep, network=self.network,
                         files=c.files, on_output=on_output, cwd=c.working_dir, stdin=stdin, tty=tty)
        limit = c.config.resources.memory_limit_in_bytes if c.config.resources else 0
        if limit > 0:
            hold = ctx.allocate

            def allocate(nbytes: int) -> None:
                """The container's memory limit, as its cgroup would enforce it."""
                hold(nbytes)
                c.allocated += max(0, int(nbytes))
                if c.allocated > limit:
                    self._oom_kill(c)
            ctx.allocate = allocate  # type: ignore[method-assign]
        return ctx

    @staticmethod
    async def _execute(ctx: SimContext, argv: list[str]) -> int:
        """A program to its exit code; a crash (a port in use...) is exit 1 with the error on stderr."""
        try:
            return await base.run_program(ctx, argv)
        except base.ProgramExit as e:
            return e.code
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - the program's failure is the container's, not the runtime's
            ctx.stderr(f"{argv[0] if argv else 'program'}: {e}\n")
            return 1

    async def _main(self, c: _Container) -> None:
        ctx = self._context(c, lambda stream, data: self._output(c, stream, data))
        try:
            code = await self._execute(ctx, c.argv)
        except asyncio.CancelledError:
            code = EXIT_SIGTERM if c.terminating else EXIT_SIGKILL
        self._finish(c, code)

    def _finish(self, c: _Container, code: int) -> None:
        if c.state == api.ContainerState.CONTAINER_EXITED:
            return
        c.state = api.ContainerState.CONTAINER_EXITED
        c.exit_code = code
        c.finished_at = self._now()
        c.reason = "Completed" if code == 0 else "Error"
        if c.execs:
            for t in list(c.execs):
                t.cancel()

    def _oom_kill(self, c: _Container) -> None:
        """Over its memory limit: killed at once (137), reason OOMKilled as the kubelet shows it."""
        if c.state != api.ContainerState.CONTAINER_RUNNING:
            return
        self._finish(c, EXIT_SIGKILL)
        c.reason = "OOMKilled"
        if c.task is not None:
            c.task.cancel()

    def _kill(self, c: _Container) -> asyncio.Task | None:
        """SIGKILL: exited with 137 now; returns the program task still to reap."""
        if c.state == api.ContainerState.CONTAINER_RUNNING:
            self._finish(c, EXIT_SIGKILL)
        if c.task is not None and not c.task.done():
            c.task.cancel()
            return c.task
        return None

    @staticmethod
    async def _reap(tasks: list) -> None:
        """Let killed programs unwind (close their ports...) before the call returns:
        they need loop turns, not simulated time, so the bound is real time. A
        program catching the cancellation is cancelled again, as SIGKILL cannot be caught."""
        pending = {t for t in tasks if t is not None and not t.done()}
        for _ in range(KILL_ROUNDS):
            if not pending:
                return
            _, pending = await asyncio.wait(pending, timeout=KILL_ROUND_SECONDS)
            for t in pending:
                t.cancel()

    # ------------------------------------------------------------ version
    async def Version(self, version: str = api.RUNTIME_API_VERSION) -> api.VersionResponse:
        return api.VersionResponse(version="0.1.0", runtime_name=RUNTIME_NAME,
                                   runtime_version=RUNTIME_VERSION,
                                   runtime_api_version=api.RUNTIME_API_VERSION)

    async def Status(self) -> api.RuntimeStatus:
        return api.RuntimeStatus(conditions=[api.RuntimeCondition("RuntimeReady", True),
                                             api.RuntimeCondition("NetworkReady", True)])

    # ---------------------------------------------------------- sandboxes
    async def RunPodSandbox(self, config: api.PodSandboxConfig, runtime_handler: str = "") -> str:
        sid = self._new_id(self._sandboxes)
        ip = setup_network(self.network, sid, config)
        self._sandboxes[sid] = _Sandbox(id=sid, config=config, created_at=self._now(), ip=ip,
                                        runtime_handler=runtime_handler)
        return sid

    async def StopPodSandbox(self, pod_sandbox_id: str) -> None:
        s = self._sandbox(pod_sandbox_id)
        await self._reap([self._kill(c) for c in list(s.containers.values())])
        if s.state == api.PodSandboxState.SANDBOX_READY:
            s.state = api.PodSandboxState.SANDBOX_NOTREADY
            await self._release(s)

    async def _release(self, s: _Sandbox) -> None:
        teardown_network(self.network, s.id)

    async def RemovePodSandbox(self, pod_sandbox_id: str) -> None:
        s = self._sandboxes.get(pod_sandbox_id)
        if s is None:
            return
        await self.StopPodSandbox(pod_sandbox_id)
        for cid in list(s.containers):
            await self.RemoveContainer(cid)
        self._sandboxes.pop(pod_sandbox_id, None)

    async def PodSandboxStatus(self, pod_sandbox_id: str) -> api.PodSandboxStatus:
        s = self._sandbox(pod_sandbox_id)
        ready = s.state == api.PodSandboxState.SANDBOX_READY
        return api.PodSandboxStatus(
            id=s.id, metadata=s.config.metadata, state=s.state, created_at=s.created_at,
            network=api.PodSandboxNetworkStatus(ip=s.ip if ready else ""),
            labels=dict(s.config.labels), annotations=dict(s.config.annotations),
            runtime_handler=s.runtime_handler)

    async def ListPodSandbox(self, filter: api.PodSandboxFilter | None = None) -> list[api.PodSandbox]:
        out = []
        for s in self._sandboxes.values():
            if filter is not None:
                if filter.id and not s.id.startswith(filter.id):
                    continue
                if filter.state is not None and s.state != filter.state:
                    continue
                if any(s.config.labels.get(k) != v for k, v in filter.label_selector.items()):
                    continue
            out.append(api.PodSandbox(id=s.id, metadata=s.config.metadata, state=s.state,
                                      created_at=s.created_at, labels=dict(s.config.labels),
                                      annotations=dict(s.config.annotations),
                                      runtime_handler=s.runtime_handler))
        return out

    # --------------------------------------------------------- containers
    async def CreateContainer(self, pod_sandbox_id: str, config: api.ContainerConfig,
                              sandbox_config: api.PodSandboxConfig) -> str:
        s = self._sandbox(pod_sandbox_id)
        if s.state != api.PodSandboxState.SANDBOX_READY:
            raise api.FailedPrecondition(f"sandbox {pod_sandbox_id!r} is not ready")
        for other in s.containers.values():
            if (other.config.metadata.name == config.metadata.name
                    and other.config.metadata.attempt == config.metadata.attempt):
                raise api.AlreadyExists(
                    f"container name {config.metadata.name!r} attempt {config.metadata.attempt} "
                    f"is reserved for {other.id!r} in sandbox {s.id!r}")
        image = self.images.pulled(config.image.image)
        env = {"HOSTNAME": s.config.hostname or s.config.metadata.name}   # as containerd: overridable
        env.update(image.env)
        for kv in config.envs:
            env[kv.key] = kv.value
        cid = self._new_id(self._containers)
        log_file, log_path = self._log_paths(s, config)
        c = _Container(id=cid, sandbox=s, config=config, image=image,
                       argv=container_argv(image, list(config.command), list(config.args)),
                       env=env, working_dir=config.working_dir or image.working_dir or "/",
                       created_at=self._now(), log_file=log_file, log_path=log_path)
        self.images.mark_in_use(image.id, cid)
        s.containers[cid] = c
        self._containers[cid] = c
        return cid

    async def StartContainer(self, container_id: str) -> None:
        c = self._container(container_id)
        if c.state != api.ContainerState.CONTAINER_CREATED:
            raise api.FailedPrecondition(f"container {container_id!r} is in {c.state.value} state")
        if c.sandbox.state != api.PodSandboxState.SANDBOX_READY:
            raise api.FailedPrecondition(f"sandbox {c.sandbox.id!r} of container {container_id!r} is not ready")
        if base.lookup(c.argv[0]) is None:
            # No such binary in the image: the start fails (the kubelet's RunContainerError).
            c.message = f'exec: "{c.argv[0]}": executable file not found in $PATH'
            c.state, c.exit_code, c.reason = api.ContainerState.CONTAINER_EXITED, 128, "StartError"
            c.started_at = c.finished_at = self._now()
            raise api.ContainerStartError(c.message)
        if c.log_file:
            try:
                os.makedirs(os.path.dirname(c.log_file), exist_ok=True)
                open(c.log_file, "a").close()
            except OSError as e:
                raise api.ContainerStartError(f"failed to create container log {c.log_file!r}: {e}") from e
        c.files = pod_files(c.sandbox.config, c.sandbox.ip)
        c.state = api.ContainerState.CONTAINER_RUNNING
        c.started_at = self._now()
        c.task = asyncio.get_running_loop().create_task(self._main(c), name=f"container-{container_id[:12]}")

    async def StopContainer(self, container_id: str, timeout: int) -> None:
        c = self._container(container_id)
        if c.state != api.ContainerState.CONTAINER_RUNNING:
            return
        if timeout > 0 and c.task is not None:
            c.terminating = True
            c.task.cancel()
            if await self._wait(c.task, float(timeout)):
                self._finish(c, EXIT_SIGTERM)   # a task cancelled before its program ran
        await self._reap([self._kill(c)])

    async def RemoveContainer(self, container_id: str) -> None:
        c = self._containers.get(container_id)
        if c is None:
            return
        await self._reap([self._kill(c)])
        self._containers.pop(container_id, None)
        c.sandbox.containers.pop(container_id, None)
        c.files = None
        self.images.release(c.image.id, container_id)

    async def ListContainers(self, filter: api.ContainerFilter | None = None) -> list[api.Container]:
        out = []
        for c in self._containers.values():
            if filter is not None:
                if filter.id and not c.id.startswith(filter.id):
                    continue
                if filter.state is not None and c.state != filter.state:
                    continue
                if filter.pod_sandbox_id and not c.sandbox.id.startswith(filter.pod_sandbox_id):
                    continue
                if any(c.config.labels.get(k) != v for k, v in filter.label_selector.items()):
                    continue
            out.append(api.Container(id=c.id, pod_sandbox_id=c.sandbox.id, metadata=c.config.metadata,
                                     image=api.ImageSpec(c.image.name), image_ref=c.image.id,
                                     state=c.state, created_at=c.created_at,
                                     labels=dict(c.config.labels), annotations=dict(c.config.annotations)))
        return out

    async def ContainerStatus(self, container_id: str) -> api.ContainerStatus:
        c = self._container(container_id)
        return api.ContainerStatus(
            id=c.id, metadata=c.config.metadata, state=c.state, created_at=c.created_at,
            started_at=c.started_at, finished_at=c.finished_at, exit_code=c.exit_code,
            image=api.ImageSpec(c.image.name), image_ref=c.image.id, reason=c.reason,
            message=c.message, labels=dict(c.config.labels), annotations=dict(c.config.annotations),
            mounts=list(c.config.mounts), log_path=c.log_path)

    def _start_exec(self, container_id: str, cmd: list[str], on_output: Callable[[str, bytes], None],
                    stdin: base.Stdin | None = None, tty: bool = False) -> asyncio.Task[int]:
        """A command run next to the container's program (sharing its files and
        network); killed with the container."""
        c = self._container(container_id)
        if not cmd:
            raise api.InvalidArgument("cmd must not be empty")
        if c.state != api.ContainerState.CONTAINER_RUNNING:
            raise api.FailedPrecondition(f"container {container_id!r} is not running ({c.state.value})")
        ctx = self._context(c, on_output, stdin, tty)

        async def run() -> int:
            try:
                return await self._execute(ctx, list(cmd))
            except asyncio.CancelledError:
                return EXIT_SIGKILL       # the container went away under the exec

        task = asyncio.get_running_loop().create_task(run())
        if c.execs is None:
            c.execs = set()
        c.execs.add(task)
        task.add_done_callback(c.execs.discard)
        return task

    async def ExecSync(self, container_id: str, cmd: list[str], timeout: int = 0) -> api.ExecSyncResponse:
        out, err = bytearray(), bytearray()

        def collect(stream: str, data: str | bytes) -> None:
            (err if stream == "stderr" else out).extend(base.to_bytes(data))

        task = self._start_exec(container_id, cmd, collect)
        limit = float(timeout) if timeout > 0 else MAX_EXEC_SECONDS
        if not await self._wait(task, limit):
            task.cancel()
            raise api.DeadlineExceeded(f"command {cmd!r} timed out after {limit:g}s")
        return api.ExecSyncResponse(stdout=bytes(out), stderr=bytes(err), exit_code=task.result())

    async def Exec(self, request: api.ExecRequest) -> api.ExecResponse:
        check_exec(request)
        session = self.streams.open(request.tty)
        stdin = base.Stdin() if request.stdin else base.Stdin.empty()
        session.write = LineDiscipline(stdin, lambda b: session.output("stdout", b)).input \
            if request.tty else stdin.feed
        session.close_stdin = stdin.close
        wanted = {"stdout": request.stdout, "stderr": request.stderr}

        def collect(stream: str, data: str | bytes) -> None:
            raw = base.to_bytes(data)
            if request.tty:          # one terminal: both streams on it, NL as CR NL
                stream, raw = "stdout", LineDiscipline.output(raw)
            if wanted[stream] or request.tty:
                session.output(stream, raw)

        try:
            task = self._start_exec(request.container_id, request.cmd, collect, stdin, request.tty)
        except api.CRIError:
            self.streams.cancel(session.id)
            raise
        task.add_done_callback(lambda t: session.finish(EXIT_SIGKILL if t.cancelled() else t.result()))
        session.kill = task.cancel
        return api.ExecResponse(session.id)

    async def ReopenContainerLog(self, container_id: str) -> None:
        """Logs are appended by path on every write, so a rotated file is
        picked up by the next write; the call only checks its preconditions."""
        c = self._container(container_id)
        if c.state != api.ContainerState.CONTAINER_RUNNING:
            raise api.FailedPrecondition(f"container {container_id!r} is not running")
        if c.log_file:
            try:
                os.makedirs(os.path.dirname(c.log_file), exist_ok=True)
                open(c.log_file, "a").close()
            except OSError as e:
                raise api.CRIError(f"failed to reopen log {c.log_file!r}: {e}") from e

    # ------------------------------------------------------------ cleanup
    async def close(self) -> None:
        """Kill every container and its execs, and wait (bounded) for them to unwind."""
        self.streams.close()
        tasks = []
        for c in self._containers.values():
            tasks.append(self._kill(c))
            if c.execs:
                tasks.extend(c.execs)
        for t in tasks:
            if t is not None:
                t.cancel()
        await self._reap(tasks)
