"""Unit tests for kubeapi.workqueue: the queue guarantees controllers rely on."""
from __future__ import annotations

import asyncio
import random
import time
from typing import Any, Awaitable

import pytest

from kubeapi.workqueue import (
    AsyncWorkQueue,
    BucketRateLimiter,
    FakeClock,
    ItemExponentialFailureRateLimiter,
    MaxOfRateLimiter,
    WorkQueue,
    default_controller_rate_limiter,
)


def run(coro: Awaitable[Any], limit: float = 2.0) -> Any:
    """Run a coroutine with a hard cap so a wake-up bug fails instead of hanging."""

    async def capped() -> Any:
        return await asyncio.wait_for(coro, limit)

    return asyncio.run(capped())


def drain_sync(q: WorkQueue) -> list:
    """Pop everything ready, marking each key done (bounded so a re-queue bug fails fast)."""
    out = []
    while (key := q.get()) is not None:
        out.append(key)
        q.done(key)
        assert len(out) < 1000, "queue keeps re-offering keys"
    return out


def fake_queue(limiter=None) -> tuple[WorkQueue, FakeClock]:
    clock = FakeClock(100.0)
    return WorkQueue("test", clock=clock, rate_limiter=limiter), clock


# --------------------------------------------------------------------------- core queue


def test_duplicates_coalesce_and_fifo_order() -> None:
    q, _ = fake_queue()
    for key in ["c", "a", "c", "b", "a", "c"]:
        q.add(key)
    assert len(q) == 3
    assert drain_sync(q) == ["c", "a", "b"]
    assert q.get() is None
    assert q.metrics().adds == 3


def test_readd_while_processing_is_deferred_until_done() -> None:
    q, _ = fake_queue()
    q.add("a")
    q.add("b")
    assert q.get() == "a"
    q.add("a")  # an event arrived while a worker holds "a"
    q.add("a")
    assert len(q) == 1  # only "b" is ready: "a" must not go to a second worker
    assert q.get() == "b"
    assert q.get() is None
    q.done("a")
    assert len(q) == 1
    assert q.get() == "a"
    q.done("a")
    q.done("b")
    assert q.get() is None  # the two re-adds coalesced into one extra reconcile


def test_done_for_unheld_key_does_not_duplicate() -> None:
    q, _ = fake_queue()
    q.add("a")
    q.done("a")  # not being processed: must not push a second copy
    assert len(q) == 1
    assert drain_sync(q) == ["a"]


def test_none_is_not_a_key() -> None:
    q, _ = fake_queue()
    with pytest.raises(TypeError):
        q.add(None)
    with pytest.raises(TypeError):
        q.add_after(None, 1.0)


def test_three_workers_never_share_a_key_and_no_add_is_lost() -> None:
    """Randomly interleave 3 workers with producers; check exclusivity and level-triggering."""
    rng = random.Random(7)
    q, _ = fake_queue()
    keys = [f"k{i}" for i in range(5)]
    held: list[str | None] = [None, None, None]
    last_add: dict[str, int] = {}
    last_start: dict[str, int] = {}
    for step in range(5000):
        action = rng.random()
        w = rng.randrange(3)
        if action < 0.4:
            key = rng.choice(keys)
            q.add(key)
            last_add[key] = step
        elif action < 0.7 and held[w] is None:
            key = q.get()
            if key is not None:
                assert key not in held, f"{key} handed to two workers"
                held[w] = key
                last_start[key] = step
        elif held[w] is not None:
            q.done(held[w])
            held[w] = None
    for w, key in enumerate(held):
        if key is not None:
            q.done(key)
    for key in drain_sync(q):
        last_start[key] = 10**9
    # Every add is followed by a processing that started after it.
    for key, added in last_add.items():
        assert last_start[key] > added


