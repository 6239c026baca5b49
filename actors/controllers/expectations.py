"""Controller expectations (upstream's ``ControllerExpectations``): what a
controller has asked the apiserver to create or delete and not yet seen in
its informers.

A controller that created 5 pods must not create 5 more because its pod
informer has not caught up: it records the expectation before writing and
skips managing replicas until the informer has seen each create and delete
(or the expectation expires, should an event be lost)."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

EXPECTATIONS_TTL = 300.0  # upstream's ExpectationsTimeout: 5 minutes


@dataclass
class _Expectation:
    adds: int
    dels: set[str]
    at: float

    def fulfilled(self) -> bool:
        return self.adds <= 0 and not self.dels


@dataclass
class Expectations:
    clock: Callable[[], float] = time.monotonic
    ttl: float = EXPECTATIONS_TTL
    _by_key: dict[str, _Expectation] = field(default_factory=dict)

    def satisfied(self, key: str) -> bool:
        """Whether the controller may act on ``key`` from its informers' state:
        nothing pending, nothing recorded, or the record is too old to trust."""
        e = self._by_key.get(key)
        return e is None or e.fulfilled() or self.clock() - e.at > self.ttl

    def expect(self, key: str, adds: int, dels: list[str]) -> None:
        """Record what one sync is about to create and delete (some do both)."""
        self._by_key[key] = _Expectation(adds, set(dels), self.clock())

    def expect_creations(self, key: str, n: int) -> None:
        self.expect(key, n, [])

    def expect_deletions(self, key: str, pod_keys: list[str]) -> None:
        self.expect(key, 0, pod_keys)

    def creation_observed(self, key: str) -> None:
        e = self._by_key.get(key)
        if e is not None:
            e.adds -= 1

    def deletion_observed(self, key: str, pod_key: str) -> None:
        e = self._by_key.get(key)
        if e is not None:
            e.dels.discard(pod_key)

    def delete(self, key: str) -> None:
        self._by_key.pop(key, None)

    def pending(self, key: str) -> tuple[int, int]:
        """(creations, deletions) still expected."""
        e = self._by_key.get(key)
        return (0, 0) if e is None else (max(e.adds, 0), len(e.dels))
