"""The Endpoints controller (upstream's ``pkg/controller/endpoint``), and what
it shares with the EndpointSlice controller: which pods a Service selects,
which pods belong in its endpoints and how ready they are, how a named
``targetPort`` resolves, which Services a pod change concerns, and the
last-change trigger time.

``sync(key)`` reconciles the Endpoints named as the Service ``key``:

* the Service is gone: delete its Endpoints;
* no selector (or ExternalName): leave them to their user;
* otherwise one address per selected pod with an IP, not finished, and not
  being deleted (unless ``publishNotReadyAddresses``), under ``addresses``
  when ready (or published anyway) and ``notReadyAddresses`` when not, for
  every service port the pod resolves; repacked into subsets of identical
  port sets, at most 1000 addresses, written only when something changed.
"""
from __future__ import annotations

import copy
import ipaddress
import json
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from kubeapi import errors
from kubeapi.informer import Indexer
from kubeapi.models.base import format_time, parse_time
from kubeapi.selectors import selector_from_set

from .base import Controller, Writer, by_namespace, labels_of, object_key, unwrap
from .podutil import is_pod_ready, is_terminating, pod_condition, pod_phase
from .owned import namespace_terminating

HEADLESS_LABEL = "service.kubernetes.io/headless"
LAST_CHANGE_TRIGGER_TIME = "endpoints.kubernetes.io/last-change-trigger-time"
OVER_CAPACITY = "endpoints.kubernetes.io/over-capacity"
LEADER_ANNOTATION = "control-plane.alpha.kubernetes.io/leader"
MAX_CAPACITY = 1000  # upstream's maxCapacity: addresses kept in one Endpoints object


# ----------------------------------------------------------------- services
def service_selector(svc: dict) -> dict[str, str] | None:
    """``spec.selector`` when non-empty: only then do the controllers manage the
    Service's endpoints (an empty one is dropped in encoding, as upstream)."""
    return ((svc.get("spec") or {}).get("selector")) or None


def is_managed(svc: dict) -> bool:
    """Selector-less Services have user-managed endpoints; ExternalName ones none."""
    return service_selector(svc) is not None and (svc.get("spec") or {}).get("type") != "ExternalName"


def is_headless(svc: dict) -> bool:
    return (svc.get("spec") or {}).get("clusterIP") == "None"


def selected_pods(svc: dict, pods: Indexer) -> list[dict]:
    """The pods of the Service's namespace its selector matches (sorted by name)."""
    sel = service_selector(svc)
    if sel is None:
        return []
    selector = selector_from_set(sel)
    return [p for p in by_namespace(pods, svc["metadata"].get("namespace", "")) if selector.matches(labels_of(p))]


def services_for_pod(services: Indexer, pod: dict) -> set[str]:
    """Keys of the Services of the pod's namespace whose selector matches it."""
    out = set()
    for svc in by_namespace(services, pod["metadata"].get("namespace", "")):
        sel = service_selector(svc)
        if sel is not None and selector_from_set(sel).matches(labels_of(pod)):
            out.add(object_key(svc))
    return out


# --------------------------------------------------------------------- pods
def pod_ips(pod: dict) -> list[str]:
    status = pod.get("status") or {}
    ips = [e.get("ip") for e in status.get("podIPs") or () if e.get("ip")]
    return ips or ([status["podIP"]] if status.get("podIP") else [])


def is_ipv6(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip).version == 6
    except ValueError:
        return False


def service_family(svc: dict, pod: dict) -> str:
    """The IP family (``IPv4``/``IPv6``) of a Service's Endpoints addresses: its
    first ipFamily, else its clusterIP's, else (headless) the pod's IP's."""
    spec = svc.get("spec") or {}
    if spec.get("ipFamilies"):
        return spec["ipFamilies"][0]
    cluster_ip = spec.get("clusterIP") or ""
    probe = cluster_ip if cluster_ip and cluster_ip != "None" else (pod.get("status") or {}).get("podIP") or ""
    return "IPv6" if is_ipv6(probe) else "IPv4"


def ips_of_family(pod: dict, family: str) -> list[str]:
    return [ip for ip in pod_ips(pod) if is_ipv6(ip) == (family == "IPv6")]


def should_be_in_endpoints(pod: dict, include_terminating: bool) -> bool:
    """Finished pods and pods without an IP serve nothing; pods being deleted
    only count when asked for (slices always show them, as terminating)."""
    if pod_phase(pod) in ("Succeeded", "Failed") or not pod_ips(pod):
        return False
    return include_terminating or not is_terminating(pod)


