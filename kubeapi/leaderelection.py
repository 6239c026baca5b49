"""Leader election over coordination.k8s.io/v1 Leases, following client-go's LeaderElector.

A candidate tries to acquire the Lease every ``retry_period`` (jittered) while it is held by
someone else and not expired (``renewTime + leaseDurationSeconds`` still in the future). The
leader renews every ``retry_period``; if it cannot renew for ``renew_deadline`` it gives up
leadership, which happens strictly before the lease expires for the others because
``lease_duration > renew_deadline``. Every write is a compare-and-swap on the Lease's
resourceVersion, so two candidates can never both win the same round.

Time comes from an injectable clock (epoch seconds) and waits go through an injectable
``sleep``, so tests can replay a timeline deterministically.
"""
from __future__ import annotations

import asyncio
import copy
import inspect
import logging
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable, Protocol

from kubeapi.errors import is_not_found

__all__ = [
    "JITTER_FACTOR",
    "LeaderElectionConfig",
    "LeaderElectionRecord",
    "LeaderElector",
    "LeaseClient",
    "format_micro_time",
    "parse_micro_time",
    "run_or_die",
]

log = logging.getLogger(__name__)

JITTER_FACTOR = 1.2
MICRO_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # Go: "2006-01-02T15:04:05.000000Z"

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class LeaseClient(Protocol):
    """Minimal Lease access: reads, creates and CAS updates (by metadata.resourceVersion)."""

    async def get(self, namespace: str, name: str) -> dict:
        """The Lease, or raise an ApiError for which ``is_not_found`` holds."""
        ...

    async def create(self, lease: dict) -> dict:
        """Create the Lease; returns it with its resourceVersion."""
        ...

    async def update(self, lease: dict) -> dict:
        """Replace the Lease if its resourceVersion still matches, else raise a conflict ApiError."""
        ...


def format_micro_time(t: float) -> str:
    """Epoch seconds as a MicroTime string (microsecond precision, UTC)."""
    return datetime.fromtimestamp(t, timezone.utc).strftime(MICRO_TIME_FORMAT)


def parse_micro_time(s: str) -> float:
    """Parse a MicroTime (or RFC 3339 second-precision) UTC timestamp to epoch seconds."""
    for fmt in (MICRO_TIME_FORMAT, "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return datetime.strptime(s, fmt).replace(tzinfo=timezone.utc).timestamp()
        except ValueError:
            continue
    raise ValueError(f"invalid MicroTime {s!r}")


@dataclass
class LeaderElectionRecord:
    """The leader-election view of a Lease spec (times in epoch seconds)."""

    holder_identity: str = ""
    lease_duration_seconds: int = 0
    acquire_time: float | None = None
    renew_time: float | None = None
    leader_transitions: int = 0

    @classmethod
    def from_lease(cls, lease: dict) -> LeaderElectionRecord:
        spec = lease.get("spec") or {}

        def when(k: str) -> float | None:
            v = spec.get(k)
            return parse_micro_time(v) if v else None

        return cls(holder_identity=spec.get("holderIdentity") or "",
                   lease_duration_seconds=int(spec.get("leaseDurationSeconds") or 0),
                   acquire_time=when("acquireTime"), renew_time=when("renewTime"),
                   leader_transitions=int(spec.get("leaseTransitions") or 0))

    def to_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"holderIdentity": self.holder_identity,
                                "leaseDurationSeconds": self.lease_duration_seconds}
        if self.acquire_time is not None:
            spec["acquireTime"] = format_micro_time(self.acquire_time)
        if self.renew_time is not None:
            spec["renewTime"] = format_micro_time(self.renew_time)
        spec["leaseTransitions"] = self.leader_transitions
        return spec


@dataclass
class LeaderElectionConfig:
    """Settings of one candidate; durations in seconds.

    Callbacks may be plain functions or coroutine functions. ``on_started_leading`` gets an
    :class:`asyncio.Event` that is set when leadership ends; it runs as a task that is
    cancelled if it has not finished once leadership is over.
    """

    lock_name: str
    lock_namespace: str
    identity: str
    on_started_leading: Callable[[asyncio.Event], Any] | None
    on_stopped_leading: Callable[[], Any] | None
    on_new_leader: Callable[[str], Any] | None = None
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    release_on_cancel: bool = False
    name: str = field(default="")

    def __post_init__(self) -> None:
        if self.lease_duration <= self.renew_deadline:
            raise ValueError("leaseDuration must be greater than renewDeadline")
        if self.renew_deadline <= JITTER_FACTOR * self.retry_period:
            raise ValueError(f"renewDeadline must be greater than retryPeriod*JitterFactor "
                             f"({self.renew_deadline} <= {self.retry_period}*{JITTER_FACTOR})")
        if self.lease_duration < 1:
            raise ValueError("leaseDuration must be at least 1 second (Leases store whole seconds)")
        if self.renew_deadline <= 0:
            raise ValueError("renewDeadline must be greater than zero")
        if self.retry_period <= 0:
            raise ValueError("retryPeriod must be greater than zero")
        if self.on_started_leading is None:
            raise ValueError("OnStartedLeading callback must not be nil")
        if self.on_stopped_leading is None:
            raise ValueError("OnStoppedLeading callback must not be nil")
        if not self.lock_name or not self.lock_namespace:
            raise ValueError("lock name and namespace must not be empty")
        if not self.identity:
            raise ValueError("Lock identity is empty")