def test_shut_down_refuses_adds_but_hands_out_queued_keys() -> None:
    q, clock = fake_queue()
    q.add("a")
    q.add("b")
    q.add_after("later", 1.0)
    assert q.get() == "a"
    q.shut_down()
    assert q.shutting_down
    q.add("c")
    q.add_after("d", 0)
    q.add_rate_limited("e")
    q.done("a")
    assert q.get() == "b"
    clock.step(5)
    assert q.get() is None  # delayed keys are dropped on shutdown
    assert q.waiting_len == 0
    assert q.next_deadline() is None


def test_shut_down_with_drain_tracks_in_flight_keys() -> None:
    q, _ = fake_queue()
    q.add("a")
    q.add("b")
    a, b = q.get(), q.get()
    q.shut_down_with_drain()
    assert q.draining and not q.drained
    q.done(a)
    assert q.draining
    q.done(b)
    assert q.drained


def test_plain_shut_down_cancels_a_pending_drain() -> None:
    q, _ = fake_queue()
    q.add("a")
    q.get()
    q.shut_down_with_drain()
    assert not q.drained
    q.shut_down()
    assert q.drained


# --------------------------------------------------------------------------- delaying


def test_delayed_keys_come_due_in_deadline_order() -> None:
    q, clock = fake_queue()
    q.add_after("a", 3.0)
    q.add_after("b", 1.0)
    q.add_after("c", 2.0)
    q.add_after("d", 2.0)  # same deadline as c: keeps add order
    assert q.next_deadline() == pytest.approx(101.0)
    assert q.get() is None
    assert q.advance(100.5) == 0
    clock.step(2.0)
    assert drain_sync(q) == ["b", "c", "d"]
    assert q.next_deadline() == pytest.approx(103.0)
    clock.step(1.0)
    assert drain_sync(q) == ["a"]
    assert q.next_deadline() is None


def test_readd_with_sooner_deadline_wins_later_is_ignored() -> None:
    q, clock = fake_queue()
    q.add_after("a", 5.0)
    q.add_after("b", 3.0)
    q.add_after("a", 2.0)  # sooner: moves ahead of b
    q.add_after("a", 10.0)  # later: ignored
    assert q.waiting_len == 2
    assert q.next_deadline() == pytest.approx(102.0)
    clock.step(2.0)
    assert drain_sync(q) == ["a"]
    clock.step(1.0)
    assert drain_sync(q) == ["b"]
    clock.step(20.0)
    assert drain_sync(q) == []  # the superseded entries do not resurface


def test_add_after_zero_adds_now_and_due_keys_coalesce() -> None:
    q, clock = fake_queue()
    q.add_after("a", 0)
    assert len(q) == 1
    q.add_after("a", 1.0)  # already queued: when due, the add coalesces
    clock.step(1.0)
    assert drain_sync(q) == ["a"]
    assert q.metrics().retries == 2


# --------------------------------------------------------------------------- rate limiters


def test_exponential_backoff_doubles_caps_and_forgets() -> None:
    rl = ItemExponentialFailureRateLimiter(0.005, 1.0)
    delays = [rl.when("a") for _ in range(10)]
    assert delays[:8] == pytest.approx([0.005 * 2**i for i in range(8)])
    assert delays[8:] == [1.0, 1.0]  # 0.005 * 256 = 1.28 is capped
    assert rl.num_requeues("a") == 10
    assert rl.when("b") == pytest.approx(0.005)  # independent per key
    rl.forget("a")
    assert rl.num_requeues("a") == 0
    assert rl.when("a") == pytest.approx(0.005)


def test_exponential_backoff_survives_huge_failure_counts() -> None:
    rl = ItemExponentialFailureRateLimiter(0.005, 1000.0)
    for _ in range(1100):
        delay = rl.when("a")
    assert delay == 1000.0


