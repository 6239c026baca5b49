"""The EndpointSlice controller (upstream's ``pkg/controller/endpointslice``
and its reconciler).

``sync(key)`` reconciles the discovery.k8s.io/v1 EndpointSlices of the
Service ``key`` — the slices labelled with its name and managed by this
controller — with one endpoint per selected pod that has an IP and has not
finished (pods being deleted stay, marked terminating):

* pods are grouped by the ports they resolve; each group fills slices of at
  most ``max_endpoints_per_slice`` endpoints;
* churn is kept low: a slice whose endpoints and labels are unchanged is not
  written; a changed one is updated in place; endpoints left over go into
  slices being updated anyway, then into the unchanged slice they fit best,
  and only then into new slices; emptied slices are deleted (a create and a
  delete of the same address type become one update instead);
* a Service without endpoints keeps one empty placeholder slice;
* a deleted Service's slices are left to the garbage collector (they carry
  its controller ownerReference); selector-less Services are left alone.

A slice this controller wrote is remembered with the resourceVersion the
write returned, so that the echo of its own write is not taken for a change,
and so that a sync whose informer has not yet seen those writes (which would
create duplicates) is retried instead of acted on.
"""
from __future__ import annotations

import copy
import time
from typing import Any, Callable

from kubeapi import errors
from kubeapi.informer import Indexer

from .base import Writer, by_namespace, labels_of, unwrap
from .endpoints import (HEADLESS_LABEL, ServiceEndpointsController, endpoint_conditions, find_port, ips_of_family,
                        is_headless, is_ipv6, is_managed, port_key, selected_pods, set_trigger_time,
                        should_be_in_endpoints, should_set_hostname, target_ref)
from .podutil import is_terminating, owner_reference
from .owned import namespace_terminating

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
CONTROLLER_NAME = "endpointslice-controller.k8s.io"
ZONE_LABEL = "topology.kubernetes.io/zone"
MAX_ENDPOINTS_PER_SLICE = 100  # upstream's --max-endpoints-per-slice default
_RESERVED = (SERVICE_NAME_LABEL, MANAGED_BY_LABEL, HEADLESS_LABEL)
_DELETION_EXPECTED = object()


class StaleInformerCache(RuntimeError):
    """The slice informer has not caught up with this controller's writes."""


# ---------------------------------------------------------------- helpers
def is_managed_slice(s: dict) -> bool:
    return labels_of(s).get(MANAGED_BY_LABEL) == CONTROLLER_NAME


def service_key_of(s: dict) -> str | None:
    name = labels_of(s).get(SERVICE_NAME_LABEL)
    return f"{s['metadata'].get('namespace', '')}/{name}" if name else None


def address_types(svc: dict) -> list[str]:
    """The address types a Service gets slices of: its ipFamilies, else its
    clusterIP's family, else IPv4."""
    spec = svc.get("spec") or {}
    families = [f for f in spec.get("ipFamilies") or () if f in ("IPv4", "IPv6")]
    if families:
        return list(dict.fromkeys(families))
    cluster_ip = spec.get("clusterIP") or ""
    return ["IPv6" if cluster_ip != "None" and is_ipv6(cluster_ip) else "IPv4"]


def slice_labels(svc: dict) -> dict[str, str]:
    """The Service's own labels (reserved keys aside), the headless mark, and
    the two labels that tie a slice to its Service and to this controller."""
    labels = {k: v for k, v in labels_of(svc).items() if k not in _RESERVED}
    if is_headless(svc):
        labels[HEADLESS_LABEL] = ""
    labels[SERVICE_NAME_LABEL] = svc["metadata"]["name"]
    labels[MANAGED_BY_LABEL] = CONTROLLER_NAME
    return labels


def owned_by(s: dict, svc: dict) -> bool:
    uid = svc["metadata"].get("uid")
    return any(r.get("uid") == uid and r.get("kind") == "Service" and r.get("apiVersion") == "v1"
               for r in (s.get("metadata") or {}).get("ownerReferences") or ())


def endpoint_ports(svc: dict, pod: dict) -> list[dict]:
    """The ports the pod serves for the Service (ports it lacks are left out)."""
    out = []
    for sp in (svc.get("spec") or {}).get("ports") or ():
        number = find_port(pod, sp)
        if number is None:
            continue
        p: dict[str, Any] = {"name": sp.get("name") or "", "port": number, "protocol": sp.get("protocol") or "TCP"}
        if sp.get("appProtocol"):
            p["appProtocol"] = sp["appProtocol"]
        out.append(p)
    return out


def ports_key(ports: list[dict] | None) -> tuple:
    return tuple(sorted(port_key(p) for p in ports or ()))


