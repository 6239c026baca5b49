"""Cluster DNS records (the Kubernetes DNS specification as CoreDNS serves it), the pod's
stub resolver (glibc's search order) and the kubelet's resolv.conf for a pod."""
from __future__ import annotations

import pytest

from netsim.dns import (
    NOERROR,
    NXDOMAIN,
    REFUSED,
    SERVFAIL,
    SRV,
    DNSAnswer,
    DNSRecord,
    DNSRecords,
    ResolverConfig,
    parse_resolv_conf,
    pod_dns_config,
    resolv_conf,
    resolve,
)

Z = "cluster.local."


def svc(name: str, ns: str = "ns", *, ip: str | None = "10.96.0.5", ports=(("http", 80, "TCP"),),
        type_: str | None = None, external: str | None = None, ips: list[str] | None = None) -> dict:
    spec: dict = {"ports": [{"name": n, "port": p, "protocol": proto} if n else {"port": p, "protocol": proto}
                            for n, p, proto in ports]}
    if ip is not None:
        spec["clusterIP"] = ip
    if ips is not None:
        spec["clusterIPs"] = ips
    if type_:
        spec["type"] = type_
    if external:
        spec["externalName"] = external
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns}, "spec": spec}


def ep(*addresses: str, hostname: str | None = None, ready: bool | None = True) -> dict:
    e: dict = {"addresses": list(addresses)}
    if hostname:
        e["hostname"] = hostname
    if ready is not None:
        e["conditions"] = {"ready": ready}
    return e


def eps(name: str, service: str, endpoints: list[dict], ns: str = "ns", ports=(("http", 8080, "TCP"),),
        address_type: str = "IPv4") -> dict:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": name, "namespace": ns, "labels": {"kubernetes.io/service-name": service}},
            "addressType": address_type, "endpoints": endpoints,
            "ports": [{"name": n, "port": p, "protocol": proto} for n, p, proto in ports]}


def data(answer: DNSAnswer) -> list:
    return [r.data for r in answer.answers]


def types(answer: DNSAnswer) -> list[str]:
    return [r.type for r in answer.answers]


# --------------------------------------------------------------------------- services


def test_cluster_ip_service_a_srv_and_ptr():
    z = DNSRecords()
    assert z.set_service(svc("web", ports=(("http", 80, "TCP"), ("dns", 53, "UDP"), ("", 81, "TCP"))))
    a = z.query("web.ns.svc.cluster.local", "A")
    assert (a.rcode, a.answers) == (NOERROR, [DNSRecord("web.ns.svc." + Z, "A", 5, "10.96.0.5")])
    srv = z.query("_http._tcp.web.ns.svc.cluster.local.", "SRV")
    assert srv.answers == [DNSRecord("_http._tcp.web.ns.svc." + Z, "SRV", 5, SRV(0, 100, 80, "web.ns.svc." + Z))]
    assert srv.additional == [DNSRecord("web.ns.svc." + Z, "A", 5, "10.96.0.5")]
    assert data(z.query("_dns._udp.web.ns.svc.cluster.local", "SRV")) == [SRV(0, 100, 53, "web.ns.svc." + Z)]
    assert z.query("_dns._tcp.web.ns.svc.cluster.local", "SRV").rcode == NXDOMAIN  # dns is UDP only
    # the service name with qtype SRV: every named port, the weight shared
    assert sorted(data(z.query("web.ns.svc.cluster.local", "SRV")), key=lambda s: s.port) == \
        [SRV(0, 50, 53, "web.ns.svc." + Z), SRV(0, 50, 80, "web.ns.svc." + Z)]
    ptr = z.query("5.0.96.10.in-addr.arpa.", "PTR")
    assert (ptr.rcode, data(ptr)) == (NOERROR, ["web.ns.svc." + Z])


def test_names_are_case_insensitive_and_may_end_with_a_dot():
    z = DNSRecords()
    z.set_service(svc("web"))
    for name in ("WEB.Ns.SVC.cluster.LOCAL", "web.ns.svc.cluster.local.", "  web.ns.svc.cluster.local "):
        assert data(z.query(name, "a")) == ["10.96.0.5"]


