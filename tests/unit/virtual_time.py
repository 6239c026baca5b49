"""Deterministic asyncio time for tests of clocked components (informers,
leader election): a fake clock and a sleep that returns only when the test
advances the clock."""
from __future__ import annotations

import asyncio
import heapq
import itertools
from typing import Any, Awaitable, Callable

from kubeapi.workqueue import FakeClock


def run(coro: Awaitable[Any], limit: float = 5.0) -> Any:
    """Run a coroutine to completion, failing (not hanging) after ``limit`` seconds."""
    async def capped() -> Any:
        return await asyncio.wait_for(coro, limit)

    return asyncio.run(capped())


async def settle(n: int = 100) -> None:
    """Let every ready task run."""
    for _ in range(n):
        await asyncio.sleep(0)


class VirtualTime:
    """A fake clock plus a sleep that only returns when the test advances the clock."""

    def __init__(self, start: float = 1000.0) -> None:
        self.clock = FakeClock(start)
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self.sleeps: list[float] = []

    async def sleep(self, delay: float) -> None:
        self.sleeps.append(delay)
        fut = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.clock() + max(0.0, delay), next(self._seq), fut))
        await fut

    async def advance(self, seconds: float, check: Callable[[], Any] | None = None) -> None:
        """Move time forward, waking sleepers in deadline order; ``check`` runs
        at every step (an invariant the test wants to hold throughout)."""
        target = self.clock() + seconds
        while True:
            await settle()
            if check is not None:
                check()
            while self._sleepers and self._sleepers[0][2].done():
                heapq.heappop(self._sleepers)
            if self._sleepers and self._sleepers[0][0] <= target:
                when, _, fut = heapq.heappop(self._sleepers)
                self.clock.set(max(self.clock(), when))
                fut.set_result(None)
                continue
            self.clock.set(target)
            await settle()
            if check is not None:
                check()
            return
