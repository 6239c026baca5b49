"""The resource registry: which resources the apiserver serves, and the discovery documents.

One table (:data:`REGISTRY`) says, for every resource, its group/version/kind, names, scope,
verbs, subresources, categories, server-side printing columns and etcd prefix. Routing,
storage keys, ``kubectl get`` tables and both discovery flavours are all derived from it, so
they cannot drift apart. Names, verbs, subresources and etcd prefixes follow upstream
(v1.32), because kubectl caches discovery and acts on it literally: a missing verb hides a
command, a missing ``all`` category hides a resource from ``kubectl get all``.

Pure and synchronous: no I/O, no Ray.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Mapping

__all__ = [
    "AGGREGATED_DISCOVERY_CONTENT_TYPE",
    "Column",
    "REGISTRY",
    "Resource",
    "Subresource",
    "aggregated_discovery",
    "api_group_list",
    "api_resource_list",
    "api_versions",
    "by_kind",
    "by_plural",
    "human_duration",
    "resolve",
]

#: kubectl rejects aggregated discovery served under any other Content-Type.
AGGREGATED_DISCOVERY_CONTENT_TYPE = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

ALL_VERBS: tuple[str, ...] = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
STATUS_VERBS: tuple[str, ...] = ("get", "patch", "update")
PROXY_VERBS: tuple[str, ...] = ("create", "delete", "get", "patch", "update")

Obj = Mapping[str, Any]
CellFn = Callable[[Obj, datetime], Any]


# --------------------------------------------------------------------------- data types


@dataclass(frozen=True)
class Subresource:
    """A ``<resource>/<name>`` endpoint; group/version empty means the parent's own."""

    name: str
    kind: str
    verbs: tuple[str, ...]
    group: str = ""
    version: str = ""


@dataclass(frozen=True)
class Column:
    """One ``meta.k8s.io/v1`` Table column; ``source`` is a dotted path or ``fn(obj, now)``.

    ``priority`` > 0 columns only show with ``-o wide``, exactly as upstream's printers.
    """

    name: str
    type: str
    format: str
    description: str
    priority: int
    source: str | CellFn

    def definition(self) -> dict[str, Any]:
        """The wire ``TableColumnDefinition``."""
        return {"name": self.name, "type": self.type, "format": self.format,
                "description": self.description, "priority": self.priority}

    def cell(self, obj: Obj, now: datetime | None = None) -> Any:
        """The formatted cell for ``obj`` (a wire-format dict), as kubectl prints it."""
        now = now or datetime.now(timezone.utc)
        if callable(self.source):
            return self.source(obj, now)
        value = _get(obj, self.source)
        if self.type == "integer":
            return int(value or 0)
        return "<none>" if value in (None, "") else value


@dataclass(frozen=True)
class Resource:
    """Everything the apiserver and kubectl need to know about one resource."""

    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    subresources: tuple[Subresource, ...] = ()
    categories: tuple[str, ...] = ()
    columns: tuple[Column, ...] = ()
    # etcd path under /registry when upstream's differs from the plural (nodes → minions).
    storage_path: str = ""
    # False for virtual resources (bindings) that are only ever created, never stored.
    stored: bool = True

    @property
    def group_version(self) -> str:
        """``v1`` for core, ``apps/v1`` otherwise: the apiVersion of this resource's objects."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_resource(self) -> str:
        """``pods`` or ``deployments.apps``: how upstream names a resource in error messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def storage_prefix(self) -> str:
        """The etcd prefix every object of this resource lives under (upstream's layout)."""
        return "/registry/" + (self.storage_path or self.plural)

    def key(self, namespace: str | None, name: str) -> str:
        """The storage key of one object; the namespace is required exactly when namespaced."""
        if not name:
            raise ValueError(f"{self.group_resource}: a name is required for a storage key")
        return f"{self.list_prefix(namespace)}{name}"

    def list_prefix(self, namespace: str | None = None) -> str:
        """The key prefix (with trailing ``/``) a list or watch ranges over; None means all namespaces."""
        if not self.namespaced:
            if namespace:
                raise ValueError(f"{self.group_resource} is cluster-scoped; got namespace {namespace!r}")
            return self.storage_prefix + "/"
        if namespace is None:
            return self.storage_prefix + "/"
        if not namespace:
            raise ValueError(f"{self.group_resource} is namespaced; a namespace is required")
        return f"{self.storage_prefix}/{namespace}/"

    def subresource(self, name: str) -> Subresource:
        """The named subresource, or LookupError as a 404 would say."""
        for sub in self.subresources:
            if sub.name == name:
                return sub
        raise LookupError(f'the server could not find the requested resource "{self.plural}/{name}"')

    def table_columns(self, wide: bool = False) -> tuple[Column, ...]:
        """The columns kubectl shows: all of them with ``-o wide``, else priority 0 only."""
        return self.columns if wide else tuple(c for c in self.columns if c.priority == 0)