def test_existing_name_without_the_type_is_nodata_and_unknown_names_nxdomain():
    z = DNSRecords()
    z.set_service(svc("web"))
    for q in (("web.ns.svc.cluster.local", "AAAA"), ("web.ns.svc.cluster.local", "TXT"),
              ("_http._tcp.web.ns.svc.cluster.local", "A"), ("ns.svc.cluster.local", "A"),
              ("_tcp.web.ns.svc.cluster.local", "SRV"), ("svc.cluster.local", "A"), ("cluster.local", "A"),
              ("0.96.10.in-addr.arpa", "PTR")):
        got = z.query(*q)
        assert (got.rcode, got.answers) == (NOERROR, []), q
    for q in (("nope.ns.svc.cluster.local", "A"), ("web.other.svc.cluster.local", "A"),
              ("other.svc.cluster.local", "A"), ("x.web.ns.svc.cluster.local", "A"),
              ("_http._udp.web.ns.svc.cluster.local", "SRV"), ("6.0.96.10.in-addr.arpa", "PTR")):
        assert z.query(*q).rcode == NXDOMAIN, q
    outside = z.query("example.com", "A")
    assert (outside.rcode, outside.authoritative) == (REFUSED, False)


def test_schema_version_record_and_ttl_and_domain_are_parameters():
    z = DNSRecords("Example.Internal.", ttl=30)
    z.set_service(svc("web"))
    assert z.query("dns-version.example.internal", "TXT").answers == \
        [DNSRecord("dns-version.example.internal.", "TXT", 30, "1.1.0")]
    assert z.query("web.ns.svc.example.internal", "A").answers[0].ttl == 30
    assert z.query("web.ns.svc.cluster.local", "A").rcode == REFUSED


def test_dual_stack_cluster_ips_give_a_and_aaaa_and_both_ptrs():
    z = DNSRecords()
    z.set_service(svc("web", ip="10.96.0.7", ips=["10.96.0.7", "fd00::7"]))
    assert data(z.query("web.ns.svc.cluster.local", "A")) == ["10.96.0.7"]
    assert data(z.query("web.ns.svc.cluster.local", "AAAA")) == ["fd00::7"]
    v6 = "7.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa."
    assert data(z.query(v6, "PTR")) == ["web.ns.svc." + Z]


def test_external_name_is_a_cname_for_every_type():
    z = DNSRecords()
    z.set_service(svc("ext", ip=None, type_="ExternalName", external="WWW.Example.com"))
    for qtype in ("A", "AAAA", "CNAME"):
        got = z.query("ext.ns.svc.cluster.local", qtype)
        assert got.answers == [DNSRecord("ext.ns.svc." + Z, "CNAME", 5, "www.example.com.")], qtype
    assert data(z.query("_http._tcp.ext.ns.svc.cluster.local", "SRV")) == [SRV(0, 100, 80, "www.example.com.")]


def test_external_name_pointing_into_the_zone_is_chased():
    z = DNSRecords()
    z.set_service(svc("web"))
    z.set_service(svc("alias", ip=None, type_="ExternalName", external="web.ns.svc.cluster.local"))
    got = z.query("alias.ns.svc.cluster.local", "A")
    assert [(r.name, r.type, r.data) for r in got.answers] == [
        ("alias.ns.svc." + Z, "CNAME", "web.ns.svc." + Z), ("web.ns.svc." + Z, "A", "10.96.0.5")]


# --------------------------------------------------------------------------- headless


def headless_zone() -> DNSRecords:
    z = DNSRecords()
    z.set_service(svc("db", ip="None", ports=(("pg", 5432, "TCP"),)))
    z.set_endpoint_slice(eps("db-a", "db", [ep("10.0.0.2", hostname="db-0"), ep("10.0.0.3"),
                                            ep("10.0.0.4", ready=False), ep("10.0.0.5", ready=None),
                                            ep("10.0.0.3")], ports=(("pg", 5433, "TCP"),)))
    return z


