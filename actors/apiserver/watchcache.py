"""The apiserver's watch cache: one resource's objects and recent events in memory.

One raftstore watch per resource feeds :meth:`WatchCache.apply`; lists, gets and watches are
then served from memory with the semantics of the upstream cacher:

* raftstore ``PUT``/``DELETE`` events become ``ADDED``/``MODIFIED``/``DELETED``; a ``DELETED``
  carries the object's last state with the deletion revision as its resourceVersion;
* a ring of the last ``capacity`` events lets a watch resume from any resourceVersion still
  in the window; an older one fails with 410 Expired (``too old resource version``), so the
  client re-lists; ``"0"``/``""`` starts with synthetic ``ADDED`` events for the current state;
* per-watcher filtering looks at both the new and the previous state of an object: one that
  stops matching a watch's selector is ``DELETED`` for that watch, one that starts is ``ADDED``;
* live watchers are bounded queues; one that falls too far behind is closed with an ``ERROR``
  410 event instead of slowing the cache down, and watchers that allow bookmarks get a
  ``BOOKMARK`` when nothing was sent to them for ``bookmark_interval`` seconds.

Pure: no I/O and no Ray; the clock is injectable. Objects handed out (lists, gets and event
objects) are shared with the cache and with other watchers and must be treated as read-only.
"""
from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from actors.apiserver.storage import _decode
from kubeapi import errors
from kubeapi.registry import Resource
from kubeapi.selectors import FieldSelector, LabelSelector, object_fields

__all__ = ["WatchCache", "Watcher", "DEFAULT_WATCHER_QUEUE_LIMIT", "DEFAULT_BOOKMARK_INTERVAL"]

DEFAULT_WATCHER_QUEUE_LIMIT = 10_000
DEFAULT_BOOKMARK_INTERVAL = 60.0

ADDED, MODIFIED, DELETED, BOOKMARK, ERROR = "ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"

# What a watcher that fell behind is told: a 410 Expired, on which clients re-list and re-watch.
_SLOW_WATCHER_MESSAGE = "The resourceVersion for the provided watch is too old."


def _text(b: bytes | str) -> str:
    return b.decode() if isinstance(b, (bytes, bytearray)) else b


def _with_rv(obj: dict, rv: int) -> dict:
    """A copy of ``obj`` (metadata copied too) whose resourceVersion is ``rv``."""
    return dict(obj, metadata=dict(obj.get("metadata") or {}, resourceVersion=str(rv)))


def _labels(obj: dict | None) -> dict:
    return ((obj or {}).get("metadata") or {}).get("labels") or {}


def parse_resource_version(resource_version: str | int | None) -> int:
    """``""``/``None`` → 0; otherwise a non-negative integer, or 400 Bad Request."""
    if resource_version in (None, ""):
        return 0
    try:
        rv = int(resource_version)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        rv = -1
    if rv < 0:
        raise errors.bad_request(f"invalid resource version: {resource_version!r}")
    return rv


@dataclass(slots=True)
class _Event:
    """One change in the ring: the new and previous state, labels and fields precomputed."""

    type: str
    key: str
    rv: int
    obj: dict  # the new state; for DELETED the last state at the deletion revision
    prev: dict | None
    labels: dict
    fields: dict
    prev_labels: dict | None
    prev_fields: dict | None


class _Filter:
    """A watch's or list's namespace and selectors."""

    __slots__ = ("prefix", "label_selector", "field_selector")

    def __init__(self, resource: Resource, namespace: str | None,
                 label_selector: LabelSelector | None, field_selector: FieldSelector | None) -> None:
        self.prefix = resource.list_prefix(namespace or None)
        self.label_selector = label_selector if label_selector and (
            label_selector.requirements or label_selector.matches_nothing) else None
        self.field_selector = field_selector if field_selector and not field_selector.is_empty() else None

    def matches(self, key: str, labels: dict, fields: Callable[[], dict] | dict) -> bool:
        if not key.startswith(self.prefix):
            return False
        if self.label_selector is not None and not self.label_selector.matches(labels):
            return False
        if self.field_selector is not None:
            return self.field_selector.matches(fields() if callable(fields) else fields)
        return True

    def convert(self, ev: _Event) -> dict | None:
        """The event this filter's watcher sees for ``ev``, or None (as upstream's cacheWatcher)."""
        cur = ev.type != DELETED and self.matches(ev.key, ev.labels, ev.fields)
        old = ev.prev is not None and self.matches(ev.key, ev.prev_labels or {}, ev.prev_fields or {})
        if cur:
            return {"type": MODIFIED if old else ADDED, "object": ev.obj}
        if not old:
            return None
        if ev.type == DELETED:
            return {"type": DELETED, "object": ev.obj}
        # stopped matching: a DELETED with the previous state at this event's revision
        return {"type": DELETED, "object": _with_rv(ev.prev, ev.rv)}  # type: ignore[arg-type]