# --------------------------------------------------------------------------- cell helpers


def _get(obj: Obj, path: str) -> Any:
    """Follow a dotted path through nested dicts; None if any step is missing."""
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(part)
    return cur


def human_duration(seconds: float) -> str:
    """Upstream's ``duration.HumanDuration``: the compact ages kubectl prints (``5m``, ``3d4h``)."""
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    s = int(seconds)
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m" if s % 60 == 0 else f"{minutes}m{s % 60}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours // 24}d{hours % 24}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if days == 0 else f"{hours // 24 // 365}y{days}d"
    return f"{hours // 24 // 365}y"


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _since(path: str) -> CellFn:
    def cell(obj: Obj, now: datetime) -> str:
        t = _parse_time(_get(obj, path))
        return "<unknown>" if t is None else human_duration((now - t).total_seconds())
    return cell


_age = _since("metadata.creationTimestamp")


def _count(path: str) -> CellFn:
    return lambda obj, now: len(_get(obj, path) or ())


def _int(path: str) -> CellFn:
    return lambda obj, now: int(_get(obj, path) or 0)


def _joined(path: str, key: str) -> CellFn:
    """Comma-joined ``key`` of every item of a list (container names, images)."""
    return lambda obj, now: ",".join(str(i.get(key, "")) for i in (_get(obj, path) or ())) or "<none>"


def _map_selector(m: Mapping[str, str] | None) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted((m or {}).items())) or "<none>"


def _label_selector(path: str) -> CellFn:
    """A LabelSelector printed as upstream's ``metav1.FormatLabelSelector``."""
    def cell(obj: Obj, now: datetime) -> str:
        sel = _get(obj, path)
        if sel is None:
            return "<none>"
        parts = [f"{k}={v}" for k, v in sorted((sel.get("matchLabels") or {}).items())]
        for req in sel.get("matchExpressions") or ():
            op, vals = req.get("operator"), ",".join(req.get("values") or ())
            if op == "In":
                parts.append(f"{req['key']} in ({vals})")
            elif op == "NotIn":
                parts.append(f"{req['key']} notin ({vals})")
            elif op == "Exists":
                parts.append(req["key"])
            elif op == "DoesNotExist":
                parts.append(f"!{req['key']}")
            else:
                parts.append(f"{req['key']} {op} ({vals})")
        return ",".join(parts) or "<none>"
    return cell


def _template_containers(key: str) -> CellFn:
    return _joined("spec.template.spec.containers", key)


def _pod_ready(obj: Obj, now: datetime) -> str:
    total = len(_get(obj, "spec.containers") or ())
    ready = sum(1 for c in _get(obj, "status.containerStatuses") or () if c.get("ready"))
    return f"{ready}/{total}"


def _pod_status(obj: Obj, now: datetime) -> str:
    """The STATUS column: phase, overridden by init/container reasons and termination."""
    reason = _get(obj, "status.reason") or _get(obj, "status.phase") or ""
    inits = _get(obj, "status.initContainerStatuses") or ()
    initializing = False
    for i, c in enumerate(inits):
        state = c.get("state") or {}
        term, wait = state.get("terminated"), state.get("waiting")
        if term and term.get("exitCode") == 0:
            continue
        if term:
            reason = "Init:" + (term.get("reason") or (f"Signal:{term['signal']}" if term.get("signal")
                                                      else f"ExitCode:{term.get('exitCode')}"))
        elif wait and wait.get("reason") and wait["reason"] != "PodInitializing":
            reason = "Init:" + wait["reason"]
        else:
            reason = f"Init:{i}/{len(_get(obj, 'spec.initContainers') or inits)}"
        initializing = True
        break
    if not initializing:
        has_running = False
        for c in reversed(_get(obj, "status.containerStatuses") or ()):
            state = c.get("state") or {}
            wait, term = state.get("waiting"), state.get("terminated")
            if wait and wait.get("reason"):
                reason = wait["reason"]
            elif term and term.get("reason"):
                reason = term["reason"]
            elif term:
                reason = f"Signal:{term['signal']}" if term.get("signal") else f"ExitCode:{term.get('exitCode')}"
            elif state.get("running") and c.get("ready"):
                has_running = True
        if reason == "Completed" and has_running:
            reason = "Running"
    if _get(obj, "metadata.deletionTimestamp"):
        reason = "Unknown" if _get(obj, "status.reason") == "NodeLost" else "Terminating"
    return reason


