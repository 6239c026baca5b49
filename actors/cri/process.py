"""The ``process`` container runtime: CRI over real OS processes.

Each container is ``python -m actors.cri.programs <argv...>`` in its own
session (so its whole process group can be signalled), with its own
directory as root, the image's environment, and stdout/stderr turned into
CRI log lines. Each sandbox gets its own loopback address (127.77.x.y by
default), which gives every pod its own port space on the real OS: two pods
can both serve on port 8080, two containers of one pod cannot.

Upstream behaviours kept: StopContainer is SIGTERM to the group, a grace
period, then SIGKILL; StopPodSandbox SIGKILLs what is left (the kubelet has
already stopped containers gracefully); removes are idempotent; an exit by
signal N reports 128+N. Memory limits map to RLIMIT_AS (see
:data:`MIN_RLIMIT_AS`); CPU quota has no rlimit equivalent and is ignored.
"""
from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import posixpath
import secrets
import shutil
import signal
import struct
import sys
import termios
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from netsim.pods import PodNetwork
from netsim.realsockets import EgressGateway, LoopbackSockets, loopback_address

from . import api
from .images import ImageDef, ImageStore, container_argv
from .logformat import MAX_LOG_LINE, rfc3339nano
from .netsetup import PodNetworking, pod_files, setup_network, teardown_network
from .programs import lookup as lookup_program   # the package import registers every program
from .programs.base import BIND_IP_ENV, GATEWAY_ENV, POD_IP_ENV, TAKE_TERMINAL_ENV
from .streaming import ExecSession, ExecSessions, ExecStreaming, check_exec

RUNTIME_NAME = "raykube-process"
RUNTIME_VERSION = "0.1.0"
PID_ANNOTATION = "raykube.io/pid"

# RLIMIT_AS bounds virtual address space, and a Python interpreter with
# aiohttp loaded maps well over 100 MiB before doing anything: smaller
# limits would kill every container at import time, so they are not applied.
MIN_RLIMIT_AS = 256 * 1024 * 1024

# Longest log line written as one entry; longer lines become partial (P) entries.

# Applies RLIMIT_AS in the child, then runs the programs' entry point as ``-m`` would.
_RLIMIT_WRAPPER = (
    "import resource, runpy, sys\n"
    "n = int(sys.argv.pop(1))\n"
    "resource.setrlimit(resource.RLIMIT_AS, (n, n))\n"
    "runpy.run_module('actors.cri.programs', run_name='__main__', alter_sys=True)\n"
)



# ------------------------------------------------------------------ helpers
def exit_code(returncode: int) -> int:
    """A process's exit status as a container's: killed by signal N → 128+N."""
    return 128 - returncode if returncode < 0 else returncode


class _LogWriter:
    """One container's CRI log file, reopenable after rotation."""

    def __init__(self, path: str, clock: Callable[[], int]) -> None:
        self.path = path
        self._clock = clock
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        self._file = open(path, "ab", buffering=0)

    def line(self, stream: str, text: bytes) -> None:
        """Write ``text`` (one line, no newline), split into P entries when too long."""
        while len(text) > MAX_LOG_LINE:
            self.partial(stream, text[:MAX_LOG_LINE])
            text = text[MAX_LOG_LINE:]
        self._entry(stream, b"F", text)

    def partial(self, stream: str, text: bytes) -> None:
        """A chunk of a line that goes on in the next entry."""
        self._entry(stream, b"P", text)

    def _entry(self, stream: str, tag: bytes, text: bytes) -> None:
        if self._file.closed:
            return
        head = f"{rfc3339nano(self._clock())} {stream} ".encode()
        self._file.write(head + tag + b" " + text + b"\n")

    def reopen(self) -> None:
        self._file.close()
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        self._file = open(self.path, "ab", buffering=0)

    def close(self) -> None:
        self._file.close()


async def _pump(reader: asyncio.StreamReader, stream: str, log: _LogWriter | None) -> None:
    """Copy a pipe into the log, one entry per line (drained even without a log)."""
    buf = b""
    while True:
        chunk = await reader.read(65536)
        if not chunk:
            break
        if log is None:
            continue
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for text in lines:
            log.line(stream, text)
        while len(buf) >= MAX_LOG_LINE:
            log.partial(stream, buf[:MAX_LOG_LINE])
            buf = buf[MAX_LOG_LINE:]
    if buf and log is not None:
        log.line(stream, buf)


