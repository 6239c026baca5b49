"""Cluster DNS as pure data: the records CoreDNS's ``kubernetes`` plugin serves, the
stub resolver a pod's libc runs, and the kubelet's choice of a pod's ``resolv.conf``.

* :class:`DNSRecords` is the ``<zone>`` (``cluster.local``) zone plus the reverse zones,
  built from Service and EndpointSlice JSON following the Kubernetes DNS specification
  (schema 1.1.0). Records are indexed by owner name and each Service's share is
  recomputed on its own changes only, so 10,000 Services cost nothing per update.
* :func:`resolve` walks a name through the search list the way glibc's ``res_nsearch``
  does (``ndots``, absolute names, which failures keep searching).
* :func:`parse_resolv_conf` / :func:`resolv_conf` read and write ``/etc/resolv.conf``.
* :func:`pod_dns_config` is the kubelet's ``GetPodDNS``: ``dnsPolicy``, ``dnsConfig``
  merging and the search/nameserver limits.

No I/O here: a DNS server, a simulated network or a test all drive the same code.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Mapping

__all__ = [
    "DNSAnswer",
    "DNSRecord",
    "DNSRecords",
    "DNS_SCHEMA_VERSION",
    "DEFAULT_TTL",
    "MAX_DNS_NAMESERVERS",
    "MAX_DNS_SEARCH_LIST_CHARS",
    "MAX_DNS_SEARCH_PATHS",
    "NOERROR",
    "NXDOMAIN",
    "REFUSED",
    "SERVFAIL",
    "SERVICE_NAME_LABEL",
    "ResolveResult",
    "ResolverConfig",
    "SRV",
    "dashed_ip",
    "normalize_name",
    "parse_options",
    "parse_resolv_conf",
    "pod_dns_config",
    "resolv_conf",
    "resolve",
    "reverse_name",
]

NOERROR, NXDOMAIN, SERVFAIL, REFUSED = "NOERROR", "NXDOMAIN", "SERVFAIL", "REFUSED"
DNS_SCHEMA_VERSION = "1.1.0"
DEFAULT_TTL = 5  # the kubernetes plugin's default ``ttl``
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
REVERSE_ZONES = ("in-addr.arpa.", "ip6.arpa.")
MAX_CNAME_CHAIN = 8

# Upstream's pod DNS limits (pkg/apis/core/validation and the kubelet's dns.go).
MAX_DNS_NAMESERVERS = 3
MAX_DNS_SEARCH_PATHS = 32
MAX_DNS_SEARCH_LIST_CHARS = 2048
MAX_SEARCH_DOMAIN_LENGTH = 253  # glibc aborts on longer search paths; the kubelet drops them
MAX_NDOTS = 15  # glibc clamps ndots here
DEFAULT_NDOTS = 1
CLUSTER_FIRST_OPTIONS = {"ndots": "5"}


# --------------------------------------------------------------------------- records and answers


@dataclass(frozen=True)
class SRV:
    """SRV rdata (RFC 2782)."""

    priority: int
    weight: int
    port: int
    target: str

    def __str__(self) -> str:
        return f"{self.priority} {self.weight} {self.port} {self.target}"


@dataclass(frozen=True)
class DNSRecord:
    """One resource record. ``data``: an IP (A/AAAA), a target name (CNAME/PTR), text (TXT)
    or :class:`SRV`. Names are lower-case and absolute (end with a dot)."""

    name: str
    type: str
    ttl: int
    data: str | SRV

    def to_dict(self) -> dict[str, Any]:
        data: Any = self.data
        if isinstance(data, SRV):
            data = {"priority": data.priority, "weight": data.weight, "port": data.port, "target": data.target}
        return {"name": self.name, "type": self.type, "ttl": self.ttl, "data": data}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DNSRecord:
        data = d["data"]
        if isinstance(data, Mapping):
            data = SRV(int(data["priority"]), int(data["weight"]), int(data["port"]), str(data["target"]))
        return cls(str(d["name"]), str(d["type"]), int(d["ttl"]), data)

    def __str__(self) -> str:
        data = f'"{self.data}"' if self.type == "TXT" else str(self.data)
        return f"{self.name} {self.ttl} IN {self.type} {data}"


@dataclass
class DNSAnswer:
    """A response: ``rcode`` plus the answer and additional sections.

    NOERROR with no answers is NODATA (the name exists, not with that type); REFUSED means
    the name is outside this server's zones (``authoritative`` is then False).
    """

    name: str
    qtype: str
    rcode: str
    answers: list[DNSRecord] = field(default_factory=list)
    additional: list[DNSRecord] = field(default_factory=list)
    authoritative: bool = True

    @property
    def ok(self) -> bool:
        """Whether this answer satisfies a lookup (NOERROR with at least one record)."""
        return self.rcode == NOERROR and bool(self.answers)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "qtype": self.qtype, "rcode": self.rcode,
                "answers": [r.to_dict() for r in self.answers],
                "additional": [r.to_dict() for r in self.additional],
                "authoritative": self.authoritative}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DNSAnswer:
        return cls(str(d["name"]), str(d["qtype"]), str(d["rcode"]),
                   [DNSRecord.from_dict(r) for r in d.get("answers") or ()],
                   [DNSRecord.from_dict(r) for r in d.get("additional") or ()],
                   bool(d.get("authoritative", True)))


def normalize_name(name: str) -> str:
    """Lower-case and absolute: DNS names compare case-insensitively, with or without the dot."""
    name = name.strip().lower()
    return name if name.endswith(".") else name + "."


def reverse_name(ip: str) -> str:
    """``d.c.b.a.in-addr.arpa.`` (or the ip6.arpa nibble form) for ``ip``."""
    return ipaddress.ip_address(ip).reverse_pointer + "."


def dashed_ip(ip: str) -> str:
    """The label CoreDNS names an endpoint without a hostname by: ``10-0-0-1``, ``fd00--1``."""
    return ip.replace(".", "-").replace(":", "-")


def _ip(value: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(str(value))
    except ValueError:
        return None


def _addr_type(ip: str) -> str:
    return "AAAA" if ":" in ip else "A"


def _ancestors(name: str, root: str) -> Iterable[str]:
    """Proper ancestors of ``name`` strictly below ``root`` (both absolute)."""
    labels = name.split(".")
    for i in range(1, len(labels)):
        parent = ".".join(labels[i:])
        if len(parent) <= len(root):
            return
        yield parent


# --------------------------------------------------------------------------- parsed API objects


@dataclass(frozen=True)
class _Port:
    name: str
    protocol: str
    port: int


@dataclass(frozen=True)
class _Service:
    namespace: str
    name: str
    kind: str  # "ClusterIP" | "Headless" | "ExternalName"
    ips: tuple[str, ...]
    external_name: str
    ports: tuple[_Port, ...]


@dataclass(frozen=True)
class _Endpoint:
    addresses: tuple[str, ...]
    hostname: str


@dataclass(frozen=True)
class _Slice:
    namespace: str
    name: str
    service: str | None
    ports: tuple[_Port, ...]
    endpoints: tuple[_Endpoint, ...]  # ready ones only: nothing else reaches DNS


def _named_ports(ports: Any) -> tuple[_Port, ...]:
    out = []
    for p in ports or ():
        name, number = p.get("name"), p.get("port")
        if name and number is not None:  # unnamed ports get no SRV record
            out.append(_Port(str(name).lower(), str(p.get("protocol") or "TCP").lower(), int(number)))
    return tuple(out)


def _parse_service(svc: Mapping[str, Any]) -> _Service:
    meta, spec = svc.get("metadata") or {}, svc.get("spec") or {}
    ns, name = str(meta.get("namespace") or "default"), str(meta["name"])
    ports = _named_ports(spec.get("ports"))
    if spec.get("type") == "ExternalName":
        target = normalize_name(str(spec.get("externalName") or ""))
        return _Service(ns, name, "ExternalName", (), target if target != "." else "", ports)
    ips = list(spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else []))
    if ips and ips[0] == "None":
        return _Service(ns, name, "Headless", (), "", ports)
    return _Service(ns, name, "ClusterIP", tuple(str(ip) for ip in ips if _ip(ip) is not None), "", ports)


def _is_ready(ep: Mapping[str, Any]) -> bool:
    return (ep.get("conditions") or {}).get("ready") is not False  # unset means ready


def _parse_slice(s: Mapping[str, Any]) -> _Slice:
    meta = s.get("metadata") or {}
    labels = meta.get("labels") or {}
    endpoints = []
    if s.get("addressType") != "FQDN":
        for ep in s.get("endpoints") or ():
            if not _is_ready(ep):
                continue
            addrs = tuple(str(ip) for ip in (_ip(a) for a in ep.get("addresses") or ()) if ip is not None)
            if addrs:
                endpoints.append(_Endpoint(addrs, str(ep.get("hostname") or "").lower()))
    return _Slice(str(meta.get("namespace") or "default"), str(meta["name"]), labels.get(SERVICE_NAME_LABEL),
                  _named_ports(s.get("ports")), tuple(endpoints))


Key = tuple[str, str]  # (namespace, name)
NameRecords = dict[str, tuple[DNSRecord, ...]]


# --------------------------------------------------------------------------- the zone


class DNSRecords:
    """The records of ``<zone>`` and the reverse zones, fed Service and EndpointSlice JSON.

    Every name is owned by the Service that produced it; a change recomputes only that
    Service's names and patches the name index by difference. Empty non-terminals (such as
    ``<ns>.svc.<zone>``) are reference-counted so that they answer NODATA, not NXDOMAIN.
    """

    def __init__(self, domain: str = "cluster.local", *, ttl: int = DEFAULT_TTL) -> None:
        if ttl < 0:
            raise ValueError("ttl must be non-negative")
        self.zone = normalize_name(domain)
        if self.zone == ".":
            raise ValueError("the cluster domain must not be empty")
        self.domain = self.zone[:-1]
        self.ttl = ttl
        self._svc_suffix = "svc." + self.zone
        self._pod_suffix = "pod." + self.zone
        self._services: dict[Key, _Service] = {}
        self._slices: dict[Key, _Slice] = {}
        self._slices_of: dict[Key, set[str]] = {}  # (ns, service) -> slice names
        self._owned: dict[Key, NameRecords] = {}
        self._names: dict[str, dict[Key, tuple[DNSRecord, ...]]] = {}
        self._ents: dict[str, int] = {}
        self._static: dict[str, tuple[DNSRecord, ...]] = {
            self.zone: (), self._svc_suffix: (), self._pod_suffix: (),
            REVERSE_ZONES[0]: (), REVERSE_ZONES[1]: (),
            "dns-version." + self.zone: (DNSRecord("dns-version." + self.zone, "TXT", ttl, DNS_SCHEMA_VERSION),),
        }

    # -- sizes

    @property
    def service_count(self) -> int:
        return len(self._services)

    @property
    def slice_count(self) -> int:
        return len(self._slices)

    @property
    def name_count(self) -> int:
        return len(self._names)

    # -- updates

    def set_service(self, svc: Mapping[str, Any]) -> bool:
        """Add or replace a Service; False when nothing DNS-visible changed (e.g. a resync)."""
        parsed = _parse_service(svc)
        key = (parsed.namespace, parsed.name)
        if self._services.get(key) == parsed:
            return False
        self._services[key] = parsed
        self._rebuild(key)
        return True

    def delete_service(self, namespace: str, name: str) -> bool:
        """Drop a Service and every name it owned (its slices stay, in case it comes back)."""
        key = (namespace, name)
        if self._services.pop(key, None) is None:
            return False
        self._rebuild(key)
        return True

    def set_endpoint_slice(self, slice_: Mapping[str, Any]) -> bool:
        """Add or replace an EndpointSlice (its Service named by ``kubernetes.io/service-name``)."""
        parsed = _parse_slice(slice_)
        key = (parsed.namespace, parsed.name)
        old = self._slices.get(key)
        if old == parsed:
            return False
        self._slices[key] = parsed
        if old is not None and old.service != parsed.service:
            self._unlink_slice(old)
        if parsed.service:
            self._slices_of.setdefault((parsed.namespace, parsed.service), set()).add(parsed.name)
            self._rebuild_if_headless((parsed.namespace, parsed.service))
        return True

    def delete_endpoint_slice(self, namespace: str, name: str) -> bool:
        old = self._slices.pop((namespace, name), None)
        if old is None:
            return False
        self._unlink_slice(old)
        return True

    def _unlink_slice(self, old: _Slice) -> None:
        if not old.service:
            return
        skey = (old.namespace, old.service)
        names = self._slices_of.get(skey)
        if names is not None:
            names.discard(old.name)
            if not names:
                del self._slices_of[skey]
        self._rebuild_if_headless(skey)

    def _rebuild_if_headless(self, key: Key) -> None:
        svc = self._services.get(key)
        if svc is not None and svc.kind == "Headless":  # only headless names come from endpoints
            self._rebuild(key)

    def _rebuild(self, key: Key) -> None:
        svc = self._services.get(key)
        new = self._records_for(svc) if svc is not None else {}
        old = self._owned.pop(key, {})
        for name in old.keys() - new.keys():
            self._unindex(name, key)
        for name, recs in new.items():
            if old.get(name) != recs:
                self._index(name, key, recs)
        if new:
            self._owned[key] = new

    def _root_of(self, name: str) -> str:
        for root in REVERSE_ZONES:
            if name.endswith("." + root):
                return root
        return self.zone

    def _index(self, name: str, owner: Key, recs: tuple[DNSRecord, ...]) -> None:
        owners = self._names.get(name)
        if owners is None:
            owners = self._names[name] = {}
            for parent in _ancestors(name, self._root_of(name)):
                self._ents[parent] = self._ents.get(parent, 0) + 1
        owners[owner] = recs

    def _unindex(self, name: str, owner: Key) -> None:
        owners = self._names.get(name)
        if owners is None or owners.pop(owner, None) is None or owners:
            return
        del self._names[name]
        for parent in _ancestors(name, self._root_of(name)):
            left = self._ents[parent] - 1
            if left:
                self._ents[parent] = left
            else:
                del self._ents[parent]

    # -- what a Service publishes

    def _records_for(self, svc: _Service) -> NameRecords:
        base = f"{svc.name}.{svc.namespace}.{self._svc_suffix}".lower()
        ttl = self.ttl
        out: dict[str, list[DNSRecord]] = {}

        def add(name: str, rtype: str, data: str | SRV) -> None:
            recs = out.setdefault(name, [])
            rec = DNSRecord(name, rtype, ttl, data)
            if rec not in recs:
                recs.append(rec)

        if svc.kind == "ExternalName":
            if svc.external_name:
                add(base, "CNAME", svc.external_name)
                for p in svc.ports:
                    add(f"_{p.name}._{p.protocol}.{base}", "SRV", SRV(0, 100, p.port, svc.external_name))
        elif svc.kind == "ClusterIP":
            out[base] = []  # exists even before an IP is allocated
            for ip in svc.ips:
                add(base, _addr_type(ip), ip)
                add(reverse_name(ip), "PTR", base)
            for p in svc.ports:
                add(f"_{p.name}._{p.protocol}.{base}", "SRV", SRV(0, 100, p.port, base))
                add(base, "SRV", SRV(0, 100, p.port, base))
        else:
            self._headless_records(svc, base, add)
        return {name: tuple(sorted(recs, key=_record_order)) for name, recs in out.items()}

    def _headless_records(self, svc: _Service, base: str, add: Callable[[str, str, str | SRV], None]) -> None:
        """Ready endpoints only; with none the Service has no name at all (the spec's NXDOMAIN)."""
        for slice_name in sorted(self._slices_of.get((svc.namespace, svc.name), ())):
            sl = self._slices[(svc.namespace, slice_name)]
            for ep in sl.endpoints:
                for ip in ep.addresses:
                    host = f"{ep.hostname or dashed_ip(ip)}.{base}"
                    rtype = _addr_type(ip)
                    add(base, rtype, ip)
                    add(host, rtype, ip)
                    add(reverse_name(ip), "PTR", host)
                    for p in sl.ports:
                        add(f"_{p.name}._{p.protocol}.{base}", "SRV", SRV(0, 100, p.port, host))
                        add(base, "SRV", SRV(0, 100, p.port, host))

    # -- queries

    def in_zone(self, name: str) -> bool:
        """Whether ``name`` (absolute, lower-case) is in ``<zone>`` or a reverse zone."""
        return any(name == root or name.endswith("." + root) for root in (self.zone, *REVERSE_ZONES))

    def query(self, name: str, qtype: str) -> DNSAnswer:
        """Answer one question as the kubernetes plugin would (CNAMEs chased inside the zone)."""
        return self._query(normalize_name(name), qtype.upper(), 0)

    def _query(self, qname: str, qtype: str, depth: int) -> DNSAnswer:
        if not self.in_zone(qname):
            return DNSAnswer(qname, qtype, REFUSED, authoritative=False)
        found = self._lookup(qname)
        if found is None:
            return DNSAnswer(qname, qtype, NXDOMAIN)
        cnames = [r for r in found if r.type == "CNAME"]
        if cnames and qtype not in ("CNAME", "ANY"):
            answer = DNSAnswer(qname, qtype, NOERROR, list(cnames))
            target = str(cnames[0].data)
            if depth < MAX_CNAME_CHAIN and self.in_zone(target):
                chased = self._query(target, qtype, depth + 1)
                answer.answers += chased.answers
                answer.additional += chased.additional
                answer.rcode = chased.rcode
            return answer
        answers = [r for r in found if qtype == "ANY" or r.type == qtype]
        srvs = [r for r in answers if r.type == "SRV"]
        additional: list[DNSRecord] = []
        if srvs:
            answers = _weighted(answers, len(srvs))
            additional = self._glue(srvs)
        return DNSAnswer(qname, qtype, NOERROR, answers, additional)

    def _lookup(self, qname: str) -> list[DNSRecord] | None:
        """Every record at ``qname``, ``[]`` for an existing name without records, None: NXDOMAIN."""
        owners = self._names.get(qname)
        if owners is not None:
            if len(owners) == 1:
                return list(next(iter(owners.values())))
            return sorted((r for recs in owners.values() for r in recs), key=_record_order)
        static = self._static.get(qname)
        if static is not None:
            return list(static)
        if qname in self._ents:
            return []
        if qname.endswith("." + self._pod_suffix):
            return self._pod_record(qname)
        return None

    def _pod_record(self, qname: str) -> list[DNSRecord] | None:
        """``a-b-c-d.<ns>.pod.<zone>`` -> a.b.c.d, unchecked ("pods insecure")."""
        labels = qname[: -len(self._pod_suffix) - 1].split(".")
        if len(labels) == 1:
            return [] if labels[0] else None  # <ns>.pod.<zone>: an empty non-terminal
        if len(labels) != 2 or not labels[0] or not labels[1]:
            return None
        label = labels[0]
        text = label.replace("-", ".") if label.count("-") == 3 and "--" not in label else label.replace("-", ":")
        ip = _ip(text)
        if ip is None:
            return None
        return [DNSRecord(qname, "AAAA" if ip.version == 6 else "A", self.ttl, str(ip))]

    def _glue(self, srvs: list[DNSRecord]) -> list[DNSRecord]:
        """The addresses of in-zone SRV targets, for the additional section."""
        out: list[DNSRecord] = []
        seen: set[str] = set()
        for r in srvs:
            target = r.data.target if isinstance(r.data, SRV) else ""
            if target in seen:
                continue
            seen.add(target)
            for owners in (self._names.get(target) or {}).values():
                out.extend(a for a in owners if a.type in ("A", "AAAA") and a not in out)
        return out


def _record_order(r: DNSRecord) -> tuple:
    data = r.data
    if isinstance(data, SRV):
        return (r.type, data.port, data.target)
    ip = _ip(data)
    return (r.type, ip.version, int(ip), "") if ip is not None else (r.type, 0, 0, str(data))


def _weighted(answers: list[DNSRecord], n_srv: int) -> list[DNSRecord]:
    """SRV weights share 100 among the answer's records of one priority (as CoreDNS does)."""
    weight = 100 // n_srv if n_srv else 100
    return [replace(r, data=replace(r.data, weight=weight)) if isinstance(r.data, SRV) else r for r in answers]


# --------------------------------------------------------------------------- resolver configuration


@dataclass
class ResolverConfig:
    """What ``/etc/resolv.conf`` says. ``options`` maps an option's name to its value
    (``""`` for flags such as ``edns0``), in order. ``warnings`` carry the kubelet's events
    ("Reason: message") about how the config was formed; they are not part of resolv.conf."""

    nameservers: list[str] = field(default_factory=list)
    searches: list[str] = field(default_factory=list)
    options: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list, compare=False)

    @property
    def ndots(self) -> int:
        """glibc's ndots: default 1, clamped to 0..15, an unparsable value ignored."""
        try:
            return max(0, min(MAX_NDOTS, int(self.options["ndots"])))
        except (KeyError, ValueError):
            return DEFAULT_NDOTS

    @property
    def option_list(self) -> list[str]:
        """Options as resolv.conf and the CRI spell them: ``ndots:5``, ``edns0``."""
        return [f"{k}:{v}" if v != "" else k for k, v in self.options.items()]

    @property
    def warning(self) -> str:
        return "; ".join(self.warnings)

    def copy(self) -> ResolverConfig:
        return ResolverConfig(list(self.nameservers), list(self.searches), dict(self.options), list(self.warnings))