def _pod_restarts(obj: Obj, now: datetime) -> str:
    statuses = list(_get(obj, "status.containerStatuses") or ())
    restarts = sum(int(c.get("restartCount") or 0) for c in statuses)
    last = None
    for c in statuses:
        t = _parse_time(_get(c, "lastState.terminated.finishedAt"))
        if t is not None and (last is None or t > last):
            last = t
    if restarts and last is not None:
        return f"{restarts} ({human_duration((now - last).total_seconds())} ago)"
    return str(restarts)


def _pod_readiness_gates(obj: Obj, now: datetime) -> str:
    gates = [g.get("conditionType") for g in _get(obj, "spec.readinessGates") or ()]
    if not gates:
        return "<none>"
    true = {c.get("type") for c in _get(obj, "status.conditions") or () if c.get("status") == "True"}
    return f"{sum(1 for g in gates if g in true)}/{len(gates)}"


def _node_status(obj: Obj, now: datetime) -> str:
    ready = next((c for c in _get(obj, "status.conditions") or () if c.get("type") == "Ready"), None)
    status = "Unknown" if ready is None else ("Ready" if ready.get("status") == "True" else "NotReady")
    return status + (",SchedulingDisabled" if _get(obj, "spec.unschedulable") else "")


def _node_roles(obj: Obj, now: datetime) -> str:
    roles = set()
    for k, v in (_get(obj, "metadata.labels") or {}).items():
        if k.startswith("node-role.kubernetes.io/") and k[len("node-role.kubernetes.io/"):]:
            roles.add(k[len("node-role.kubernetes.io/"):])
        elif k == "kubernetes.io/role" and v:
            roles.add(v)
    return ",".join(sorted(roles)) or "<none>"


def _node_address(kind: str) -> CellFn:
    def cell(obj: Obj, now: datetime) -> str:
        for a in _get(obj, "status.addresses") or ():
            if a.get("type") == kind:
                return a.get("address") or "<none>"
        return "<none>"
    return cell


def _service_external_ip(obj: Obj, now: datetime) -> str:
    spec = obj.get("spec") or {}
    typ, external = spec.get("type") or "ClusterIP", list(spec.get("externalIPs") or ())
    if typ == "ExternalName":
        return spec.get("externalName") or "<none>"
    if typ == "LoadBalancer":
        ingress = [i.get("ip") or i.get("hostname") for i in _get(obj, "status.loadBalancer.ingress") or ()]
        ips = [i for i in ingress if i] + external
        return ",".join(ips) if ips else "<pending>"
    return ",".join(external) or "<none>"


def _service_ports(obj: Obj, now: datetime) -> str:
    out = []
    for p in _get(obj, "spec.ports") or ():
        node = f":{p['nodePort']}" if p.get("nodePort") else ""
        out.append(f"{p.get('port')}{node}/{p.get('protocol') or 'TCP'}")
    return ",".join(out) or "<none>"


def _endpoints_addresses(obj: Obj, now: datetime) -> str:
    out = []
    for subset in obj.get("subsets") or ():
        ports = subset.get("ports") or [{}]
        for addr in subset.get("addresses") or ():
            for p in ports:
                out.append(f"{addr.get('ip')}:{p['port']}" if p.get("port") else str(addr.get("ip")))
    if not out:
        return "<none>"
    return ",".join(out[:3]) + (f" + {len(out) - 3} more..." if len(out) > 3 else "")


def _slice_ports(obj: Obj, now: datetime) -> str:
    ports = [str(p.get("port")) for p in obj.get("ports") or () if p.get("port") is not None]
    return ",".join(ports) or "<unset>"


def _slice_endpoints(obj: Obj, now: datetime) -> str:
    addrs = [a for e in obj.get("endpoints") or () for a in e.get("addresses") or ()]
    if not addrs:
        return "<unset>"
    return ",".join(addrs[:3]) + (f" + {len(addrs) - 3} more..." if len(addrs) > 3 else "")


