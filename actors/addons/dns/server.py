"""The cluster DNS server: :class:`netsim.dns.DNSRecords` kept current by Service and
EndpointSlice informers, answering questions the way CoreDNS's ``kubernetes`` plugin does.

Ray-free on purpose: an actor wraps :class:`ClusterDNS` and forwards ``query``/``stats``;
tests drive it over an in-process apiserver. Until both informers have listed, in-zone
questions get SERVFAIL rather than an NXDOMAIN for a Service that merely is not cached yet
(resolvers retry SERVFAIL; they cache NXDOMAIN).
"""
from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from typing import Any, Callable, Mapping

from kubeapi import errors
from kubeapi.informer import SharedInformer, SharedInformerFactory, deletion_handling_key
from netsim.addresses import CLUSTER_DNS_IP
from netsim.dns import DEFAULT_TTL, NOERROR, NXDOMAIN, REFUSED, SERVFAIL, DNSAnswer, DNSRecords, normalize_name

__all__ = [
    "ClusterDNS",
    "DNS_SERVICE_NAME",
    "DNS_SERVICE_NAMESPACE",
    "ENDPOINT_SLICES",
    "SERVICES",
    "ensure_kube_dns_service",
    "kube_dns_service",
]

log = logging.getLogger("raykube.dns")

SERVICES = "services"
ENDPOINT_SLICES = "endpointslices"  # discovery.k8s.io/v1
DNS_SERVICE_NAMESPACE = "kube-system"
DNS_SERVICE_NAME = "kube-dns"
ADDRESS_TYPES = ("A", "AAAA")

#: Where out-of-zone questions go (CoreDNS's ``forward`` plugin); answers like :meth:`ClusterDNS.lookup`.
Upstream = Callable[[str, str], DNSAnswer]


def _split_key(key: str) -> tuple[str, str]:
    ns, _, name = key.rpartition("/")
    return ns, name