def test_headless_a_records_are_the_ready_endpoints_deduplicated():
    z = headless_zone()
    assert data(z.query("db.ns.svc.cluster.local", "A")) == ["10.0.0.2", "10.0.0.3", "10.0.0.5"]
    assert data(z.query("db-0.db.ns.svc.cluster.local", "A")) == ["10.0.0.2"]
    assert data(z.query("10-0-0-3.db.ns.svc.cluster.local", "A")) == ["10.0.0.3"]  # an SRV target resolves
    assert z.query("10-0-0-4.db.ns.svc.cluster.local", "A").rcode == NXDOMAIN  # not ready


def test_headless_srv_targets_each_endpoint_with_the_endpoint_port():
    z = headless_zone()
    got = z.query("_pg._tcp.db.ns.svc.cluster.local", "SRV")
    assert sorted(data(got), key=lambda s: s.target) == [
        SRV(0, 33, 5433, "10-0-0-3.db.ns.svc." + Z), SRV(0, 33, 5433, "10-0-0-5.db.ns.svc." + Z),
        SRV(0, 33, 5433, "db-0.db.ns.svc." + Z)]
    assert sorted(r.data for r in got.additional) == ["10.0.0.2", "10.0.0.3", "10.0.0.5"]
    assert len(data(z.query("db.ns.svc.cluster.local", "SRV"))) == 3


def test_headless_ptr_names_the_endpoint():
    z = headless_zone()
    assert data(z.query("2.0.0.10.in-addr.arpa", "PTR")) == ["db-0.db.ns.svc." + Z]
    assert data(z.query("3.0.0.10.in-addr.arpa", "PTR")) == ["10-0-0-3.db.ns.svc." + Z]
    assert z.query("4.0.0.10.in-addr.arpa", "PTR").rcode == NXDOMAIN


def test_headless_without_ready_endpoints_is_nxdomain():
    z = DNSRecords()
    z.set_service(svc("db", ip="None"))
    assert z.query("db.ns.svc.cluster.local", "A").rcode == NXDOMAIN
    z.set_endpoint_slice(eps("db-a", "db", [ep("10.0.0.9", ready=False)]))
    assert z.query("db.ns.svc.cluster.local", "A").rcode == NXDOMAIN


def test_headless_ipv6_endpoints_answer_aaaa_with_dashed_names():
    z = DNSRecords()
    z.set_service(svc("db", ip="None"))
    z.set_endpoint_slice(eps("db-6", "db", [ep("fd00::9")], address_type="IPv6"))
    assert data(z.query("db.ns.svc.cluster.local", "AAAA")) == ["fd00::9"]
    assert (z.query("db.ns.svc.cluster.local", "A").rcode, data(z.query("db.ns.svc.cluster.local", "A"))) == \
        (NOERROR, [])
    assert data(z.query("fd00--9.db.ns.svc.cluster.local", "AAAA")) == ["fd00::9"]


def test_headless_records_merge_slices_and_a_cluster_ip_service_ignores_its_slices():
    z = DNSRecords()
    z.set_service(svc("db", ip="None"))
    z.set_endpoint_slice(eps("db-a", "db", [ep("10.0.0.2")]))
    z.set_endpoint_slice(eps("db-b", "db", [ep("10.0.0.3"), ep("10.0.0.2")]))
    assert data(z.query("db.ns.svc.cluster.local", "A")) == ["10.0.0.2", "10.0.0.3"]
    z.set_service(svc("web"))
    z.set_endpoint_slice(eps("web-a", "web", [ep("10.0.1.1", hostname="w")]))
    assert data(z.query("web.ns.svc.cluster.local", "A")) == ["10.96.0.5"]
    assert z.query("w.web.ns.svc.cluster.local", "A").rcode == NXDOMAIN


# --------------------------------------------------------------------------- incremental updates