def _ready_of(ready_path: str, want_path: str) -> CellFn:
    return lambda obj, now: f"{int(_get(obj, ready_path) or 0)}/{int(_get(obj, want_path) or 0)}"


def _map_cell(path: str) -> CellFn:
    return lambda obj, now: _map_selector(_get(obj, path))


def _job_status(obj: Obj, now: datetime) -> str:
    conds = {c.get("type"): c.get("status") for c in _get(obj, "status.conditions") or ()}
    for typ, label in (("Failed", "Failed"), ("Complete", "Complete"), ("Suspended", "Suspended"),
                       ("FailureTarget", "FailureTarget"), ("SuccessCriteriaMet", "SuccessCriteriaMet")):
        if conds.get(typ) == "True":
            return label
    return "Terminating" if _get(obj, "metadata.deletionTimestamp") else "Running"


def _job_completions(obj: Obj, now: datetime) -> str:
    succeeded = int(_get(obj, "status.succeeded") or 0)
    completions = _get(obj, "spec.completions")
    if completions is not None:
        return f"{succeeded}/{completions}"
    return f"{succeeded}/1 of {_get(obj, 'spec.parallelism') or 1}"


def _job_duration(obj: Obj, now: datetime) -> str:
    start = _parse_time(_get(obj, "status.startTime"))
    if start is None:
        return ""
    end = _parse_time(_get(obj, "status.completionTime")) or now
    return human_duration((end - start).total_seconds())


def _binding_role(obj: Obj, now: datetime) -> str:
    return f"{_get(obj, 'roleRef.kind')}/{_get(obj, 'roleRef.name')}"


def _subjects(kind: str) -> CellFn:
    def cell(obj: Obj, now: datetime) -> str:
        out = []
        for s in obj.get("subjects") or ():
            if s.get("kind") != kind:
                continue
            ns = s.get("namespace")
            out.append(f"{ns}/{s.get('name')}" if kind == "ServiceAccount" and ns else str(s.get("name")))
        return ",".join(out)
    return cell


def _event_object(obj: Obj, now: datetime) -> str:
    return f"{str(_get(obj, 'involvedObject.kind') or '').lower()}/{_get(obj, 'involvedObject.name')}"


def _event_source(obj: Obj, now: datetime) -> str:
    comp, host = _get(obj, "source.component") or "", _get(obj, "source.host") or ""
    return ", ".join(x for x in (comp, host) if x)


def _event_last_seen(obj: Obj, now: datetime) -> str:
    for path in ("lastTimestamp", "eventTime", "metadata.creationTimestamp"):
        if _get(obj, path):
            return _since(path)(obj, now)
    return "<unknown>"


def _created_at(obj: Obj, now: datetime) -> str:
    return _get(obj, "metadata.creationTimestamp") or "<unknown>"


# --------------------------------------------------------------------------- column sets

_NAME_DESC = "Name must be unique within a namespace."
_AGE_DESC = "CreationTimestamp is a timestamp representing the server time when this object was created."


def _col(name: str, source: str | CellFn, desc: str, type_: str = "string", priority: int = 0,
         fmt: str = "") -> Column:
    return Column(name, type_, fmt, desc, priority, source)


NAME = _col("Name", "metadata.name", _NAME_DESC, fmt="name")
AGE = _col("Age", _age, _AGE_DESC)


def _workload_wide(selector: bool = True) -> tuple[Column, ...]:
    cols = (_col("Containers", _template_containers("name"), "Names of each container in the template.", priority=1),
            _col("Images", _template_containers("image"), "Images referenced by each container in the template.",
                 priority=1))
    if selector:
        cols += (_col("Selector", _label_selector("spec.selector"), "Label selector for pods.", priority=1),)
    return cols


POD_COLUMNS = (
    NAME,
    _col("Ready", _pod_ready, "The aggregate readiness state of this pod for accepting traffic."),
    _col("Status", _pod_status, "The aggregate status of the containers in this pod."),
    _col("Restarts", _pod_restarts, "The number of times the containers in this pod have been restarted "
         "and when the last container in this pod has restarted."),
    AGE,
    _col("IP", "status.podIP", "IP address allocated to the pod.", priority=1),
    _col("Node", "spec.nodeName", "Name of the node the pod is scheduled on.", priority=1),
    _col("Nominated Node", "status.nominatedNodeName", "Name of the node the pod is nominated for.", priority=1),
    _col("Readiness Gates", _pod_readiness_gates, "Pod readiness gates.", priority=1),
)