def endpoint_id(ep: dict) -> tuple:
    """What makes two endpoints the same one (its other fields may change)."""
    ref = ep.get("targetRef") or {}
    return tuple(sorted(ep.get("addresses") or ())), ep.get("hostname") or "", ref.get("namespace"), ref.get("name")


def new_slice(svc: dict, ports: list[dict], address_type: str) -> dict:
    meta = svc["metadata"]
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"generateName": f"{meta['name']}-", "namespace": meta.get("namespace"),
                         "labels": slice_labels(svc),
                         "ownerReferences": [owner_reference(dict(svc, apiVersion="v1", kind="Service"))]},
            "addressType": address_type, "endpoints": [], "ports": copy.deepcopy(ports)}


def _is_placeholder_of(s: dict, placeholder: dict) -> bool:
    return (s["metadata"].get("namespace") == placeholder["metadata"]["namespace"]
            and labels_of(s) == placeholder["metadata"]["labels"]
            and s.get("addressType") == placeholder["addressType"]
            and not s.get("endpoints") and not s.get("ports"))


def _slice_to_fill(candidates: list[dict], n: int, limit: int) -> dict | None:
    """The unchanged slice that ``n`` more endpoints would bring closest to full."""
    best, best_gap = None, limit
    for s in candidates:
        gap = limit - (n + len(s.get("endpoints") or ()))
        if 0 <= gap < best_gap:
            best, best_gap = s, gap
            if gap == 0:
                break
    return best


# ---------------------------------------------------------------- tracker
class SliceTracker:
    """The slices of each Service this controller wrote last: uid ->
    resourceVersion it got back, or deletion expected."""

    def __init__(self) -> None:
        self._by_service: dict[str, dict[str, Any]] = {}

    def wrote(self, key: str, s: dict) -> None:
        self._by_service.setdefault(key, {})[s["metadata"].get("uid")] = s["metadata"].get("resourceVersion")

    def expect_deletion(self, key: str, s: dict) -> None:
        self._by_service.setdefault(key, {})[s["metadata"].get("uid")] = _DELETION_EXPECTED

    def forget(self, key: str, s: dict) -> None:
        self._by_service.get(key, {}).pop(s["metadata"].get("uid"), None)

    def delete_service(self, key: str) -> None:
        self._by_service.pop(key, None)

    def should_sync(self, key: str, s: dict) -> bool:
        """An informer event for a slice: False for the echo of our own write;
        otherwise someone else's change, which is remembered as the latest."""
        tracked = self._by_service.get(key, {})
        uid, rv = s["metadata"].get("uid"), s["metadata"].get("resourceVersion")
        if uid not in tracked:
            return True
        if tracked[uid] is _DELETION_EXPECTED:
            return True
        if tracked[uid] == rv:
            return False
        tracked[uid] = rv
        return True

    def handle_deletion(self, key: str, s: dict) -> bool:
        """A slice is gone: True if this controller deleted it."""
        return self._by_service.get(key, {}).pop(s["metadata"].get("uid"), None) is _DELETION_EXPECTED

    def stale(self, key: str, slices: list[dict]) -> bool:
        """The lister lacks a slice we wrote, shows another version of it, or
        still shows one we deleted."""
        tracked = self._by_service.get(key)
        if not tracked:
            return False
        seen = {s["metadata"].get("uid"): s["metadata"].get("resourceVersion") for s in slices}
        for uid, rv in seen.items():
            if uid in tracked and (tracked[uid] is _DELETION_EXPECTED or tracked[uid] != rv):
                return True
        return any(v is not _DELETION_EXPECTED and uid not in seen for uid, v in tracked.items())


