"""One API client for every component, over any transport.

:class:`Client` speaks the Kubernetes verbs (create, get, list, update,
patch, delete, deletecollection, watch, and the pod ``binding``) with
objects either as plain dicts or as the pydantic models of
:mod:`kubeapi.models` ("typed": pass a model instance, or a model class as the
resource, and models come back). Failures raise :class:`ApiError` carrying
the server's ``Status``.

A :class:`Transport` carries one call to an apiserver: the Ray transport
(actors.apiserver.transport) calls an apiserver actor; the HTTP one comes
with the HTTP server. Watches over a transport are long polls that resume
from the server's cursor, so a watch survives an apiserver restart or a
switch to another replica without losing or repeating events.

The client fits :class:`kubeapi.informer.ListWatchClient` (informers list
and watch through it) and, through :meth:`Client.leases`, the
:class:`kubeapi.leaderelection.LeaseClient` that leader election uses.
"""
from __future__ import annotations

import logging
import time
from typing import Any, AsyncIterator, Callable, Protocol, Union

from kubeapi import errors
from kubeapi.errors import ApiError
from kubeapi.models.base import KubeModel
from kubeapi.registry import Resource, by_kind, resolve

log = logging.getLogger("raykube.client")

ResourceLike = Union[str, Resource, type]
Obj = Union[dict, KubeModel]

# the longest single long poll; a watch's timeout_seconds spans many
POLL_SECONDS = 5.0


class Transport(Protocol):
    """Carries calls to an apiserver (what the apiserver actor's methods take)."""

    async def request(self, verb: str, group: str, version: str, resource: str,
                      namespace: str | None = None, name: str | None = None,
                      subresource: str | None = None, body: Any = None,
                      patch_type: str | None = None, query: dict | None = None) -> dict:
        """``{"code", "body", "warnings"}``."""
        ...

    async def watch(self, group: str, version: str, resource: str, namespace: str | None,
                    resource_version: str, label_selector: str | None,
                    field_selector: str | None, timeout: float, allow_bookmarks: bool) -> dict:
        """One long poll: ``{"code", "events", "resourceVersion"}`` (or ``body``, a Status)."""
        ...


def _model_class(r: ResourceLike) -> type[KubeModel] | None:
    return r if isinstance(r, type) and issubclass(r, KubeModel) else None


def _resource(r: ResourceLike) -> Resource:
    if isinstance(r, Resource):
        return r
    cls = _model_class(r)
    if cls is not None:
        return by_kind(cls.GROUP, cls.VERSION, cls.KIND)
    if isinstance(r, str):
        try:
            return resolve(r)
        except LookupError as e:
            raise errors.ApiError(404, "NotFound", str(e)) from None
    raise TypeError(f"not a resource: {r!r}")


def _resource_of(obj: dict) -> Resource:
    api_version, kind = obj.get("apiVersion") or "", obj.get("kind") or ""
    group, _, version = api_version.rpartition("/")
    try:
        return by_kind(group, version, kind)
    except LookupError:
        raise errors.ApiError(404, "NotFound", f"no resource serves kind {kind!r} "
                                               f"in {api_version!r}") from None


def _as_dict(obj: Obj) -> dict:
    return obj.to_json() if isinstance(obj, KubeModel) else obj


