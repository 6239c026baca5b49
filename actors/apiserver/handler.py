"""The apiserver's request pipeline, transport-free.

A :class:`Request` (what an HTTP route or a Ray call decoded) goes through
the stages upstream has, in order: resolve the resource → authenticate and
authorize → decode (fieldValidation Strict / Warn / Ignore) → mutating
admission (defaults, the default service account, a pod's priority from its
PriorityClass) → validating admission (NamespaceLifecycle) → validation →
validating admission of the validated object (one default PriorityClass) →
storage. Every failure is an :class:`kubeapi.errors.ApiError`, answered as its
``Status``.
"""
from __future__ import annotations

import dataclasses
import inspect
import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Awaitable, Callable, Protocol

from pydantic import ValidationError

from kubeapi import errors, managedfields, models
from kubeapi import field as kfield
from kubeapi.defaults import apply_defaults
from kubeapi.models.base import KubeModel, unknown_fields
from kubeapi.names import generate_name
from kubeapi.patch import PatchError, apply_json_patch, apply_merge_patch
from kubeapi.registry import Resource, by_plural
from kubeapi.selectors import SelectorError, parse_field_selector, parse_label_selector, validate_fields
from kubeapi.strategicpatch import StrategicPatchError, apply_strategic_merge_patch
from kubeapi.strategy import canonicalize, generate_job_selector, prepare_for_create
from kubeapi.validation import validate, validate_service
from kubeapi.validation_apps import SYSTEM_PRIORITY_CLASSES

from ..cri.logformat import rfc3339nano
from .allocators import (DEFAULT_NODE_PORT_RANGE, DEFAULT_SERVICE_CIDR, RANGES_PREFIX, Claims, ClaimTaken,
                         ServiceAllocator, Taken, prepare_update)
from .satoken import TokenSigner, new_signing_key
from .serviceaccounts import mount_token, token_request
from .storage import PROPAGATION_POLICIES, ObjectStore

# kind -> model class, from every top-level kind the models package defines
MODELS: dict[tuple[str, str], type[KubeModel]] = {
    (cls.GROUP, cls.KIND): cls
    for cls in vars(models).values()
    if inspect.isclass(cls) and issubclass(cls, KubeModel) and getattr(cls, "KIND", "")
    and not cls.KIND.endswith("List")
}

Authorizer = Callable[["Request"], bool]
# (kubelet actor, node, call, args, kwargs) -> the answer of that kubelet's ``call``
# (logs, follow_logs, exec, exec_stream, exec_cancel); raises ApiError
KubeletCall = Callable[[str, str, str, tuple, dict], Awaitable[Any]]
KUBELET_ANNOTATION = "raykube.io/kubelet"  # on a Node: the actor serving it
# subresources the kubelet answers (proxied to it once it exists)
KUBELET_SUBRESOURCES = ("log", "exec", "attach", "portforward", "proxy")
SERVED_SUBRESOURCES = ("status", "scale", "binding", "eviction", "finalize", "token", *KUBELET_SUBRESOURCES)
# namespaces NamespaceLifecycle admission keeps from deletion
IMMORTAL_NAMESPACES = ("default", "kube-system", "kube-public")


@dataclass
class Request:
    verb: str                       # create get list update patch delete deletecollection
    group: str
    version: str
    resource: str                   # plural
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None
    body: Any = None
    patch_type: str | None = None   # "json" | "merge"
    query: dict[str, str] = field(default_factory=dict)
    user: str = "system:anonymous"
    groups: tuple[str, ...] = ()
    streams: bool = True            # the caller can carry a stream (pods/exec over a WebSocket)


@dataclass
class KubeletStream:
    """A stream the HTTP front carries between its client and a kubelet
    (``kind``: "logs" for ``logs -f``, "exec"); the handler has authorized,
    validated and found the kubelet, whose ``call`` gets ``args``/``options``."""

    kind: str
    actor: str
    node: str
    args: tuple
    options: dict


@dataclass
class Response:
    code: int
    body: dict | str | KubeletStream  # str: plain text (pods/log)
    warnings: list[str] = field(default_factory=list)


def _truthy(value: Any) -> bool:
    return str(value).lower() in ("true", "1")


def _time_ns(value: str) -> int:
    """An RFC 3339 time as Unix nanoseconds (ValueError when it is not one)."""
    t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if t.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone")
    return int(t.timestamp()) * 1_000_000_000 + t.microsecond * 1000


def allow_all(_: Request) -> bool:
    return True


def _to_scale(obj: dict) -> dict:
    meta = obj.get("metadata", {})
    sel = (obj.get("spec") or {}).get("selector") or {}
    selector = ",".join(f"{k}={v}" for k, v in sorted((sel.get("matchLabels") or {}).items()))
    return {"apiVersion": "autoscaling/v1", "kind": "Scale",
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion",
                                               "creationTimestamp") if k in meta},
            "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 0)},
            "status": {"replicas": (obj.get("status") or {}).get("replicas", 0), "selector": selector}}


# (resource, namespace, label selector, field selector) -> (items, revision),
# or None when the cache cannot answer yet
SYSTEM_PRIORITY_CLASS_NAMES = frozenset(pc["metadata"]["name"] for pc in SYSTEM_PRIORITY_CLASSES)
UPDATE_ATTEMPTS = 5  # read-modify-write rounds of an unconditional write before 409 Conflict
CLAIM_ATTEMPTS = 5  # allocations of a Service's values before giving up on other replicas' claims
# (object, claims) -> the stored object
Write = Callable[[dict, Claims | None], Awaitable[dict]]