class Watcher:
    """One live watch: a bounded queue of events, awaited with :meth:`next`."""

    def __init__(self, cache: WatchCache, flt: _Filter, from_rv: int, allow_bookmarks: bool,
                 limit: int, now: float) -> None:
        self._cache = cache
        self._filter = flt
        self._from_rv = from_rv  # live events at or below this revision are not for us
        self.allow_bookmarks = allow_bookmarks
        self._limit = limit
        self._cur_limit = limit
        self._queue: list[dict] = []
        self._waiter: asyncio.Future | None = None
        self._closed = False
        self._last_sent = now

    @property
    def closed(self) -> bool:
        """True once closed by the client, terminated, or failed; queued events stay readable."""
        return self._closed

    def pending(self) -> int:
        """How many events wait to be read."""
        return len(self._queue)

    async def next(self, timeout: float | None = None) -> list[dict]:
        """Everything queued so far; waits up to ``timeout`` seconds for at least one event.

        Returns ``[]`` on timeout, and at once when the watcher is closed and drained.
        """
        if not self._queue and not self._closed:
            loop = asyncio.get_running_loop()
            self._waiter = loop.create_future()
            try:
                await asyncio.wait_for(asyncio.shield(self._waiter), timeout)
            except asyncio.TimeoutError:
                pass
            finally:
                self._waiter = None
        out, self._queue = self._queue, []
        self._cur_limit = self._limit  # the initial backlog was not counted against the bound
        return out

    def close(self) -> None:
        """Stop the watch; the cache stops sending to it."""
        self._cache._unsubscribe(self)
        self._closed = True
        self._wake()

    # ---------------------------------------------------------------- cache side
    def _wake(self) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    def _push_initial(self, events: list[dict], now: float) -> None:
        self._queue.extend(events)
        self._cur_limit = self._limit + len(events)
        if events:
            self._last_sent = now
            self._wake()

    def _offer(self, ev: _Event, now: float) -> None:
        """Queue ``ev`` if it is for us; terminate the watch when the queue is over its bound."""
        if self._closed or ev.rv <= self._from_rv:
            return
        out = self._filter.convert(ev)
        if out is None:
            return
        if len(self._queue) >= self._cur_limit:
            self._fail(errors.expired(_SLOW_WATCHER_MESSAGE))
            return
        self._queue.append(out)
        self._last_sent = now
        self._wake()

    def _fail(self, err: errors.ApiError) -> None:
        self._queue.append({"type": ERROR, "object": err.status()})
        self.close()

    def _maybe_bookmark(self, cache: WatchCache, now: float, interval: float) -> bool:
        if (self._closed or not self.allow_bookmarks or now - self._last_sent < interval
                or cache.revision < self._from_rv):
            return False
        self._queue.append(cache.bookmark_event(cache.revision))
        self._last_sent = now
        self._wake()
        return True