def parse_options(items: Iterable[str]) -> dict[str, str]:
    """``["ndots:5", "edns0"]`` -> ``{"ndots": "5", "edns0": ""}`` (a later one wins)."""
    out: dict[str, str] = {}
    for item in items:
        name, _, value = item.partition(":")
        if name:
            out[name] = value
    return out


def parse_resolv_conf(text: str) -> ResolverConfig:
    """Parse resolv.conf as glibc does: nameservers accumulate, the last ``search`` or
    ``domain`` line wins, options accumulate; ``#`` and ``;`` start comments."""
    cfg = ResolverConfig()
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        fields = line.split()
        key, args = fields[0], fields[1:]
        if key == "nameserver" and args:
            cfg.nameservers.append(args[0])
        elif key == "search":
            cfg.searches = list(args)
        elif key == "domain" and args:
            cfg.searches = [args[0]]
        elif key == "options":
            cfg.options.update(parse_options(args))
    return cfg


def resolv_conf(config: ResolverConfig) -> str:
    """The resolv.conf a pod sees, in the container runtime's layout (search, nameservers, options)."""
    lines = []
    if config.searches:
        lines.append("search " + " ".join(config.searches))
    lines += [f"nameserver {ns}" for ns in config.nameservers]
    if config.options:
        lines.append("options " + " ".join(config.option_list))
    return "".join(line + "\n" for line in lines)


