"""The images a node can run and the CRI ImageService over them.

There is no registry: the shipped images are a fixed catalog whose
programs live in ``actors.cri.programs``. What is simulated is what the
kubelet can observe: reference normalization, pull errors with upstream's
messages, pull time (size / bandwidth), the image filesystem's usage, and
the kubelet's image garbage collection and pull-policy rules.
"""
from __future__ import annotations

import asyncio
import hashlib
import re
import time
from dataclasses import dataclass, field
from typing import Awaitable, Callable

from actors.cri import api

DEFAULT_DOMAIN = "docker.io"
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"
IMAGE_FS_ID = "/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs"

MB = 1000 * 1000
GIB = 1024 * 1024 * 1024


# ------------------------------------------------------------------ the images
@dataclass(frozen=True)
class ImageDef:
    """One image as its config describes it: what a container runs by default."""

    repository: str                         # normalized, e.g. docker.io/library/busybox
    tag: str
    size: int                               # bytes on the image filesystem
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    working_dir: str = ""
    user: str = ""
    pinned: bool = False                    # the sandbox image: never garbage collected

    @property
    def name(self) -> str:
        return f"{self.repository}:{self.tag}"

    @property
    def id(self) -> str:
        """The config digest (what ``image_ref`` holds); stable from the name."""
        return "sha256:" + hashlib.sha256(self.name.encode()).hexdigest()

    @property
    def digest(self) -> str:
        """The manifest digest, what ``repo@sha256:...`` references name."""
        return "sha256:" + hashlib.sha256(b"manifest " + self.name.encode()).hexdigest()

    @property
    def repo_digest(self) -> str:
        return f"{self.repository}@{self.digest}"


_PATH = ("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
_PY_PATH = ("PATH", "/usr/local/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")


def _busybox(tag: str, size: int) -> ImageDef:
    return ImageDef("docker.io/library/busybox", tag, size, cmd=("sh",), env=(_PATH,))


def _python(tag: str, size: int, version: str, gpg_key: str) -> ImageDef:
    env = (_PY_PATH, ("LANG", "C.UTF-8"), ("GPG_KEY", gpg_key), ("PYTHON_VERSION", version))
    return ImageDef("docker.io/library/python", tag, size, cmd=("python3",), env=env)


def _nginx(tag: str, size: int, version: str, njs: str) -> ImageDef:
    # The real image wraps this in /docker-entrypoint.sh, which only runs
    # templating scripts before exec'ing the cmd; the program is nginx itself.
    env = (_PATH, ("NGINX_VERSION", version), ("NJS_VERSION", njs), ("PKG_RELEASE", "1~bookworm"))
    return ImageDef("docker.io/library/nginx", tag, size,
                    cmd=("nginx", "-g", "daemon off;"), env=env)


def _agnhost(repository: str) -> ImageDef:
    return ImageDef(repository, "2.52", 55_400_000, entrypoint=("/agnhost",), cmd=("pause",),
                    env=(_PATH,))


_PY311_KEY = "A035C8C19219BA821ECEA86B64E628F8D684696D"
_PY312_KEY = "7169605F62C751356D054A26A821E680E5FA6305"

CATALOG: dict[str, ImageDef] = {d.name: d for d in (
    _busybox("1.36", 4_261_550),
    _busybox("1.36.1", 4_261_550),
    _busybox("1.37", 4_277_910),
    _busybox("latest", 4_277_910),
    _python("3.11", 1_013_000_000, "3.11.10", _PY311_KEY),
    _python("3.11-slim", 130_600_000, "3.11.10", _PY311_KEY),
    _python("3.12", 1_018_000_000, "3.12.7", _PY312_KEY),
    _python("3.12-slim", 124_500_000, "3.12.7", _PY312_KEY),
    _nginx("1.25", 187_700_000, "1.25.5", "0.8.4"),
    _nginx("1.27", 192_000_000, "1.27.2", "0.8.6"),
    _nginx("latest", 192_000_000, "1.27.2", "0.8.6"),
    _agnhost("registry.k8s.io/e2e-test-images/agnhost"),
    _agnhost("docker.io/library/agnhost"),
    ImageDef("registry.k8s.io/pause", "3.10", 320_368, entrypoint=("/pause",),
             user="65535:65535", pinned=True),
)}


# ------------------------------------------------------------ references
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_PATH_RE = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_DOMAIN_RE = re.compile(
    r"(?:localhost|(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
    r"(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*)(?::[0-9]+)?")
_TAG_RE = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST_RE = re.compile(r"sha256:[a-f0-9]{64}")
_HEX64_RE = re.compile(r"[a-f0-9]{64}")


@dataclass(frozen=True)
class _Ref:
    repository: str
    tag: str = ""
    digest: str = ""

    def __str__(self) -> str:
        out = self.repository
        if self.tag:
            out += ":" + self.tag
        if self.digest:
            out += "@" + self.digest
        return out


def _parse(image: str) -> _Ref:
    """Docker's ParseNormalizedNamed: default domain and ``library/``, ``latest`` when untagged."""
    def bad(why: str) -> api.InvalidArgument:
        return api.InvalidArgument(f"invalid reference format: {why}: {image!r}")

    if not image or image != image.strip():
        raise bad("empty or padded")
    name, digest = image, ""
    if "@" in name:
        name, digest = name.split("@", 1)
        if not _DIGEST_RE.fullmatch(digest):
            raise bad("bad digest")
    tag = ""
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1:]
        if not _TAG_RE.fullmatch(tag):
            raise bad("bad tag")
    first, _, rest = name.partition("/")
    if not rest or ("." not in first and ":" not in first and first != "localhost"
                    and first.lower() == first):
        domain, remainder = DEFAULT_DOMAIN, name
    else:
        domain, remainder = first, rest
    if domain == "index.docker.io":
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        if _HEX64_RE.fullmatch(remainder):
            raise bad("cannot specify 64-byte hexadecimal strings")
        remainder = OFFICIAL_PREFIX + remainder
    if remainder.lower() != remainder:
        raise bad("repository name must be lowercase")
    if not _DOMAIN_RE.fullmatch(domain) or not _PATH_RE.fullmatch(remainder):
        raise bad("bad repository name")
    if not tag and not digest:
        tag = DEFAULT_TAG
    return _Ref(f"{domain}/{remainder}", tag, digest)