def test_slice_changes_update_headless_answers():
    z = headless_zone()
    z.set_endpoint_slice(eps("db-a", "db", [ep("10.0.0.2", hostname="db-0"), ep("10.0.0.6", hostname="db-1")],
                             ports=(("pg", 5433, "TCP"),)))
    assert data(z.query("db.ns.svc.cluster.local", "A")) == ["10.0.0.2", "10.0.0.6"]
    assert data(z.query("db-1.db.ns.svc.cluster.local", "A")) == ["10.0.0.6"]
    assert z.query("10-0-0-3.db.ns.svc.cluster.local", "A").rcode == NXDOMAIN
    assert z.query("3.0.0.10.in-addr.arpa", "PTR").rcode == NXDOMAIN
    assert sorted(s.target for s in data(z.query("_pg._tcp.db.ns.svc.cluster.local", "SRV"))) == \
        ["db-0.db.ns.svc." + Z, "db-1.db.ns.svc." + Z]
    # the slice moves to another service: db loses its endpoints
    z.set_service(svc("db2", ip="None"))
    z.set_endpoint_slice(eps("db-a", "db2", [ep("10.0.0.2")]))
    assert z.query("db.ns.svc.cluster.local", "A").rcode == NXDOMAIN
    assert data(z.query("db2.ns.svc.cluster.local", "A")) == ["10.0.0.2"]
    z.delete_endpoint_slice("ns", "db-a")
    assert z.query("db2.ns.svc.cluster.local", "A").rcode == NXDOMAIN
    assert z.name_count == 0 and z.query("2.0.0.10.in-addr.arpa", "PTR").rcode == NXDOMAIN


def test_a_slice_before_its_service_counts_once_the_service_appears():
    z = DNSRecords()
    z.set_endpoint_slice(eps("db-a", "db", [ep("10.0.0.2")]))
    assert z.query("db.ns.svc.cluster.local", "A").rcode == NXDOMAIN
    z.set_service(svc("db", ip="None"))
    assert data(z.query("db.ns.svc.cluster.local", "A")) == ["10.0.0.2"]


def test_deleting_a_service_removes_all_its_names():
    z = headless_zone()
    z.set_service(svc("web"))
    before = z.name_count
    assert z.delete_service("ns", "db")
    for q in (("db.ns.svc.cluster.local", "A"), ("db-0.db.ns.svc.cluster.local", "A"),
              ("_pg._tcp.db.ns.svc.cluster.local", "SRV"), ("2.0.0.10.in-addr.arpa", "PTR"),
              ("_tcp.db.ns.svc.cluster.local", "SRV"), ("0.0.10.in-addr.arpa", "PTR")):
        assert z.query(*q).rcode == NXDOMAIN, q
    assert z.name_count < before and z.query("ns.svc.cluster.local", "A").rcode == NOERROR  # web is left
    z.delete_service("ns", "web")
    assert z.name_count == 0
    assert z.query("ns.svc.cluster.local", "A").rcode == NXDOMAIN
    assert not z.delete_service("ns", "web")


def test_changing_a_service_replaces_its_records_and_a_resync_is_a_no_op():
    z = DNSRecords()
    assert z.set_service(svc("web"))
    assert not z.set_service(svc("web"))  # nothing DNS-visible changed
    z.set_service(svc("web", ip="10.96.0.9", ports=(("https", 443, "TCP"),)))
    assert data(z.query("web.ns.svc.cluster.local", "A")) == ["10.96.0.9"]
    assert z.query("5.0.96.10.in-addr.arpa", "PTR").rcode == NXDOMAIN
    assert z.query("_http._tcp.web.ns.svc.cluster.local", "SRV").rcode == NXDOMAIN
    assert data(z.query("_https._tcp.web.ns.svc.cluster.local", "SRV")) == [SRV(0, 100, 443, "web.ns.svc." + Z)]
    z.set_service(svc("web", ip="None"))  # became headless, no endpoints yet
    assert z.query("web.ns.svc.cluster.local", "A").rcode == NXDOMAIN


def test_two_services_sharing_an_endpoint_both_get_a_ptr():
    z = DNSRecords()
    for name in ("a", "b"):
        z.set_service(svc(name, ip="None"))
        z.set_endpoint_slice(eps(f"{name}-x", name, [ep("10.0.0.2")]))
    assert sorted(data(z.query("2.0.0.10.in-addr.arpa", "PTR"))) == ["10-0-0-2.a.ns.svc." + Z, "10-0-0-2.b.ns.svc." + Z]
    z.delete_service("ns", "a")
    assert data(z.query("2.0.0.10.in-addr.arpa", "PTR")) == ["10-0-0-2.b.ns.svc." + Z]