class WatchCache:
    """The current objects of one resource and a window of its recent events, in memory."""

    def __init__(self, resource: Resource, capacity: int = 1000,
                 clock: Callable[[], float] = time.monotonic, *,
                 watcher_queue_limit: int = DEFAULT_WATCHER_QUEUE_LIMIT,
                 bookmark_interval: float = DEFAULT_BOOKMARK_INTERVAL) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.resource = resource
        self.capacity = capacity
        self.clock = clock
        self.watcher_queue_limit = watcher_queue_limit
        self.bookmark_interval = bookmark_interval
        self._prefix = resource.storage_prefix + "/"
        self._objects: dict[str, dict] = {}
        self._ring: deque[_Event] = deque()
        self._list_rv = 0  # revision of the last replace()
        self._evicted_rv = 0  # revision of the newest event dropped from the ring
        self._watchers: list[Watcher] = []
        self.revision = 0

    # ------------------------------------------------------------------ state
    def replace(self, items: Iterable[dict], revision: int) -> None:
        """Reset to a (re)list: ``items`` as decoded objects at ``revision``.

        The event window restarts empty (watches from before ``revision`` get 410), and live
        watchers are closed, since they may have missed events; they resume by re-watching.
        """
        objects: dict[str, dict] = {}
        for obj in items:
            meta = obj.get("metadata") or {}
            objects[self.resource.key(meta.get("namespace") or None, meta["name"])] = obj
        self._objects = objects
        self._ring.clear()
        self._list_rv = self.revision = revision
        self._evicted_rv = 0
        for w in list(self._watchers):
            w.close()

    def apply(self, events: Iterable[dict]) -> None:
        """Apply raftstore watch events (in revision order) and fan them out to watchers."""
        now = self.clock()
        for raw in events:
            ev = self._convert(raw)
            if ev is None:
                continue
            if len(self._ring) >= self.capacity:
                self._evicted_rv = self._ring.popleft().rv
            self._ring.append(ev)
            for w in list(self._watchers):
                w._offer(ev, now)

    def _convert(self, raw: dict) -> _Event | None:
        kv = raw["kv"]
        key = _text(kv["key"])
        rev = int(kv["mod_revision"])
        if not key.startswith(self._prefix) or rev < self.revision or rev <= self._list_rv:
            return None  # another resource's key, or already reflected in our state
        self.revision = rev
        cached = self._objects.get(key)
        prev_kv = raw.get("prev_kv")
        if raw["type"] == "DELETE":
            last = _decode(prev_kv) if prev_kv else cached
            if last is None:
                return None  # never seen, nothing to tell anyone
            self._objects.pop(key, None)
            prev = cached if cached is not None else last
            obj = _with_rv(last, rev)
            typ = DELETED
        else:
            obj = _decode(kv)
            created = kv.get("create_revision") == rev or (cached is None and not prev_kv)
            typ = ADDED if created else MODIFIED
            # a new object has no previous state, even if a stale one (missed delete) is cached
            if created:
                prev = None
            else:
                prev = cached if cached is not None else (_decode(prev_kv) if prev_kv else None)
            self._objects[key] = obj
        kind = self.resource.kind
        return _Event(typ, key, rev, obj, prev, _labels(obj), object_fields(kind, obj),
                      None if prev is None else _labels(prev),
                      None if prev is None else object_fields(kind, prev))

    # ------------------------------------------------------------------- reads
    def list(self, namespace: str | None = None, label_selector: LabelSelector | None = None,
             field_selector: FieldSelector | None = None) -> tuple[list[dict], int]:
        """The matching current objects sorted by key, and the cache's revision."""
        return self._matching(_Filter(self.resource, namespace, label_selector, field_selector)), \
            self.revision

    def _matching(self, flt: _Filter) -> list[dict]:
        kind = self.resource.kind
        return [obj for key, obj in sorted(self._objects.items())
                if flt.matches(key, _labels(obj), lambda o=obj: object_fields(kind, o))]

    def get(self, namespace: str | None, name: str) -> dict | None:
        """The current object, or None if there is none."""
        return self._objects.get(self.resource.key(namespace or None, name))

    def watch_from(self, resource_version: str | int | None, namespace: str | None = None,
                   label_selector: LabelSelector | None = None,
                   field_selector: FieldSelector | None = None) -> list[dict]:
        """The watch events strictly after ``resource_version`` that match.

        ``"0"``/``""``: synthetic ADDED events for the current state. Older than the window:
        410 Expired. Newer than the cache: ``[]`` (the caller waits for the cache to catch up).
        """
        rv = parse_resource_version(resource_version)
        flt = _Filter(self.resource, namespace, label_selector, field_selector)
        return self._events_since(rv, flt)

    def _events_since(self, rv: int, flt: _Filter) -> list[dict]:
        if rv == 0:
            return [{"type": ADDED, "object": o} for o in self._matching(flt)]
        self._check_not_too_old(rv)
        out: list[dict] = []
        if rv >= self.revision:
            return out
        for ev in self._ring:
            if ev.rv > rv:
                conv = flt.convert(ev)
                if conv is not None:
                    out.append(conv)
        return out

    def _check_not_too_old(self, rv: int) -> None:
        if self._evicted_rv == 0:
            oldest_ok = self._list_rv  # nothing dropped since the (re)list
            reported = oldest_ok
        else:
            first = self._ring[0].rv
            reported = first - 1
            # a revision split across the ring's edge has lost events: not resumable before it
            oldest_ok = first if self._evicted_rv == first else first - 1
        if rv < oldest_ok:
            raise errors.too_old_resource_version(rv, reported)

    # ---------------------------------------------------------------- watching
    def subscribe(self, namespace: str | None = None, label_selector: LabelSelector | None = None,
                  field_selector: FieldSelector | None = None,
                  from_rv: str | int | None = "0", *, allow_bookmarks: bool = False) -> Watcher:
        """A live watch: first :meth:`watch_from` ``from_rv``, then every matching event.

        As upstream, a too-old ``from_rv`` does not raise: the watcher's only event is an
        ERROR carrying the 410 Expired status, and it is closed.
        """
        rv = parse_resource_version(from_rv)
        flt = _Filter(self.resource, namespace, label_selector, field_selector)
        now = self.clock()
        w = Watcher(self, flt, max(rv, self.revision), allow_bookmarks,
                    self.watcher_queue_limit, now)
        try:
            initial = self._events_since(rv, flt)
        except errors.ApiError as e:
            w._fail(e)
            return w
        w._push_initial(initial, now)
        self._watchers.append(w)
        return w

    def _unsubscribe(self, w: Watcher) -> None:
        try:
            self._watchers.remove(w)
        except ValueError:
            pass

    @property
    def watchers(self) -> int:
        """How many live watchers there are."""
        return len(self._watchers)

    def bookmark_event(self, revision: int) -> dict[str, Any]:
        """A BOOKMARK: only the kind, apiVersion and a resourceVersion to resume from."""
        return {"type": BOOKMARK, "object": {
            "kind": self.resource.kind, "apiVersion": self.resource.group_version,
            "metadata": {"resourceVersion": str(revision)}}}

    def tick(self) -> int:
        """Send a bookmark to each bookmark-allowing watcher idle for ``bookmark_interval``.

        Returns how many were sent.
        """
        now = self.clock()
        return sum(w._maybe_bookmark(self, now, self.bookmark_interval) for w in list(self._watchers))
