"""Container probes as the kubelet runs them: what a probe is (from the pod
spec) and the state machine of one probe of one container.

A probe is tried every ``periodSeconds`` from ``initialDelaySeconds`` after
the container started; its result flips only after ``failureThreshold``
failures or ``successThreshold`` successes in a row. Before the first
verdict a liveness probe counts as passing, readiness and startup probes as
failing (not ready, not started). Liveness and readiness wait for the
startup probe to pass; the startup probe stops once it has.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

LIVENESS, READINESS, STARTUP = "livenessProbe", "readinessProbe", "startupProbe"


@dataclass(frozen=True)
class ProbeSpec:
    kind: str                            # exec | httpGet | tcpSocket | grpc
    command: tuple[str, ...] = ()
    port: int = 0
    path: str = "/"
    host: str = ""
    scheme: str = "HTTP"
    headers: tuple[tuple[str, str], ...] = ()
    initial_delay: float = 0.0
    timeout: float = 1.0
    period: float = 10.0
    success_threshold: int = 1
    failure_threshold: int = 3


def resolve_port(port: Any, container: dict) -> int:
    """A probe's port: a number, or the name of one of the container's ports (0 when unknown)."""
    if isinstance(port, int):
        return port
    if isinstance(port, str) and port.isdigit():
        return int(port)
    for p in container.get("ports") or ():
        if p.get("name") == port:
            return int(p.get("containerPort") or 0)
    return 0


def probe_spec(container: dict, which: str) -> ProbeSpec | None:
    """The container's ``which`` probe (LIVENESS, READINESS, STARTUP), with upstream's defaults."""
    p = container.get(which)
    if not p:
        return None
    common = dict(initial_delay=float(p.get("initialDelaySeconds") or 0),
                  timeout=float(p.get("timeoutSeconds") or 1), period=float(p.get("periodSeconds") or 10),
                  success_threshold=int(p.get("successThreshold") or 1),
                  failure_threshold=int(p.get("failureThreshold") or 3))
    if which in (LIVENESS, STARTUP):
        common["success_threshold"] = 1  # validation insists; be safe
    if p.get("exec"):
        return ProbeSpec("exec", command=tuple(p["exec"].get("command") or ()), **common)
    if p.get("httpGet"):
        h = p["httpGet"]
        return ProbeSpec("httpGet", port=resolve_port(h.get("port"), container), path=h.get("path") or "/",
                         host=h.get("host") or "", scheme=h.get("scheme") or "HTTP",
                         headers=tuple((x.get("name", ""), x.get("value", "")) for x in h.get("httpHeaders") or ()),
                         **common)
    if p.get("tcpSocket"):
        t = p["tcpSocket"]
        return ProbeSpec("tcpSocket", port=resolve_port(t.get("port"), container), host=t.get("host") or "",
                         **common)
    if p.get("grpc"):
        return ProbeSpec("grpc", port=int(p["grpc"].get("port") or 0), **common)
    return None


@dataclass
class ProbeState:
    """One probe of one running container (a new container instance starts a new state)."""

    which: str
    spec: ProbeSpec
    started_at: float                    # when the container started (the caller's clock)
    result: bool = field(init=False)
    successes: int = 0
    failures: int = 0
    last_run: float | None = None
    done: bool = False                   # a startup probe that passed

    def __post_init__(self) -> None:
        self.result = self.which == LIVENESS

    def next_at(self) -> float:
        """When this probe should next be tried."""
        first = self.started_at + self.spec.initial_delay
        if self.last_run is None:
            return first
        return max(first, self.last_run + self.spec.period)

    def due(self, now: float) -> bool:
        return not self.done and now >= self.next_at()

    def observe(self, ok: bool, now: float) -> bool:
        """Record one try; True when the probe's result changed."""
        self.last_run = now
        if ok:
            self.successes += 1
            self.failures = 0
            flip = not self.result and self.successes >= self.spec.success_threshold
        else:
            self.failures += 1
            self.successes = 0
            flip = self.result and self.failures >= self.spec.failure_threshold
        if flip:
            self.result = ok
            if self.which == STARTUP and ok:
                self.done = True
        return flip


@dataclass
class ContainerProbes:
    """The probes of one container instance, gated as upstream: liveness and
    readiness only once startup has passed."""

    startup: ProbeState | None = None
    liveness: ProbeState | None = None
    readiness: ProbeState | None = None

    @classmethod
    def for_container(cls, container: dict, started_at: float) -> "ContainerProbes":
        def make(which: str) -> ProbeState | None:
            spec = probe_spec(container, which)
            return ProbeState(which, spec, started_at) if spec is not None else None
        return cls(make(STARTUP), make(LIVENESS), make(READINESS))

    @property
    def started(self) -> bool:
        return self.startup is None or self.startup.result

    @property
    def ready(self) -> bool:
        """Ready: started, and its readiness probe (if any) passing."""
        return self.started and (self.readiness is None or self.readiness.result)

    @property
    def live(self) -> bool:
        """False once the liveness probe failed (the container is to be killed); a
        startup probe that ran out of failures kills it the same way."""
        if self.startup is not None and not self.startup.done and \
                self.startup.failures >= self.startup.spec.failure_threshold:
            return False
        return self.liveness is None or self.liveness.result

    def due(self, now: float) -> list[ProbeState]:
        """The probes to try now."""
        if not self.started:
            return [self.startup] if self.startup is not None and self.startup.due(now) else []
        return [p for p in (self.liveness, self.readiness) if p is not None and p.due(now)]

    def next_at(self) -> float | None:
        pending = [self.startup] if not self.started else [self.liveness, self.readiness]
        times = [p.next_at() for p in pending if p is not None and not p.done]
        return min(times) if times else None