def test_many_services_update_without_rebuilding_everything():
    z = DNSRecords()
    for i in range(3000):
        z.set_service(svc(f"s{i}", ip=f"10.96.{i // 250}.{i % 250 + 1}"))
    names = z.name_count
    assert names == 3000 * 3  # the service name, one SRV name, one PTR
    z.set_service(svc("s1", ip="10.97.0.1"))
    assert z.name_count == names
    assert data(z.query("s1.ns.svc.cluster.local", "A")) == ["10.97.0.1"]
    assert data(z.query("s2999.ns.svc.cluster.local", "A")) == ["10.96.11.250"]


# --------------------------------------------------------------------------- pods


def test_pod_records_are_the_ip_in_the_name():
    z = DNSRecords()
    assert z.query("10-244-1-7.default.pod.cluster.local", "A").answers == \
        [DNSRecord("10-244-1-7.default.pod." + Z, "A", 5, "10.244.1.7")]
    assert data(z.query("fd00--7.default.pod.cluster.local", "AAAA")) == ["fd00::7"]
    assert (z.query("10-244-1-7.default.pod.cluster.local", "AAAA").rcode,
            z.query("10-244-1-7.default.pod.cluster.local", "AAAA").answers) == (NOERROR, [])
    for bad in ("10-244-1-300", "10-244-1", "web", "10-244-1-7-8", "a.10-244-1-7"):
        assert z.query(f"{bad}.default.pod.cluster.local", "A").rcode == NXDOMAIN, bad
    assert z.query("default.pod.cluster.local", "A").rcode == NOERROR


# --------------------------------------------------------------------------- answers as data


def test_answers_round_trip_through_dicts():
    z = headless_zone()
    got = z.query("_pg._tcp.db.ns.svc.cluster.local", "SRV")
    d = got.to_dict()
    assert d["answers"][0]["data"] == {"priority": 0, "weight": 33, "port": 5433,
                                       "target": "10-0-0-3.db.ns.svc." + Z}
    assert DNSAnswer.from_dict(d) == got
    assert str(got.answers[0]) == "_pg._tcp.db.ns.svc.cluster.local. 5 IN SRV 0 33 5433 10-0-0-3.db.ns.svc.cluster.local."


# --------------------------------------------------------------------------- the stub resolver


def recording_zone(z: DNSRecords, *, forward: bool = True):
    """The zone as a pod's nameserver; ``forward``: names outside it are NXDOMAIN, as from
    a forwarder whose upstream knows nothing (the zone alone REFUSES them)."""
    asked: list[str] = []

    def query(fqdn: str, qtype: str) -> DNSAnswer:
        asked.append(fqdn)
        answer = z.query(fqdn, qtype)
        if forward and answer.rcode == REFUSED:
            answer = DNSAnswer(answer.name, qtype, NXDOMAIN, authoritative=False)
        return answer
    return query, asked


POD = ResolverConfig(["10.96.0.10"], ["ns.svc.cluster.local", "svc.cluster.local", "cluster.local", "corp.example"],
                     {"ndots": "5"})


def test_short_names_try_the_search_domains_first():
    z = DNSRecords()
    z.set_service(svc("web"))
    z.set_service(svc("db", ns="other", ip="10.96.0.6"))
    q, _ = recording_zone(z)
    got = resolve(q, "web", "A", POD)
    assert (got.rcode, got.fqdn, got.tried) == (NOERROR, "web.ns.svc." + Z, ["web.ns.svc." + Z])
    assert data(got) == ["10.96.0.5"]
    got = resolve(q, "db.other", "A", POD)
    assert got.tried == ["db.other.ns.svc." + Z, "db.other.svc." + Z]
    assert got.fqdn == "db.other.svc." + Z and data(got) == ["10.96.0.6"]