def normalize(image: str) -> str:
    """The fully qualified form of ``image`` ("busybox" -> "docker.io/library/busybox:latest").

    Raises api.InvalidArgument for a malformed reference."""
    return str(_parse(image))


def container_argv(image: ImageDef, command: list[str], args: list[str]) -> list[str]:
    """The process argv Kubernetes' rule gives: ``command`` replaces the entrypoint
    (and drops the image's cmd), ``args`` replaces the cmd.

    Raises api.InvalidArgument when nothing is left to run."""
    entry = list(command) if command else list(image.entrypoint)
    if args:
        tail = list(args)
    elif command:
        tail = []
    else:
        tail = list(image.cmd)
    argv = entry + tail
    if not argv:
        raise api.InvalidArgument(f"no command specified for image {image.name!r}")
    return argv


# ------------------------------------------------------------ pull policy
PULL_ALWAYS = "Always"
PULL_IF_NOT_PRESENT = "IfNotPresent"
PULL_NEVER = "Never"


class ErrImageNeverPull(api.FailedPrecondition):
    """The image is absent and the pull policy is Never (the kubelet's ``ErrImageNeverPull``)."""

    reason = "ErrImageNeverPull"


def default_pull_policy(image: str) -> str:
    """Kubernetes' defaulting: ``:latest`` (or untagged) pulls Always, anything else IfNotPresent."""
    ref = _parse(image)
    return PULL_ALWAYS if ref.tag == DEFAULT_TAG else PULL_IF_NOT_PRESENT


