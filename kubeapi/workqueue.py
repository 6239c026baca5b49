"""Work queues for level-triggered controllers, following client-go's workqueue contract.

Controllers never act on events directly: informer handlers only enqueue an object's key,
and workers pull keys and reconcile the *current* state. The queue's guarantees are what
make that safe:

* a key is handed to at most one worker at a time (a key re-added while a worker holds it
  is marked dirty and re-queued when the worker calls :meth:`WorkQueue.done`);
* a key is queued at most once, so a burst of events for one object costs one reconcile;
* otherwise keys come out in FIFO order.

:class:`WorkQueue` is the pure core: no asyncio, no threads, time read only through an
injectable clock, so every behaviour is testable by stepping a :class:`FakeClock`.
It also carries the delaying queue (``add_after`` / ``advance`` / ``next_deadline``) and the
rate-limited queue (``add_rate_limited`` / ``forget`` / ``num_requeues``).
:class:`AsyncWorkQueue` adds the blocking ``get`` that asyncio workers await.
"""
from __future__ import annotations

import asyncio
import heapq
import math
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable, Generic, Hashable, Protocol, TypeVar

__all__ = [
    "AsyncWorkQueue",
    "BucketRateLimiter",
    "Clock",
    "FakeClock",
    "ItemExponentialFailureRateLimiter",
    "MaxOfRateLimiter",
    "QueueMetrics",
    "RateLimiter",
    "WorkQueue",
    "default_controller_rate_limiter",
]

K = TypeVar("K", bound=Hashable)

Clock = Callable[[], float]
"""Returns monotonic seconds; ``time.monotonic`` in production, a :class:`FakeClock` in tests."""


