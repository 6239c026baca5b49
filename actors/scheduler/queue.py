"""The scheduling queue (upstream's PriorityQueue): pods waiting to be scheduled.

* activeQ — ready now, ordered by priority (higher first) then by when they
  were queued (PrioritySort);
* backoffQ — failed recently, waiting out a per-pod exponential back-off
  (1 s doubling to 10 s by default);
* unschedulable — failed and waiting for a cluster event that might help:
  a node added or changed, a pod deleted, ... (the events the plugins that
  rejected it registered for); after ``unschedulable_timeout`` they are
  retried anyway.

Time is read through an injectable clock; :meth:`flush` moves pods whose
back-off or wait is over and is called periodically by the scheduler.
"""
from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

from .framework import ClusterEvent
from .nodeinfo import PodInfo

DEFAULT_INITIAL_BACKOFF = 1.0
DEFAULT_MAX_BACKOFF = 10.0
DEFAULT_UNSCHEDULABLE_TIMEOUT = 300.0


@dataclass
class QueuedPodInfo:
    pod_info: PodInfo
    timestamp: float  # when it (last) entered the queue: the FIFO order within a priority
    initial_attempt_timestamp: float | None = None
    attempts: int = 0
    unschedulable_plugins: set[str] = field(default_factory=set)
    unschedulable_since: float = 0.0

    @property
    def key(self) -> str:
        return self.pod_info.key


