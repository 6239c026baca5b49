"""Client-side caches fed by list/watch, following client-go's informer contract.

* :class:`Indexer` is the local store: objects keyed ``namespace/name`` plus named secondary
  indexes (``namespace`` is built in; :func:`field_index_func` / :func:`label_index_func`
  build the usual custom ones).
* :class:`Reflector` keeps a store in step with the API server: a paged list, then a watch
  from the list's resourceVersion, re-watching from the last seen resourceVersion whenever a
  watch ends, re-listing from scratch on 410 Expired, and backing off (with jitter) on errors.
  A re-list *replaces* the store: objects missing from the new list are reported deleted,
  wrapped in :class:`DeletedFinalStateUnknown` because their real final state was missed.
* :class:`SharedInformer` fans the store's changes out to event handlers, one at a time and
  in resourceVersion order, with optional periodic resync.
* :class:`SharedInformerFactory` hands out one informer per (resource, namespace, selectors).

Time is read through an injectable clock and waited through an injectable ``sleep`` so tests
can drive everything on virtual time.
"""
from __future__ import annotations

import asyncio
import inspect
import logging
import random
import time
from dataclasses import dataclass
from typing import Any, AsyncIterator, Awaitable, Callable, Iterable, Mapping, Protocol

from kubeapi.aio import cancel_and_wait
from kubeapi.errors import ApiError, is_expired, is_gone

__all__ = [
    "Backoff",
    "DeletedFinalStateUnknown",
    "Indexer",
    "ListWatchClient",
    "NAMESPACE_INDEX",
    "Reflector",
    "ReflectorStore",
    "SharedInformer",
    "SharedInformerFactory",
    "deletion_handling_key",
    "field_index_func",
    "label_index_func",
    "meta_namespace_key",
    "namespace_index_func",
]

log = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
IndexFunc = Callable[[Mapping[str, Any]], list[str]]
Handler = Callable[..., Any]

NAMESPACE_INDEX = "namespace"
DEFAULT_PAGE_SIZE = 500


class ListWatchClient(Protocol):
    """What an informer needs from an API client (HTTP or in-process implementations)."""

    async def list(self, resource: str, namespace: str | None, *, label_selector: str | None,
                   field_selector: str | None, limit: int, continue_token: str | None,
                   resource_version: str | None) -> dict:
        """One page of a List: ``{"metadata": {"resourceVersion", "continue"}, "items": [...]}``."""
        ...

    async def watch(self, resource: str, namespace: str | None, *, label_selector: str | None,
                    field_selector: str | None, resource_version: str, timeout_seconds: int,
                    allow_bookmarks: bool) -> AsyncIterator[dict]:
        """Watch events ``{"type": ADDED|MODIFIED|DELETED|BOOKMARK|ERROR, "object": ...}``.

        An ``ERROR`` event carries a ``Status``; code 410 means the resourceVersion expired.
        Implementations may be async generators or coroutines returning an async iterator.
        """
        ...


# --------------------------------------------------------------------------- keys and indexes


@dataclass(frozen=True)
class DeletedFinalStateUnknown:
    """A deletion noticed only by a re-list: ``obj`` is the last state the cache saw."""

    key: str
    obj: Any


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def meta_namespace_key(obj: Mapping[str, Any]) -> str:
    """``namespace/name`` for namespaced objects, ``name`` for cluster-scoped ones."""
    meta = _meta(obj)
    name = meta.get("name") or ""
    if not name:
        raise ValueError("object has no metadata.name")
    ns = meta.get("namespace") or ""
    return f"{ns}/{name}" if ns else name


def deletion_handling_key(obj: Any) -> str:
    """Like :func:`meta_namespace_key` but also accepts a :class:`DeletedFinalStateUnknown`."""
    if isinstance(obj, DeletedFinalStateUnknown):
        return obj.key
    return meta_namespace_key(obj)


def _resource_version(obj: Mapping[str, Any] | None) -> str:
    return str(_meta(obj or {}).get("resourceVersion") or "")


def namespace_index_func(obj: Mapping[str, Any]) -> list[str]:
    """The built-in ``namespace`` index (cluster-scoped objects index under ``""``)."""
    return [str(_meta(obj).get("namespace") or "")]


