"""The Container Runtime Interface (CRI v1) as the kubelet sees it: the
RuntimeService and ImageService calls under their upstream names (as gRPC
stubs name them), the messages with upstream's fields (snake_case, as in
the generated Python), and typed errors carrying gRPC status codes.

Two runtimes implement it (``sim``: containers as in-process state machines,
cheap enough for 100,000 of them; ``process``: real OS processes); the
kubelet calls it in-process (hollow nodes) or through a CRI actor. Times are
Unix nanoseconds, as upstream's.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol

RUNTIME_API_VERSION = "v1"


# -------------------------------------------------------------------- errors
class Code(str, enum.Enum):
    """The gRPC status codes runtimes answer with."""

    NOT_FOUND = "NotFound"
    ALREADY_EXISTS = "AlreadyExists"
    INVALID_ARGUMENT = "InvalidArgument"
    FAILED_PRECONDITION = "FailedPrecondition"
    DEADLINE_EXCEEDED = "DeadlineExceeded"
    RESOURCE_EXHAUSTED = "ResourceExhausted"
    UNAVAILABLE = "Unavailable"
    UNKNOWN = "Unknown"


class CRIError(Exception):
    """A failed CRI call: ``code`` says what kind, the message says what."""

    code = Code.UNKNOWN

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __reduce__(self):  # picklable across Ray with its message
        return (type(self), (self.message,))


class NotFound(CRIError):
    code = Code.NOT_FOUND


class AlreadyExists(CRIError):
    code = Code.ALREADY_EXISTS


class InvalidArgument(CRIError):
    code = Code.INVALID_ARGUMENT


class FailedPrecondition(CRIError):
    code = Code.FAILED_PRECONDITION


class DeadlineExceeded(CRIError):
    code = Code.DEADLINE_EXCEEDED


class ResourceExhausted(CRIError):
    code = Code.RESOURCE_EXHAUSTED


class ImagePullError(CRIError):
    """PullImage failed (the kubelet reports ``ErrImagePull``, then ``ImagePullBackOff``)."""

    code = Code.NOT_FOUND


class ContainerStartError(CRIError):
    """StartContainer could not run the process (the kubelet's ``RunContainerError``);
    also a port another container of the sandbox already holds."""

    code = Code.FAILED_PRECONDITION


# ------------------------------------------------------------------ messages
class PodSandboxState(str, enum.Enum):
    SANDBOX_READY = "SANDBOX_READY"
    SANDBOX_NOTREADY = "SANDBOX_NOTREADY"


class ContainerState(str, enum.Enum):
    CONTAINER_CREATED = "CONTAINER_CREATED"
    CONTAINER_RUNNING = "CONTAINER_RUNNING"
    CONTAINER_EXITED = "CONTAINER_EXITED"
    CONTAINER_UNKNOWN = "CONTAINER_UNKNOWN"


@dataclass
class KeyValue:
    key: str
    value: str


@dataclass
class PodSandboxMetadata:
    name: str
    uid: str
    namespace: str
    attempt: int = 0


@dataclass
class PortMapping:
    container_port: int
    protocol: str = "TCP"
    host_port: int = 0
    host_ip: str = ""


@dataclass
class DNSConfig:
    servers: list[str] = field(default_factory=list)
    searches: list[str] = field(default_factory=list)
    options: list[str] = field(default_factory=list)


@dataclass
class PodSandboxConfig:
    metadata: PodSandboxMetadata
    hostname: str = ""
    log_directory: str = ""
    dns_config: DNSConfig | None = None
    port_mappings: list[PortMapping] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass
class PodSandboxNetworkStatus:
    ip: str = ""
    additional_ips: list[str] = field(default_factory=list)


@dataclass
class PodSandbox:
    id: str
    metadata: PodSandboxMetadata
    state: PodSandboxState
    created_at: int
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    runtime_handler: str = ""


@dataclass
class PodSandboxStatus:
    id: str
    metadata: PodSandboxMetadata
    state: PodSandboxState
    created_at: int
    network: PodSandboxNetworkStatus = field(default_factory=PodSandboxNetworkStatus)
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    runtime_handler: str = ""


@dataclass
class PodSandboxFilter:
    id: str = ""
    state: PodSandboxState | None = None
    label_selector: dict[str, str] = field(default_factory=dict)


@dataclass
class ImageSpec:
    image: str
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass
class ContainerMetadata:
    name: str
    attempt: int = 0


@dataclass
class Mount:
    container_path: str
    host_path: str = ""
    readonly: bool = False


@dataclass
class LinuxContainerResources:
    """The limits a runtime applies (the process runtime maps some to rlimits)."""

    cpu_period: int = 0
    cpu_quota: int = 0
    cpu_shares: int = 0
    memory_limit_in_bytes: int = 0


@dataclass
class ContainerConfig:
    metadata: ContainerMetadata
    image: ImageSpec
    command: list[str] = field(default_factory=list)   # the entrypoint override (pod's `command`)
    args: list[str] = field(default_factory=list)      # the cmd override (pod's `args`)
    working_dir: str = ""
    envs: list[KeyValue] = field(default_factory=list)
    mounts: list[Mount] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    log_path: str = ""                                 # relative to the sandbox's log_directory
    stdin: bool = False
    tty: bool = False
    resources: LinuxContainerResources | None = None


@dataclass
class Container:
    id: str
    pod_sandbox_id: str
    metadata: ContainerMetadata
    image: ImageSpec
    image_ref: str
    state: ContainerState
    created_at: int
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass
class ContainerStatus:
    id: str
    metadata: ContainerMetadata
    state: ContainerState
    created_at: int
    started_at: int = 0
    finished_at: int = 0
    exit_code: int = 0
    image: ImageSpec | None = None
    image_ref: str = ""
    reason: str = ""        # e.g. Completed, Error, OOMKilled
    message: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    mounts: list[Mount] = field(default_factory=list)
    log_path: str = ""


@dataclass
class ContainerFilter:
    id: str = ""
    state: ContainerState | None = None
    pod_sandbox_id: str = ""
    label_selector: dict[str, str] = field(default_factory=dict)


@dataclass
class ExecSyncResponse:
    stdout: bytes
    stderr: bytes
    exit_code: int


@dataclass
class ExecRequest:
    """A streaming exec (``kubectl exec``). With ``tty`` the command's stdout and
    stderr are one terminal, so ``stderr`` must be off, as upstream checks."""

    container_id: str
    cmd: list[str]
    tty: bool = False
    stdin: bool = False
    stdout: bool = True
    stderr: bool = True


@dataclass
class ExecResponse:
    url: str                     # upstream: the streaming server's URL; here the session exec_stream takes


@dataclass
class ExecOutput:
    """What an exec wrote since the last ``exec_stream``; ``exit_code`` once it ended
    (and everything it wrote has been handed out). Concurrent calls (one waiting
    for output, one handing in typed input) may return out of order: ``seq``
    numbers each call's output in the order it was taken (0: nothing taken)."""

    stdout: bytes = b""
    stderr: bytes = b""
    exit_code: int | None = None
    seq: int = 0                 # the order of this piece of output among the session's


@dataclass
class LogChunk:
    """CRI log lines from a cursor on, and the cursor after them (``read_log``)."""

    lines: list[str]
    cursor: int


@dataclass
class Image:
    id: str                      # the image reference (``sha256:...``)
    repo_tags: list[str]
    repo_digests: list[str]
    size: int
    username: str = ""
    spec: ImageSpec | None = None
    pinned: bool = False


@dataclass
class ImageFilter:
    image: ImageSpec | None = None


@dataclass
class FilesystemUsage:
    timestamp: int
    fs_id: str
    used_bytes: int
    inodes_used: int


@dataclass
class VersionResponse:
    version: str
    runtime_name: str
    runtime_version: str
    runtime_api_version: str = RUNTIME_API_VERSION


@dataclass
class RuntimeCondition:
    type: str            # RuntimeReady, NetworkReady
    status: bool
    reason: str = ""
    message: str = ""


@dataclass
class RuntimeStatus:
    conditions: list[RuntimeCondition] = field(default_factory=list)


# ------------------------------------------------------------------ services
class RuntimeService(Protocol):
    """CRI RuntimeService (the calls the kubelet makes)."""

    async def Version(self, version: str = RUNTIME_API_VERSION) -> VersionResponse: ...

    async def UpdateRuntimeConfig(self, pod_cidr: str) -> None: ...

    async def RunPodSandbox(self, config: PodSandboxConfig, runtime_handler: str = "") -> str: ...

    async def StopPodSandbox(self, pod_sandbox_id: str) -> None: ...

    async def RemovePodSandbox(self, pod_sandbox_id: str) -> None: ...

    async def PodSandboxStatus(self, pod_sandbox_id: str) -> PodSandboxStatus: ...

    async def ListPodSandbox(self, filter: PodSandboxFilter | None = None) -> list[PodSandbox]: ...

    async def CreateContainer(self, pod_sandbox_id: str, config: ContainerConfig,
                              sandbox_config: PodSandboxConfig) -> str: ...

    async def StartContainer(self, container_id: str) -> None: ...

    async def StopContainer(self, container_id: str, timeout: int) -> None: ...

    async def RemoveContainer(self, container_id: str) -> None: ...

    async def ListContainers(self, filter: ContainerFilter | None = None) -> list[Container]: ...

    async def ContainerStatus(self, container_id: str) -> ContainerStatus: ...

    async def ExecSync(self, container_id: str, cmd: list[str], timeout: int = 0) -> ExecSyncResponse: ...

    async def Exec(self, request: ExecRequest) -> ExecResponse:
        """Start a streaming exec; its I/O goes through ``exec_stream``."""

    async def exec_stream(self, session: str, stdin: bytes = b"", close_stdin: bool = False,
                         resize: tuple[int, int] | None = None, wait: float = 1.0) -> ExecOutput:
        """The streaming server's side of an exec (not a CRI call): hand in what the
        client sent, get what the command wrote since, waiting up to ``wait`` s for some."""

    async def exec_cancel(self, session: str) -> None:
        """The client went away: kill the command and forget the session."""

    async def read_log(self, container_id: str, cursor: int = 0) -> LogChunk:
        """The container's CRI log lines from ``cursor`` (0: all kept) on; ``kubectl
        logs -f`` follows with the cursor returned. (Not a CRI call: upstream's
        kubelet reads the log file itself.)"""

    async def ReopenContainerLog(self, container_id: str) -> None: ...

    async def Status(self) -> RuntimeStatus: ...


class ImageService(Protocol):
    """CRI ImageService."""

    async def PullImage(self, image: ImageSpec, auth: dict | None = None,
                        sandbox_config: PodSandboxConfig | None = None) -> str: ...

    async def ListImages(self, filter: ImageFilter | None = None) -> list[Image]: ...

    async def ImageStatus(self, image: ImageSpec) -> Image | None: ...

    async def RemoveImage(self, image: ImageSpec) -> None: ...

    async def ImageFsInfo(self) -> list[FilesystemUsage]: ...