async def _pump_session(reader: asyncio.StreamReader, stream: str, session: ExecSession) -> None:
    """Copy an exec's pipe into its session (drained, and dropped, when ``stream`` is "")."""
    while chunk := await reader.read(65536):
        if stream:
            session.output(stream, chunk)


async def _pump_terminal(master: int, session: ExecSession) -> None:
    """Copy a pseudo-terminal's output into the session until its last user closes it."""
    loop = asyncio.get_running_loop()
    while True:
        ready = loop.create_future()
        loop.add_reader(master, lambda: ready.done() or ready.set_result(None))
        try:
            await ready
        finally:
            loop.remove_reader(master)
        try:
            chunk = os.read(master, 65536)
        except BlockingIOError:
            continue
        except OSError:          # EIO: every process holding the terminal is gone
            return
        if not chunk:
            return
        session.output("stdout", chunk)


def _write_all(fd: int, data: bytes) -> None:
    """Typed input into a terminal (small; a full buffer drops the rest, as a stuck tty would)."""
    with contextlib.suppress(BlockingIOError, OSError):
        while data:
            data = data[os.write(fd, data):]


def _resize(fd: int, width: int, height: int) -> None:
    with contextlib.suppress(OSError):
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


def _killpg(pgid: int, sig: int) -> None:
    """Signal a process group this runtime started (gone already is fine)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _matches(labels: dict[str, str], selector: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


# ------------------------------------------------------------------ records
@dataclass
class _Sandbox:
    id: str
    config: api.PodSandboxConfig
    created_at: int
    dir: str
    hostname: str
    ip: str                      # the pod IP, in the pod network
    real_ip: str = ""            # where its processes listen on this machine
    runtime_handler: str = ""
    state: api.PodSandboxState = api.PodSandboxState.SANDBOX_READY


@dataclass
class _Container:
    id: str
    sandbox_id: str
    config: api.ContainerConfig
    image: ImageDef
    created_at: int
    dir: str
    cwd: str
    argv: list[str]
    env: dict[str, str]
    log_path: str
    rlimit_as: int
    state: api.ContainerState = api.ContainerState.CONTAINER_CREATED
    starting: bool = False
    started_at: int = 0
    finished_at: int = 0
    exit_code: int = 0
    reason: str = ""
    message: str = ""
    pid: int = 0
    proc: asyncio.subprocess.Process | None = None
    log: _LogWriter | None = None
    execs: set = field(default_factory=set)       # exec processes, killed with the container
    watcher: asyncio.Task | None = None
    exited: asyncio.Event = field(default_factory=asyncio.Event)


# ------------------------------------------------------------------ runtime
class ProcessRuntime(ExecStreaming, PodNetworking):
    """CRI RuntimeService whose containers are real OS processes."""

    def __init__(self, images: ImageStore, root_dir: str, *,
                 network: PodNetwork | None = None,
                 clock: Callable[[], int] = time.time_ns,
                 kill_timeout: float = 10.0, exec_timeout: float = 600.0,
                 drain_timeout: float = 2.0) -> None:
        """``kill_timeout`` bounds the wait after SIGKILL; ``exec_timeout`` bounds an
        ExecSync asked to run without a timeout; ``drain_timeout`` bounds reading
        the last output of an exited process (a leftover child may hold its pipes).
        ``network``: the node's pod network (a node of its own by default); a
        pod's processes listen on its pod IP moved into 127/8, where the
        network's flows reach them."""
        self.images = images
        self.root_dir = os.path.abspath(root_dir)
        self.network = network if network is not None else PodNetwork.standalone(sockets=LoopbackSockets())
        if self.network.sockets is None:
            self.network.sockets = LoopbackSockets()
        self._gateway: EgressGateway | None = None
        self._gateway_subnet = ""
        self._clock = clock
        self.kill_timeout = kill_timeout
        self.exec_timeout = exec_timeout
        self.drain_timeout = drain_timeout
        self._sandboxes: dict[str, _Sandbox] = {}
        self._containers: dict[str, _Container] = {}
        self._execs: set[asyncio.subprocess.Process] = set()
        self.streams = ExecSessions()
        os.makedirs(self.root_dir, exist_ok=True)

    # ----------------------------------------------------------- lookups
    def _sandbox(self, sandbox_id: str) -> _Sandbox:
        sb = self._sandboxes.get(sandbox_id)
        if sb is None:
            raise api.NotFound(f"pod sandbox {sandbox_id!r} not found")
        return sb

    def _container(self, container_id: str) -> _Container:
        c = self._containers.get(container_id)
        if c is None:
            raise api.NotFound(f"container {container_id!r} not found")
        return c

    def _new_id(self) -> str:
        while True:
            i = secrets.token_hex(32)
            if i not in self._sandboxes and i not in self._containers:
                return i

    # ----------------------------------------------------------- version
    async def Version(self, version: str = api.RUNTIME_API_VERSION) -> api.VersionResponse:
        return api.VersionResponse(version="0.1.0", runtime_name=RUNTIME_NAME,
                                   runtime_version=RUNTIME_VERSION)

    async def Status(self) -> api.RuntimeStatus:
        return api.RuntimeStatus(conditions=[api.RuntimeCondition("RuntimeReady", True),
                                             api.RuntimeCondition("NetworkReady", True)])

    # ----------------------------------------------------------- sandboxes
    async def RunPodSandbox(self, config: api.PodSandboxConfig, runtime_handler: str = "") -> str:
        sid = self._new_id()
        ip = setup_network(self.network, sid, config, real_ip=loopback_address)
        await self._ensure_gateway()
        directory = os.path.join(self.root_dir, "sandboxes", sid)
        try:
            os.makedirs(directory, exist_ok=True)
            if config.log_directory:
                os.makedirs(config.log_directory, exist_ok=True)
        except OSError as e:
            await self._release(sid)
            raise api.CRIError(f"creating sandbox directory: {e}") from e
        self._sandboxes[sid] = _Sandbox(
            id=sid, config=config, created_at=self._clock(), dir=directory,
            hostname=config.hostname or config.metadata.name, ip=ip, real_ip=loopback_address(ip),
            runtime_handler=runtime_handler)
        return sid

    async def StopPodSandbox(self, pod_sandbox_id: str) -> None:
        sb = self._sandbox(pod_sandbox_id)
        await asyncio.gather(*(self._stop(c, 0) for c in self._containers.values()
                               if c.sandbox_id == sb.id))
        if sb.state == api.PodSandboxState.SANDBOX_READY:
            sb.state = api.PodSandboxState.SANDBOX_NOTREADY
            sb.ip = ""
            await self._release(sb.id)

    async def _ensure_gateway(self) -> None:
        """The node's egress gateway, on its pod CIDR's gateway address (moved into 127/8)."""
        ipam = self.network.plugin.ipam
        if ipam is None or (self._gateway is not None and self._gateway_subnet == ipam.subnet):
            return
        if self._gateway is not None:
            await self._gateway.close()
        gateway = EgressGateway(self._egress, self._pod_ip_of, self.network.lookup)
        await gateway.start(loopback_address(ipam.gateway))
        self._gateway, self._gateway_subnet = gateway, ipam.subnet

    async def _egress(self, src: str, host: str, port: int, payload: bytes, timeout: float) -> Any:
        return await self.network.send(src, host, port, payload, timeout=timeout)

    def _pod_ip_of(self, real_ip: str) -> str | None:
        return next((sb.ip for sb in self._sandboxes.values() if sb.real_ip == real_ip and sb.ip), None)

    async def _release(self, sandbox_id: str) -> None:
        teardown_network(self.network, sandbox_id)

    async def RemovePodSandbox(self, pod_sandbox_id: str) -> None:
        sb = self._sandboxes.get(pod_sandbox_id)
        if sb is None:
            return
        await self.StopPodSandbox(sb.id)
        for c in [c for c in self._containers.values() if c.sandbox_id == sb.id]:
            await self.RemoveContainer(c.id)
        self._sandboxes.pop(sb.id, None)
        shutil.rmtree(sb.dir, ignore_errors=True)

    async def PodSandboxStatus(self, pod_sandbox_id: str) -> api.PodSandboxStatus:
        sb = self._sandbox(pod_sandbox_id)
        return api.PodSandboxStatus(
            id=sb.id, metadata=sb.config.metadata, state=sb.state, created_at=sb.created_at,
            network=api.PodSandboxNetworkStatus(ip=sb.ip),
            labels=dict(sb.config.labels), annotations=dict(sb.config.annotations),
            runtime_handler=sb.runtime_handler)

    async def ListPodSandbox(self, filter: api.PodSandboxFilter | None = None) -> list[api.PodSandbox]:
        f = filter or api.PodSandboxFilter()
        return [api.PodSandbox(id=sb.id, metadata=sb.config.metadata, state=sb.state,
                               created_at=sb.created_at, labels=dict(sb.config.labels),
                               annotations=dict(sb.config.annotations),
                               runtime_handler=sb.runtime_handler)
                for sb in self._sandboxes.values()
                if (not f.id or sb.id.startswith(f.id))
                and (f.state is None or sb.state == f.state)
                and _matches(sb.config.labels, f.label_selector)]

    # ----------------------------------------------------------- containers
    async def CreateContainer(self, pod_sandbox_id: str, config: api.ContainerConfig,
                              sandbox_config: api.PodSandboxConfig) -> str:
        sb = self._sandbox(pod_sandbox_id)
        if sb.state != api.PodSandboxState.SANDBOX_READY:
            raise api.FailedPrecondition(f"pod sandbox {sb.id} is not ready")
        for other in self._containers.values():
            if (other.sandbox_id == sb.id and other.config.metadata.name == config.metadata.name
                    and other.config.metadata.attempt == config.metadata.attempt):
                raise api.AlreadyExists(
                    f"container name {config.metadata.name!r} attempt {config.metadata.attempt} "
                    f"is reserved for {other.id} in sandbox {sb.id}")
        image = self.images.pulled(config.image.image)
        cid = self._new_id()
        directory = os.path.join(sb.dir, "containers", cid)
        working_dir = posixpath.normpath("/" + (config.working_dir or image.working_dir or "/"))
        cwd = os.path.join(directory, working_dir.lstrip("/")) if working_dir != "/" else directory
        log_path = ""
        if config.log_path:
            log_dir = (sandbox_config.log_directory if sandbox_config else "") or \
                sb.config.log_directory or os.path.join(sb.dir, "logs")
            log_path = os.path.join(log_dir, config.log_path)
        env = {"HOSTNAME": sb.hostname}           # first, as upstream: image/config may override
        env.update(dict(image.env))
        env.update({kv.key: kv.value for kv in config.envs})
        env[POD_IP_ENV] = sb.ip
        if self._gateway is not None:
            env[GATEWAY_ENV] = self._gateway.address
        env[BIND_IP_ENV] = sb.real_ip                      # last: the program binds to it
        env["RAYKUBE_RUNTIME_PID"] = str(os.getpid())  # its processes die with this one
        mem = config.resources.memory_limit_in_bytes if config.resources else 0
        try:
            os.makedirs(cwd, exist_ok=True)
            for path, data in pod_files(sb.config, sb.ip).items():   # /etc/... under the container's root
                os.makedirs(os.path.join(directory, os.path.dirname(path).lstrip("/")), exist_ok=True)
                with open(os.path.join(directory, path.lstrip("/")), "wb") as f:
                    f.write(data)
        except OSError as e:
            raise api.CRIError(f"creating container directory: {e}") from e
        self.images.mark_in_use(image.id, cid)
        self._containers[cid] = _Container(
            id=cid, sandbox_id=sb.id, config=config, image=image, created_at=self._clock(),
            dir=directory, cwd=cwd, argv=container_argv(image, list(config.command), list(config.args)),
            env=env, log_path=log_path, rlimit_as=mem if mem >= MIN_RLIMIT_AS else 0)
        return cid

    def _command(self, argv: list[str], rlimit_as: int) -> list[str]:
        if rlimit_as:
            return [sys.executable, "-u", "-c", _RLIMIT_WRAPPER, str(rlimit_as), *argv]
        return [sys.executable, "-u", "-m", "actors.cri.programs", *argv]

    def _start_failed(self, c: _Container, message: str) -> api.ContainerStartError:
        """Record a start that never ran (upstream: exit 128, reason StartError)."""
        now = self._clock()
        c.state = api.ContainerState.CONTAINER_EXITED
        c.started_at = c.finished_at = now
        c.exit_code, c.reason, c.message = 128, "StartError", message
        c.exited.set()
        return api.ContainerStartError(message)

    async def StartContainer(self, container_id: str) -> None:
        c = self._container(container_id)
        if c.state != api.ContainerState.CONTAINER_CREATED or c.starting:
            raise api.FailedPrecondition(f"container {c.id} is in {c.state.value} state, not created")
        sb = self._sandbox(c.sandbox_id)
        if sb.state != api.PodSandboxState.SANDBOX_READY:
            raise api.FailedPrecondition(f"pod sandbox {sb.id} is not ready")
        if not c.argv:
            raise self._start_failed(c, "no command specified")
        if lookup_program(c.argv[0]) is None:
            raise self._start_failed(
                c, f'exec: "{c.argv[0]}": executable file not found in $PATH')
        c.starting = True
        try:
            log = _LogWriter(c.log_path, self._clock) if c.log_path else None
            try:
                proc = await asyncio.create_subprocess_exec(
                    *self._command(c.argv, c.rlimit_as), cwd=c.cwd, env=c.env,
                    stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE, start_new_session=True)
            except BaseException:
                if log is not None:
                    log.close()
                raise
        except OSError as e:
            raise self._start_failed(c, f"starting process: {e}") from e
        finally:
            c.starting = False
        c.proc, c.pid, c.log = proc, proc.pid, log
        c.state, c.started_at = api.ContainerState.CONTAINER_RUNNING, self._clock()
        c.watcher = asyncio.get_running_loop().create_task(self._watch(c, proc))
        if sb.state != api.PodSandboxState.SANDBOX_READY:   # stopped while the process was spawning
            _killpg(c.pid, signal.SIGKILL)

    async def _watch(self, c: _Container, proc: asyncio.subprocess.Process) -> None:
        """Follow a container's process to its exit, logging its output."""
        assert proc.stdout is not None and proc.stderr is not None
        pumps = [asyncio.ensure_future(_pump(proc.stdout, "stdout", c.log)),
                 asyncio.ensure_future(_pump(proc.stderr, "stderr", c.log))]
        try:
            await proc.wait()
            _killpg(c.pid, signal.SIGKILL)   # leftovers of the group die with the container
            for p in list(c.execs):          # and so do its execs
                _killpg(p.pid, signal.SIGKILL)
            await asyncio.wait(pumps, timeout=self.drain_timeout)
        finally:
            for p in pumps:
                p.cancel()
            if c.log is not None:
                c.log.close()
            if c.state == api.ContainerState.CONTAINER_RUNNING:
                rc = proc.returncode if proc.returncode is not None else -signal.SIGKILL
                c.exit_code = exit_code(rc)
                c.reason = "Completed" if c.exit_code == 0 else "Error"
                c.finished_at = self._clock()
                c.state = api.ContainerState.CONTAINER_EXITED
            c.exited.set()

    def _alive(self, c: _Container) -> bool:
        return c.proc is not None and not c.exited.is_set() and c.proc.returncode is None

    async def _wait_exit(self, c: _Container, timeout: float) -> bool:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(c.exited.wait(), timeout)
        return c.exited.is_set()

    async def _stop(self, c: _Container, timeout: float) -> None:
        """SIGTERM, up to ``timeout`` seconds of grace, then SIGKILL."""
        if c.state != api.ContainerState.CONTAINER_RUNNING:
            return
        if timeout > 0:
            if self._alive(c):
                _killpg(c.pid, signal.SIGTERM)
            if await self._wait_exit(c, timeout):
                return
        if self._alive(c):
            _killpg(c.pid, signal.SIGKILL)
        if not await self._wait_exit(c, self.kill_timeout):
            raise api.DeadlineExceeded(
                f"container {c.id} (pid {c.pid}) did not exit {self.kill_timeout}s after SIGKILL")

    async def StopContainer(self, container_id: str, timeout: int) -> None:
        await self._stop(self._container(container_id), timeout)

    async def RemoveContainer(self, container_id: str) -> None:
        c = self._containers.get(container_id)
        if c is None:
            return
        await self._stop(c, 0)
        if self._containers.pop(c.id, None) is None:
            return  # a concurrent remove won
        self.images.release(c.image.id, c.id)
        shutil.rmtree(c.dir, ignore_errors=True)

    def _to_container(self, c: _Container) -> api.Container:
        return api.Container(id=c.id, pod_sandbox_id=c.sandbox_id, metadata=c.config.metadata,
                             image=api.ImageSpec(image=c.image.name), image_ref=c.image.id,
                             state=c.state, created_at=c.created_at, labels=dict(c.config.labels),
                             annotations=dict(c.config.annotations))

    async def ListContainers(self, filter: api.ContainerFilter | None = None) -> list[api.Container]:
        f = filter or api.ContainerFilter()
        return [self._to_container(c) for c in self._containers.values()
                if (not f.id or c.id.startswith(f.id))
                and (f.state is None or c.state == f.state)
                and (not f.pod_sandbox_id or c.sandbox_id.startswith(f.pod_sandbox_id))
                and _matches(c.config.labels, f.label_selector)]

    async def ContainerStatus(self, container_id: str) -> api.ContainerStatus:
        c = self._container(container_id)
        annotations = dict(c.config.annotations)
        if c.pid:
            annotations[PID_ANNOTATION] = str(c.pid)
        return api.ContainerStatus(
            id=c.id, metadata=c.config.metadata, state=c.state, created_at=c.created_at,
            started_at=c.started_at, finished_at=c.finished_at, exit_code=c.exit_code,
            image=api.ImageSpec(image=c.image.name), image_ref=c.image.id,
            reason=c.reason, message=c.message, labels=dict(c.config.labels),
            annotations=annotations, mounts=list(c.config.mounts), log_path=c.log_path)

    async def ReopenContainerLog(self, container_id: str) -> None:
        c = self._container(container_id)
        if c.state != api.ContainerState.CONTAINER_RUNNING:
            raise api.FailedPrecondition(f"container {c.id} is not running")
        if c.log is not None:
            try:
                c.log.reopen()
            except OSError as e:
                raise api.CRIError(f"reopening {c.log_path}: {e}") from e

    # ----------------------------------------------------------- exec
    def _exec_target(self, container_id: str, cmd: list[str]) -> _Container:
        c = self._container(container_id)
        if c.state != api.ContainerState.CONTAINER_RUNNING:
            raise api.FailedPrecondition(f"container {c.id} is not running")
        if not cmd:
            raise api.InvalidArgument("cmd must not be empty")
        return c

    async def _spawn_exec(self, c: _Container, cmd: list[str], stdin: object, stdout: object,
                          stderr: object, env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
        """A command next to the container's process (its directory, environment and
        limits), in a session of its own; killed when the container ends."""
        try:
            proc = await asyncio.create_subprocess_exec(
                *self._command(list(cmd), c.rlimit_as), cwd=c.cwd, env={**c.env, **(env or {})}, stdin=stdin,
                stdout=stdout, stderr=stderr, start_new_session=True)
        except OSError as e:
            raise api.CRIError(f"exec in container {c.id}: {e}") from e
        self._execs.add(proc)
        c.execs.add(proc)
        return proc

    def _exec_done(self, c: _Container, proc: asyncio.subprocess.Process) -> None:
        self._execs.discard(proc)
        c.execs.discard(proc)

    async def ExecSync(self, container_id: str, cmd: list[str], timeout: int = 0) -> api.ExecSyncResponse:
        c = self._exec_target(container_id, cmd)
        limit = timeout if timeout > 0 else self.exec_timeout
        proc = await self._spawn_exec(c, cmd, asyncio.subprocess.DEVNULL, asyncio.subprocess.PIPE,
                                      asyncio.subprocess.PIPE)
        try:
            try:
                out, err = await asyncio.wait_for(proc.communicate(), limit)
            except asyncio.TimeoutError:
                raise api.DeadlineExceeded(
                    f"command {cmd!r} timed out after {limit}s") from None
        finally:
            if proc.returncode is None:
                _killpg(proc.pid, signal.SIGKILL)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(proc.wait(), self.kill_timeout)
            self._exec_done(c, proc)
        return api.ExecSyncResponse(stdout=out, stderr=err, exit_code=exit_code(proc.returncode))

    async def Exec(self, request: api.ExecRequest) -> api.ExecResponse:
        """A streaming exec: pipes, or with ``tty`` a real pseudo-terminal that becomes
        the command's controlling terminal (the kernel echoes, ^C is SIGINT)."""
        check_exec(request)
        c = self._exec_target(request.container_id, request.cmd)
        session = self.streams.open(request.tty)
        pipe, devnull = asyncio.subprocess.PIPE, asyncio.subprocess.DEVNULL
        if request.tty:
            master, slave = os.openpty()
            try:
                proc = await self._spawn_exec(c, request.cmd, slave, slave, slave, env={TAKE_TERMINAL_ENV: "1"})
            except BaseException:
                os.close(master)
                raise
            finally:
                os.close(slave)
            os.set_blocking(master, False)
            pumps = [asyncio.ensure_future(_pump_terminal(master, session))]
            session.write = lambda data: _write_all(master, data)
            session.close_stdin = lambda: _write_all(master, b"\x04")   # ^D: end of file on a terminal
            session.resize = lambda width, height: _resize(master, width, height)
        else:
            proc = await self._spawn_exec(c, request.cmd, pipe if request.stdin else devnull,
                                          pipe, pipe)
            assert proc.stdout is not None and proc.stderr is not None
            pumps = [asyncio.ensure_future(_pump_session(proc.stdout, "stdout" if request.stdout else "",
                                                         session)),
                     asyncio.ensure_future(_pump_session(proc.stderr, "stderr" if request.stderr else "",
                                                         session))]
            if proc.stdin is not None:
                session.write, session.close_stdin = proc.stdin.write, proc.stdin.close
        session.kill = lambda: _killpg(proc.pid, signal.SIGKILL)

        async def finish() -> None:
            try:
                await proc.wait()
                await asyncio.wait(pumps, timeout=self.drain_timeout)
            finally:
                for p in pumps:
                    p.cancel()
                if request.tty:
                    os.close(master)
                self._exec_done(c, proc)
                session.finish(exit_code(proc.returncode) if proc.returncode is not None else 137)
        session.task = asyncio.get_running_loop().create_task(finish())
        return api.ExecResponse(session.id)

    async def read_log(self, container_id: str, cursor: int = 0) -> api.LogChunk:
        """The container's CRI log lines from ``cursor`` (a byte offset in its
        log file) on; a trailing line still being written waits for the next read."""
        c = self._container(container_id)
        try:
            with open(c.log_path, "rb") as f:
                f.seek(cursor)
                data = f.read()
        except (FileNotFoundError, IsADirectoryError):
            return api.LogChunk([], cursor)
        whole = data[:data.rfind(b"\n") + 1]
        return api.LogChunk(whole.decode("utf-8", "replace").splitlines(), cursor + len(whole))

    # ----------------------------------------------------------- teardown
    async def close(self) -> None:
        """SIGKILL every process this runtime started and wait for them (bounded)."""
        self.streams.close()
        if self._gateway is not None:
            await self._gateway.close()
            self._gateway = None
        running = [c for c in self._containers.values() if self._alive(c)]
        for c in running:
            _killpg(c.pid, signal.SIGKILL)
        for p in list(self._execs):
            if p.returncode is None:
                _killpg(p.pid, signal.SIGKILL)
        waits = [c.watcher for c in self._containers.values() if c.watcher and not c.watcher.done()]
        waits += [asyncio.ensure_future(p.wait()) for p in self._execs]
        if waits:
            _, pending = await asyncio.wait(waits, timeout=self.kill_timeout)
            for t in pending:
                t.cancel()
        for sb in self._sandboxes.values():
            if sb.state == api.PodSandboxState.SANDBOX_READY:
                sb.state, sb.ip = api.PodSandboxState.SANDBOX_NOTREADY, ""
                with contextlib.suppress(api.CRIError):
                    await self._release(sb.id)
