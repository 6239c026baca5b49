"""What every controller is made of (client-go's pattern): informers whose
handlers only enqueue keys, a rate-limited work queue, and a level-triggered
``sync(key)`` that reconciles the object's current state from listers and
writes through the API. A failed sync is retried with per-key back-off.

Controllers here are Ray-free: listers are informer :class:`Indexer`s and
writes go through a :class:`Writer` (the API :class:`~kubeapi.client.Client`,
or a recording fake in tests).
"""
from __future__ import annotations

import asyncio
import json
import logging
import math
from abc import ABC, abstractmethod
import time
from typing import Any, Callable, Mapping, Protocol

from kubeapi import errors
from kubeapi.aio import cancel_and_wait
from kubeapi.informer import NAMESPACE_INDEX, DeletedFinalStateUnknown, Indexer, deletion_handling_key
from kubeapi.selectors import LabelSelector, SelectorError, label_selector_from_dict
from kubeapi.workqueue import AsyncWorkQueue, WorkQueue

log = logging.getLogger("raykube.controllers")

MAX_RETRIES = 15  # upstream's controllers drop a key after this many failed syncs in a row


class Writer(Protocol):
    """The API calls controllers make (a subset of :class:`kubeapi.client.Client`)."""

    async def get(self, resource: Any, name: str, namespace: str | None = None) -> Any: ...

    async def create(self, obj: Any, namespace: str | None = None) -> Any: ...

    async def patch(self, resource: Any, name: str, patch: Any, namespace: str | None = None, *,
                    patch_type: str = "merge", subresource: str | None = None) -> Any: ...

    async def update(self, obj: Any, *, subresource: str | None = None) -> Any: ...

    async def update_status(self, obj: Any) -> Any: ...

    async def delete(self, resource: Any, name: str, namespace: str | None = None, *,
                     grace_period_seconds: int | None = None, propagation_policy: str | None = None,
                     preconditions: dict | None = None) -> dict: ...


def object_key(obj: Any) -> str:
    """``namespace/name`` (or ``name``), also for a tombstone."""
    return deletion_handling_key(obj)


def unwrap(obj: Any) -> Any:
    """The last known state behind a tombstone."""
    return obj.obj if isinstance(obj, DeletedFinalStateUnknown) else obj


def by_namespace(indexer: Indexer, namespace: str) -> list[dict]:
    return indexer.by_index(NAMESPACE_INDEX, namespace)


class Controller(ABC):
    """A named work queue plus a reconcile function."""

    name = "controller"
    workers: int | None = None   # its own worker count, where upstream fixes one; None: the manager's

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.queue: AsyncWorkQueue[str] = AsyncWorkQueue(WorkQueue(self.name, clock=clock))
        self.syncs = 0
        self.errors = 0

    @abstractmethod
    async def sync(self, key: str) -> None:
        """Reconcile the object ``key`` names from the listers' current state."""

    def on_synced(self) -> None:
        """Called once the informers have listed (a hook for start-up work)."""

    def enqueue(self, obj: Any) -> None:
        self.queue.add(obj if isinstance(obj, str) else object_key(obj))

    def enqueue_after(self, obj: Any, delay: float) -> None:
        self.queue.add_after(obj if isinstance(obj, str) else object_key(obj), delay)

    async def process_next(self, timeout: float | None = None) -> bool:
        """Take one key and reconcile it; False when none came within ``timeout``."""
        key = await self.queue.get(timeout)
        if key is None:
            return False
        try:
            self.syncs += 1
            await self.sync(key)
            self.queue.forget(key)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - every failure is retried with back-off
            self.errors += 1
            if self.queue.num_requeues(key) < MAX_RETRIES:
                if not isinstance(e, errors.ApiError) or e.code >= 500 or errors.is_conflict(e):
                    log.info("%s: syncing %s: %s (retrying)", self.name, key, e)
                else:
                    log.warning("%s: syncing %s: %s (retrying)", self.name, key, e)
                self.queue.add_rate_limited(key)
            else:
                log.error("%s: dropping %s after %d failed syncs: %s", self.name, key, MAX_RETRIES, e)
                self.queue.forget(key)
        finally:
            self.queue.done(key)
        return True

    async def run(self, workers: int, stop: asyncio.Event) -> None:
        """Run ``workers`` concurrent workers until ``stop`` is set."""
        async def worker() -> None:
            while not self.queue.core.shutting_down:
                await self.process_next()
        tasks = [asyncio.create_task(worker()) for _ in range(workers)]
        try:
            await stop.wait()
        finally:
            self.queue.shut_down()
            await cancel_and_wait(tasks)

    async def drain(self, max_syncs: int = 1000) -> int:
        """Reconcile until the queue holds nothing ready (tests); the number of syncs."""
        n = 0
        while n < max_syncs and await self.process_next(timeout=0):
            n += 1
        return n


def labels_of(obj: Mapping[str, Any]) -> dict[str, str]:
    return (obj.get("metadata") or {}).get("labels") or {}


def replicas_of(obj: Mapping[str, Any]) -> int:
    """``spec.replicas`` (1 when unset, as defaulting makes it)."""
    r = (obj.get("spec") or {}).get("replicas")
    return 1 if r is None else int(r)


def spec_selector(obj: Mapping[str, Any]) -> LabelSelector | None:
    """A workload's ``spec.selector``; None when empty or invalid (validation keeps
    those out, and an empty one would claim every object of the namespace)."""
    try:
        sel = label_selector_from_dict((obj.get("spec") or {}).get("selector"), empty_matches_all=False)
    except SelectorError:
        return None
    return None if sel.is_empty() else sel


def int_or_percent(value: Any, total: int, round_up: bool) -> int:
    """An IntOrString (``3`` or ``"25%"``) against ``total``."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    s = str(value)
    if s.endswith("%"):
        pct = int(s[:-1])
        return math.ceil(total * pct / 100) if round_up else math.floor(total * pct / 100)
    return int(s)


_SAFE = "bcdfghjklmnpqrstvwxz2456789"  # upstream's alphabet for generated names


def template_hash(template: dict, collision_count: int | None = None) -> str:
    """A short stable hash of a pod template (FNV-1a 32 over its canonical
    JSON, plus the collision count), in upstream's vowel-free alphabet."""
    data = json.dumps(template, sort_keys=True, separators=(",", ":")).encode()
    if collision_count:
        data += str(collision_count).encode()
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    out = ""
    for _ in range(10):
        h, r = divmod(h, len(_SAFE))
        out += _SAFE[r]
        if not h:
            break
    return out