class CacheReader(Protocol):
    """The apiserver's watch caches, for reads that need not be current:
    None until they have synced."""

    def cached_list(self, res: Resource, namespace: str | None, ls: Any, fs: Any
                    ) -> tuple[list[dict], int] | None: ...

    def cached_get(self, res: Resource, namespace: str | None, name: str) -> dict | None: ...


class APIHandler:
    """The pipeline over one :class:`ObjectStore`.

    ``service_accounts`` turns on the ServiceAccount admission lookup (a pod
    naming a missing account is refused, as upstream): it needs the
    controller that creates each namespace's ``default`` account, so the
    control plane enables it together with that controller. ``cache`` (the
    apiserver's watch caches) serves lists at resourceVersion "0", admission's
    lookups, and the first guess of a binding's read-modify-write.
    Services get their ClusterIP from ``service_cidr`` and their NodePorts
    from ``node_port_range`` (see allocators.py).
    """

    def __init__(self, store: ObjectStore, authorizer: Authorizer = allow_all, *,
                 service_accounts: bool = False, cache: CacheReader | None = None,
                 signer: TokenSigner | None = None, kubelets: KubeletCall | None = None,
                 service_cidr: str = DEFAULT_SERVICE_CIDR,
                 node_port_range: tuple[int, int] = DEFAULT_NODE_PORT_RANGE) -> None:
        self.allocator = ServiceAllocator(service_cidr, node_port_range, store.rng)
        self.kubelets = kubelets
        self.store = store
        self.authorizer = authorizer
        self.service_accounts = service_accounts
        self.cache = cache
        self.signer = signer or TokenSigner(new_signing_key())

    async def lookup(self, plural: str, namespace: str | None, name: str) -> dict | None:
        """One core/v1 object from storage, None when absent."""
        try:
            return await self.store.get(by_plural("", "v1", plural), namespace, name)
        except errors.ApiError as e:
            if errors.is_not_found(e):
                return None
            raise

    async def handle(self, req: Request) -> Response:
        try:
            return await self._handle(req)
        except errors.ApiError as e:
            return Response(e.code, e.status())

    # ------------------------------------------------------------ pipeline
    async def _handle(self, req: Request) -> Response:
        try:
            res = by_plural(req.group, req.version, req.resource)
        except LookupError:
            raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
        if res.namespaced and req.verb in ("create", "get", "update", "patch", "delete") and not req.namespace:
            raise errors.bad_request("a namespace is required for a namespaced resource")
        if not res.namespaced and req.namespace:
            raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
        verbs = res.verbs
        if req.subresource:
            try:
                sub = res.subresource(req.subresource)
            except LookupError:
                sub = None
            if sub is None or req.subresource not in SERVED_SUBRESOURCES:
                raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
            verbs = sub.verbs
        if req.verb not in verbs:
            raise errors.method_not_supported(res.plural, req.verb, res.group)
        if not self.authorizer(req):
            raise errors.forbidden_access(req.user, req.verb, res.plural, res.group,
                                          req.namespace or "", req.name or "")
        if req.subresource == "log" and self.kubelets is not None:
            return await self._log(res, req)
        if req.subresource == "exec" and self.kubelets is not None:
            return await self._exec(res, req)
        if req.subresource in KUBELET_SUBRESOURCES:
            target = await self.store.get(res, req.namespace, req.name or "")
            where = ""
            if res.kind == "Node":
                where = f" for node {req.name}"
            elif res.kind == "Pod":
                node = (target.get("spec") or {}).get("nodeName")
                where = f" for node {node}" if node else f": pod {req.name} is not scheduled to a node"
            raise errors.service_unavailable(
                f"{res.plural}/{req.subresource} is served by the kubelet, and none runs yet{where}")
        if req.subresource == "eviction":
            return await self._evict(res, req)
        if req.subresource == "binding":
            return await self._bind(res, req)
        if req.subresource == "scale":
            return await self._scale(res, req)
        if req.subresource == "token":
            return Response(201, await token_request(self.signer, self.lookup, req.namespace or "", req.name or "",
                                                     req.body, time.time()))
        if req.verb == "get":
            return Response(200, await self.store.get(res, req.namespace, req.name or ""))
        if req.verb == "list":
            return Response(200, await self._list(res, req))
        if req.verb == "create":
            return await self._create(res, req)
        if req.verb == "update":
            return await self._put(res, req)
        if req.verb == "patch":
            return await self._patch(res, req)
        if req.verb == "delete":
            return await self._delete(res, req)
        if req.verb == "deletecollection":
            opts = delete_options(req)
            listed = await self._list(res, req)
            listed["items"] = [o for o in listed["items"] if not self._protected(res, o["metadata"]["name"])]
            if not opts.dry_run:
                for item in listed["items"]:
                    try:
                        await self.store.delete(res, item["metadata"].get("namespace"),
                                                item["metadata"]["name"],
                                                grace_period_seconds=opts.grace_period_seconds,
                                                propagation_policy=opts.propagation_policy)
                    except errors.ApiError as e:
                        if not errors.is_not_found(e):  # gone meanwhile is what we wanted
                            raise
            return Response(200, listed)
        raise errors.method_not_supported(res.plural, req.verb, res.group)

    async def _list(self, res: Resource, req: Request) -> dict:
        q = req.query
        try:
            ls = parse_label_selector(q["labelSelector"]) if q.get("labelSelector") else None
            fs = validate_fields(res.kind, parse_field_selector(q["fieldSelector"])) \
                if q.get("fieldSelector") else None
        except SelectorError as e:
            raise errors.bad_request(str(e)) from None
        try:
            limit = int(q.get("limit") or 0)
        except ValueError:
            raise errors.bad_request(f"invalid limit: {q.get('limit')!r}") from None
        if q.get("resourceVersion") == "0" and not q.get("continue") and self.cache:
            # "any state is fine": the watch cache answers, whole (limit is
            # ignored there, as upstream's cacher does)
            cached = self.cache.cached_list(res, req.namespace, ls, fs)
            if cached is not None:
                items, rev = cached
                return {"apiVersion": res.group_version, "kind": f"{res.kind}List",
                        "metadata": {"resourceVersion": str(rev)}, "items": items}
        return await self.store.list(res, req.namespace, label_selector=ls, field_selector=fs,
                                     limit=limit, continue_token=q.get("continue") or None,
                                     resource_version=q.get("resourceVersion"))

    # --------------------------------------------------------------- decode
    def _decode(self, res: Resource, req: Request, body: Any) -> tuple[KubeModel, list[str]]:
        """The body as the resource's model; unknown fields per fieldValidation."""
        if not isinstance(body, dict):
            raise errors.bad_request("the request body must be a JSON object")
        if body.get("apiVersion", res.group_version) != res.group_version or \
                body.get("kind", res.kind) != res.kind:
            raise errors.bad_request(
                f"the API version in the data ({body.get('apiVersion')}) does not match the expected "
                f"API version ({res.group_version})" if body.get("apiVersion") != res.group_version else
                f"the kind in the data ({body.get('kind')}) does not match the expected kind ({res.kind})")
        ns = (body.get("metadata") or {}).get("namespace")
        if res.namespaced and ns and req.namespace and ns != req.namespace:
            raise errors.bad_request("the namespace of the provided object does not match the "
                                     "namespace sent on the request")
        cls = MODELS.get((res.group, res.kind))
        if cls is None:
            raise errors.internal(f"no model for {res.kind}")
        try:
            obj = cls.from_json(body)
        except ValidationError as e:
            first = e.errors()[0]
            path = ".".join(str(p) for p in first["loc"])
            raise errors.bad_request(f"{res.kind} in version \"{res.version}\" cannot be handled as a "
                                     f"{res.kind}: {path}: {first['msg']}") from None
        unknown = unknown_fields(obj)
        warnings: list[str] = []
        mode = req.query.get("fieldValidation", "Warn")
        if mode not in ("Strict", "Warn", "Ignore"):
            raise errors.bad_request(f"fieldValidation must be Strict, Warn or Ignore, not {mode!r}")
        if unknown:
            if mode == "Strict":
                raise errors.bad_request(
                    f'{res.kind} in version "{res.version}" cannot be handled as a {res.kind}: '
                    "strict decoding error: " + ", ".join(f'unknown field "{p}"' for p in unknown))
            if mode == "Warn":
                warnings = [f'unknown field "{p}"' for p in unknown]
        return obj, warnings

    async def _admit(self, res: Resource, req: Request, obj: KubeModel, creating: bool, *,
                     given_priority: int | None = None) -> None:
        """Admission of a create; ``given_priority`` is the pod's ``spec.priority`` as sent
        (before defaulting filled it in)."""
        if res.namespaced and creating:
            ns_res = by_plural("", "v1", "namespaces")
            try:
                ns = await self.store.get(ns_res, None, req.namespace or "")
            except errors.ApiError as e:
                if errors.is_not_found(e):
                    raise errors.not_found("namespaces", req.namespace or "") from None
                raise
            if (ns.get("status") or {}).get("phase") == "Terminating" or \
                    "deletionTimestamp" in ns.get("metadata", {}):
                raise errors.forbidden(res.plural, obj.metadata.name or "",
                                       f"unable to create new content in namespace {req.namespace} "
                                       f"because it is being terminated", res.group)
        if creating and res.kind == "Pod" and self.service_accounts:
            await self._admit_service_account(req, obj)
        if creating and res.kind == "Pod":
            await self._admit_priority(obj, given_priority)
            admit_default_toleration_seconds(obj)

    async def _admit_validating(self, res: Resource, obj: KubeModel, creating: bool) -> None:
        """Validating admission, which runs on the validated object."""
        if res.kind == "PriorityClass":
            await self._admit_priority_class(obj, creating)

    # ------------------------------------------------------------ Priority
    async def _priority_classes(self, cached: bool) -> list[dict]:
        """All PriorityClasses: from the watch cache when ``cached`` (pod
        admission, as upstream's plugin reads its lister: one read per pod
        create would be a quorum read each), else from storage."""
        res = by_plural("scheduling.k8s.io", "v1", "priorityclasses")
        listed = self.cache.cached_list(res, None, None, None) if cached and self.cache else None
        return listed[0] if listed is not None else (await self.store.list(res))["items"]

    async def _default_priority_class(self, cached: bool = False) -> dict | None:
        """The globalDefault class; should a race have left several, the lowest value wins."""
        defaults = [pc for pc in await self._priority_classes(cached) if pc.get("globalDefault")]
        return min(defaults, key=lambda pc: pc.get("value", 0)) if defaults else None

    async def _priority_class(self, name: str) -> dict:
        """One PriorityClass by name: the watch cache's, or (a class the cache
        has not seen yet) storage's."""
        for pc in await self._priority_classes(True):
            if pc["metadata"]["name"] == name:
                return pc
        return await self.store.get(by_plural("scheduling.k8s.io", "v1", "priorityclasses"), None, name)

    async def _admit_priority(self, pod: Any, given_priority: int | None) -> None:
        """Priority admission of a new pod: ``spec.priority`` and ``spec.preemptionPolicy`` come
        from its PriorityClass (or the global default, or 0 and PreemptLowerPriority); a pod may
        not name a priority or policy of its own that differs."""
        if pod.spec is None:
            return  # validation refuses it
        name = pod.metadata.name or ""
        if not pod.spec.priority_class_name:
            pc = await self._default_priority_class(cached=True)
            if pc is not None:
                pod.spec.priority_class_name = pc["metadata"]["name"]
                priority, policy = pc.get("value", 0), pc.get("preemptionPolicy")
            else:
                priority, policy = 0, "PreemptLowerPriority"
        else:
            try:
                pc = await self._priority_class(pod.spec.priority_class_name)
            except errors.ApiError as e:
                if errors.is_not_found(e):
                    raise errors.forbidden("pods", name, f"no PriorityClass with name "
                                                         f"{pod.spec.priority_class_name} was found") from None
                raise
            priority, policy = pc.get("value", 0), pc.get("preemptionPolicy")
        if given_priority is not None and given_priority != priority:
            raise errors.forbidden("pods", name, f"the integer value of priority ({given_priority}) must not "
                                                 f"be provided in pod spec; priority admission controller "
                                                 f"computed {priority} from the given PriorityClass name")
        pod.spec.priority = priority
        if policy is not None:
            if pod.spec.preemption_policy is not None and pod.spec.preemption_policy != policy:
                raise errors.forbidden("pods", name, f"the string value of PreemptionPolicy "
                                                     f"({pod.spec.preemption_policy}) must not be provided in "
                                                     f"pod spec; priority admission controller computed "
                                                     f"{policy} from the given PriorityClass name")
            pod.spec.preemption_policy = policy

    async def _admit_priority_class(self, pc: Any, creating: bool) -> None:
        """Only one PriorityClass may be the global default."""
        if not pc.global_default:
            return
        current = await self._default_priority_class()
        if current is not None and (creating or current["metadata"]["name"] != pc.metadata.name):
            raise errors.forbidden("priorityclasses", pc.metadata.name or "",
                                   f"PriorityClass {current['metadata']['name']} is already marked as "
                                   f"default. Only one default can exist", "scheduling.k8s.io")

    async def _admit_service_account(self, req: Request, pod: Any) -> None:
        """ServiceAccount admission: the pod's account must exist; its
        imagePullSecrets apply to pods that name none; a token is mounted."""
        name = pod.spec.service_account_name or "default"
        try:
            sa = await self.store.get(by_plural("", "v1", "serviceaccounts"), req.namespace, name)
        except errors.ApiError as e:
            if errors.is_not_found(e):
                raise errors.forbidden("pods", pod.metadata.name or "",
                                       f"error looking up service account {req.namespace}/{name}: "
                                       f"serviceaccount \"{name}\" not found") from None
            raise
        if not pod.spec.image_pull_secrets and sa.get("imagePullSecrets"):
            pod.spec.image_pull_secrets = [models.core.LocalObjectReference.from_json(r)
                                           for r in sa["imagePullSecrets"]]
        mount_token(pod, sa)

    def _validated(self, res: Resource, obj: KubeModel, old: KubeModel | None) -> dict:
        errs = validate_service(obj, old, self.allocator.node_port_range) if res.kind == "Service" \
            else validate(res.kind, obj, old)
        if errs:
            raise errors.invalid(res.kind, obj.metadata.name or "", errs, res.group)
        return obj.to_json()

    # ---------------------------------------------------------------- write
    async def _create(self, res: Resource, req: Request, track: bool = True) -> Response:
        uid = str(uuid.uuid4())
        body = req.body
        if res.kind == "Job" and isinstance(body, dict):
            body = json.loads(json.dumps(body))
            problem = generate_job_selector(body, uid)
            if problem:
                raise errors.invalid("Job", (body.get("metadata") or {}).get("name") or "", [kfield.invalid(
                    "spec.selector", (body.get("spec") or {}).get("selector"), problem)], "batch")
        obj, warnings = self._decode(res, req, body)
        if res.namespaced:
            obj.metadata.namespace = req.namespace
        generated = not obj.metadata.name and bool(obj.metadata.generate_name)
        if generated:  # named before validation, as upstream's BeforeCreate does
            obj.metadata.name = generate_name(obj.metadata.generate_name or "", self.store.rng)
        given_priority = obj.spec.priority if res.kind == "Pod" and obj.spec is not None else None
        apply_defaults(res.kind, obj)
        await self._admit(res, req, obj, creating=True, given_priority=given_priority)
        body = self._validated(res, obj, None)
        await self._admit_validating(res, obj, creating=True)
        prepare_for_create(res.kind, body)
        if track:
            self._track(res, req, None, body)

        async def write(obj: dict, claims: Claims | None) -> dict:
            return await self.store.create(res, req.namespace, obj, uid=uid, name_generated=generated,
                                           claims=claims)
        return Response(201, await self._write(res, req, None, body, write), warnings)

    async def _put(self, res: Resource, req: Request) -> Response:
        """PUT: with a resourceVersion a compare-and-swap (409 when stale);
        without one unconditional, so a race with another writer is retried
        on the newer object, as upstream's GuaranteedUpdate does."""
        body = req.body
        conditional = isinstance(body, dict) and bool((body.get("metadata") or {}).get("resourceVersion"))
        return await _retry_conflicts(lambda: self._update(res, req, body), conditional)

    async def _update(self, res: Resource, req: Request, body: Any, track: bool = True,
                      current: dict | None = None) -> Response:
        """One read-modify-write of ``body`` over ``current`` (read here if not
        given); the write compares ``current``'s revision."""
        if not isinstance(body, dict):
            raise errors.bad_request("the request body must be a JSON object")
        name = (body.get("metadata") or {}).get("name")
        if req.name and name != req.name:
            raise errors.bad_request(f"the name of the object ({name}) does not match the name on "
                                     f"the URL ({req.name})")
        if current is None:
            current = await self.store.get(res, req.namespace, req.name or "")
        cls = MODELS[(res.group, res.kind)]
        old = cls.from_json(current)
        obj, warnings = self._decode(res, req, body)
        if res.namespaced:
            obj.metadata.namespace = req.namespace
        if res.kind == "Pod" and obj.spec is not None and old.spec is not None:
            # what Priority admission set at create stays, when an update leaves it out
            if obj.spec.priority is None:
                obj.spec.priority = old.spec.priority
            if obj.spec.preemption_policy is None:
                obj.spec.preemption_policy = old.spec.preemption_policy
        apply_defaults(res.kind, obj, service_account=False)
        if res.kind == "Service" and req.subresource is None:
            obj = cls.from_json(prepare_update(current, obj.to_json()))
        merged = self._validated(res, obj, old)
        await self._admit_validating(res, obj, creating=False)
        canonicalize(res.kind, merged)
        merged.setdefault("metadata", {})["resourceVersion"] = \
            (body.get("metadata") or {}).get("resourceVersion") or ""
        if track:
            self._track(res, req, current, merged)

        async def write(obj: dict, claims: Claims | None) -> dict:
            return await self.store.update(res, req.namespace, obj, subresource=req.subresource,
                                           current=current, claims=claims)
        return Response(200, await self._write(res, req, current, merged, write), warnings)

    async def _write(self, res: Resource, req: Request, current: dict | None, obj: dict, write: Write) -> dict:
        """Store ``obj`` through ``write`` (not under dryRun=All). A Service's
        spec first gets its ClusterIP and NodePorts (also under dryRun, which
        then claims nothing), against the claims in storage now; should
        another replica claim a chosen value before the write, it is chosen
        again."""
        dry_run = req.query.get("dryRun") == "All"
        if res.kind != "Service" or req.subresource is not None:
            return obj if dry_run else await write(obj, None)
        for _ in range(CLAIM_ATTEMPTS):
            taken = Taken.from_keys(await self.store.keys(RANGES_PREFIX))
            svc = json.loads(json.dumps(obj))
            claims = self.allocator.allocate(svc, current, taken)
            if dry_run:
                return svc
            try:
                return await write(svc, claims)
            except ClaimTaken:
                continue
        raise errors.internal(f"failed to allocate the Service's cluster IP and node ports: other apiservers "
                              f"claimed the chosen values {CLAIM_ATTEMPTS} times")

    def _track(self, res: Resource, req: Request, old: dict | None, new: dict) -> None:
        """Field ownership for writes that name a fieldManager (HTTP writes
        always do); the live entries stay whatever the client sent."""
        manager = req.query.get("fieldManager")
        if old is not None:
            new.setdefault("metadata", {})["managedFields"] = \
                (old.get("metadata") or {}).get("managedFields") or []
        if manager:
            managedfields.track_update(old, new, res.kind, manager, now=self.store.now(),
                                       api_version=res.group_version, subresource=req.subresource)
        elif old is not None and not new["metadata"]["managedFields"]:
            new["metadata"].pop("managedFields")

    async def _apply(self, res: Resource, req: Request) -> Response:
        """Server-side apply: create or merge the configuration, owning its fields."""
        manager = req.query.get("fieldManager")
        if not manager:
            raise errors.bad_request("fieldManager is required for apply requests")
        if not isinstance(req.body, dict):
            raise errors.bad_request("the applied configuration must be an object")
        body = json.loads(json.dumps(req.body))
        if body.get("apiVersion") != res.group_version or body.get("kind") != res.kind:
            raise errors.bad_request(f"the applied configuration must set apiVersion {res.group_version} "
                                     f"and kind {res.kind}")
        meta = body.setdefault("metadata", {})
        meta.setdefault("name", req.name)
        if meta["name"] != req.name:
            raise errors.bad_request(f"the name of the object ({meta['name']}) does not match the name "
                                     f"on the URL ({req.name})")
        given_rv = meta.get("resourceVersion")

        async def attempt() -> Response:
            try:
                live: dict | None = await self.store.get(res, req.namespace, req.name or "")
            except errors.ApiError as e:
                if not errors.is_not_found(e):
                    raise
                live = None
            if given_rv and (live is None or live["metadata"]["resourceVersion"] != given_rv):
                raise errors.conflict(res.plural, req.name or "", group=res.group)
            try:
                new = managedfields.apply(live, json.loads(json.dumps(body)), res.kind, manager,
                                          force=str(req.query.get("force", "")).lower() == "true",
                                          now=self.store.now(), api_version=res.group_version)
            except managedfields.ApplyConflict as e:
                raise errors.apply_conflict(
                    res.plural, req.name or "", str(e),
                    [(c.owner(res.group_version), managedfields.render_path(c.path)) for c in e.conflicts],
                    res.group) from None
            if live is None:
                return await self._create(res, dataclasses.replace(req, verb="create", body=new),
                                          track=False)
            new["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"]
            return await self._update(res, req, new, track=False, current=live)
        # as a patch: re-applied to the newer object when another write got in between
        # (or when a create raced with this one), unless the configuration names a version
        return await _retry_conflicts(attempt, bool(given_rv), also_exists=True)

    async def _patch(self, res: Resource, req: Request) -> Response:
        if req.patch_type == "apply":
            return await self._apply(res, req)
        if req.query.get("force"):
            raise errors.bad_request("force may only be set for apply patches")
        # a patch is applied to the object as it is now; should another write
        # land between read and write, it is applied again to the newer one
        # (a resourceVersion inside the patch then fails the compare, as it should)
        async def attempt() -> Response:
            current = await self.store.get(res, req.namespace, req.name or "")
            patched = apply_patch(current, req, res.kind)
            patched.setdefault("metadata", {}).setdefault("resourceVersion", current["metadata"]["resourceVersion"])
            return await self._update(res, req, patched, current=current)
        return await _retry_conflicts(attempt, False)

    # ---------------------------------------------------------- subresources
    async def _bind(self, res: Resource, req: Request) -> Response:
        """pods/<name>/binding: set spec.nodeName once (the scheduler's write)."""
        body = req.body if isinstance(req.body, dict) else {}
        target = body.get("target") or {}
        node = target.get("name")
        if not node or target.get("kind", "Node") != "Node":
            raise errors.invalid("Binding", req.name or "", [kfield.required(
                "target.name", "a binding needs a target node")])
        name = req.name or ""
        # the watch cache's copy first, as upstream's GuaranteedUpdate starts from
        # its cached object: the write compares its revision, so a stale copy
        # only costs a retry from storage, and a fresh one saves a quorum read
        pod = self.cache.cached_get(res, req.namespace, name) if self.cache else None
        for _ in range(5):
            if pod is None:
                pod = await self.store.get(res, req.namespace, name)
            spec = pod.get("spec") or {}
            if spec.get("nodeName"):
                raise errors.conflict(res.plural, name,
                                      reason=f"pod {name} is already assigned to node "
                                             f"\"{spec['nodeName']}\"")
            if "deletionTimestamp" in pod.get("metadata", {}):
                raise errors.conflict(res.plural, name,
                                      reason=f"pod {name} is being deleted, cannot be assigned to a host")
            try:
                await self.store.update(res, req.namespace, {"metadata": pod["metadata"], "spec": {"nodeName": node}},
                                        subresource="binding", current=pod)
            except errors.ApiError as e:
                if errors.is_conflict(e):
                    pod = None  # raced with another write, or the cache was behind: read storage
                    continue
                raise
            return Response(201, errors.success(code=201))
        raise errors.conflict(res.plural, name)

    async def _kubelet_of(self, res: Resource, req: Request) -> tuple[str, str]:
        """(kubelet actor, node) running pod ``req.name``: named by its Node's
        ``raykube.io/kubelet`` annotation."""
        pod = await self.store.get(res, req.namespace, req.name or "")
        node_name = (pod.get("spec") or {}).get("nodeName")
        if not node_name:
            raise errors.bad_request(f"pod {req.name} does not have a host assigned")
        try:
            node = await self.store.get(by_plural("", "v1", "nodes"), None, node_name)
        except errors.ApiError as e:
            if errors.is_not_found(e):
                raise errors.service_unavailable(f"node {node_name} of pod {req.name} is gone") from None
            raise
        actor = ((node["metadata"].get("annotations") or {}).get(KUBELET_ANNOTATION) or "")
        if not actor:
            raise errors.service_unavailable(f"no kubelet serves node {node_name}")
        return actor, node_name

    async def _log(self, res: Resource, req: Request) -> Response:
        """pods/<name>/log: the container's output, from the kubelet that runs it;
        with ``follow`` a stream the HTTP front carries."""
        q = req.query
        causes = []
        for key in ("tailLines", "sinceSeconds", "limitBytes"):
            v = q.get(key)
            if v is not None and not str(v).isdigit():
                causes.append(kfield.invalid(key, v, "must be a non-negative integer"))
        if q.get("sinceSeconds") is not None and q.get("sinceTime") is not None:
            causes.append(kfield.invalid("sinceSeconds", q["sinceSeconds"], "at most one of sinceTime or "
                                         "sinceSeconds may be specified"))
        since = ""
        if q.get("sinceSeconds") is not None and not causes:
            since = rfc3339nano(time.time_ns() - int(q["sinceSeconds"]) * 1_000_000_000)
        elif q.get("sinceTime"):
            try:
                since = rfc3339nano(_time_ns(str(q["sinceTime"])))
            except ValueError:
                causes.append(kfield.invalid("sinceTime", q["sinceTime"], "must be an RFC 3339 time"))
        if causes:
            raise errors.invalid("PodLogOptions", req.name or "", causes)
        actor, node = await self._kubelet_of(res, req)
        tail = q.get("tailLines")
        options = {"previous": _truthy(q.get("previous")), "tail": int(tail) if tail is not None else None,
                   "timestamps": _truthy(q.get("timestamps")), "since": since}
        args = (req.namespace or "", req.name or "", q.get("container") or "")
        if _truthy(q.get("follow")):
            # the first page now, so a bad container name is an error, not an empty stream
            first = await self.kubelets(actor, node, "follow_logs", args, dict(options, wait=0.0))
            return Response(200, KubeletStream("logs", actor, node, args, {**options, "first": first}))
        text = await self.kubelets(actor, node, "logs", args, options)
        limit = q.get("limitBytes")
        return Response(200, text[:int(limit)] if limit is not None else text)

    async def _exec(self, res: Resource, req: Request) -> Response:
        """pods/<name>/exec: starts the command through the kubelet; the HTTP front
        carries its streams (``Upgrade: websocket``)."""
        q = req.query
        command = q.get("command")
        command = [command] if isinstance(command, str) else list(command or [])
        if not command:
            raise errors.bad_request("you must specify at least 1 command")
        flags = {k: _truthy(q.get(k)) for k in ("stdin", "stdout", "stderr", "tty")}
        if not (flags["stdin"] or flags["stdout"] or flags["stderr"]):
            raise errors.bad_request("you must specify at least 1 of stdin, stdout, stderr")
        actor, node = await self._kubelet_of(res, req)
        args = (req.namespace or "", req.name or "", q.get("container") or "", command)
        if not req.streams:   # say what is wrong with the request first, then that its transport is
            await self.kubelets(actor, node, "exec", args, dict(flags, start=False))
            raise errors.bad_request("pods/exec is served over WebSocket (Upgrade: websocket, "
                                     "subprotocol v5.channel.k8s.io or v4.channel.k8s.io) only")
        session = await self.kubelets(actor, node, "exec", args, flags)
        return Response(200, KubeletStream("exec", actor, node, args, {**flags, "session": session}))

    async def _evict(self, res: Resource, req: Request) -> Response:
        """pods/<name>/eviction: a graceful delete on behalf of a drain (PodDisruptionBudgets
        come with the disruption controller)."""
        body = req.body if isinstance(req.body, dict) else {}
        if body.get("kind", "Eviction") != "Eviction":
            raise errors.bad_request(f"the body must be an Eviction, not {body.get('kind')!r}")
        name = (body.get("metadata") or {}).get("name") or req.name
        if name != req.name:
            raise errors.bad_request("name in URL does not match name in Eviction object")
        opts = delete_options(dataclasses.replace(req, body=body.get("deleteOptions") or {}))
        if not opts.dry_run:
            await self.store.delete(res, req.namespace, req.name or "",
                                    grace_period_seconds=opts.grace_period_seconds,
                                    precondition_uid=opts.uid,
                                    precondition_resource_version=opts.resource_version)
        return Response(201, errors.success(code=201))

    async def _scale(self, res: Resource, req: Request) -> Response:
        """<workload>/<name>/scale as an autoscaling/v1 Scale."""
        obj = await self.store.get(res, req.namespace, req.name or "")
        if req.verb in ("update", "patch"):
            current = _to_scale(obj)
            if req.verb == "patch":
                new = apply_patch(current, req, "Scale")
            else:
                new = req.body if isinstance(req.body, dict) else {}
            replicas = (new.get("spec") or {}).get("replicas")
            if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
                raise errors.invalid("Scale", req.name or "", [kfield.invalid(
                    "spec.replicas", replicas, "must be greater than or equal to 0")], "autoscaling")
            rv = (new.get("metadata") or {}).get("resourceVersion")
            if rv and rv != obj["metadata"]["resourceVersion"]:
                raise errors.conflict(res.plural, req.name or "", group=res.group)
            before = json.loads(json.dumps(obj))
            obj.setdefault("spec", {})["replicas"] = replicas
            self._track(res, req, before, obj)
            obj = await self.store.update(res, req.namespace, obj)
        return Response(200, _to_scale(obj))

    @staticmethod
    def _protected(res: Resource, name: str) -> bool:
        """Objects the apiserver keeps: the system PriorityClasses and namespaces."""
        return res.kind == "PriorityClass" and name in SYSTEM_PRIORITY_CLASS_NAMES or \
            res.kind == "Namespace" and name in IMMORTAL_NAMESPACES

    async def _delete(self, res: Resource, req: Request) -> Response:
        if self._protected(res, req.name or ""):
            why = "this namespace may not be deleted" if res.kind == "Namespace" else \
                "this is a system priority class and cannot be deleted"
            raise errors.forbidden(res.plural, req.name or "", why, res.group)
        opts = delete_options(req)
        if opts.dry_run:
            return Response(200, await self.store.get(res, req.namespace, req.name or ""))

        async def attempt() -> Response:
            obj, _gone = await self.store.delete(res, req.namespace, req.name or "",
                                                 grace_period_seconds=opts.grace_period_seconds,
                                                 precondition_uid=opts.uid,
                                                 precondition_resource_version=opts.resource_version,
                                                 propagation_policy=opts.propagation_policy)
            return Response(200, obj)
        # a delete racing another writer is tried again on the newer object, unless it had preconditions
        return await _retry_conflicts(attempt, bool(opts.uid or opts.resource_version))