def test_token_bucket_burst_then_qps_pacing() -> None:
    clock = FakeClock()
    rl = BucketRateLimiter(qps=10, burst=100, clock=clock)
    assert all(rl.when(i) == 0 for i in range(100))
    # Each reservation queues behind the previous one.
    assert [rl.when("x") for _ in range(3)] == pytest.approx([0.1, 0.2, 0.3])
    clock.step(1.0)  # 10 tokens refill; 3 were borrowed
    assert [rl.when("x") for _ in range(7)] == [0.0] * 7
    assert rl.when("x") == pytest.approx(0.1)
    clock.step(1000.0)  # refill is capped at burst
    assert all(rl.when(i) == 0 for i in range(100))
    assert rl.when("x") == pytest.approx(0.1)
    assert rl.num_requeues("x") == 0


def test_max_of_takes_longest_delay_and_forgets_all() -> None:
    clock = FakeClock()
    rl = MaxOfRateLimiter(
        ItemExponentialFailureRateLimiter(0.001, 10.0),
        BucketRateLimiter(qps=2, burst=1, clock=clock),
    )
    assert rl.when("a") == pytest.approx(0.001)  # bucket had a token
    assert rl.when("a") == pytest.approx(0.5)  # bucket dominates
    assert rl.num_requeues("a") == 2
    rl.forget("a")
    assert rl.num_requeues("a") == 0
    assert rl.when("a") == pytest.approx(1.0)  # bucket still remembers the aggregate rate


def test_default_controller_rate_limiter_shape() -> None:
    clock = FakeClock()
    rl = default_controller_rate_limiter(clock)
    assert [rl.when("a") for _ in range(3)] == pytest.approx([0.005, 0.01, 0.02])
    for i in range(97):
        rl.when(i)
    # Burst of 100 used up: the 10 qps bucket now outweighs a first failure.
    assert rl.when("fresh") == pytest.approx(0.1)


def test_queue_add_rate_limited_forget_and_num_requeues() -> None:
    q, clock = fake_queue(ItemExponentialFailureRateLimiter(1.0, 100.0))
    q.add_rate_limited("a")
    assert q.num_requeues("a") == 1
    assert q.get() is None
    clock.step(1.0)
    assert q.get() == "a"
    q.done("a")
    q.add_rate_limited("a")
    clock.step(1.5)
    assert q.get() is None  # second failure waits 2 s
    clock.step(0.5)
    assert q.get() == "a"
    q.forget("a")
    assert q.num_requeues("a") == 0
    q.done("a")
    q.add_rate_limited("a")
    assert q.next_deadline() == pytest.approx(clock() + 1.0)


def test_metrics_counters() -> None:
    q, clock = fake_queue()
    q.add("a")
    q.add("a")
    q.add("b")
    q.add("c")
    q.add_after("d", 5)
    assert q.get() == "a"
    clock.step(1.0)
    assert q.get() == "b"
    clock.step(2.0)
    m = q.metrics()
    assert (m.adds, m.retries, m.depth, m.waiting, m.in_flight) == (3, 1, 1, 1, 2)
    assert m.longest_running_processor_seconds == pytest.approx(3.0)
    assert m.unfinished_work_seconds == pytest.approx(5.0)
    assert m.queue_latency_seconds_total == pytest.approx(1.0)
    q.done("a")
    q.done("b")
    m = q.metrics()
    assert m.completed == 2 and m.in_flight == 0
    assert m.longest_running_processor_seconds == 0.0
    assert m.work_duration_seconds_total == pytest.approx(5.0)


# --------------------------------------------------------------------------- asyncio wrapper


def test_async_get_blocks_until_add() -> None:
    async def main() -> None:
        aq: AsyncWorkQueue[str] = AsyncWorkQueue()
        task = asyncio.create_task(aq.get())
        await asyncio.sleep(0.01)
        assert not task.done()
        aq.add("a")
        assert await task == "a"

    run(main())


def test_async_get_returns_none_on_shutdown() -> None:
    async def main() -> None:
        aq: AsyncWorkQueue[str] = AsyncWorkQueue()
        waiters = [asyncio.create_task(aq.get()) for _ in range(3)]
        await asyncio.sleep(0)
        aq.shut_down()
        assert await asyncio.gather(*waiters) == [None, None, None]
        assert await aq.get() is None

    run(main())