def should_set_hostname(pod: dict, svc: dict) -> bool:
    """A pod's hostname is published only by the Service its subdomain names."""
    spec = pod.get("spec") or {}
    return bool(spec.get("hostname")) and spec.get("subdomain") == svc["metadata"]["name"] \
        and pod["metadata"].get("namespace") == svc["metadata"].get("namespace")


def endpoint_conditions(pod: dict, svc: dict) -> dict[str, bool]:
    """An endpoint's readiness: serving when ready (or published anyway);
    ready also requires not terminating, unless published anyway."""
    publish = bool((svc.get("spec") or {}).get("publishNotReadyAddresses"))
    serving = publish or is_pod_ready(pod)
    terminating = is_terminating(pod)
    return {"ready": serving and (publish or not terminating), "serving": serving, "terminating": terminating}


def find_port(pod: dict, svc_port: dict) -> int | None:
    """The pod port a service port forwards to: ``targetPort`` as a number, or
    the container port of that name and protocol (regular and sidecar
    containers); unset means the service port. None: the pod has no such port."""
    target = svc_port.get("targetPort")
    if target in (None, 0, ""):
        return svc_port.get("port")
    if isinstance(target, int):
        return target
    protocol = svc_port.get("protocol") or "TCP"
    spec = pod.get("spec") or {}
    containers = list(spec.get("containers") or ()) + \
        [c for c in spec.get("initContainers") or () if c.get("restartPolicy") == "Always"]
    for c in containers:
        for p in c.get("ports") or ():
            if p.get("name") == target and (p.get("protocol") or "TCP") == protocol:
                return p.get("containerPort")
    return None


def target_ref(pod: dict) -> dict:
    meta = pod["metadata"]
    return {"kind": "Pod", "namespace": meta.get("namespace"), "name": meta["name"], "uid": meta.get("uid")}


# ------------------------------------------------------------ pod handlers
def pod_endpoints_changed(old: dict, new: dict) -> tuple[bool, bool]:
    """(what the endpoints show of the pod changed, its membership may have):
    deletion, readiness, phase and IPs; labels, hostname and subdomain."""
    ospec, nspec = old.get("spec") or {}, new.get("spec") or {}
    labels_changed = labels_of(old) != labels_of(new) or ospec.get("hostname") != nspec.get("hostname") \
        or ospec.get("subdomain") != nspec.get("subdomain")
    pod_changed = (old["metadata"].get("deletionTimestamp") != new["metadata"].get("deletionTimestamp")
                   or is_pod_ready(old) != is_pod_ready(new) or pod_phase(old) != pod_phase(new)
                   or pod_ips(old) != pod_ips(new) or ospec.get("nodeName") != nspec.get("nodeName"))
    return pod_changed, labels_changed


def services_to_update(services: Indexer, old: dict, new: dict) -> set[str]:
    """The Services a pod update concerns: all it belongs (or belonged) to when
    its endpoint changed; when only its labels did, those it joined or left."""
    if (old.get("metadata") or {}).get("resourceVersion") == new["metadata"].get("resourceVersion"):
        return set()  # a resync
    pod_changed, labels_changed = pod_endpoints_changed(old, new)
    if not pod_changed and not labels_changed:
        return set()
    now = services_for_pod(services, new)
    if not labels_changed:
        return now
    before = services_for_pod(services, old)
    return now | before if pod_changed else now ^ before


# ------------------------------------------------------------ trigger time
@dataclass
class _TriggerState:
    pods: dict[str, float] = field(default_factory=dict)
    service: float = 0.0


class TriggerTimeTracker:
    """When the change an endpoints write publishes happened (upstream's
    ``TriggerTimeTracker``), for the last-change-trigger-time annotation that
    lets consumers measure propagation latency: a new Service's creation
    time, else the earliest Ready transition (or Service creation) not yet
    seen by a previous sync of that Service."""

    def __init__(self) -> None:
        self._states: dict[str, _TriggerState] = {}

    def compute(self, key: str, svc: dict, pods: Iterable[dict]) -> float | None:
        state = self._states.get(key)
        known = state is not None
        state = state or _TriggerState()
        earliest: float | None = None
        seen: dict[str, float] = {}
        for p in pods:
            t = parse_time((pod_condition(p, "Ready") or {}).get("lastTransitionTime"))
            if t is None:
                continue
            seen[p["metadata"]["name"]] = t
            if t > state.pods.get(p["metadata"]["name"], 0.0):
                earliest = t if earliest is None else min(earliest, t)
        created = parse_time(svc["metadata"].get("creationTimestamp")) or 0.0
        if created > state.service:
            earliest = created if earliest is None else min(earliest, created)
        self._states[key] = _TriggerState(seen, created)
        return (created or None) if not known else earliest

    def delete(self, key: str) -> None:
        self._states.pop(key, None)