DEPLOYMENT_COLUMNS = (
    NAME,
    _col("Ready", _ready_of("status.readyReplicas", "spec.replicas"), "Number of the pod with ready state"),
    _col("Up-to-date", "status.updatedReplicas", "Total number of non-terminated pods targeted by this "
         "deployment that have the desired template spec.", "integer"),
    _col("Available", "status.availableReplicas", "Total number of available pods (ready for at least "
         "minReadySeconds) targeted by this deployment.", "integer"),
    AGE,
) + _workload_wide()

NODE_COLUMNS = (
    NAME,
    _col("Status", _node_status, "The status of the node"),
    _col("Roles", _node_roles, "The roles of the node"),
    AGE,
    _col("Version", "status.nodeInfo.kubeletVersion", "Kubelet Version reported by the node."),
    _col("Internal-IP", _node_address("InternalIP"), "List of internal IPs.", priority=1),
    _col("External-IP", _node_address("ExternalIP"), "List of external IPs.", priority=1),
    _col("OS-Image", "status.nodeInfo.osImage", "OS Image reported by the node from /etc/os-release.",
         priority=1),
    _col("Kernel-Version", "status.nodeInfo.kernelVersion", "Kernel Version reported by the node.", priority=1),
    _col("Container-Runtime", "status.nodeInfo.containerRuntimeVersion",
         "ContainerRuntime Version reported by the node through runtime remote API.", priority=1),
)

SERVICE_COLUMNS = (
    NAME,
    _col("Type", "spec.type", "Type determines how the Service is exposed."),
    _col("Cluster-IP", "spec.clusterIP", "The IP address of the service."),
    _col("External-IP", _service_external_ip, "The external IPs of the service."),
    _col("Port(s)", _service_ports, "The ports exposed by the service."),
    AGE,
    _col("Selector", _map_cell("spec.selector"), "Route service traffic to pods with label keys and values "
         "matching this selector.", priority=1),
)