class Client:
    """Kubernetes API calls over a :class:`Transport`."""

    def __init__(self, transport: Transport, *,
                 on_warning: Callable[[str], None] | None = None,
                 poll_seconds: float = POLL_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.transport = transport
        self.on_warning = on_warning or (lambda w: log.warning("apiserver warning: %s", w))
        self.poll_seconds = poll_seconds
        self._clock = clock

    # ------------------------------------------------------------ plumbing
    async def _call(self, verb: str, res: Resource, namespace: str | None = None,
                    name: str | None = None, *, subresource: str | None = None, body: Any = None,
                    patch_type: str | None = None, query: dict | None = None) -> dict:
        r = await self.transport.request(verb, res.group, res.version, res.plural,
                                         namespace if res.namespaced else None, name, subresource,
                                         body, patch_type, {k: v for k, v in (query or {}).items()
                                                            if v is not None})
        for w in r.get("warnings") or ():
            self.on_warning(w)
        if r["code"] >= 300:
            raise ApiError.from_status(r["body"])
        return r["body"]

    @staticmethod
    def _typed(out: dict, cls: type[KubeModel] | None) -> Obj:
        return cls.from_json(out) if cls is not None else out

    # --------------------------------------------------------------- verbs
    async def create(self, obj: Obj, namespace: str | None = None, *,
                     dry_run: bool = False, field_validation: str | None = None) -> Obj:
        """Create ``obj`` (its apiVersion and kind pick the resource)."""
        body = _as_dict(obj)
        res = _resource_of(body)
        ns = namespace or (body.get("metadata") or {}).get("namespace")
        out = await self._call("create", res, ns, body=body,
                               query={"dryRun": "All" if dry_run else None,
                                      "fieldValidation": field_validation})
        return self._typed(out, type(obj) if isinstance(obj, KubeModel) else None)

    async def get(self, resource: ResourceLike, name: str, namespace: str | None = None, *,
                  resource_version: str | None = None) -> Obj:
        res = _resource(resource)
        out = await self._call("get", res, namespace, name, query={"resourceVersion": resource_version})
        return self._typed(out, _model_class(resource))

    async def list(self, resource: ResourceLike, namespace: str | None = None, *,
                   label_selector: str | None = None, field_selector: str | None = None,
                   limit: int = 0, continue_token: str | None = None,
                   resource_version: str | None = None) -> dict:
        """One page of a list: ``{"metadata": {"resourceVersion", "continue"}, "items"}``
        (items are models when ``resource`` is a model class)."""
        res = _resource(resource)
        out = await self._call("list", res, namespace, query={
            "labelSelector": label_selector, "fieldSelector": field_selector,
            "limit": str(limit) if limit else None, "continue": continue_token,
            "resourceVersion": resource_version})
        cls = _model_class(resource)
        if cls is not None:
            out = dict(out, items=[cls.from_json(i) for i in out.get("items") or []])
        return out

    async def update(self, obj: Obj, *, subresource: str | None = None,
                     dry_run: bool = False, field_validation: str | None = None) -> Obj:
        """Replace ``obj``; a compare-and-swap when it carries a resourceVersion."""
        body = _as_dict(obj)
        res = _resource_of(body)
        meta = body.get("metadata") or {}
        out = await self._call("update", res, meta.get("namespace"), meta.get("name"),
                               subresource=subresource, body=body,
                               query={"dryRun": "All" if dry_run else None,
                                      "fieldValidation": field_validation})
        return self._typed(out, type(obj) if isinstance(obj, KubeModel) else None)

    async def update_status(self, obj: Obj) -> Obj:
        return await self.update(obj, subresource="status")

    async def patch(self, resource: ResourceLike, name: str, patch: Any, namespace: str | None = None, *,
                    patch_type: str = "merge", subresource: str | None = None,
                    dry_run: bool = False) -> Obj:
        """A JSON merge patch (``patch_type="merge"``) or JSON Patch (``"json"``)."""
        res = _resource(resource)
        out = await self._call("patch", res, namespace, name, subresource=subresource, body=patch,
                               patch_type=patch_type, query={"dryRun": "All" if dry_run else None})
        return self._typed(out, _model_class(resource))

    async def delete(self, resource: ResourceLike, name: str, namespace: str | None = None, *,
                     grace_period_seconds: int | None = None, propagation_policy: str | None = None,
                     preconditions: dict | None = None, dry_run: bool = False) -> dict:
        """Delete; returns the object as deleted (or as marked for deletion)."""
        res = _resource(resource)
        return await self._call("delete", res, namespace, name,
                                body=self._delete_options(grace_period_seconds, propagation_policy,
                                                          preconditions, dry_run))

    async def delete_collection(self, resource: ResourceLike, namespace: str | None = None, *,
                                label_selector: str | None = None, field_selector: str | None = None,
                                grace_period_seconds: int | None = None,
                                propagation_policy: str | None = None) -> dict:
        res = _resource(resource)
        return await self._call("deletecollection", res, namespace,
                                body=self._delete_options(grace_period_seconds, propagation_policy),
                                query={"labelSelector": label_selector, "fieldSelector": field_selector})

    @staticmethod
    def _delete_options(grace: int | None, policy: str | None, preconditions: dict | None = None,
                        dry_run: bool = False) -> dict:
        opts: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions"}
        if grace is not None:
            opts["gracePeriodSeconds"] = grace
        if policy is not None:
            opts["propagationPolicy"] = policy
        if preconditions:
            opts["preconditions"] = preconditions
        if dry_run:
            opts["dryRun"] = ["All"]
        return opts

    async def bind(self, namespace: str, pod: str, node: str) -> dict:
        """Assign a pod to a node through ``pods/<pod>/binding`` (the scheduler's write)."""
        res = _resource("pods")
        return await self._call("create", res, namespace, pod, subresource="binding", body={
            "apiVersion": "v1", "kind": "Binding", "metadata": {"name": pod, "namespace": namespace},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node}})

    # --------------------------------------------------------------- watch
    async def watch(self, resource: ResourceLike, namespace: str | None = None, *,
                    resource_version: str | None = None, label_selector: str | None = None,
                    field_selector: str | None = None, timeout_seconds: float = 300,
                    allow_bookmarks: bool = False) -> AsyncIterator[dict]:
        """Watch events ``{"type", "object"}`` after ``resource_version`` until
        ``timeout_seconds`` pass or an ERROR event (410 when the version is too
        old) ends the stream. ``""``/``"0"`` starts with the current state."""
        res = _resource(resource)
        cls = _model_class(resource)
        cursor = resource_version or "0"
        deadline = self._clock() + timeout_seconds
        while True:
            left = deadline - self._clock()
            if left <= 0:
                return
            r = await self.transport.watch(res.group, res.version, res.plural,
                                           namespace if res.namespaced else None, cursor,
                                           label_selector, field_selector,
                                           min(self.poll_seconds, left), allow_bookmarks)
            if r["code"] >= 300:
                raise ApiError.from_status(r["body"])
            for ev in r["events"]:
                if cls is not None and ev["type"] in ("ADDED", "MODIFIED", "DELETED"):
                    ev = {"type": ev["type"], "object": cls.from_json(ev["object"])}
                yield ev
                if ev["type"] == "ERROR":
                    return
            cursor = r.get("resourceVersion") or cursor

    # ------------------------------------------------------------- leases
    def leases(self) -> LeaseAPI:
        """The Lease calls leader election needs."""
        return LeaseAPI(self)


class LeaseAPI:
    """:class:`kubeapi.leaderelection.LeaseClient` over a :class:`Client`."""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def get(self, namespace: str, name: str) -> dict:
        return await self.client.get("leases.coordination.k8s.io", name, namespace)  # type: ignore[return-value]

    async def create(self, lease: dict) -> dict:
        return await self.client.create(dict(lease, apiVersion="coordination.k8s.io/v1", kind="Lease"))  # type: ignore[return-value]

    async def update(self, lease: dict) -> dict:
        return await self.client.update(dict(lease, apiVersion="coordination.k8s.io/v1", kind="Lease"))  # type: ignore[return-value]
