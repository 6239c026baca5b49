"""A pod's name lookups: its resolv.conf (what the kubelet gave its sandbox)
says which nameservers to ask and which search domains to try; the cluster
DNS answers for ``cluster.local``. A nameserver here takes the whole search
(name, type, resolver configuration) in one exchange, so a remote cluster
DNS costs one call per lookup, not one per search domain."""
from __future__ import annotations

import inspect
from typing import Any, Awaitable, Callable

from .dns import DNSRecords, ResolveResult, ResolverConfig, parse_options, resolve
from .host import NetNS, Resolve, Resolved

# (name, qtype, resolver config) -> the result of the search
Nameserver = Callable[[str, str, ResolverConfig], "ResolveResult | Awaitable[ResolveResult]"]
MAX_NAMESERVERS = 3


def resolver_config(dns: Any) -> ResolverConfig:
    """A sandbox's DNS configuration (the CRI's DNSConfig: servers, searches,
    options) as a resolver configuration; none means nothing to ask."""
    if dns is None:
        return ResolverConfig()
    if isinstance(dns, ResolverConfig):
        return dns
    return ResolverConfig(list(getattr(dns, "servers", ()) or ()), list(getattr(dns, "searches", ()) or ()),
                          parse_options(getattr(dns, "options", ()) or ()))


def local_nameserver(records: Any) -> Nameserver:
    """A nameserver over zone data in this process (``DNSRecords`` or anything
    with ``lookup``/``query`` answering DNSAnswer)."""
    ask = records.query if isinstance(records, DNSRecords) else records.lookup

    def search(name: str, qtype: str, config: ResolverConfig) -> ResolveResult:
        return resolve(ask, name, qtype, config)
    return search


def pod_resolver(nameservers: Callable[[str], Nameserver | None]) -> Resolve:
    """A :class:`netsim.host.Host`'s ``resolve``: the source's nameservers in
    order (one that is not there is skipped, as one timing out would be);
    the first answer decides. Raises LookupError with what was tried."""
    async def lookup(ns: NetNS | None, name: str) -> Resolved:
        cfg = resolver_config(ns.dns if ns is not None else None)
        asked = []
        for server in cfg.nameservers[:MAX_NAMESERVERS]:
            search = nameservers(server)
            if search is None:
                asked.append(f"{server} (no answer)")
                continue
            result = search(name, "A", cfg)
            if inspect.isawaitable(result):
                result = await result
            ips = [str(r.data) for r in result.answers if r.type == "A"]
            if result.ok and ips:
                return Resolved(name, tuple(ips), result.fqdn.rstrip("."), server)
            raise LookupError(f"{name}: {result.rcode} from nameserver {server} "
                              f"(tried {', '.join(t.rstrip('.') for t in result.tried) or name})")
        raise LookupError(f"{name}: no nameserver answered "
                          f"({', '.join(asked) if asked else 'none configured'})")
    return lookup