def test_fewer_dots_than_ndots_means_the_name_itself_is_tried_last():
    z = DNSRecords()
    z.set_service(svc("web"))
    got = resolve(recording_zone(z)[0], "web.ns.svc.cluster.local", "A", POD)  # 4 dots < 5
    assert got.tried == ["web.ns.svc.cluster.local.ns.svc." + Z, "web.ns.svc.cluster.local.svc." + Z,
                         "web.ns.svc.cluster.local." + Z, "web.ns.svc.cluster.local.corp.example.",
                         "web.ns.svc." + Z]
    assert got.ok and got.fqdn == "web.ns.svc." + Z


def test_enough_dots_tries_the_name_first_then_the_search_list():
    z = DNSRecords()
    z.set_service(svc("web"))
    cfg = ResolverConfig(["10.96.0.10"], ["ns.svc.cluster.local", "svc.cluster.local"], {"ndots": "1"})
    got = resolve(recording_zone(z)[0], "web.ns", "A", cfg)
    assert got.tried == ["web.ns.", "web.ns.ns.svc." + Z, "web.ns.svc." + Z]
    assert got.fqdn == "web.ns.svc." + Z
    assert got.rcode == NOERROR


def test_absolute_names_skip_the_search_list():
    z = DNSRecords()
    z.set_service(svc("web"))
    q, _ = recording_zone(z)
    got = resolve(q, "web.", "A", POD)
    assert (got.rcode, got.tried, got.answers) == (NXDOMAIN, ["web."], [])
    assert resolve(q, "web.ns.svc.cluster.local.", "A", POD).tried == ["web.ns.svc." + Z]


def test_failure_codes_when_nothing_matches():
    z = DNSRecords()
    z.set_service(svc("web"))
    q, _ = recording_zone(z)
    got = resolve(q, "nope", "A", POD)
    assert got.rcode == NXDOMAIN and got.fqdn == "" and len(got.tried) == 5
    # an existing name of another type anywhere: NODATA wins over NXDOMAIN
    got = resolve(q, "web", "AAAA", POD)
    assert (got.rcode, got.answers, len(got.tried)) == (NOERROR, [], 5)
    # with the name tried first, its own failure is what is reported
    cfg = ResolverConfig([], ["ns.svc.cluster.local"], {"ndots": "1"})
    got = resolve(recording_zone(z, forward=False)[0], "example.com", "A", cfg)
    assert (got.rcode, got.tried) == (REFUSED, ["example.com.", "example.com.ns.svc." + Z])


def test_servfail_continues_but_refused_stops_the_search():
    answers = {"a.one.": SERVFAIL, "a.two.": NXDOMAIN, "a.three.": REFUSED, "a.four.": NOERROR}
    asked: list[str] = []

    def q(fqdn: str, qtype: str) -> DNSAnswer:
        asked.append(fqdn)
        code = answers.get(fqdn, NXDOMAIN)
        recs = [DNSRecord(fqdn, "A", 5, "1.2.3.4")] if code == NOERROR else []
        return DNSAnswer(fqdn, qtype, code, recs)

    cfg = ResolverConfig([], ["one", "two", "three", "four"], {})
    got = resolve(q, "a", "A", cfg)
    assert asked == ["a.one.", "a.two.", "a.three.", "a."]  # four never asked; the bare name still is
    assert got.rcode == SERVFAIL
    asked.clear()
    assert resolve(q, "a", "A", ResolverConfig([], ["two", "four"], {})).fqdn == "a.four."


def test_root_in_the_search_list_and_no_tld_query():
    seen: list[str] = []

    def q(fqdn: str, qtype: str) -> DNSAnswer:
        seen.append(fqdn)
        return DNSAnswer(fqdn, qtype, NXDOMAIN)

    resolve(q, "host", "A", ResolverConfig([], ["a", ".", "b"], {}))
    assert seen == ["host.a.", "host.", "host.b."]  # the bare name once, where "." stands
    seen.clear()
    resolve(q, "host", "A", ResolverConfig([], ["a"], {"no-tld-query": ""}))
    assert seen == ["host.a."]
    seen.clear()
    resolve(q, "host", "A", ResolverConfig([], [], {"no-tld-query": ""}))
    assert seen == ["host."]  # nothing searched: the name itself is still asked
    with pytest.raises(ValueError):
        resolve(q, "", "A", ResolverConfig())