_COLUMNS: dict[str, tuple[Column, ...]] = {
    "pods": POD_COLUMNS,
    "deployments": DEPLOYMENT_COLUMNS,
    "nodes": NODE_COLUMNS,
    "services": SERVICE_COLUMNS,
    "namespaces": (NAME, _col("Status", "status.phase", "The status of the namespace"), AGE),
    "endpoints": (NAME, _col("Endpoints", _endpoints_addresses, "Endpoints of the service"), AGE),
    "configmaps": (NAME, _col("Data", _count("data"), "Number of keys in the configmap.", "integer"), AGE),
    "secrets": (NAME, _col("Type", "type", "The type of the secret"),
                _col("Data", _count("data"), "Number of keys in the secret.", "integer"), AGE),
    "serviceaccounts": (NAME, _col("Secrets", _count("secrets"), "Number of secrets referenced.", "integer"),
                        AGE),
    "bindings": (NAME, AGE),
    # Events print when they were seen, not an AGE; NAME is wide-only (upstream's layout).
    "events": (
        _col("Last Seen", _event_last_seen, "Time when last event occurred"),
        _col("Type", "type", "Type of this event (Normal, Warning), new types could be added in the future."),
        _col("Reason", "reason", "Reason of this event"),
        _col("Object", _event_object, "Object to which the event belongs"),
        _col("Subobject", "involvedObject.fieldPath", "Subobject to which the event belongs", priority=1),
        _col("Source", _event_source, "Source of this event", priority=1),
        _col("Message", "message", "Message describing this event"),
        _col("First Seen", _since("firstTimestamp"), "Time when first event occurred", priority=1),
        _col("Count", _int("count"), "Number of times this event has occurred", "integer", priority=1),
        _col("Name", "metadata.name", _NAME_DESC, priority=1, fmt="name"),
    ),
    "replicasets": (
        NAME,
        _col("Desired", "spec.replicas", "Number of desired pods.", "integer"),
        _col("Current", "status.replicas", "Number of actual pods.", "integer"),
        _col("Ready", "status.readyReplicas", "Number of ready pods.", "integer"),
        AGE,
    ) + _workload_wide(),
    "daemonsets": (
        NAME,
        _col("Desired", "status.desiredNumberScheduled", "The desired number of pods.", "integer"),
        _col("Current", "status.currentNumberScheduled", "The current number of pods.", "integer"),
        _col("Ready", "status.numberReady", "The number of pods ready.", "integer"),
        _col("Up-to-date", "status.updatedNumberScheduled", "The number of pods updated.", "integer"),
        _col("Available", "status.numberAvailable", "The number of pods available.", "integer"),
        _col("Node Selector", _map_cell("spec.template.spec.nodeSelector"), "Which nodes the pods may run on."),
        AGE,
    ) + _workload_wide(),
    "statefulsets": (
        NAME,
        _col("Ready", _ready_of("status.readyReplicas", "spec.replicas"), "Number of the pod with ready state"),
        AGE,
    ) + _workload_wide(selector=False),
    "jobs": (
        NAME,
        _col("Status", _job_status, "Status of the job."),
        _col("Completions", _job_completions, "The completion status of the job."),
        _col("Duration", _job_duration, "Time required to complete the job."),
        AGE,
    ) + _workload_wide(),
    "endpointslices": (
        NAME,
        _col("AddressType", "addressType", "The type of address held in the EndpointSlice."),
        _col("Ports", _slice_ports, "Ports present in the EndpointSlice."),
        _col("Endpoints", _slice_endpoints, "Endpoints present in the EndpointSlice."),
        AGE,
    ),
    "leases": (NAME, _col("Holder", "spec.holderIdentity", "The holder of the lease."), AGE),
    # Roles print a creation date instead of an AGE (upstream's layout).
    "roles": (NAME, _col("Created At", _created_at, _AGE_DESC, fmt="date")),
    "clusterroles": (NAME, _col("Created At", _created_at, _AGE_DESC, fmt="date")),
}
_BINDING_COLUMNS = (
    NAME,
    _col("Role", _binding_role, "Role referenced by this binding."),
    AGE,
    _col("Users", _subjects("User"), "Users in the binding.", priority=1),
    _col("Groups", _subjects("Group"), "Groups in the binding.", priority=1),
    _col("ServiceAccounts", _subjects("ServiceAccount"), "ServiceAccounts in the binding.", priority=1),
)
_COLUMNS["rolebindings"] = _BINDING_COLUMNS
_COLUMNS["clusterrolebindings"] = _BINDING_COLUMNS
_COLUMNS["priorityclasses"] = (
    NAME,
    _col("Value", _int("value"), "value represents the integer value of this priority class. This is the "
         "actual priority that pods receive when they have the name of this class in their pod spec.",
         type_="integer"),
    _col("Global-Default", lambda obj, now: bool(obj.get("globalDefault")),
         "globalDefault specifies whether this PriorityClass should be considered as the default priority "
         "for pods that do not have any priority class. Only one PriorityClass can be marked as "
         "`globalDefault`. However, if more than one PriorityClasses exists with their `globalDefault` "
         "field set to true, the smallest value of such global default PriorityClasses will be used as "
         "the default priority.", type_="boolean"),
    AGE,
    _col("PreemptionPolicy", lambda obj, now: obj.get("preemptionPolicy") or "",
         "preemptionPolicy is the Policy for preempting pods with lower priority. One of Never, "
         "PreemptLowerPriority. Defaults to PreemptLowerPriority if unset."),
)


# --------------------------------------------------------------------------- the registry


def _status(kind: str) -> Subresource:
    return Subresource("status", kind, STATUS_VERBS)


_SCALE = Subresource("scale", "Scale", STATUS_VERBS, group="autoscaling", version="v1")


def _r(group: str, kind: str, plural: str, namespaced: bool, *, short: tuple[str, ...] = (),
       verbs: tuple[str, ...] = ALL_VERBS, subs: tuple[Subresource, ...] = (), all_: bool = False,
       storage_path: str = "", stored: bool = True) -> Resource:
    return Resource(group=group, version="v1", kind=kind, plural=plural, singular=kind.lower(),
                    namespaced=namespaced, short_names=short, verbs=verbs, subresources=subs,
                    categories=("all",) if all_ else (), columns=_COLUMNS[plural],
                    storage_path=storage_path, stored=stored)