DEFAULT_TOLERATION_SECONDS = 300
# the NoExecute taints the node lifecycle controller puts on a failing node
FAILING_NODE_TAINTS = ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")


def admit_default_toleration_seconds(pod: Any) -> None:
    """DefaultTolerationSeconds admission: a pod tolerates its node being
    not-ready or unreachable for 300 s before it is evicted, unless it says
    otherwise (a toleration of that key, or of every key, for NoExecute)."""
    if pod.spec is None:
        return
    tolerations = list(pod.spec.tolerations or [])
    for key in FAILING_NODE_TAINTS:
        if any((t.key in (key, None, "")) and t.effect in ("NoExecute", None, "") for t in tolerations):
            continue
        tolerations.append(models.core.Toleration(key=key, operator="Exists", effect="NoExecute",
                                                  toleration_seconds=DEFAULT_TOLERATION_SECONDS))
    pod.spec.tolerations = tolerations


async def _retry_conflicts(attempt: Callable[[], Awaitable[Response]], conditional: bool, *,
                           also_exists: bool = False) -> Response:
    """Run a read-modify-write ``attempt``; an unconditional one that lost a
    race (409 Conflict, or AlreadyExists when ``also_exists``) is run again
    on the newer state, up to UPDATE_ATTEMPTS times (upstream's GuaranteedUpdate)."""
    for n in range(UPDATE_ATTEMPTS):
        try:
            return await attempt()
        except errors.ApiError as e:
            causes = e.details.causes if e.details is not None else ()
            raced = (errors.is_conflict(e) and not any(c.reason == "FieldManagerConflict" for c in causes)) \
                or (also_exists and errors.is_already_exists(e))
            if conditional or not raced or n == UPDATE_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def apply_patch(current: dict, req: Request, kind: str) -> dict:
    """``current`` with the request's patch applied, by its patch type."""
    try:
        if req.patch_type == "json":
            return apply_json_patch(current, req.body)
        if req.patch_type == "merge":
            return apply_merge_patch(current, req.body)
        if req.patch_type == "strategic":
            return apply_strategic_merge_patch(current, req.body, kind)
    except PatchError as e:
        reason = {400: "BadRequest", 413: "RequestEntityTooLarge"}.get(e.code, "Invalid")
        raise errors.ApiError(e.code, reason, str(e)) from None
    except StrategicPatchError as e:
        raise errors.bad_request(str(e)) from None
    raise errors.unsupported_media_type(f"patch type {req.patch_type!r}")