def test_ndots_defaults_and_clamps():
    assert ResolverConfig().ndots == 1
    assert ResolverConfig(options={"ndots": "5"}).ndots == 5
    assert ResolverConfig(options={"ndots": "40"}).ndots == 15
    assert ResolverConfig(options={"ndots": "x"}).ndots == 1


# --------------------------------------------------------------------------- resolv.conf


def test_resolv_conf_round_trip():
    cfg = ResolverConfig(["10.96.0.10", "10.96.0.11"], ["ns.svc.cluster.local", "svc.cluster.local"],
                         {"ndots": "5", "edns0": ""})
    text = resolv_conf(cfg)
    assert text == ("search ns.svc.cluster.local svc.cluster.local\nnameserver 10.96.0.10\n"
                    "nameserver 10.96.0.11\noptions ndots:5 edns0\n")
    assert parse_resolv_conf(text) == cfg
    assert resolv_conf(ResolverConfig()) == ""


def test_resolv_conf_parsing_follows_glibc():
    text = """# generated
nameserver 8.8.8.8
; old
search a.example b.example
domain only.example
nameserver 1.1.1.1
options ndots:2 timeout:3
options ndots:4 rotate
"""
    cfg = parse_resolv_conf(text)
    assert cfg.nameservers == ["8.8.8.8", "1.1.1.1"]
    assert cfg.searches == ["only.example"]  # the last of search/domain wins
    assert cfg.options == {"ndots": "4", "timeout": "3", "rotate": ""}
    assert cfg.ndots == 4


# --------------------------------------------------------------------------- the kubelet's pod DNS


HOST = ResolverConfig(["192.168.0.1", "192.168.0.2"], ["corp.example.", "."], {"timeout": "2"})
CLUSTER = {"cluster_dns": ["10.96.0.10"], "cluster_domain": "cluster.local"}


def pod(*, policy: str | None = None, host_network: bool = False, dns_config: dict | None = None,
        ns: str = "team") -> dict:
    spec: dict = {"containers": [{"name": "c", "image": "x"}]}
    if policy:
        spec["dnsPolicy"] = policy
    if host_network:
        spec["hostNetwork"] = True
    if dns_config is not None:
        spec["dnsConfig"] = dns_config
    return {"metadata": {"name": "p", "namespace": ns}, "spec": spec}


def test_cluster_first_is_the_default():
    for p in (pod(), pod(policy="ClusterFirst")):
        cfg = pod_dns_config(p, host=HOST, **CLUSTER)
        assert cfg == ResolverConfig(["10.96.0.10"], ["team.svc.cluster.local", "svc.cluster.local",
                                                      "cluster.local", "corp.example"], {"ndots": "5"})
        assert cfg.warnings == []
    assert resolv_conf(pod_dns_config(pod(), host=None, **CLUSTER)) == \
        "search team.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n"


def test_host_network_cluster_first_falls_back_to_default_unless_with_host_net():
    cfg = pod_dns_config(pod(host_network=True), host=HOST, **CLUSTER)
    assert cfg == ResolverConfig(["192.168.0.1", "192.168.0.2"], ["corp.example"], {"timeout": "2"})
    cfg = pod_dns_config(pod(policy="ClusterFirstWithHostNet", host_network=True), host=HOST, **CLUSTER)
    assert cfg.nameservers == ["10.96.0.10"] and cfg.searches[0] == "team.svc.cluster.local"


def test_default_policy_uses_the_host_and_no_resolv_conf_means_localhost():
    assert pod_dns_config(pod(policy="Default"), host=HOST, **CLUSTER) == \
        ResolverConfig(["192.168.0.1", "192.168.0.2"], ["corp.example"], {"timeout": "2"})
    assert pod_dns_config(pod(policy="Default"), host=None, **CLUSTER) == ResolverConfig(["127.0.0.1"], ["."], {})