# ------------------------------------------------------------- controller
class EndpointSliceController(ServiceEndpointsController):
    name = "endpointslice"

    def __init__(self, services: Indexer, pods: Indexer, slices: Indexer, client: Writer, *,
                 nodes: Indexer | None = None, max_endpoints_per_slice: int = MAX_ENDPOINTS_PER_SLICE,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not 1 <= max_endpoints_per_slice <= 1000:
            raise ValueError("max_endpoints_per_slice must be within 1..1000")  # what validation allows
        super().__init__(services, pods, client, clock=clock)
        self.slices = slices
        self.nodes = nodes
        self.max_endpoints = max_endpoints_per_slice
        self.tracker = SliceTracker()

    # ------------------------------------------------------------- handlers
    def on_slice_add(self, s: dict) -> None:
        key = service_key_of(s)
        if key is not None and is_managed_slice(s) and self.tracker.should_sync(key, s):
            self.enqueue(key)

    def on_slice_update(self, old: dict, new: dict) -> None:
        if (old.get("metadata") or {}).get("resourceVersion") == new["metadata"].get("resourceVersion"):
            return  # a resync
        old_key, new_key = service_key_of(old), service_key_of(new)
        if old_key != new_key or is_managed_slice(old) != is_managed_slice(new):
            # relabelled by someone: both Services may need their slices redone
            if old_key is not None:
                self.tracker.forget(old_key, old)
                self.enqueue(old_key)
            if new_key is not None:
                self.enqueue(new_key)
        elif new_key is not None and is_managed_slice(new) and self.tracker.should_sync(new_key, new):
            self.enqueue(new_key)

    def on_slice_delete(self, s: Any) -> None:
        s = unwrap(s)
        if not isinstance(s, dict):
            return
        key = service_key_of(s)
        if key is not None and is_managed_slice(s) and not self.tracker.handle_deletion(key, s):
            self.enqueue(key)  # someone else deleted it: write it again

    # ----------------------------------------------------------------- sync
    async def sync(self, key: str) -> None:
        svc = self.services.get(key)
        if svc is None:  # its slices go with it (garbage collector)
            self.trigger_times.delete(key)
            self.tracker.delete_service(key)
            return
        if not is_managed(svc):
            return
        ns, name = svc["metadata"].get("namespace", ""), svc["metadata"]["name"]
        pods = selected_pods(svc, self.pods)
        slices = [s for s in by_namespace(self.slices, ns)
                  if labels_of(s).get(SERVICE_NAME_LABEL) == name and is_managed_slice(s) and not is_terminating(s)]
        if self.tracker.stale(key, slices):
            raise StaleInformerCache(f"EndpointSlice informer cache is out of date for Service {key}")
        trigger = self.trigger_times.compute(key, svc, pods)
        types = address_types(svc)
        problems: list[str] = []
        for at in types:
            creates, updates, deletes = self._plan(svc, pods, [s for s in slices if s.get("addressType") == at],
                                                   at, problems)
            await self._finalize(key, svc, creates, updates, deletes, trigger)
        for s in slices:
            if s.get("addressType") not in types:
                await self._delete(key, s)
        if problems:
            raise RuntimeError("; ".join(problems))  # retried: the node may show up

    def _endpoint(self, svc: dict, pod: dict, node: dict | None, address_type: str) -> dict:
        ep: dict[str, Any] = {"addresses": ips_of_family(pod, address_type),
                              "conditions": endpoint_conditions(pod, svc), "targetRef": target_ref(pod)}
        node_name = (pod.get("spec") or {}).get("nodeName")
        if node_name:
            ep["nodeName"] = node_name
        zone = labels_of(node or {}).get(ZONE_LABEL)
        if zone:
            ep["zone"] = zone
        if should_set_hostname(pod, svc):
            ep["hostname"] = pod["spec"]["hostname"]
        return ep

    def _plan(self, svc: dict, pods: list[dict], existing: list[dict], address_type: str,
              problems: list[str]) -> tuple[list[dict], list[dict], list[dict]]:
        """(slices to create, to update, to delete) for one address type."""
        deletes: list[dict] = []
        existing_by_ports: dict[tuple, list[dict]] = {}
        for s in sorted(existing, key=lambda s: s["metadata"]["name"]):
            if owned_by(s, svc):
                existing_by_ports.setdefault(ports_key(s.get("ports")), []).append(s)
            else:  # e.g. left by an earlier Service of the same name
                deletes.append(s)
        publish = bool((svc.get("spec") or {}).get("publishNotReadyAddresses"))
        desired: dict[tuple, tuple[list[dict], dict[tuple, dict]]] = {}
        for pod in pods:
            if not should_be_in_endpoints(pod, True):
                continue
            ports = endpoint_ports(svc, pod)
            _, group = desired.setdefault(ports_key(ports), (ports, {}))
            node = None
            if self.nodes is not None:
                node_name = (pod.get("spec") or {}).get("nodeName") or ""
                node = self.nodes.get(node_name)
                if node is None and not publish:
                    problems.append(f"skipping pod {pod['metadata']['name']}: node {node_name!r} not found")
                    continue
            ep = self._endpoint(svc, pod, node, address_type)
            if ep["addresses"]:
                group[endpoint_id(ep)] = ep
        creates: list[dict] = []
        updates: list[dict] = []
        for pk, (ports, eps) in desired.items():
            c, u, d = self._plan_ports(svc, existing_by_ports.get(pk, []), eps, ports, address_type)
            creates += c
            updates += u
            deletes += d
        for pk, slices in existing_by_ports.items():
            if pk not in desired:
                deletes += slices
        if len(deletes) == len(existing) and not creates:
            placeholder = new_slice(svc, [], address_type)
            if len(deletes) == 1 and _is_placeholder_of(deletes[0], placeholder):
                deletes = []  # it already is what it would be replaced with
            else:
                creates.append(placeholder)
        return creates, updates, deletes

    def _plan_ports(self, svc: dict, existing: list[dict], desired: dict[tuple, dict], ports: list[dict],
                    address_type: str) -> tuple[list[dict], list[dict], list[dict]]:
        """Upstream's reconcileByPortMapping: ``desired`` is consumed."""
        labels = slice_labels(svc)
        by_name: dict[str, dict] = {}
        unchanged: list[str] = []
        to_update: list[str] = []
        to_delete: list[str] = []
        # 1. drop endpoints no longer wanted, refresh changed ones
        for s in existing:
            name = s["metadata"]["name"]
            by_name[name] = s
            kept, changed = [], False
            for ep in s.get("endpoints") or ():
                want = desired.pop(endpoint_id(ep), None)
                if want is not None:
                    kept.append(want)
                    changed = changed or want != ep
            if changed or len(kept) != len(s.get("endpoints") or ()):
                if not kept:
                    to_delete.append(name)
                    continue
                by_name[name] = _with(s, endpoints=kept, labels=labels)
                to_update.append(name)
            elif labels_of(s) != labels:
                by_name[name] = _with(s, labels=labels)
                to_update.append(name)
            else:
                unchanged.append(name)
        # 2. top up the slices being written anyway, fullest first
        if desired and to_update:
            for name in sorted(to_update, key=lambda n: -len(by_name[n].get("endpoints") or ())):
                self._fill(by_name[name], desired)
        # 3. the rest: into the unchanged slice they fit best, else new slices
        creates: list[dict] = []
        while desired:
            target = None
            if len(desired) < self.max_endpoints and unchanged:
                target = _slice_to_fill([by_name[n] for n in unchanged], len(desired), self.max_endpoints)
            if target is None:
                target = new_slice(svc, ports, address_type)
            else:
                target = _with(target)
                by_name[target["metadata"]["name"]] = target
            self._fill(target, desired)
            name = target["metadata"].get("name")
            if name:
                unchanged.remove(name)
                to_update.append(name)
            else:
                creates.append(target)
        return creates, [by_name[n] for n in to_update], [by_name[n] for n in to_delete]

    def _fill(self, s: dict, desired: dict[tuple, dict]) -> None:
        eps = s.setdefault("endpoints", [])
        while desired and len(eps) < self.max_endpoints:
            eps.append(desired.pop(next(iter(desired))))

    async def _finalize(self, key: str, svc: dict, creates: list[dict], updates: list[dict],
                        deletes: list[dict], trigger: float | None) -> None:
        # a create and a delete of a slice of ours become an update of that slice
        i = 0
        while i < len(deletes) and creates:
            old = deletes[i]
            if old.get("addressType") == creates[-1]["addressType"] and owned_by(old, svc):
                s = creates.pop()
                for k in ("name", "uid", "resourceVersion"):
                    if old["metadata"].get(k):
                        s["metadata"][k] = old["metadata"][k]
                updates.append(s)
                del deletes[i]
            else:
                i += 1
        # no creates for a Service being deleted: they would race its garbage collection
        if not is_terminating(svc):
            for s in creates:
                _stamp(s, trigger)
                try:
                    made = await self.client.create(s)
                except errors.ApiError as e:
                    if namespace_terminating(e):
                        return
                    raise
                self.tracker.wrote(key, made)
        for s in updates:
            _stamp(s, trigger)
            self.tracker.wrote(key, await self.client.update(s))
        for s in deletes:
            await self._delete(key, s)

    async def _delete(self, key: str, s: dict) -> None:
        meta = s["metadata"]
        try:
            await self.client.delete("endpointslices", meta["name"], meta.get("namespace"))
        except errors.ApiError as e:
            if not errors.is_not_found(e):
                raise
            return
        self.tracker.expect_deletion(key, s)


def _with(s: dict, *, endpoints: list[dict] | None = None, labels: dict | None = None) -> dict:
    out = copy.deepcopy(s)
    if endpoints is not None:
        out["endpoints"] = endpoints
    if labels is not None:
        out["metadata"]["labels"] = dict(labels)
    return out


def _stamp(s: dict, trigger: float | None) -> None:
    set_trigger_time(s["metadata"], trigger)
    if not s["metadata"]["annotations"]:
        del s["metadata"]["annotations"]