def test_async_add_after_wakes_at_deadline_without_polling() -> None:
    async def main() -> None:
        aq: AsyncWorkQueue[str] = AsyncWorkQueue()
        calls = 0
        real_get = aq.core.get

        def counting_get(now=None):
            nonlocal calls
            calls += 1
            return real_get(now)

        aq.core.get = counting_get  # type: ignore[method-assign]
        start = time.monotonic()
        aq.add_after("a", 0.05)
        assert await aq.get() == "a"
        elapsed = time.monotonic() - start
        assert 0.045 <= elapsed < 0.3
        assert calls <= 3  # slept until the deadline instead of spinning

    run(main())


def test_async_earlier_add_after_shortens_the_wait() -> None:
    async def main() -> None:
        aq: AsyncWorkQueue[str] = AsyncWorkQueue()
        aq.add_after("slow", 10.0)
        task = asyncio.create_task(aq.get())
        await asyncio.sleep(0.01)
        aq.add_after("fast", 0.02)
        assert await asyncio.wait_for(task, 0.3) == "fast"

    run(main())


def test_async_get_timeout_and_cancellation_leave_queue_intact() -> None:
    async def main() -> None:
        aq: AsyncWorkQueue[str] = AsyncWorkQueue()
        assert await aq.get(timeout=0.02) is None
        assert not aq.shutting_down
        task = asyncio.create_task(aq.get())
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        aq.add("a")
        assert len(aq) == 1  # the cancelled waiter took nothing
        assert await aq.get(timeout=0.1) == "a"
        assert aq.core.is_processing("a")

    run(main())


def test_async_with_fake_clock_and_wake() -> None:
    async def main() -> None:
        clock = FakeClock()
        aq: AsyncWorkQueue[str] = AsyncWorkQueue(WorkQueue(clock=clock))
        aq.add_after("a", 30.0)  # 30 fake seconds: a real sleep this long would time out the test
        task = asyncio.create_task(aq.get())
        await asyncio.sleep(0.01)
        assert not task.done()
        clock.step(30.0)
        aq.wake()
        assert await asyncio.wait_for(task, 0.2) == "a"

    run(main())


def test_async_workers_never_share_a_key() -> None:
    async def main() -> None:
        aq: AsyncWorkQueue[str] = AsyncWorkQueue()
        in_hand: set[str] = set()
        processed: list[str] = []
        overlaps: list[str] = []

        async def worker() -> None:
            while (key := await aq.get()) is not None:
                if key in in_hand:
                    overlaps.append(key)
                in_hand.add(key)
                await asyncio.sleep(0.001)
                if len(processed) < 30:
                    aq.add(key)  # an event for the key arrives while it is held
                processed.append(key)
                in_hand.discard(key)
                aq.done(key)

        workers = [asyncio.create_task(worker()) for _ in range(3)]
        for _ in range(5):
            aq.add("x")
            aq.add("y")
            await asyncio.sleep(0.002)
        while len(processed) < 30:
            await asyncio.sleep(0.002)
        drained = await aq.shut_down_with_drain(timeout=0.2)
        await asyncio.gather(*workers)
        assert drained
        assert overlaps == []
        assert aq.core.processing_len == 0

    run(main())


def test_async_shut_down_with_drain_waits_for_in_flight() -> None:
    async def main() -> None:
        aq: AsyncWorkQueue[str] = AsyncWorkQueue()
        aq.add("a")
        key = await aq.get()
        drain = asyncio.create_task(aq.shut_down_with_drain())
        await asyncio.sleep(0.01)
        assert not drain.done()  # still waiting for the worker holding "a"
        assert await aq.get() is None
        aq.done(key)
        assert await asyncio.wait_for(drain, 0.1) is True

        stuck: AsyncWorkQueue[str] = AsyncWorkQueue()
        stuck.add("b")
        await stuck.get()
        assert await stuck.shut_down_with_drain(timeout=0.02) is False

    run(main())