@dataclass
class DeleteOpts:
    grace_period_seconds: int | None = None
    propagation_policy: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    dry_run: bool = False


def delete_options(req: Request) -> DeleteOpts:
    """DeleteOptions from the body and the query (the body wins), validated
    as upstream's ValidateDeleteOptions."""
    body = req.body if isinstance(req.body, dict) else {}
    q = req.query

    def opt(name: str) -> Any:
        return body[name] if name in body else q.get(name)

    grace = opt("gracePeriodSeconds")
    try:
        grace = int(grace) if grace is not None else None
    except (TypeError, ValueError):
        raise errors.bad_request(f"invalid gracePeriodSeconds: {grace!r}") from None
    orphan = opt("orphanDependents")
    if isinstance(orphan, str):
        orphan = {"true": True, "false": False}.get(orphan.lower(), orphan)
    policy = opt("propagationPolicy")
    errs = []
    if orphan is not None and policy is not None:
        errs.append(kfield.invalid("propagationPolicy", policy,
                                   "orphanDependents and deletionPropagation cannot be both set"))
    if policy is not None and policy not in PROPAGATION_POLICIES:
        errs.append(kfield.not_supported("propagationPolicy", policy, [*PROPAGATION_POLICIES, "nil"]))
    if orphan is not None and not isinstance(orphan, bool):
        errs.append(kfield.invalid("orphanDependents", orphan, "must be a boolean"))
    if grace is not None and grace < 0:
        errs.append(kfield.invalid("gracePeriodSeconds", grace, "must be greater than or equal to 0"))
    dry = opt("dryRun")
    dry_list = dry if isinstance(dry, list) else ([dry] if dry else [])
    if any(d != "All" for d in dry_list):
        errs.append(kfield.not_supported("dryRun", dry_list, ["All"]))
    if errs:
        raise errors.invalid("DeleteOptions", "", errs, "meta.k8s.io")
    if policy is None and orphan is not None:
        policy = "Orphan" if orphan else "Background"
    pre = body.get("preconditions") or {}
    return DeleteOpts(grace, policy, pre.get("uid"), pre.get("resourceVersion"), bool(dry_list))