# --------------------------------------------------------------------------- the stub resolver


@dataclass
class ResolveResult:
    """How a lookup through the search list ended: ``fqdn`` is the name that answered
    (``""`` if none did), ``tried`` every name asked, in order."""

    rcode: str
    answers: list[DNSRecord]
    fqdn: str
    tried: list[str]

    @property
    def ok(self) -> bool:
        return self.rcode == NOERROR and bool(self.answers)


QueryFn = Callable[[str, str], DNSAnswer]


def resolve(query_fn: QueryFn, name: str, qtype: str, config: ResolverConfig) -> ResolveResult:
    """glibc's ``res_nsearch``: a name with at least ``ndots`` dots (or a trailing dot) is
    tried as is first; otherwise the search domains come first and the bare name last.
    NXDOMAIN, NODATA and SERVFAIL move on to the next candidate; any other failure
    (REFUSED, ...) ends the search. When all fail, the first as-is failure is reported,
    else NODATA if any name existed, else SERVFAIL if any server failed, else the last."""
    name = name.strip()
    if not name or name == ".":
        raise ValueError("cannot resolve an empty name")
    qtype = qtype.upper()
    trailing = name.endswith(".")
    dots = name.count(".")
    absolute = name if trailing else name + "."
    tried: list[str] = []
    last: list[DNSAnswer] = []

    def ask(fqdn: str) -> DNSAnswer:
        tried.append(fqdn)
        answer = query_fn(fqdn, qtype)
        last.append(answer)
        return answer

    def done(answer: DNSAnswer, fqdn: str) -> ResolveResult:
        return ResolveResult(NOERROR, list(answer.answers), fqdn, tried)

    saved: DNSAnswer | None = None
    if trailing or dots >= config.ndots:
        answer = ask(absolute)
        if answer.ok:
            return done(answer, absolute)
        if trailing:
            return ResolveResult(answer.rcode, [], "", tried)
        saved = answer
    got_nodata = got_servfail = root_on_list = searched = False
    for domain in config.searches:
        domain = domain.strip().strip(".")
        if domain:
            fqdn = f"{name}.{domain}."
        else:  # "." in the search list: the name itself, at this position
            fqdn, root_on_list = absolute, True
        searched = True
        answer = ask(fqdn)
        if answer.ok:
            return done(answer, fqdn)
        if answer.rcode == NOERROR:
            got_nodata = True
        elif answer.rcode == SERVFAIL:
            got_servfail = True
        elif answer.rcode != NXDOMAIN:
            break
    no_tld = "no-tld-query" in config.options
    if (dots or not searched or not no_tld) and saved is None and not root_on_list:
        answer = ask(absolute)
        if answer.ok:
            return done(answer, absolute)
    if saved is not None:
        rcode = saved.rcode
    elif got_nodata:
        rcode = NOERROR
    elif got_servfail:
        rcode = SERVFAIL
    else:
        rcode = last[-1].rcode if last else NXDOMAIN
    return ResolveResult(rcode, [], "", tried)