def should_pull(policy: str, image: str, present: bool) -> bool:
    """Whether the kubelet pulls ``image`` before starting a container.

    An empty ``policy`` takes the default for the image. Raises ErrImageNeverPull
    when the policy is Never and the image is absent, api.InvalidArgument for an
    unknown policy or a malformed reference."""
    policy = policy or default_pull_policy(image)
    if policy == PULL_ALWAYS:
        return True
    if policy == PULL_IF_NOT_PRESENT:
        return not present
    if policy == PULL_NEVER:
        if not present:
            raise ErrImageNeverPull(
                f'Container image "{image}" is not present with pull policy of Never')
        return False
    raise api.InvalidArgument(f"unknown image pull policy {policy!r}")


# ------------------------------------------------------------ the store
@dataclass
class _Present:
    image: ImageDef
    pulled_at: float                        # store clock, seconds
    last_used: float
    users: set[str] = field(default_factory=set)   # container ids holding the image


class ImageStore:
    """The CRI ImageService of one node, over ``catalog``.

    Pulls take ``size / bandwidth`` seconds on the injected ``sleep``;
    ``clock`` orders images for garbage collection."""

    def __init__(self, catalog: dict[str, ImageDef] = CATALOG, *,
                 bandwidth: float = 100 * MB,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 capacity_bytes: int = 100 * GIB,
                 high_threshold_percent: int = 85,
                 low_threshold_percent: int = 80,
                 min_age_seconds: float = 0.0,
                 now_ns: Callable[[], int] = time.time_ns) -> None:
        if bandwidth <= 0 or capacity_bytes <= 0:
            raise api.InvalidArgument("bandwidth and capacity_bytes must be positive")
        if not 0 <= low_threshold_percent <= high_threshold_percent <= 100:
            raise api.InvalidArgument("need 0 <= low_threshold_percent <= high_threshold_percent <= 100")
        self.bandwidth = bandwidth
        self.capacity_bytes = capacity_bytes
        self.high_threshold_percent = high_threshold_percent
        self.low_threshold_percent = low_threshold_percent
        self.min_age_seconds = min_age_seconds   # the kubelet's ImageGCMinimumAge (upstream: 2m)
        self._clock = clock
        self._sleep = sleep
        self._now_ns = now_ns
        self._by_name = {d.name: d for d in catalog.values()}
        self._by_id = {d.id: d for d in catalog.values()}
        self._by_digest = {d.repo_digest: d for d in catalog.values()}
        self._repos = {d.repository for d in catalog.values()}
        self._present: dict[str, _Present] = {}          # by image id
        self._pulls: dict[str, asyncio.Task[str]] = {}   # in-flight downloads by image id

    # -------------------------------------------------------------- lookups
    def _lookup(self, ref: _Ref) -> ImageDef | None:
        """A digest names one manifest whatever the tag says, as containerd resolves it."""
        if ref.digest:
            return self._by_digest.get(f"{ref.repository}@{ref.digest}")
        return self._by_name.get(f"{ref.repository}:{ref.tag}")

    def _resolve(self, image: str) -> ImageDef:
        """The catalog image ``image`` names, or ImagePullError as a registry would answer."""
        ref = _parse(image)
        what = str(ref)
        if ref.repository not in self._repos:
            raise api.ImagePullError(
                f'failed to pull and unpack image "{what}": failed to resolve reference '
                f'"{what}": {what}: not found')
        found = self._lookup(ref)
        if found is None:
            raise api.ImagePullError(
                f'failed to pull and unpack image "{what}": failed to resolve reference '
                f'"{what}": {what}: manifest unknown')
        return found

    def _find(self, image: str) -> _Present | None:
        """The present image ``image`` names: by id (with or without ``sha256:``), name or digest."""
        key = image if image.startswith("sha256:") else "sha256:" + image
        if key in self._present:
            return self._present[key]
        try:
            ref = _parse(image)
        except api.InvalidArgument:
            return None
        d = self._lookup(ref)
        return None if d is None else self._present.get(d.id)

    def pulled(self, image: str) -> ImageDef:
        """The ImageDef of a present image (by name, id or digest); api.NotFound if not pulled."""
        p = self._find(image)
        if p is None:
            raise api.NotFound(f'image "{image}" not found')
        return p.image

    @property
    def used_bytes(self) -> int:
        return sum(p.image.size for p in self._present.values())

    # -------------------------------------------------------------- usage hooks
    def mark_in_use(self, image_id: str, container_id: str) -> None:
        """A container now uses the image: it cannot be removed until released."""
        p = self._find(image_id)
        if p is None:
            raise api.NotFound(f'image "{image_id}" not found')
        p.users.add(container_id)
        p.last_used = self._clock()

    def release(self, image_id: str, container_id: str) -> None:
        """The container is gone; idempotent."""
        p = self._find(image_id)
        if p is not None and container_id in p.users:
            p.users.discard(container_id)
            p.last_used = self._clock()

    # -------------------------------------------------------------- ImageService
    async def PullImage(self, image: api.ImageSpec, auth: dict | None = None,
                        sandbox_config: api.PodSandboxConfig | None = None) -> str:
        d = self._resolve(image.image)
        present = self._present.get(d.id)
        if present is not None:
            present.last_used = self._clock()
            return d.id
        task = self._pulls.get(d.id)
        if task is None:
            reserved = sum(self._by_id[i].size for i in self._pulls)
            if self.used_bytes + reserved + d.size > self.capacity_bytes:
                raise api.ImagePullError(
                    f'failed to pull and unpack image "{d.name}": failed to extract layer: '
                    f"write /var/lib/containerd: no space left on device")
            task = asyncio.get_running_loop().create_task(self._download(d))
            self._pulls[d.id] = task
        # Shielded: a caller giving up does not abort the download the others share.
        return await asyncio.shield(task)

    async def _download(self, d: ImageDef) -> str:
        try:
            seconds = d.size / self.bandwidth
            if seconds > 0:
                await self._sleep(seconds)
            now = self._clock()
            self._present[d.id] = _Present(d, pulled_at=now, last_used=now)
            return d.id
        finally:
            self._pulls.pop(d.id, None)

    async def ListImages(self, filter: api.ImageFilter | None = None) -> list[api.Image]:
        if filter is not None and filter.image is not None and filter.image.image:
            p = self._find(filter.image.image)
            return [] if p is None else [self._message(p)]
        return [self._message(p) for p in sorted(self._present.values(), key=lambda p: p.image.name)]

    async def ImageStatus(self, image: api.ImageSpec) -> api.Image | None:
        p = self._find(image.image)
        return None if p is None else self._message(p)

    async def RemoveImage(self, image: api.ImageSpec) -> None:
        p = self._find(image.image)
        if p is None:
            return
        if p.users:
            raise api.FailedPrecondition(
                f'image "{p.image.name}" is in use by containers {sorted(p.users)}')
        del self._present[p.image.id]

    async def ImageFsInfo(self) -> list[api.FilesystemUsage]:
        # Roughly one inode per 32 KiB of image content.
        inodes = sum(max(1, p.image.size // 32768) for p in self._present.values())
        return [api.FilesystemUsage(timestamp=self._now_ns(), fs_id=IMAGE_FS_ID,
                                    used_bytes=self.used_bytes, inodes_used=inodes)]

    @staticmethod
    def _message(p: _Present) -> api.Image:
        d = p.image
        user = d.user.split(":", 1)[0]
        return api.Image(id=d.id, repo_tags=[d.name], repo_digests=[d.repo_digest], size=d.size,
                         username="" if user.isdigit() else user,
                         spec=api.ImageSpec(image=d.name), pinned=d.pinned)

    # -------------------------------------------------------------- GC
    def garbage_collect(self) -> list[str]:
        """The kubelet's image GC: at or above the high threshold, remove unused,
        unpinned images least recently used first until at or below the low one.
        Returns the removed ids."""
        used = self.used_bytes
        if used * 100 < self.high_threshold_percent * self.capacity_bytes:
            return []
        target = self.low_threshold_percent * self.capacity_bytes / 100
        now = self._clock()
        candidates = sorted(
            (p for p in self._present.values()
             if not p.users and not p.image.pinned and now - p.pulled_at >= self.min_age_seconds),
            key=lambda p: (p.last_used, p.pulled_at, p.image.name))
        removed: list[str] = []
        for p in candidates:
            if used <= target:
                break
            del self._present[p.image.id]
            used -= p.image.size
            removed.append(p.image.id)
        return removed