class ClusterDNS:
    """Cluster DNS fed by informer handlers; :meth:`lookup`/:meth:`query` answer questions.

    ``upstream``, when given, receives questions outside the cluster zones, reverse lookups
    the cluster does not know (the kubeadm Corefile's ``fallthrough in-addr.arpa ip6.arpa``)
    and the targets of ExternalName CNAMEs. Without it those stay REFUSED/NXDOMAIN/bare CNAME.
    """

    def __init__(self, domain: str = "cluster.local", *, ttl: int = DEFAULT_TTL,
                 upstream: Upstream | None = None, loadbalance: bool = True,
                 rng: random.Random | None = None) -> None:
        """``loadbalance``: shuffle the address records of an answer, as the
        kubeadm Corefile's ``loadbalance`` plugin does, so clients taking the
        first address spread over a headless service's pods."""
        self.records = DNSRecords(domain, ttl=ttl)
        self.upstream = upstream
        self.loadbalance = loadbalance
        self._rng = rng or random.Random()
        self._informers: list[SharedInformer] = []
        self._synced = False
        self._queries = 0
        self._rcodes: Counter[str] = Counter()
        self._events: Counter[str] = Counter()

    @property
    def domain(self) -> str:
        return self.records.domain

    # -- wiring

    def attach(self, factory: SharedInformerFactory) -> None:
        """Register on the factory's Service and EndpointSlice informers (start it afterwards)."""
        self.attach_informers(factory.informer(SERVICES), factory.informer(ENDPOINT_SLICES))

    def attach_informers(self, services: SharedInformer, slices: SharedInformer) -> None:
        services.add_event_handler(self.on_service_add, self.on_service_update, self.on_service_delete)
        slices.add_event_handler(self.on_slice_add, self.on_slice_update, self.on_slice_delete)
        self._informers += [services, slices]
        self._synced = False

    @property
    def synced(self) -> bool:
        """Whether every attached informer has listed and its initial adds reached us."""
        if not self._synced:
            self._synced = all(i.has_synced() and i.pending_notifications == 0 for i in self._informers)
        return self._synced

    async def run(self, client: Any, stop: asyncio.Event) -> None:
        """Watch Services and EndpointSlices through ``client`` until ``stop`` is set."""
        services, slices = SharedInformer(client, SERVICES), SharedInformer(client, ENDPOINT_SLICES)
        self.attach_informers(services, slices)
        await asyncio.gather(services.run(stop), slices.run(stop))

    # -- informer handlers

    def on_service_add(self, svc: Mapping[str, Any]) -> None:
        self._events["service"] += 1
        self.records.set_service(svc)

    def on_service_update(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
        self.on_service_add(new)

    def on_service_delete(self, svc: Any) -> None:
        self._events["service-delete"] += 1
        self.records.delete_service(*_split_key(deletion_handling_key(svc)))

    def on_slice_add(self, slice_: Mapping[str, Any]) -> None:
        self._events["endpointslice"] += 1
        self.records.set_endpoint_slice(slice_)

    def on_slice_update(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
        self.on_slice_add(new)

    def on_slice_delete(self, slice_: Any) -> None:
        self._events["endpointslice-delete"] += 1
        self.records.delete_endpoint_slice(*_split_key(deletion_handling_key(slice_)))

    # -- questions

    def lookup(self, name: str, qtype: str) -> DNSAnswer:
        """Answer one question (usable as :func:`netsim.dns.resolve`'s ``query_fn``)."""
        self._queries += 1
        answer = self._answer(normalize_name(name), qtype.upper())
        self._rcodes[answer.rcode] += 1
        if self.loadbalance:
            addresses = [r for r in answer.answers if r.type in ADDRESS_TYPES]
            if len(addresses) > 1:
                self._rng.shuffle(addresses)
                answer.answers = [r for r in answer.answers if r.type not in ADDRESS_TYPES] + addresses
        return answer

    def query(self, name: str, qtype: str) -> dict[str, Any]:
        """:meth:`lookup` as a plain dict (picklable, JSON-able); see :meth:`DNSAnswer.from_dict`."""
        return self.lookup(name, qtype).to_dict()

    def _answer(self, qname: str, qtype: str) -> DNSAnswer:
        in_zone = self.records.in_zone(qname)
        if in_zone and not self.synced:
            return DNSAnswer(qname, qtype, SERVFAIL)
        answer = self.records.query(qname, qtype)
        if self.upstream is None:
            return answer
        if answer.rcode == REFUSED or (answer.rcode == NXDOMAIN and qname.endswith(".arpa.")):
            return self._forward(qname, qtype)
        last = answer.answers[-1] if answer.answers else None
        if last is not None and last.type == "CNAME" and qtype != "CNAME" \
                and not self.records.in_zone(str(last.data)):
            chased = self._forward(str(last.data), qtype)
            answer.answers += chased.answers
            answer.rcode = chased.rcode if chased.rcode in (NOERROR, NXDOMAIN) else answer.rcode
        return answer

    def _forward(self, qname: str, qtype: str) -> DNSAnswer:
        assert self.upstream is not None
        try:
            answer = self.upstream(qname, qtype)
        except Exception:  # noqa: BLE001 - an unreachable upstream is a server failure
            log.debug("upstream failed for %s %s", qname, qtype, exc_info=True)
            return DNSAnswer(qname, qtype, SERVFAIL, authoritative=False)
        answer.authoritative = False  # forwarded: never ours
        return answer

    def stats(self) -> dict[str, Any]:
        return {"domain": self.domain, "ttl": self.records.ttl, "synced": self.synced,
                "services": self.records.service_count, "endpointSlices": self.records.slice_count,
                "names": self.records.name_count, "queries": self._queries,
                "rcodes": dict(self._rcodes), "events": dict(self._events)}


# --------------------------------------------------------------------------- the kube-dns Service


def kube_dns_service(cluster_ip: str = CLUSTER_DNS_IP) -> dict[str, Any]:
    """``kube-system/kube-dns`` as kubeadm creates it: pods' nameserver is its ClusterIP
    (the kubelet's ``--cluster-dns``), so the IP must be fixed, not allocated."""
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {
            "name": DNS_SERVICE_NAME, "namespace": DNS_SERVICE_NAMESPACE,
            "labels": {"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true",
                       "kubernetes.io/name": "CoreDNS"},
            "annotations": {"prometheus.io/port": "9153", "prometheus.io/scrape": "true"},
        },
        "spec": {
            "selector": {"k8s-app": "kube-dns"},
            "clusterIP": cluster_ip,
            "ports": [
                {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": 9153},
            ],
        },
    }


async def ensure_kube_dns_service(client: Any, cluster_ip: str = CLUSTER_DNS_IP) -> dict[str, Any]:
    """Create the kube-dns Service unless it exists; returns the stored object either way.

    A second create may fail as Invalid rather than AlreadyExists: the apiserver allocates
    the fixed ClusterIP before it stores the object, and the existing kube-dns holds it
    (kubeadm tolerates both for the same reason). Invalid is re-raised unless kube-dns
    really exists, i.e. when another Service holds the IP.
    """
    try:
        return await client.create(kube_dns_service(cluster_ip), namespace=DNS_SERVICE_NAMESPACE)
    except errors.ApiError as e:
        if not (errors.is_already_exists(e) or errors.is_invalid(e)):
            raise
        try:
            return await client.get(SERVICES, DNS_SERVICE_NAME, DNS_SERVICE_NAMESPACE)
        except errors.ApiError as get_error:
            if errors.is_not_found(get_error):
                raise e from None
            raise