#: Every served resource; groups appear in upstream's /apis priority order.
REGISTRY: tuple[Resource, ...] = (
    # Bindings only set a pod's nodeName, so their "storage" is the pods prefix.
    _r("", "Binding", "bindings", True, verbs=("create",), storage_path="pods", stored=False),
    _r("", "ConfigMap", "configmaps", True, short=("cm",)),
    _r("", "Endpoints", "endpoints", True, short=("ep",), storage_path="services/endpoints"),
    _r("", "Event", "events", True, short=("ev",)),
    _r("", "Namespace", "namespaces", False, short=("ns",),
       verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
       subs=(Subresource("finalize", "Namespace", ("update",)), _status("Namespace"))),
    _r("", "Node", "nodes", False, short=("no",), storage_path="minions",
       subs=(Subresource("proxy", "NodeProxyOptions", PROXY_VERBS), _status("Node"))),
    _r("", "Pod", "pods", True, short=("po",), all_=True, subs=(
        Subresource("attach", "PodAttachOptions", ("create", "get")),
        Subresource("binding", "Binding", ("create",)),
        Subresource("ephemeralcontainers", "Pod", STATUS_VERBS),
        Subresource("eviction", "Eviction", ("create",), group="policy", version="v1"),
        Subresource("exec", "PodExecOptions", ("create", "get")),
        Subresource("log", "Pod", ("get",)),
        Subresource("portforward", "PodPortForwardOptions", ("create", "get")),
        Subresource("proxy", "PodProxyOptions", PROXY_VERBS),
        _status("Pod"),
    )),
    _r("", "Secret", "secrets", True),
    _r("", "ServiceAccount", "serviceaccounts", True, short=("sa",), subs=(
        Subresource("token", "TokenRequest", ("create",), group="authentication.k8s.io", version="v1"),)),
    _r("", "Service", "services", True, short=("svc",), all_=True, storage_path="services/specs",
       subs=(Subresource("proxy", "ServiceProxyOptions", PROXY_VERBS), _status("Service"))),
    _r("apps", "DaemonSet", "daemonsets", True, short=("ds",), all_=True, subs=(_status("DaemonSet"),)),
    _r("apps", "Deployment", "deployments", True, short=("deploy",), all_=True,
       subs=(_SCALE, _status("Deployment"))),
    _r("apps", "ReplicaSet", "replicasets", True, short=("rs",), all_=True, subs=(_SCALE, _status("ReplicaSet"))),
    _r("apps", "StatefulSet", "statefulsets", True, short=("sts",), all_=True,
       subs=(_SCALE, _status("StatefulSet"))),
    _r("batch", "Job", "jobs", True, all_=True, subs=(_status("Job"),)),
    _r("rbac.authorization.k8s.io", "ClusterRoleBinding", "clusterrolebindings", False),
    _r("rbac.authorization.k8s.io", "ClusterRole", "clusterroles", False),
    _r("rbac.authorization.k8s.io", "RoleBinding", "rolebindings", True),
    _r("rbac.authorization.k8s.io", "Role", "roles", True),
    _r("scheduling.k8s.io", "PriorityClass", "priorityclasses", False, short=("pc",)),
    _r("coordination.k8s.io", "Lease", "leases", True),
    _r("discovery.k8s.io", "EndpointSlice", "endpointslices", True),
)

_BY_PLURAL: dict[tuple[str, str, str], Resource] = {(r.group, r.version, r.plural): r for r in REGISTRY}
_BY_KIND: dict[tuple[str, str, str], Resource] = {(r.group, r.version, r.kind): r for r in REGISTRY}


def by_plural(group: str, version: str, plural: str) -> Resource:
    """The resource a URL path names (``/apis/apps/v1/.../deployments``)."""
    try:
        return _BY_PLURAL[(group, version, plural)]
    except KeyError:
        gv = f"{group}/{version}" if group else version
        raise LookupError(f'the server could not find the requested resource "{plural}" in {gv}') from None


def by_kind(group: str, version: str, kind: str) -> Resource:
    """The resource storing objects of a kind (what a manifest's apiVersion/kind mean)."""
    try:
        return _BY_KIND[(group, version, kind)]
    except KeyError:
        gv = f"{group}/{version}" if group else version
        raise LookupError(f'no matches for kind "{kind}" in version "{gv}"') from None


def _names(r: Resource) -> set[str]:
    return {r.plural, r.singular, r.kind.lower(), *r.short_names}


def resolve(name: str) -> Resource:
    """A kubectl-style resource argument: ``po``, ``pod``, ``pods``, ``deployments.apps``,
    ``deploy.v1.apps``. Matching is case-insensitive, as kubectl's RESTMapper is."""
    text = name.strip().lower()
    candidates: list[tuple[str, str | None, str | None]] = [(text, None, None)]
    if "." in text:
        res, rest = text.split(".", 1)
        candidates.append((res, rest, None))
        if "." in rest:
            version, group = rest.split(".", 1)
            candidates.append((res, group, version))
    for res, group, version in candidates:
        hits = [r for r in REGISTRY if res in _names(r)
                and (group is None or r.group == group) and (version is None or r.version == version)]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise LookupError(f'resource type "{name}" is ambiguous: '
                              + ", ".join(sorted(h.group_resource for h in hits)))
    raise LookupError(f'the server doesn\'t have a resource type "{name}"')