def test_none_policy_takes_only_dns_config():
    cfg = pod_dns_config(pod(policy="None", dns_config={"nameservers": ["1.1.1.1"], "searches": ["x.example"],
                                                        "options": [{"name": "ndots", "value": "2"}]}),
                         host=HOST, **CLUSTER)
    assert cfg == ResolverConfig(["1.1.1.1"], ["x.example"], {"ndots": "2"})
    assert pod_dns_config(pod(policy="None"), host=HOST, **CLUSTER) == ResolverConfig()


def test_missing_cluster_dns_falls_back_to_default_with_a_warning():
    cfg = pod_dns_config(pod(), host=HOST, cluster_dns=[], cluster_domain="cluster.local")
    assert cfg == ResolverConfig(["192.168.0.1", "192.168.0.2"], ["corp.example"], {"timeout": "2"})
    assert cfg.warnings == ['MissingClusterDNS: kubelet does not have ClusterDNS IP configured and cannot create '
                            'Pod using "ClusterFirst" policy. Falling back to "Default" policy.']
    assert cfg.warning.startswith("MissingClusterDNS")


def test_dns_config_is_merged():
    cfg = pod_dns_config(pod(dns_config={
        "nameservers": ["10.96.0.10", "1.1.1.1"], "searches": ["cluster.local", "extra.example"],
        "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}, {"name": "timeout", "value": "1"}]}),
        host=HOST, **CLUSTER)
    assert cfg.nameservers == ["10.96.0.10", "1.1.1.1"]  # appended, duplicates dropped
    assert cfg.searches == ["team.svc.cluster.local", "svc.cluster.local", "cluster.local", "corp.example",
                            "extra.example"]
    assert cfg.options == {"ndots": "2", "edns0": "", "timeout": "1"}
    assert resolv_conf(cfg).endswith("options ndots:2 edns0 timeout:1\n")


def test_nameserver_limit():
    cfg = pod_dns_config(pod(dns_config={"nameservers": ["1.1.1.1", "2.2.2.2", "3.3.3.3"]}), host=HOST, **CLUSTER)
    assert cfg.nameservers == ["10.96.0.10", "1.1.1.1", "2.2.2.2"]
    assert cfg.warnings == ["DNSConfigForming: Nameserver limits were exceeded, some nameservers have been "
                            "omitted, the applied nameserver line is: 10.96.0.10 1.1.1.1 2.2.2.2"]


def test_search_path_count_limit():
    extra = [f"d{i}.example" for i in range(40)]
    cfg = pod_dns_config(pod(dns_config={"searches": extra}), host=None, **CLUSTER)
    assert len(cfg.searches) == 32
    assert cfg.searches[:4] == ["team.svc.cluster.local", "svc.cluster.local", "cluster.local", "d0.example"]
    assert cfg.searches[-1] == "d28.example"
    assert cfg.warnings[0].startswith("DNSConfigForming: Search Line limits were exceeded")
    assert cfg.warnings[0].endswith(" ".join(cfg.searches))


def test_search_line_length_limit_and_overlong_names():
    long_label = "x" * 63
    too_long = ".".join([long_label] * 4) + ".example"  # > 253 characters: dropped
    assert len(too_long) > 253
    names = [".".join([f"{i:02d}" + long_label[2:], long_label, long_label]) + ".io" for i in range(12)]
    assert all(len(n) == 194 for n in names)
    cfg = pod_dns_config(pod(policy="None", dns_config={"nameservers": ["1.1.1.1"],
                                                       "searches": [too_long, *names]}), host=HOST, **CLUSTER)
    # 12 names of 194 characters make a 2339-character line; upstream drops from the end
    # until it fits 2048: two go (2339 - 2*195 = 1949).
    assert cfg.searches == names[:10]
    assert len(" ".join(cfg.searches)) == 1949
    assert len(cfg.warnings) == 1


def test_invalid_dns_policy_is_rejected():
    with pytest.raises(ValueError):
        pod_dns_config(pod(policy="Bogus"), host=HOST, **CLUSTER)