class FakeClock:
    """A manually stepped clock so delays and rate limits can be tested without sleeping."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)

    def __call__(self) -> float:
        return self._now

    def step(self, seconds: float) -> float:
        """Move time forward; refuses to go backwards because queues assume monotonic time."""
        if seconds < 0:
            raise ValueError("a monotonic clock cannot step backwards")
        self._now += seconds
        return self._now

    def set(self, now: float) -> None:
        """Jump to an absolute time (not earlier than the current one)."""
        if now < self._now:
            raise ValueError("a monotonic clock cannot step backwards")
        self._now = float(now)


# --------------------------------------------------------------------------- rate limiters


class RateLimiter(Protocol):
    """Decides how long a key must wait before it is retried."""

    def when(self, key: Hashable) -> float:
        """Delay in seconds before ``key`` may be processed again; records one more retry."""
        ...

    def forget(self, key: Hashable) -> None:
        """Drop the retry history of ``key`` (call after a successful reconcile)."""
        ...

    def num_requeues(self, key: Hashable) -> int:
        """How many times ``key`` has been rate-limited since it was last forgotten."""
        ...


class ItemExponentialFailureRateLimiter:
    """Per-key exponential back-off: ``base_delay * 2**failures``, capped at ``max_delay``.

    A flapping object backs off on its own without slowing down healthy ones.
    """

    def __init__(self, base_delay: float = 0.005, max_delay: float = 1000.0) -> None:
        if base_delay < 0 or max_delay < 0:
            raise ValueError("delays must be non-negative")
        self.base_delay = float(base_delay)
        self.max_delay = float(max_delay)
        self._failures: dict[Hashable, int] = {}

    def when(self, key: Hashable) -> float:
        exp = self._failures.get(key, 0)
        self._failures[key] = exp + 1
        # Past 2**1023 a float overflows; any such delay is far beyond the cap anyway.
        if exp > 1023:
            return self.max_delay
        return min(self.base_delay * math.ldexp(1.0, exp), self.max_delay)

    def forget(self, key: Hashable) -> None:
        self._failures.pop(key, None)

    def num_requeues(self, key: Hashable) -> int:
        return self._failures.get(key, 0)


class BucketRateLimiter:
    """Global token bucket: ``burst`` retries at once, then ``qps`` per second overall.

    Each call reserves a token even if it has to wait for it, so successive callers queue
    up behind each other (delays 1/qps, 2/qps, ...) rather than all waking at once. It bounds
    the total retry rate of a controller no matter how many keys are failing.
    """

    def __init__(self, qps: float = 10.0, burst: int = 100, clock: Clock = time.monotonic) -> None:
        if qps <= 0:
            raise ValueError("qps must be positive")
        if burst < 0:
            raise ValueError("burst must be non-negative")
        self.qps = float(qps)
        self.burst = int(burst)
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock()

    def when(self, key: Hashable) -> float:
        now = self._clock()
        if now > self._last:
            self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.qps)
            self._last = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.qps

    def forget(self, key: Hashable) -> None:
        """No per-key state: the bucket limits the aggregate rate."""

    def num_requeues(self, key: Hashable) -> int:
        return 0


class MaxOfRateLimiter:
    """Combines limiters by taking the longest delay, so every limit holds at once."""

    def __init__(self, *limiters: RateLimiter) -> None:
        if not limiters:
            raise ValueError("MaxOfRateLimiter needs at least one limiter")
        self.limiters: tuple[RateLimiter, ...] = limiters

    def when(self, key: Hashable) -> float:
        # Every limiter must see the call so that each records the retry.
        return max([limiter.when(key) for limiter in self.limiters])

    def forget(self, key: Hashable) -> None:
        for limiter in self.limiters:
            limiter.forget(key)

    def num_requeues(self, key: Hashable) -> int:
        return max(limiter.num_requeues(key) for limiter in self.limiters)


def default_controller_rate_limiter(clock: Clock = time.monotonic) -> MaxOfRateLimiter:
    """Per-key back-off from 5 ms to 1000 s, plus an overall 10 qps / burst 100 bucket."""
    return MaxOfRateLimiter(
        ItemExponentialFailureRateLimiter(0.005, 1000.0),
        BucketRateLimiter(qps=10.0, burst=100, clock=clock),
    )


# --------------------------------------------------------------------------- metrics


@dataclass(frozen=True)
class QueueMetrics:
    """A point-in-time view of one queue, shaped for a /metrics endpoint."""

    name: str
    adds: int
    """Keys accepted by ``add`` (coalesced duplicates are not counted)."""
    retries: int
    """Calls to ``add_after`` / ``add_rate_limited`` while running."""
    depth: int
    """Keys ready and waiting for a worker."""
    waiting: int
    """Keys parked in the delaying queue."""
    in_flight: int
    """Keys currently held by workers."""
    completed: int
    """Calls to ``done`` for keys that were being processed."""
    longest_running_processor_seconds: float
    """Age of the oldest in-flight key: a stuck worker shows up here."""
    unfinished_work_seconds: float
    """Summed age of all in-flight keys."""
    queue_latency_seconds_total: float
    """Summed time keys spent queued before a worker took them."""
    work_duration_seconds_total: float
    """Summed time between ``get`` and ``done``."""


# --------------------------------------------------------------------------- core queue


class WorkQueue(Generic[K]):
    """Pure, non-blocking work queue with delaying and rate-limited adds.

    Never waits: ``get`` returns ``None`` when nothing is ready, and delayed keys move into
    the queue only when ``advance`` (called by ``get``) sees their deadline pass. Callers that
    want to block use :class:`AsyncWorkQueue`, which sleeps until ``next_deadline``.
    ``None`` is reserved as the "nothing / shut down" answer and cannot be a key.
    """

    def __init__(
        self,
        name: str = "",
        clock: Clock = time.monotonic,
        rate_limiter: RateLimiter | None = None,
    ) -> None:
        self.name = name
        self.clock = clock
        self.rate_limiter: RateLimiter = (
            rate_limiter if rate_limiter is not None else default_controller_rate_limiter(clock)
        )
        self._queue: deque[K] = deque()  # invariant: exactly the dirty keys not in processing
        self._dirty: set[K] = set()  # keys that need (another) reconcile
        self._processing: dict[K, float] = {}  # key -> time a worker took it
        self._queued_at: dict[K, float] = {}
        self._shutting_down = False
        self._drain = False
        # Delaying queue: heap of [ready_at, seq, key, live]; superseded entries are marked dead.
        self._waiting: list[list] = []
        self._waiting_entry: dict[K, list] = {}
        self._seq = 0
        # Metrics counters.
        self._adds = 0
        self._retries = 0
        self._completed = 0
        self._latency_total = 0.0
        self._work_total = 0.0

    # -- basic queue ----------------------------------------------------------------------

    def add(self, key: K) -> None:
        """Mark ``key`` as needing work; coalesces with a pending entry, defers if in flight."""
        if key is None:
            raise TypeError("None cannot be queued: it is the empty/shutdown sentinel")
        if self._shutting_down or key in self._dirty:
            return
        self._adds += 1
        self._dirty.add(key)
        self._queued_at[key] = self.clock()
        if key in self._processing:
            return  # re-queued by done(), so no two workers ever hold the same key
        self._queue.append(key)

    def get(self, now: float | None = None) -> K | None:
        """Pop the next ready key (first moving due delayed keys in), or ``None`` if none.

        As in client-go, keys already queued are still handed out after ``shut_down``; only
        new adds are refused. Workers stop once ``get`` returns ``None`` while shutting down.
        """
        now = self.clock() if now is None else now
        self.advance(now)
        if not self._queue:
            return None
        key = self._queue.popleft()
        self._dirty.discard(key)
        self._processing[key] = now
        queued_at = self._queued_at.pop(key, None)
        if queued_at is not None:
            self._latency_total += max(0.0, now - queued_at)
        return key

    def done(self, key: K) -> None:
        """Release ``key``; if it was re-added meanwhile, queue it again now."""
        started = self._processing.pop(key, None)
        if started is None:
            return  # not held by a worker: nothing to release, and it must not be queued twice
        self._completed += 1
        self._work_total += max(0.0, self.clock() - started)
        if key in self._dirty:
            self._queue.append(key)

    def __len__(self) -> int:
        """Number of keys ready for a worker (excludes delayed and in-flight keys)."""
        return len(self._queue)

    @property
    def processing_len(self) -> int:
        return len(self._processing)

    @property
    def waiting_len(self) -> int:
        return len(self._waiting_entry)

    def is_processing(self, key: K) -> bool:
        return key in self._processing

    # -- shutdown -------------------------------------------------------------------------

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    def shut_down(self) -> None:
        """Refuse new adds and drop delayed keys; workers drain what is already queued.

        Also cancels a pending drain, matching client-go where ShutDown overrides a
        concurrent ShutDownWithDrain.
        """
        self._shutting_down = True
        self._drain = False
        self._waiting.clear()
        self._waiting_entry.clear()

    def shut_down_with_drain(self) -> None:
        """Shut down, but ask the caller to wait until in-flight keys are ``done``.

        The core cannot block; ``drained`` reports when waiting may stop.
        :meth:`AsyncWorkQueue.shut_down_with_drain` does the waiting.
        """
        self.shut_down()
        self._drain = True

    @property
    def draining(self) -> bool:
        """True while a drain was requested and workers still hold keys."""
        return self._drain and bool(self._processing)

    @property
    def drained(self) -> bool:
        """True once a drain need not wait any longer (nothing in flight, or drain cancelled)."""
        return not self.draining

    # -- delaying -------------------------------------------------------------------------

    def add_after(self, key: K, delay: float, now: float | None = None) -> None:
        """Add ``key`` once ``delay`` seconds have passed.

        A key already waiting keeps the sooner of its two deadlines: retrying earlier is
        always allowed, while a later deadline must not postpone work already scheduled.
        """
        if key is None:
            raise TypeError("None cannot be queued: it is the empty/shutdown sentinel")
        if self._shutting_down:
            return
        self._retries += 1
        if delay <= 0:
            self.add(key)
            return
        now = self.clock() if now is None else now
        ready_at = now + delay
        existing = self._waiting_entry.get(key)
        if existing is not None:
            if ready_at >= existing[0]:
                return
            existing[3] = False  # superseded; skipped when it reaches the heap top
        self._seq += 1
        entry = [ready_at, self._seq, key, True]
        self._waiting_entry[key] = entry
        heapq.heappush(self._waiting, entry)

    def advance(self, now: float | None = None) -> int:
        """Move every delayed key whose deadline is ``<= now`` into the queue, soonest first.

        Returns how many keys moved. Keys with equal deadlines keep their add_after order.
        """
        now = self.clock() if now is None else now
        moved = 0
        heap = self._waiting
        while heap and (not heap[0][3] or heap[0][0] <= now):
            ready_at, _, key, live = heapq.heappop(heap)
            if not live:
                continue
            del self._waiting_entry[key]
            self.add(key)
            moved += 1
        return moved

    def next_deadline(self) -> float | None:
        """Clock time at which the soonest delayed key comes due, or ``None`` if none wait."""
        heap = self._waiting
        while heap and not heap[0][3]:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    # -- rate limiting --------------------------------------------------------------------

    def add_rate_limited(self, key: K, now: float | None = None) -> None:
        """Retry ``key`` after the delay the rate limiter assigns (back-off on failure)."""
        if self._shutting_down:
            return
        self.add_after(key, self.rate_limiter.when(key), now)

    def forget(self, key: K) -> None:
        """Clear ``key``'s back-off history; it does not remove the key from the queue."""
        self.rate_limiter.forget(key)

    def num_requeues(self, key: K) -> int:
        return self.rate_limiter.num_requeues(key)

    # -- metrics --------------------------------------------------------------------------

    def metrics(self, now: float | None = None) -> QueueMetrics:
        now = self.clock() if now is None else now
        ages = [max(0.0, now - started) for started in self._processing.values()]
        return QueueMetrics(
            name=self.name,
            adds=self._adds,
            retries=self._retries,
            depth=len(self._queue),
            waiting=len(self._waiting_entry),
            in_flight=len(self._processing),
            completed=self._completed,
            longest_running_processor_seconds=max(ages, default=0.0),
            unfinished_work_seconds=sum(ages),
            queue_latency_seconds_total=self._latency_total,
            work_duration_seconds_total=self._work_total,
        )