# --------------------------------------------------------------------------- discovery


def _groups() -> list[str]:
    """Non-core groups in registry (upstream priority) order."""
    seen: dict[str, None] = {}
    for r in REGISTRY:
        if r.group:
            seen.setdefault(r.group, None)
    return list(seen)


def _versions(group: str) -> list[str]:
    seen: dict[str, None] = {}
    for r in REGISTRY:
        if r.group == group:
            seen.setdefault(r.version, None)
    return list(seen)


def _resources(group: str, version: str) -> list[Resource]:
    """Sorted by plural: upstream sorts its resource paths."""
    return sorted((r for r in REGISTRY if r.group == group and r.version == version), key=lambda r: r.plural)


def _discovery_resource(r: Resource) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "resource": r.plural,
        "responseKind": {"group": "", "version": "", "kind": r.kind},
        "scope": "Namespaced" if r.namespaced else "Cluster",
        "singularResource": r.singular,
        "verbs": list(r.verbs),
    }
    if r.short_names:
        doc["shortNames"] = list(r.short_names)
    if r.categories:
        doc["categories"] = list(r.categories)
    if r.subresources:
        doc["subresources"] = [
            {"subresource": s.name, "responseKind": {"group": s.group, "version": s.version, "kind": s.kind},
             "verbs": list(s.verbs)}
            for s in sorted(r.subresources, key=lambda s: s.name)
        ]
    return doc


def aggregated_discovery(prefix: str) -> dict[str, Any]:
    """The ``APIGroupDiscoveryList`` for ``/api`` (the core group, name "") or ``/apis``.

    Serve it with :data:`AGGREGATED_DISCOVERY_CONTENT_TYPE`; kubectl then needs no further
    discovery requests.
    """
    if prefix == "api":
        groups = [""]
    elif prefix == "apis":
        groups = _groups()
    else:
        raise ValueError(f'discovery prefix must be "api" or "apis", not {prefix!r}')
    items = [
        {"metadata": {"name": g},
         "versions": [{"version": v, "resources": [_discovery_resource(r) for r in _resources(g, v)],
                       "freshness": "Current"} for v in _versions(g)]}
        for g in groups
    ]
    return {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2",
            "metadata": {}, "items": items}


def api_versions(server_address: str = "127.0.0.1:6443") -> dict[str, Any]:
    """Legacy ``/api``: the core versions and where clients from any address reach them."""
    return {"kind": "APIVersions", "versions": _versions(""),
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}


def api_group_list() -> dict[str, Any]:
    """Legacy ``/apis``: every non-core group with its versions, the first preferred."""
    groups = []
    for g in _groups():
        versions = [{"groupVersion": f"{g}/{v}", "version": v} for v in _versions(g)]
        groups.append({"name": g, "versions": versions, "preferredVersion": versions[0]})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def _resource_rows(r: Resource) -> Iterable[dict[str, Any]]:
    row: dict[str, Any] = {"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
                           "kind": r.kind, "verbs": list(r.verbs)}
    if r.short_names:
        row["shortNames"] = list(r.short_names)
    if r.categories:
        row["categories"] = list(r.categories)
    yield row
    for s in sorted(r.subresources, key=lambda s: s.name):
        sub: dict[str, Any] = {"name": f"{r.plural}/{s.name}", "singularName": "", "namespaced": r.namespaced}
        if s.group or s.version:
            sub["group"], sub["version"] = s.group, s.version
        sub["kind"], sub["verbs"] = s.kind, list(s.verbs)
        yield sub


def api_resource_list(group: str, version: str) -> dict[str, Any]:
    """Legacy ``/api/v1`` or ``/apis/<group>/<version>``, subresource rows included."""
    resources = _resources(group, version)
    if not resources:
        gv = f"{group}/{version}" if group else version
        raise LookupError(f'the server could not find the requested resource "{gv}"')
    doc: dict[str, Any] = {"kind": "APIResourceList"}
    if group:  # upstream omits apiVersion on the core list only
        doc["apiVersion"] = "v1"
    doc["groupVersion"] = resources[0].group_version
    doc["resources"] = [row for r in resources for row in _resource_rows(r)]
    return doc