def set_trigger_time(meta: dict, at: float | None) -> None:
    """Stamp (or clear, when nothing new triggered this write) the annotation."""
    annotations = dict(meta.get("annotations") or {})
    if at is not None:
        annotations[LAST_CHANGE_TRIGGER_TIME] = format_time(at)
    else:
        annotations.pop(LAST_CHANGE_TRIGGER_TIME, None)
    meta["annotations"] = annotations


# ------------------------------------------------------------ shared base
class ServiceEndpointsController(Controller):
    """Handlers both endpoints controllers share: a Service event queues it;
    a pod event queues the Services it belongs, or belonged, to."""

    def __init__(self, services: Indexer, pods: Indexer, client: Writer, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(clock=clock)
        self.services = services
        self.pods = pods
        self.client = client
        self.trigger_times = TriggerTimeTracker()

    def on_service(self, svc: Any) -> None:
        self.enqueue(svc)

    def on_service_update(self, old: Any, new: Any) -> None:
        self.enqueue(new)

    def on_service_delete(self, svc: Any) -> None:
        self.enqueue(object_key(svc))

    def on_pod_add(self, pod: dict) -> None:
        for key in services_for_pod(self.services, pod):
            self.enqueue(key)

    def on_pod_update(self, old: dict, new: dict) -> None:
        for key in services_to_update(self.services, old, new):
            self.enqueue(key)

    def on_pod_delete(self, pod: Any) -> None:
        pod = unwrap(pod)
        if isinstance(pod, dict):
            self.on_pod_add(pod)


# --------------------------------------------------------------- subsets
def port_key(port: dict) -> tuple:
    return (port.get("name") or "", port.get("port") or 0, port.get("protocol") or "TCP",
            port.get("appProtocol") or "")


def _address_key(addr: dict) -> tuple[str, str]:
    return addr["ip"], (addr.get("targetRef") or {}).get("uid") or ""


def repack_subsets(subsets: Iterable[dict]) -> list[dict]:
    """Subsets with one subset per set of addresses (with their readiness)
    sharing identical ports, sorted (upstream's ``RepackSubsets``). An
    address listed ready anywhere for a port is ready for it."""
    addrs: dict[tuple[str, str], dict] = {}
    by_port: dict[tuple, dict[tuple[str, str], bool]] = {}
    ports: dict[tuple, dict | None] = {}
    for ss in subsets:
        for port in ss.get("ports") or [None]:  # None: the sentinel for a portless (headless) address
            pk = port_key(port) if port else ()
            ports.setdefault(pk, port)
            members = by_port.setdefault(pk, {})
            for ready, field_ in ((True, "addresses"), (False, "notReadyAddresses")):
                for a in ss.get(field_) or ():
                    k = _address_key(a)
                    addrs.setdefault(k, a)
                    members[k] = members.get(k, False) or ready
    groups: dict[frozenset, list[tuple]] = {}
    for pk, members in by_port.items():
        groups.setdefault(frozenset(members.items()), []).append(pk)
    out = []
    for members, pks in groups.items():
        ready = sorted(k for k, r in members if r)
        not_ready = sorted(k for k, r in members if not r)
        ss: dict[str, Any] = {}
        if ready:
            ss["addresses"] = [addrs[k] for k in ready]
        if not_ready:
            ss["notReadyAddresses"] = [addrs[k] for k in not_ready]
        real = sorted(pk for pk in pks if pk)
        if real:
            ss["ports"] = [ports[pk] for pk in real]
        out.append(ss)
    return sorted(out, key=lambda s: json.dumps(s, sort_keys=True))


def truncate_subsets(subsets: list[dict], capacity: int = MAX_CAPACITY) -> bool:
    """Cut subsets to ``capacity`` addresses in place (upstream's
    ``truncateEndpoints``): not-ready addresses go first, each subset keeping
    its share (rounded up); if the ready ones alone are too many, they are cut
    the same way and every not-ready one is dropped. True if anything was cut."""
    ready = sum(len(s.get("addresses") or ()) for s in subsets)
    not_ready = sum(len(s.get("notReadyAddresses") or ()) for s in subsets)
    if ready + not_ready <= capacity:
        return False
    cut_ready = ready > capacity
    room, total = (capacity, ready) if cut_ready else (capacity - ready, not_ready)
    left = room
    field_ = "addresses" if cut_ready else "notReadyAddresses"
    for ss in subsets:
        mine = ss.get(field_) or []
        keep = min(math.ceil(len(mine) / total * room), left)
        ss[field_] = mine[:keep]
        if cut_ready:
            ss["notReadyAddresses"] = []
        left -= len(ss[field_])
        for k in ("addresses", "notReadyAddresses"):
            if not ss.get(k):
                ss.pop(k, None)
    # a subset left with no address at all would not validate
    subsets[:] = [s for s in subsets if s.get("addresses") or s.get("notReadyAddresses")]
    return True


def endpoint_port(svc_port: dict, number: int) -> dict:
    out: dict[str, Any] = {"port": number, "protocol": svc_port.get("protocol") or "TCP"}
    if svc_port.get("name"):
        out["name"] = svc_port["name"]
    if svc_port.get("appProtocol"):
        out["appProtocol"] = svc_port["appProtocol"]
    return out


# ------------------------------------------------------------- controller
class EndpointsController(ServiceEndpointsController):
    name = "endpoint"

    def __init__(self, services: Indexer, pods: Indexer, endpoints: Indexer, client: Writer, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(services, pods, client, clock=clock)
        self.endpoints = endpoints

    def on_endpoints_delete(self, ep: Any) -> None:
        """A deleted Endpoints of a managed Service is written again."""
        self.enqueue(object_key(ep))

    def on_synced(self) -> None:
        """Queue every Endpoints once the informers have listed, so those of
        Services deleted while no controller ran are deleted too."""
        for ep in self.endpoints.list():
            if LEADER_ANNOTATION not in ((ep.get("metadata") or {}).get("annotations") or {}):
                self.enqueue(ep)

    def desired_subsets(self, svc: dict, pods: Iterable[dict]) -> list[dict]:
        spec = svc.get("spec") or {}
        publish = bool(spec.get("publishNotReadyAddresses"))
        subsets = []
        for pod in pods:
            if not should_be_in_endpoints(pod, publish):
                continue
            ips = ips_of_family(pod, service_family(svc, pod))
            if not ips:
                continue
            addr: dict[str, Any] = {"ip": ips[0], "targetRef": target_ref(pod)}
            if (pod.get("spec") or {}).get("nodeName"):
                addr["nodeName"] = pod["spec"]["nodeName"]
            if should_set_hostname(pod, svc):
                addr["hostname"] = pod["spec"]["hostname"]
            field_ = "addresses" if endpoint_conditions(pod, svc)["serving"] else "notReadyAddresses"
            if not spec.get("ports"):
                if is_headless(svc):  # a headless Service may publish addresses without ports
                    subsets.append({field_: [addr]})
                continue
            for sp in spec["ports"]:
                number = find_port(pod, sp)
                if number is not None:
                    subsets.append({field_: [addr], "ports": [endpoint_port(sp, number)]})
        return repack_subsets(subsets)

    async def sync(self, key: str) -> None:
        ns, _, name = key.rpartition("/")
        svc = self.services.get(key)
        if svc is None:
            self.trigger_times.delete(key)
            try:
                await self.client.delete("endpoints", name, ns)
            except errors.ApiError as e:
                if not errors.is_not_found(e):
                    raise
            return
        if not is_managed(svc):
            return
        pods = selected_pods(svc, self.pods)
        trigger = self.trigger_times.compute(key, svc, pods)
        subsets = self.desired_subsets(svc, pods)
        truncated = truncate_subsets(subsets)
        labels = dict(labels_of(svc))
        labels.pop(HEADLESS_LABEL, None)
        if is_headless(svc):
            labels[HEADLESS_LABEL] = ""

        current = self.endpoints.get(key)
        if current is not None:
            annotations = (current.get("metadata") or {}).get("annotations") or {}
            if (current.get("subsets") or []) == subsets and labels_of(current) == labels \
                    and (OVER_CAPACITY in annotations) == truncated:
                return
            ep = copy.deepcopy(current)
        else:
            ep = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name, "namespace": ns}}
        meta = ep["metadata"]
        ep["subsets"] = subsets
        meta["labels"] = labels
        set_trigger_time(meta, trigger)
        if truncated:
            meta["annotations"][OVER_CAPACITY] = "truncated"
        else:
            meta["annotations"].pop(OVER_CAPACITY, None)
        for k in ("labels", "annotations"):
            if not meta[k]:
                del meta[k]
        if current is not None:
            await self.client.update(ep)
            return
        try:
            await self.client.create(ep)
        except errors.ApiError as e:
            if not namespace_terminating(e):  # (then nothing more is wanted here)
                raise