class SchedulingQueue:
    def __init__(self, *, clock: Callable[[], float] = time.monotonic,
                 initial_backoff: float = DEFAULT_INITIAL_BACKOFF, max_backoff: float = DEFAULT_MAX_BACKOFF,
                 unschedulable_timeout: float = DEFAULT_UNSCHEDULABLE_TIMEOUT,
                 plugin_events: dict[str, list[ClusterEvent]] | None = None) -> None:
        self.clock = clock
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.unschedulable_timeout = unschedulable_timeout
        # which events may help a pod that the plugin (by name) rejected
        self.plugin_events = plugin_events or {}
        self._seq = itertools.count()
        self._active: list[tuple[int, float, int, str]] = []
        self._active_items: dict[str, QueuedPodInfo] = {}
        self._backoff: list[tuple[float, int, str]] = []
        self._backoff_items: dict[str, QueuedPodInfo] = {}
        self._unschedulable: dict[str, QueuedPodInfo] = {}
        self._in_flight: dict[str, QueuedPodInfo] = {}
        self._moved_since: dict[str, int] = {}
        self.scheduling_cycle = 0
        self._move_request_cycle = -1
        self._wakeup = asyncio.Event()
        self._closed = False

    # ------------------------------------------------------------ queries
    def __len__(self) -> int:
        return len(self._active_items) + len(self._backoff_items) + len(self._unschedulable)

    def depths(self) -> dict[str, int]:
        return {"active": len(self._active_items), "backoff": len(self._backoff_items),
                "unschedulable": len(self._unschedulable), "in_flight": len(self._in_flight)}

    def has(self, key: str) -> bool:
        return key in self._active_items or key in self._backoff_items or key in self._unschedulable \
            or key in self._in_flight

    # ------------------------------------------------------------ changes
    def _push_active(self, q: QueuedPodInfo) -> None:
        self._active_items[q.key] = q
        heapq.heappush(self._active, (-q.pod_info.priority, q.timestamp, next(self._seq), q.key))
        self._wake()

    def _push_backoff(self, q: QueuedPodInfo) -> None:
        self._backoff_items[q.key] = q
        heapq.heappush(self._backoff, (self.backoff_expiry(q), next(self._seq), q.key))

    def _wake(self) -> None:
        self._wakeup.set()

    def _remove(self, key: str) -> QueuedPodInfo | None:
        return self._active_items.pop(key, None) or self._backoff_items.pop(key, None) \
            or self._unschedulable.pop(key, None)

    def add(self, pod_info: PodInfo) -> None:
        """A new pending pod (or one seen again): straight to activeQ."""
        old = self._remove(pod_info.key)
        q = QueuedPodInfo(pod_info, self.clock()) if old is None else old
        q.pod_info = pod_info
        if pod_info.key in self._in_flight:
            self._in_flight[pod_info.key].pod_info = pod_info
            return
        self._push_active(q)

    def update(self, pod_info: PodInfo) -> None:
        """A pending pod changed: it may fit now, so it is retried (after its back-off)."""
        key = pod_info.key
        if key in self._in_flight:
            self._in_flight[key].pod_info = pod_info
            return
        q = self._remove(key)
        if q is None:
            self.add(pod_info)
            return
        q.pod_info = pod_info
        if self.backoff_expiry(q) > self.clock() and q.attempts:
            self._push_backoff(q)
        else:
            self._push_active(q)

    def delete(self, key: str) -> None:
        self._remove(key)
        self._in_flight.pop(key, None)

    async def pop(self, timeout: float | None = None) -> QueuedPodInfo | None:
        """The next pod to schedule (None on timeout or close); it is in flight until
        :meth:`done` or :meth:`add_unschedulable`."""
        deadline = None if timeout is None else self.clock() + timeout
        while True:
            q = self.pop_nowait()
            if q is not None or self._closed:
                return q
            self._wakeup.clear()
            wait = None if deadline is None else max(0.0, deadline - self.clock())
            if wait == 0.0:
                return None
            try:
                await asyncio.wait_for(self._wakeup.wait(), wait)
            except asyncio.TimeoutError:
                return None

    def pop_nowait(self) -> QueuedPodInfo | None:
        while self._active:
            _, _, _, key = heapq.heappop(self._active)
            q = self._active_items.pop(key, None)
            if q is None:
                continue  # a stale heap entry (the pod moved or was deleted)
            q.attempts += 1
            if q.initial_attempt_timestamp is None:
                q.initial_attempt_timestamp = self.clock()
            self.scheduling_cycle += 1
            self._in_flight[key] = q
            self._moved_since[key] = self.scheduling_cycle
            return q
        return None

    def done(self, key: str) -> None:
        """Scheduling of the pod finished (bound, or gone)."""
        self._in_flight.pop(key, None)
        self._moved_since.pop(key, None)

    def add_unschedulable(self, q: QueuedPodInfo, rejected_by: Iterable[str] = ()) -> None:
        """The pod did not fit. If a relevant event happened while it was being
        scheduled it goes to backoffQ at once, else it waits in unschedulable."""
        key = q.key
        if self._in_flight.pop(key, None) is None and self.has(key):
            return
        q.unschedulable_plugins = set(rejected_by)
        q.timestamp = self.clock()
        popped_at = self._moved_since.pop(key, self.scheduling_cycle)
        if self._move_request_cycle >= popped_at or not q.unschedulable_plugins:
            self._push_backoff(q)
        else:
            q.unschedulable_since = self.clock()
            self._unschedulable[key] = q

    def requeue_after_error(self, q: QueuedPodInfo) -> None:
        """Binding or another non-fit failure: back off and retry."""
        self._in_flight.pop(q.key, None)
        self._moved_since.pop(q.key, None)
        q.timestamp = self.clock()
        self._push_backoff(q)

    def backoff_expiry(self, q: QueuedPodInfo) -> float:
        d = self.initial_backoff * (2 ** max(0, q.attempts - 1)) if q.attempts else 0.0
        return q.timestamp + min(d, self.max_backoff)

    def on_event(self, event: ClusterEvent) -> int:
        """A cluster change: unschedulable pods that a rejecting plugin said this
        event may help move on (to backoffQ while backing off, else activeQ).
        Returns how many moved."""
        self._move_request_cycle = self.scheduling_cycle
        moved = 0
        now = self.clock()
        for key, q in list(self._unschedulable.items()):
            if self._helps(q, event):
                del self._unschedulable[key]
                if self.backoff_expiry(q) > now:
                    self._push_backoff(q)
                else:
                    self._push_active(q)
                moved += 1
        return moved

    def _helps(self, q: QueuedPodInfo, event: ClusterEvent) -> bool:
        if not q.unschedulable_plugins:
            return True
        for name in q.unschedulable_plugins:
            for ev in self.plugin_events.get(name, [ClusterEvent("*")]):
                if ev.resource in ("*", event.resource) and ev.action in ("*", event.action):
                    return True
        return False

    def flush(self) -> int:
        """Move pods whose back-off ended to activeQ, and pods unschedulable for
        longer than ``unschedulable_timeout`` to backoffQ/activeQ. Returns how many moved."""
        now = self.clock()
        moved = 0
        while self._backoff and self._backoff[0][0] <= now:
            _, _, key = heapq.heappop(self._backoff)
            q = self._backoff_items.pop(key, None)
            if q is not None:
                self._push_active(q)
                moved += 1
        for key, q in list(self._unschedulable.items()):
            if now - q.unschedulable_since >= self.unschedulable_timeout:
                del self._unschedulable[key]
                self._push_active(q)
                moved += 1
        return moved

    def next_flush_in(self) -> float | None:
        """Seconds until the earliest back-off ends (None if none waits)."""
        while self._backoff and self._backoff[0][2] not in self._backoff_items:
            heapq.heappop(self._backoff)
        if not self._backoff:
            return None
        return max(0.0, self._backoff[0][0] - self.clock())

    def close(self) -> None:
        """Wake and end every :meth:`pop`, for good."""
        self._closed = True
        self._wake()

    @property
    def closed(self) -> bool:
        return self._closed