# --------------------------------------------------------------------------- asyncio wrapper


class AsyncWorkQueue(Generic[K]):
    """Blocking ``get`` for asyncio workers on top of a :class:`WorkQueue`.

    Waiting workers sleep until either the queue changes or the next delayed key comes due;
    they never poll. Every change wakes all waiters, which then re-check: with the handful
    of workers a controller runs this is cheaper to reason about than hand-off bookkeeping,
    and it cannot lose a wake-up when a waiter is cancelled. Must be used from one event loop.
    """

    def __init__(self, core: WorkQueue[K] | None = None, clock: Clock | None = None) -> None:
        if core is None:
            core = WorkQueue(clock=clock if clock is not None else time.monotonic)
        self.core = core
        self.clock: Clock = clock if clock is not None else core.clock
        self._changed = asyncio.Event()

    def _notify(self) -> None:
        """Wake every current waiter; later waiters wait on a fresh event."""
        self._changed.set()
        self._changed = asyncio.Event()

    def wake(self) -> None:
        """Make waiters re-check deadlines, e.g. after a test stepped a fake clock."""
        self._notify()

    async def get(self, timeout: float | None = None) -> K | None:
        """Wait for the next ready key.

        Returns ``None`` on shutdown (once queued keys are handed out) or when ``timeout``
        expires; check ``shutting_down`` to tell them apart. Cancelling the call leaves the
        queue untouched.
        """
        give_up = None if timeout is None else self.clock() + timeout
        while True:
            now = self.clock()
            key = self.core.get(now)
            if key is not None:
                # Another due key may be ready for a worker that is not about to wake.
                if len(self.core):
                    self._notify()
                return key
            if self.core.shutting_down:
                return None
            wait_until = self.core.next_deadline()
            if give_up is not None:
                if now >= give_up:
                    return None
                wait_until = give_up if wait_until is None else min(wait_until, give_up)
            changed = self._changed
            if wait_until is None:
                await changed.wait()
                continue
            try:
                await asyncio.wait_for(changed.wait(), max(0.0, wait_until - now))
            except TimeoutError:
                pass

    def add(self, key: K) -> None:
        self.core.add(key)
        self._notify()

    def add_after(self, key: K, delay: float) -> None:
        self.core.add_after(key, delay, self.clock())
        self._notify()  # the soonest deadline may have moved earlier

    def add_rate_limited(self, key: K) -> None:
        self.core.add_rate_limited(key, self.clock())
        self._notify()

    def done(self, key: K) -> None:
        self.core.done(key)
        self._notify()  # a dirty key may be queued again, or a drain may be complete

    def forget(self, key: K) -> None:
        self.core.forget(key)

    def num_requeues(self, key: K) -> int:
        return self.core.num_requeues(key)

    def shut_down(self) -> None:
        self.core.shut_down()
        self._notify()

    async def shut_down_with_drain(self, timeout: float | None = None) -> bool:
        """Shut down and wait until workers release every in-flight key.

        Returns False if ``timeout`` (real seconds) expired first, so a stuck worker cannot
        hang shutdown forever.
        """
        self.core.shut_down_with_drain()
        self._notify()

        async def wait_drained() -> None:
            while not self.core.drained:
                await self._changed.wait()

        try:
            await asyncio.wait_for(wait_drained(), timeout)
        except TimeoutError:
            return False
        return True

    @property
    def shutting_down(self) -> bool:
        return self.core.shutting_down

    def __len__(self) -> int:
        return len(self.core)

    def metrics(self) -> QueueMetrics:
        return self.core.metrics(self.clock())