class LeaderElector:
    """Runs one candidate's acquire / renew / release cycle."""

    def __init__(self, config: LeaderElectionConfig, client: LeaseClient, *,
                 clock: Clock = time.time, sleep: Sleep = asyncio.sleep,
                 rand: Callable[[], float] = random.random) -> None:
        self.config = config
        self.client = client
        self._clock, self._sleep, self._rand = clock, sleep, rand
        self._lease: dict | None = None  # last Lease read or written (carries resourceVersion)
        self.observed_record: LeaderElectionRecord | None = None
        self.observed_time: float = 0.0
        self._reported_leader = ""
        self._background: set[asyncio.Task[Any]] = set()

    # -- state

    def is_leader(self) -> bool:
        """Whether the last observed record names this candidate."""
        return self.observed_record is not None and self.observed_record.holder_identity == self.config.identity

    def get_leader(self) -> str:
        return self.observed_record.holder_identity if self.observed_record else ""

    def _set_observed(self, lease: dict) -> None:
        self._lease = lease
        self.observed_record = LeaderElectionRecord.from_lease(lease)
        self.observed_time = self._clock()

    def _lease_valid(self, record: LeaderElectionRecord, now: float) -> bool:
        if not record.holder_identity or record.renew_time is None:
            return False
        return record.renew_time + record.lease_duration_seconds >= now

    # -- one attempt

    async def try_acquire_or_renew(self) -> bool:
        """One acquire-or-renew round trip; True if this candidate now holds the lease."""
        cfg = self.config
        now = self._clock()
        record = LeaderElectionRecord(holder_identity=cfg.identity,
                                      lease_duration_seconds=int(cfg.lease_duration),
                                      acquire_time=now, renew_time=now)
        try:
            current = await self.client.get(cfg.lock_namespace, cfg.lock_name)
        except Exception as e:  # noqa: BLE001 - any failure is a failed attempt
            if not is_not_found(e):
                log.warning("%s: error retrieving lease %s/%s: %s", cfg.identity,
                            cfg.lock_namespace, cfg.lock_name, e)
                return False
            lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                     "metadata": {"name": cfg.lock_name, "namespace": cfg.lock_namespace},
                     "spec": record.to_spec()}
            try:
                created = await self.client.create(lease)
            except Exception as e:  # noqa: BLE001
                log.info("%s: error creating lease: %s", cfg.identity, e)
                return False
            self._set_observed(created)
            return True

        self._set_observed(current)
        old = self.observed_record
        assert old is not None
        if old.holder_identity and self._lease_valid(old, now) and old.holder_identity != cfg.identity:
            log.debug("%s: lease is held by %s and has not yet expired", cfg.identity, old.holder_identity)
            return False
        if old.holder_identity == cfg.identity:
            record.acquire_time = old.acquire_time if old.acquire_time is not None else now
            record.leader_transitions = old.leader_transitions
        else:
            record.leader_transitions = old.leader_transitions + 1
        return await self._write(current, record)

    async def _write(self, base: dict, record: LeaderElectionRecord) -> bool:
        lease = copy.deepcopy(base)
        lease["spec"] = record.to_spec()
        try:
            updated = await self.client.update(lease)
        except Exception as e:  # noqa: BLE001 - conflicts and transport errors alike
            log.info("%s: failed to update lease: %s", self.config.identity, e)
            return False
        self._set_observed(updated)
        return True

    async def release(self) -> bool:
        """Hand the lease back (holder "" and a 1 s duration) if this candidate holds it."""
        if not self.is_leader() or self._lease is None:
            return True
        assert self.observed_record is not None
        now = self._clock()
        record = LeaderElectionRecord(holder_identity="", lease_duration_seconds=1, acquire_time=now,
                                      renew_time=now,
                                      leader_transitions=self.observed_record.leader_transitions)
        return await self._write(self._lease, record)

    def _maybe_report_transition(self) -> None:
        leader = self.get_leader()
        if not leader or leader == self._reported_leader:
            return
        self._reported_leader = leader
        if self.config.on_new_leader is not None:
            self._call_in_background(self.config.on_new_leader, leader)

    def _call_in_background(self, fn: Callable[..., Any], *args: Any) -> asyncio.Task[Any] | None:
        try:
            result = fn(*args)
        except Exception:  # noqa: BLE001
            log.exception("%s: leader election callback failed", self.config.identity)
            return None
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            return task
        return None

    # -- waiting

    async def _wait(self, stop: asyncio.Event, delay: float) -> bool:
        """Sleep ``delay`` seconds on the injected clock; True if ``stop`` was set meanwhile."""
        if stop.is_set():
            return True
        sleeper = asyncio.ensure_future(self._sleep(delay))
        stopper = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (sleeper, stopper):
                t.cancel()
            await asyncio.gather(sleeper, stopper, return_exceptions=True)
        return stop.is_set()

    async def _attempt_within(self, stop: asyncio.Event, remaining: float) -> bool:
        """One attempt that counts as failed if it takes longer than ``remaining`` seconds."""
        attempt = asyncio.ensure_future(self.try_acquire_or_renew())
        timer = asyncio.ensure_future(self._sleep(max(0.0, remaining)))
        stopper = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({attempt, timer, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (timer, stopper):
                t.cancel()
            if not attempt.done():
                attempt.cancel()
            await asyncio.gather(attempt, timer, stopper, return_exceptions=True)
        return attempt.done() and not attempt.cancelled() and attempt.exception() is None and attempt.result()

    # -- phases

    async def _acquire(self, stop: asyncio.Event) -> bool:
        """Retry every jittered ``retry_period`` until acquired (True) or stopped (False)."""
        cfg = self.config
        while not stop.is_set():
            ok = await self.try_acquire_or_renew()
            self._maybe_report_transition()
            if ok:
                log.info("%s: acquired lease %s/%s", cfg.identity, cfg.lock_namespace, cfg.lock_name)
                return True
            delay = cfg.retry_period * (1.0 + JITTER_FACTOR * self._rand())
            if await self._wait(stop, delay):
                return False
        return False

    async def _renew(self, stop: asyncio.Event) -> bool:
        """Renew until stopped (True) or renewals failed for ``renew_deadline`` (False)."""
        cfg = self.config
        while True:
            deadline = self._clock() + cfg.renew_deadline
            while True:
                if stop.is_set():
                    return True
                if await self._attempt_within(stop, deadline - self._clock()):
                    break
                if stop.is_set():
                    return True
                if self._clock() >= deadline:
                    log.warning("%s: failed to renew lease %s/%s within %ss", cfg.identity,
                                cfg.lock_namespace, cfg.lock_name, cfg.renew_deadline)
                    return False
                if await self._wait(stop, min(cfg.retry_period, max(0.0, deadline - self._clock()))):
                    return True
                if self._clock() >= deadline:
                    log.warning("%s: failed to renew lease %s/%s within %ss", cfg.identity,
                                cfg.lock_namespace, cfg.lock_name, cfg.renew_deadline)
                    return False
            self._maybe_report_transition()
            if await self._wait(stop, cfg.retry_period):
                return True

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Campaign, lead until ``stop`` is set or renewal fails, then return.

        ``on_stopped_leading`` is called only if this candidate actually led. With
        ``release_on_cancel`` a leader that stops hands the lease back on its way out.
        """
        stop = stop if stop is not None else asyncio.Event()
        if not await self._acquire(stop):
            return
        leading = asyncio.Event()
        work = self._call_in_background(self.config.on_started_leading, leading)  # type: ignore[arg-type]
        try:
            await self._renew(stop)
        finally:
            leading.set()
            if work is not None and not work.done():
                await asyncio.sleep(0)
                if not work.done():
                    work.cancel()
                await asyncio.gather(work, return_exceptions=True)
            if self.config.release_on_cancel:
                try:
                    await self.release()
                except Exception:  # noqa: BLE001
                    log.exception("%s: failed to release lease", self.config.identity)
            result = None
            try:
                result = self.config.on_stopped_leading()  # type: ignore[misc]
                if inspect.isawaitable(result):
                    await result
            except Exception:  # noqa: BLE001
                log.exception("%s: on_stopped_leading failed", self.config.identity)


async def run_or_die(config: LeaderElectionConfig, client: LeaseClient,
                     stop: asyncio.Event | None = None, **kwargs: Any) -> None:
    """Build a :class:`LeaderElector` for ``config`` and run it once."""
    await LeaderElector(config, client, **kwargs).run(stop)