def field_index_func(path: str) -> IndexFunc:
    """Index by a dotted field path such as ``spec.nodeName``; unset or empty values are skipped."""
    parts = path.split(".")

    def index(obj: Mapping[str, Any]) -> list[str]:
        cur: Any = obj
        for p in parts:
            if not isinstance(cur, Mapping):
                return []
            cur = cur.get(p)
        if cur is None or cur == "":
            return []
        if isinstance(cur, (list, tuple)):
            return [str(v) for v in cur]
        return [str(cur)]

    return index


def label_index_func(label_key: str) -> IndexFunc:
    """Index by the value of one label; objects without the label are not indexed."""

    def index(obj: Mapping[str, Any]) -> list[str]:
        labels = _meta(obj).get("labels") or {}
        return [str(labels[label_key])] if label_key in labels else []

    return index


class Indexer:
    """A key -> object store with named secondary indexes. Not thread-safe (one event loop)."""

    def __init__(self, indexers: Mapping[str, IndexFunc] | None = None) -> None:
        self._items: dict[str, Any] = {}
        self._indexers: dict[str, IndexFunc] = {NAMESPACE_INDEX: namespace_index_func}
        self._indices: dict[str, dict[str, set[str]]] = {NAMESPACE_INDEX: {}}
        if indexers:
            self.add_indexers(indexers)

    def add_indexers(self, indexers: Mapping[str, IndexFunc]) -> None:
        """Register more indexes; existing objects are indexed immediately."""
        for name in indexers:
            if name in self._indexers:
                raise ValueError(f"indexer {name!r} already exists")
        for name, fn in indexers.items():
            self._indexers[name] = fn
            self._indices[name] = {}
            for key, obj in self._items.items():
                self._index_one(name, key, obj)

    @property
    def indexer_names(self) -> list[str]:
        return list(self._indexers)

    # -- mutation

    def _index_one(self, name: str, key: str, obj: Any) -> None:
        index = self._indices[name]
        for value in self._indexers[name](obj):
            index.setdefault(value, set()).add(key)

    def _unindex_one(self, name: str, key: str, obj: Any) -> None:
        index = self._indices[name]
        for value in self._indexers[name](obj):
            keys = index.get(value)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del index[value]

    def _put(self, key: str, obj: Any) -> None:
        old = self._items.get(key)
        for name in self._indexers:
            if old is not None:
                self._unindex_one(name, key, old)
            self._index_one(name, key, obj)
        self._items[key] = obj

    def add(self, obj: Mapping[str, Any]) -> None:
        self._put(meta_namespace_key(obj), obj)

    update = add

    def delete(self, obj: Any) -> None:
        self.delete_key(deletion_handling_key(obj))

    def delete_key(self, key: str) -> None:
        old = self._items.pop(key, None)
        if old is not None:
            for name in self._indexers:
                self._unindex_one(name, key, old)

    def replace(self, objs: Iterable[Mapping[str, Any]]) -> None:
        """Make the store hold exactly ``objs``."""
        self._items.clear()
        for name in self._indices:
            self._indices[name] = {}
        for obj in objs:
            self._put(meta_namespace_key(obj), obj)

    # -- reads

    def get(self, key: str) -> Any | None:
        return self._items.get(key)

    get_by_key = get

    def list(self) -> list[Any]:
        return list(self._items.values())

    def list_keys(self) -> list[str]:
        return list(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def _index(self, name: str) -> dict[str, set[str]]:
        try:
            return self._indices[name]
        except KeyError:
            raise KeyError(f"index {name!r} does not exist") from None

    def index_keys(self, name: str, value: str) -> list[str]:
        """Keys of objects whose index ``name`` contains ``value`` (sorted)."""
        return sorted(self._index(name).get(value, ()))

    def by_index(self, name: str, value: str) -> list[Any]:
        """Objects whose index ``name`` contains ``value``, ordered by key."""
        return [self._items[k] for k in self.index_keys(name, value)]

    def index(self, name: str, obj: Mapping[str, Any]) -> list[Any]:
        """Objects sharing any value of index ``name`` with ``obj``."""
        index = self._index(name)
        keys: set[str] = set()
        for value in self._indexers[name](obj):
            keys |= index.get(value, set())
        return [self._items[k] for k in sorted(keys)]

    def list_index_values(self, name: str) -> list[str]:
        return sorted(self._index(name))


# --------------------------------------------------------------------------- back-off


class Backoff:
    """Exponential back-off with jitter and a cap; forgets past failures after quiet time.

    The n-th consecutive delay is ``min(cap, initial * factor**n) * (1 + jitter * rand())``,
    capped again at ``cap``. If ``reset_after`` seconds passed since the last failure the
    sequence restarts at ``initial`` (as client-go's backoff manager does).
    """

    def __init__(self, initial: float = 0.8, cap: float = 30.0, factor: float = 2.0,
                 jitter: float = 1.0, reset_after: float = 120.0, clock: Clock = time.monotonic,
                 rand: Callable[[], float] = random.random) -> None:
        if initial <= 0 or cap < initial or factor < 1 or jitter < 0:
            raise ValueError("need 0 < initial <= cap, factor >= 1 and jitter >= 0")
        self.initial, self.cap, self.factor = initial, cap, factor
        self.jitter, self.reset_after = jitter, reset_after
        self._clock, self._rand = clock, rand
        self._current = initial
        self._last_failure: float | None = None

    def next_delay(self) -> float:
        now = self._clock()
        if self._last_failure is not None and now - self._last_failure > self.reset_after:
            self._current = self.initial
        self._last_failure = now
        base = self._current
        self._current = min(self.cap, self._current * self.factor)
        return min(self.cap, base * (1.0 + self.jitter * self._rand()))

    def reset(self) -> None:
        self._current = self.initial
        self._last_failure = None


# --------------------------------------------------------------------------- reflector


class ReflectorStore(Protocol):
    """Where a :class:`Reflector` delivers what it lists and watches."""

    def replace(self, items: list[dict], resource_version: str) -> None: ...
    def add(self, obj: dict) -> None: ...
    def update(self, obj: dict) -> None: ...
    def delete(self, obj: dict) -> None: ...


def _is_too_old(exc: BaseException) -> bool:
    """410: the resourceVersion (or continue token) is gone; only a fresh list helps."""
    return isinstance(exc, ApiError) and (exc.code == 410 or is_expired(exc) or is_gone(exc))


class _WatchTooShort(Exception):
    """A watch closed at once without delivering anything; treated as an error (backs off)."""


class Reflector:
    """Lists then watches one resource into a :class:`ReflectorStore`, forever.

    List pages use ``limit=page_size``; a page failing with 410 (an expired continue token)
    falls back to one unpaged list. The first list asks for resourceVersion ``"0"`` (any
    cached state), later ones for the last synced resourceVersion, and a list after a 410 for
    the latest state (``None``). Watch errors other than 410 back off and re-watch from the
    last seen resourceVersion; the server answers 410 if that is too old, which triggers a
    re-list.
    """

    def __init__(self, client: ListWatchClient, resource: str, store: ReflectorStore, *,
                 namespace: str | None = None, label_selector: str | None = None,
                 field_selector: str | None = None, page_size: int = DEFAULT_PAGE_SIZE,
                 min_watch_timeout: int = 300, clock: Clock = time.monotonic,
                 sleep: Sleep = asyncio.sleep, rand: Callable[[], float] = random.random,
                 backoff: Backoff | None = None) -> None:
        self.client, self.resource, self.store = client, resource, store
        self.namespace, self.label_selector, self.field_selector = namespace, label_selector, field_selector
        self.page_size = page_size
        self.min_watch_timeout = min_watch_timeout
        self._clock, self._sleep, self._rand = clock, sleep, rand
        self.backoff = backoff or Backoff(clock=clock, rand=rand)
        self.last_sync_resource_version = ""
        self._last_sync_unavailable = False
        self.lists = 0
        self.watches = 0

    def _relist_resource_version(self) -> str | None:
        if self._last_sync_unavailable:
            return None
        return self.last_sync_resource_version or "0"

    async def _list_all(self, resource_version: str | None) -> tuple[list[dict], str]:
        items: list[dict] = []
        token: str | None = None
        list_rv = ""
        while True:
            try:
                page = await self.client.list(
                    self.resource, self.namespace, label_selector=self.label_selector,
                    field_selector=self.field_selector, limit=self.page_size, continue_token=token,
                    resource_version=resource_version if token is None else None)
            except ApiError as e:
                if token is None or not _is_too_old(e):
                    raise
                # The continue token expired mid-list: fall back to one unpaged list.
                page = await self.client.list(
                    self.resource, self.namespace, label_selector=self.label_selector,
                    field_selector=self.field_selector, limit=0, continue_token=None,
                    resource_version=resource_version)
                items = list(page.get("items") or [])
                return items, str(_meta(page).get("resourceVersion") or "")
            items.extend(page.get("items") or [])
            meta = _meta(page)
            list_rv = str(meta.get("resourceVersion") or list_rv)
            token = meta.get("continue") or None
            if not token:
                return items, list_rv

    async def list(self) -> None:
        """One full (paged) list, replacing the store's contents."""
        self.lists += 1
        try:
            items, rv = await self._list_all(self._relist_resource_version())
        except ApiError as e:
            if _is_too_old(e):
                self._last_sync_unavailable = True
            raise
        self.store.replace(items, rv)
        self.last_sync_resource_version = rv
        self._last_sync_unavailable = False

    async def watch(self) -> int:
        """Watch from the last synced resourceVersion until the stream ends; returns #events."""
        self.watches += 1
        timeout = int(self.min_watch_timeout * (1.0 + self._rand()))
        started = self._clock()
        stream: Any = self.client.watch(
            self.resource, self.namespace, label_selector=self.label_selector,
            field_selector=self.field_selector, resource_version=self.last_sync_resource_version,
            timeout_seconds=timeout, allow_bookmarks=True)
        if inspect.isawaitable(stream):
            stream = await stream
        count = 0
        try:
            async for event in stream:
                etype = event.get("type")
                obj = event.get("object") or {}
                if etype == "ERROR":
                    raise ApiError.from_status(obj)
                rv = _resource_version(obj)
                if etype == "BOOKMARK":
                    if rv:
                        self.last_sync_resource_version = rv
                    count += 1
                    continue
                if etype == "ADDED":
                    self.store.add(obj)
                elif etype == "MODIFIED":
                    self.store.update(obj)
                elif etype == "DELETED":
                    self.store.delete(obj)
                else:
                    log.warning("%s: ignoring watch event of unknown type %r", self.resource, etype)
                    continue
                count += 1
                if rv:
                    self.last_sync_resource_version = rv
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                try:
                    await aclose()
                except Exception:  # closing a broken stream must not mask the real outcome
                    log.debug("%s: error closing watch", self.resource, exc_info=True)
        if count == 0 and self._clock() - started < 1.0:
            raise _WatchTooShort(f"{self.resource}: watch closed immediately without events")
        return count

    async def run(self) -> None:
        """List and watch until cancelled; never raises anything but cancellation."""
        need_list = True
        consecutive_expired = 0
        while True:
            try:
                if need_list:
                    await self.list()
                    need_list = False
                    self.backoff.reset()
                if await self.watch():
                    self.backoff.reset()
                consecutive_expired = 0
                continue  # a watch ended normally: re-watch from the last resourceVersion
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - every failure is retried
                if _is_too_old(e):
                    log.info("%s: resourceVersion expired (%s); re-listing", self.resource, e)
                    need_list = True
                    self._last_sync_unavailable = True
                    consecutive_expired += 1
                    if consecutive_expired == 1:
                        continue  # relist at once; back off only if it keeps happening
                else:
                    consecutive_expired = 0
                    log.warning("%s: %s failed: %s", self.resource,
                                "list" if need_list else "watch", e)
            await self._sleep(self.backoff.next_delay())


# --------------------------------------------------------------------------- shared informer


class _Listener:
    __slots__ = ("on_add", "on_update", "on_delete", "removed")

    def __init__(self, on_add: Handler | None, on_update: Handler | None, on_delete: Handler | None) -> None:
        self.on_add, self.on_update, self.on_delete = on_add, on_update, on_delete
        self.removed = False


class SharedInformer:
    """A cache of one resource plus event handlers notified of every change.

    Handlers get ``on_add(obj)``, ``on_update(old, new)`` and ``on_delete(obj)`` (``obj`` may
    be a :class:`DeletedFinalStateUnknown`). They may be plain functions or coroutines; one
    dispatcher runs them one at a time in event (resourceVersion) order, so the cache may be
    ahead of what a handler has seen. A handler's exception is logged and dropped.
    """

    def __init__(self, client: ListWatchClient, resource: str, namespace: str | None = None,
                 label_selector: str | None = None, field_selector: str | None = None,
                 resync_period: float = 0, indexers: Mapping[str, IndexFunc] | None = None, *,
                 clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep,
                 rand: Callable[[], float] = random.random, page_size: int = DEFAULT_PAGE_SIZE,
                 backoff: Backoff | None = None) -> None:
        if resync_period < 0:
            raise ValueError("resync_period must be non-negative")
        self.resource, self.namespace = resource, namespace
        self.resync_period = resync_period
        self.indexer = Indexer(indexers)
        self._clock, self._sleep = clock, sleep
        self._listeners: list[_Listener] = []
        self._queue: asyncio.Queue[tuple[_Listener, str, Any, Any]] = asyncio.Queue()
        self._synced = False
        self._synced_event: asyncio.Event | None = None
        self._started = False
        self._stopped = False
        self.reflector = Reflector(client, resource, self, namespace=namespace,
                                   label_selector=label_selector, field_selector=field_selector,
                                   page_size=page_size, clock=clock, sleep=sleep, rand=rand,
                                   backoff=backoff)

    # -- handlers

    def add_event_handler(self, on_add: Handler | None = None, on_update: Handler | None = None,
                          on_delete: Handler | None = None) -> object:
        """Register handlers; returns a handle for :meth:`remove_event_handler`.

        A handler added after the informer started first gets an ``on_add`` for every object
        already cached, before any later change.
        """
        listener = _Listener(on_add, on_update, on_delete)
        self._listeners.append(listener)
        if self._started:
            for obj in self.indexer.list():
                self._queue.put_nowait((listener, "add", obj, None))
        return listener

    def remove_event_handler(self, handle: object) -> None:
        if isinstance(handle, _Listener) and handle in self._listeners:
            handle.removed = True
            self._listeners.remove(handle)

    def add_indexers(self, indexers: Mapping[str, IndexFunc]) -> None:
        self.indexer.add_indexers(indexers)

    def _notify(self, kind: str, a: Any, b: Any = None) -> None:
        for listener in self._listeners:
            self._queue.put_nowait((listener, kind, a, b))

    # -- ReflectorStore

    def replace(self, items: list[dict], resource_version: str) -> None:
        new_keys = set()
        for obj in items:
            key = meta_namespace_key(obj)
            new_keys.add(key)
            old = self.indexer.get(key)
            self.indexer.add(obj)
            if old is None:
                self._notify("add", obj)
            else:
                self._notify("update", old, obj)
        for key in [k for k in self.indexer.list_keys() if k not in new_keys]:
            old = self.indexer.get(key)
            self.indexer.delete_key(key)
            self._notify("delete", DeletedFinalStateUnknown(key, old))
        if not self._synced:
            self._synced = True
            if self._synced_event is not None:
                self._synced_event.set()

    def add(self, obj: dict) -> None:
        old = self.indexer.get(meta_namespace_key(obj))
        self.indexer.add(obj)
        if old is None:
            self._notify("add", obj)
        else:
            self._notify("update", old, obj)

    update = add

    def delete(self, obj: dict) -> None:
        key = meta_namespace_key(obj)
        self.indexer.delete_key(key)
        self._notify("delete", obj)

    # -- status

    def has_synced(self) -> bool:
        """True once the first full list is in the cache."""
        return self._synced

    @property
    def last_sync_resource_version(self) -> str:
        return self.reflector.last_sync_resource_version

    @property
    def pending_notifications(self) -> int:
        """Notifications queued for handlers but not yet delivered."""
        return self._queue.qsize()

    async def wait_for_sync(self, timeout: float | None = None) -> bool:
        """Wait (real seconds) until :meth:`has_synced`; False on timeout or if stopped."""
        if self._synced:
            return True
        if self._synced_event is None:
            self._synced_event = asyncio.Event()
        try:
            await asyncio.wait_for(self._synced_event.wait(), timeout)
        except TimeoutError:
            return False
        return self._synced

    # -- running

    async def _dispatch(self) -> None:
        while True:
            listener, kind, a, b = await self._queue.get()
            if listener.removed:
                continue
            fn = getattr(listener, "on_" + kind)
            if fn is None:
                continue
            try:
                result = fn(a, b) if kind == "update" else fn(a)
                if inspect.isawaitable(result):
                    await result
            except Exception:  # noqa: BLE001 - a broken handler must not stop the informer
                log.exception("%s: %s handler failed", self.resource, kind)

    async def _resync_loop(self) -> None:
        period = self.resync_period
        deadline = self._clock() + period
        while True:
            await self._sleep(max(0.0, deadline - self._clock()))
            if self._clock() < deadline:
                continue
            deadline += period
            if deadline <= self._clock():  # fell far behind: do not burst
                deadline = self._clock() + period
            for obj in self.indexer.list():
                self._notify("update", obj, obj)

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set. An informer runs once."""
        if self._started:
            raise RuntimeError(f"informer for {self.resource} already started")
        self._started = True
        # Handlers registered before start see the initial list as ordinary adds.
        tasks = [asyncio.create_task(self.reflector.run(), name=f"reflector-{self.resource}"),
                 asyncio.create_task(self._dispatch(), name=f"dispatch-{self.resource}")]
        if self.resync_period > 0:
            tasks.append(asyncio.create_task(self._resync_loop(), name=f"resync-{self.resource}"))
        try:
            await stop.wait()
        finally:
            await cancel_and_wait(tasks)
            self._stopped = True
            if self._synced_event is not None:
                self._synced_event.set()


InformerKey = tuple[str, str | None, str | None, str | None]


class SharedInformerFactory:
    """One :class:`SharedInformer` per (resource, namespace, label selector, field selector)."""

    def __init__(self, client: ListWatchClient, resync_period: float = 0, *,
                 clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep,
                 rand: Callable[[], float] = random.random) -> None:
        self.client = client
        self.resync_period = resync_period
        self._clock, self._sleep, self._rand = clock, sleep, rand
        self._informers: dict[InformerKey, SharedInformer] = {}
        self._tasks: dict[InformerKey, asyncio.Task[None]] = {}

    def informer(self, resource: str, namespace: str | None = None, label_selector: str | None = None,
                 field_selector: str | None = None, *, indexers: Mapping[str, IndexFunc] | None = None,
                 resync_period: float | None = None) -> SharedInformer:
        """The shared informer for this combination, created on first request.

        Extra ``indexers`` are added to an existing informer (names must not clash).
        """
        key = (resource, namespace or None, label_selector or None, field_selector or None)
        inf = self._informers.get(key)
        if inf is None:
            inf = SharedInformer(self.client, resource, key[1], key[2], key[3],
                                 resync_period=self.resync_period if resync_period is None else resync_period,
                                 indexers=indexers, clock=self._clock, sleep=self._sleep, rand=self._rand)
            self._informers[key] = inf
        elif indexers:
            inf.add_indexers({n: f for n, f in indexers.items() if n not in inf.indexer.indexer_names})
        return inf

    def start(self, stop: asyncio.Event) -> None:
        """Start every informer not yet running (call again after requesting new ones)."""
        for key, inf in self._informers.items():
            if key not in self._tasks:
                self._tasks[key] = asyncio.create_task(inf.run(stop))

    async def wait_for_cache_sync(self, timeout: float | None = None) -> dict[InformerKey, bool]:
        """Wait for every started informer's first list; maps each key to whether it synced."""
        keys = list(self._tasks)
        results = await asyncio.gather(*(self._informers[k].wait_for_sync(timeout) for k in keys))
        return dict(zip(keys, results))

    async def shutdown(self) -> None:
        """Wait for started informers to finish (after their stop event was set)."""
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)