# --------------------------------------------------------------------------- the kubelet's side


def _omit_duplicates(items: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out


def _host_searches(host: ResolverConfig) -> list[str]:
    """The host's search list as the kubelet reads it: trailing dots dropped, "." skipped."""
    return [s.rstrip(".") for s in host.searches if s.strip(".")]


def _fit_searches(searches: list[str]) -> tuple[list[str], bool]:
    """Upstream's formDNSSearchFitsLimits: keep the first 32, drop names longer than 253
    characters, then drop from the end until the line is at most 2048 characters."""
    exceeded = False
    if len(searches) > MAX_DNS_SEARCH_PATHS:
        searches, exceeded = searches[:MAX_DNS_SEARCH_PATHS], True
    kept = [s for s in searches if len(s) <= MAX_SEARCH_DOMAIN_LENGTH]
    if len(kept) != len(searches):
        exceeded = True
    searches = kept
    length = len(" ".join(searches))
    if length > MAX_DNS_SEARCH_LIST_CHARS:
        cut = cut_len = 0
        for s in reversed(searches):
            cut_len += len(s) + 1
            cut += 1
            if length - cut_len <= MAX_DNS_SEARCH_LIST_CHARS:
                break
        searches, exceeded = searches[: len(searches) - cut], True
    return searches, exceeded


def pod_dns_config(pod: Mapping[str, Any], *, cluster_dns: list[str], cluster_domain: str,
                   host: ResolverConfig | None) -> ResolverConfig:
    """The resolv.conf the kubelet gives ``pod`` (upstream's ``GetPodDNS``).

    ``host`` is the node's resolv.conf (``--resolv-conf``); None stands for the flag set to
    ``""``, which points Default pods at 127.0.0.1 with search ``.``. Events upstream would
    record (MissingClusterDNS, DNSConfigForming) come back in ``warnings``.
    """
    spec = pod.get("spec") or {}
    namespace = str((pod.get("metadata") or {}).get("namespace") or "default")
    policy = spec.get("dnsPolicy") or "ClusterFirst"
    if policy == "None":
        kind = "none"
    elif policy == "ClusterFirstWithHostNet":
        kind = "cluster"
    elif policy == "ClusterFirst":
        kind = "host" if spec.get("hostNetwork") else "cluster"  # host-network pods fall back to Default
    elif policy == "Default":
        kind = "host"
    else:
        raise ValueError(f"invalid dnsPolicy {policy!r}")
    host_cfg = host.copy() if host is not None else ResolverConfig()
    host_cfg.searches = _host_searches(host_cfg)
    host_cfg.warnings = []
    warnings: list[str] = []
    if kind == "none":
        cfg = ResolverConfig()
    elif kind == "cluster" and cluster_dns:
        domain = cluster_domain.strip().rstrip(".")
        searches = host_cfg.searches
        if domain:
            searches = _omit_duplicates([f"{namespace}.svc.{domain}", f"svc.{domain}", domain, *searches])
        cfg = ResolverConfig([str(ip) for ip in cluster_dns], searches, dict(CLUSTER_FIRST_OPTIONS))
    else:
        if kind == "cluster":
            warnings.append('MissingClusterDNS: kubelet does not have ClusterDNS IP configured and cannot create '
                            'Pod using "ClusterFirst" policy. Falling back to "Default" policy.')
        cfg = host_cfg if host is not None else ResolverConfig(["127.0.0.1"], ["."], {})
    extra = spec.get("dnsConfig")
    if extra:
        cfg.nameservers = _omit_duplicates([*cfg.nameservers, *(extra.get("nameservers") or ())])
        cfg.searches = _omit_duplicates([*cfg.searches, *(extra.get("searches") or ())])
        for opt in extra.get("options") or ():
            if opt.get("name"):
                value = opt.get("value")
                cfg.options[str(opt["name"])] = "" if value is None else str(value)
    cfg.searches, exceeded = _fit_searches(cfg.searches)
    if exceeded:
        warnings.append("DNSConfigForming: Search Line limits were exceeded, some search paths have been omitted, "
                        "the applied search line is: " + " ".join(cfg.searches))
    if len(cfg.nameservers) > MAX_DNS_NAMESERVERS:
        cfg.nameservers = cfg.nameservers[:MAX_DNS_NAMESERVERS]
        warnings.append("DNSConfigForming: Nameserver limits were exceeded, some nameservers have been omitted, "
                        "the applied nameserver line is: " + " ".join(cfg.nameservers))
    cfg.warnings = warnings
    return cfg
