"""InterPodAffinity (required affinity / anti-affinity, existing pods'
anti-affinity, the first-pod exception, preferred-term scores) and
DefaultPreemption (candidate nodes, minimal victims, node choice), table
driven after upstream's filtering_test.go, scoring_test.go and
default_preemption_test.go."""
from __future__ import annotations

import pytest

from actors.scheduler.framework import (Code, CycleState, Framework, ListSnapshot, NodeScore, PluginSpec,
                                        PostFilterResult, Profile, SimpleHandle, Status)
from actors.scheduler.nodeinfo import NodeInfo, PodInfo
from actors.scheduler.plugins.defaultpreemption import (Candidate, DefaultPreemption, NodeWhatIf,
                                                        pick_one_node_for_preemption)
from actors.scheduler.plugins.interpodaffinity import (ERR_REASON_AFFINITY_RULES_NOT_MATCH,
                                                       ERR_REASON_ANTI_AFFINITY_RULES_NOT_MATCH,
                                                       ERR_REASON_EXISTING_ANTI_AFFINITY_RULES_NOT_MATCH,
                                                       PRE_FILTER_STATE_KEY, InterPodAffinity)
from actors.scheduler.plugins.noderesources import Fit

AFF = ERR_REASON_AFFINITY_RULES_NOT_MATCH
ANTI = ERR_REASON_ANTI_AFFINITY_RULES_NOT_MATCH
EXISTING = ERR_REASON_EXISTING_ANTI_AFFINITY_RULES_NOT_MATCH
OK = (Code.SUCCESS, [])
UNRES = Code.UNSCHEDULABLE_AND_UNRESOLVABLE
UNSCHED = Code.UNSCHEDULABLE

HOST = "kubernetes.io/hostname"
ZONE = "zone"
REGION = "region"

NEG, LOW, MID, HIGH = -100, 0, 100, 1000


# --------------------------------------------------------------------------------------------
# builders
# --------------------------------------------------------------------------------------------


def mk_node(name: str, labels: dict | None = None, cpu: str = "4", pods: str = "110", host_label: bool = True
            ) -> dict:
    lab = {HOST: name} if host_label else {}
    lab.update(labels or {})
    return {"metadata": {"name": name, "labels": lab},
            "status": {"allocatable": {"cpu": cpu, "memory": "16Gi", "pods": pods}}}


def mk_pod(name: str, labels: dict | None = None, node: str = "", ns: str = "default", affinity: dict | None = None,
           cpu: str = "", priority: int | None = None, start: str = "", policy: str = "", nominated: str = "",
           terminating: bool = False) -> dict:
    c: dict = {"name": "c", "image": "x"}
    if cpu:
        c["resources"] = {"requests": {"cpu": cpu}}
    spec: dict = {"containers": [c]}
    if node:
        spec["nodeName"] = node
    if affinity:
        spec["affinity"] = affinity
    if priority is not None:
        spec["priority"] = priority
    if policy:
        spec["preemptionPolicy"] = policy
    meta: dict = {"name": name, "namespace": ns, "labels": dict(labels or {})}
    status: dict = {}
    if start:
        status["startTime"] = start
    if nominated:
        status["nominatedNodeName"] = nominated
    if terminating:
        meta["deletionTimestamp"] = "2024-01-01T00:00:00Z"
        status["conditions"] = [{"type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler"}]
    return {"metadata": meta, "spec": spec, "status": status}


def sel(**labels: str) -> dict:
    return {"matchLabels": labels}


def expr(key: str, op: str, *values: str) -> dict:
    e: dict = {"key": key, "operator": op}
    if values:
        e["values"] = list(values)
    return e


def exprs(*es: dict) -> dict:
    return {"matchExpressions": list(es)}


def term(topology_key: str, selector: dict | None, **kw) -> dict:
    t: dict = {"topologyKey": topology_key}
    if selector is not None:
        t["labelSelector"] = selector
    t.update(kw)
    return t


def weighted(weight: int, t: dict) -> dict:
    return {"weight": weight, "podAffinityTerm": t}


def aff(req=(), anti=(), pref=(), pref_anti=()) -> dict:
    out: dict = {}
    if req or pref:
        out["podAffinity"] = {}
        if req:
            out["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] = list(req)
        if pref:
            out["podAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"] = list(pref)
    if anti or pref_anti:
        out["podAntiAffinity"] = {}
        if anti:
            out["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] = list(anti)
        if pref_anti:
            out["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"] = list(pref_anti)
    return out


def cluster(nodes: list[dict], pods: list[dict]) -> list[NodeInfo]:
    infos = {n["metadata"]["name"]: NodeInfo(n) for n in nodes}
    for p in pods:
        infos[p["spec"]["nodeName"]].add_pod(PodInfo.of(p))
    return list(infos.values())


REGISTRY = {InterPodAffinity.name: InterPodAffinity, DefaultPreemption.name: DefaultPreemption, Fit.name: Fit}


def make_fw(infos: list[NodeInfo], plugins=("InterPodAffinity",), args: dict | None = None,
            namespace_labels: dict | None = None, registry: dict | None = None) -> Framework:
    handle = SimpleHandle(snapshot=ListSnapshot(infos))
    if namespace_labels is not None:
        handle.namespace_labels = namespace_labels
    profile = Profile(plugins=[PluginSpec(n, 1, dict((args or {}).get(n) or {})) for n in plugins])
    fw = Framework(profile, registry or REGISTRY, handle)
    handle.framework = fw
    return fw


def filter_all(fw: Framework, pod: dict, infos: list[NodeInfo]) -> dict[str, tuple[Code, list[str]]]:
    state, pi = CycleState(), PodInfo.of(pod)
    _, st = fw.run_pre_filter(state, pi, infos)
    if not st.is_success():
        return {n.name: (st.code, st.reasons) for n in infos}
    out = {}
    for n in infos:
        s = fw.run_filter(state, pi, n)
        out[n.name] = (s.code, list(s.reasons))
    return out


def scores(fw: Framework, pod: dict, infos: list[NodeInfo]) -> dict[str, int]:
    state, pi = CycleState(), PodInfo.of(pod)
    _, st = fw.run_pre_filter(state, pi, infos)
    assert st.is_success()
    assert fw.run_pre_score(state, pi, infos).is_success()
    totals, st = fw.run_score(state, pi, infos)
    assert st.is_success(), st
    return {n.name: t for n, t in zip(infos, totals)}


# --------------------------------------------------------------------------------------------
# InterPodAffinity: one node
# --------------------------------------------------------------------------------------------

SEC_S1 = {"security": "S1"}
SEC_S2 = {"security": "S2"}
SINGLE_NODE = mk_node("machine1", {"region": "r1", "zone": "z11"})

SINGLE_NODE_CASES = [
    ("no affinity: schedulable",
     mk_pod("p", SEC_S1), [], OK),
    ("required affinity with In matching the existing pod",
     mk_pod("p", SEC_S2, affinity=aff(req=[term(REGION, exprs(expr("security", "In", "S1")))])),
     [mk_pod("e", SEC_S1, "machine1")], OK),
    ("required affinity with NotIn matching the existing pod",
     mk_pod("p", SEC_S2, affinity=aff(req=[term(REGION, exprs(expr("security", "NotIn", "S3")))])),
     [mk_pod("e", SEC_S1, "machine1")], OK),
    ("affinity not satisfied: the existing pod is in another namespace",
     mk_pod("p", SEC_S2, affinity=aff(req=[term(REGION, exprs(expr("security", "In", "S1")))])),
     [mk_pod("e", SEC_S1, "machine1", ns="other")], (UNRES, [AFF])),
    ("affinity satisfied through the namespaces list",
     mk_pod("p", SEC_S2, affinity=aff(req=[term(REGION, sel(security="S1"), namespaces=["other"])])),
     [mk_pod("e", SEC_S1, "machine1", ns="other")], OK),
    ("affinity not satisfied: the selector does not match the existing pod",
     mk_pod("p", SEC_S2, affinity=aff(req=[term(REGION, exprs(expr("security", "In", "S3")))])),
     [mk_pod("e", SEC_S1, "machine1")], (UNRES, [AFF])),
    ("affinity with several operators, all matching",
     mk_pod("p", SEC_S2, affinity=aff(req=[
         term(REGION, exprs(expr("security", "Exists"), expr("wrongkey", "DoesNotExist"))),
         term(REGION, exprs(expr("security", "In", "S1"), expr("security", "NotIn", "S2")))])),
     [mk_pod("e", SEC_S1, "machine1")], OK),
    ("the expressions of a selector are ANDed",
     mk_pod("p", SEC_S2, affinity=aff(req=[
         term(REGION, exprs(expr("security", "Exists"), expr("wrongkey", "In", "W1")))])),
     [mk_pod("e", SEC_S1, "machine1")], (UNRES, [AFF])),
    ("affinity and anti-affinity both satisfied",
     mk_pod("p", SEC_S2, affinity=aff(req=[term(REGION, sel(security="S1"))],
                                      anti=[term(REGION, sel(security="S3"))])),
     [mk_pod("e", SEC_S1, "machine1")], OK),
    ("affinity, anti-affinity and the existing pod's anti-affinity all satisfied",
     mk_pod("p", SEC_S2, affinity=aff(req=[term(REGION, sel(security="S1"))],
                                      anti=[term(REGION, sel(security="S3"))])),
     [mk_pod("e", SEC_S1, "machine1", affinity=aff(anti=[term(ZONE, sel(security="S3"))]))], OK),
    ("affinity satisfied, anti-affinity not",
     mk_pod("p", SEC_S2, affinity=aff(req=[term(REGION, sel(security="S1"))],
                                      anti=[term(REGION, sel(security="S1"))])),
     [mk_pod("e", SEC_S1, "machine1")], (UNSCHED, [ANTI])),
    ("the existing pod's anti-affinity rejects the incoming pod",
     mk_pod("p", SEC_S1, affinity=aff(req=[term(REGION, sel(security="S1"))],
                                      anti=[term(REGION, sel(security="S3"))])),
     [mk_pod("e", SEC_S1, "machine1", affinity=aff(anti=[term(ZONE, sel(security="S1"))]))], (UNSCHED, [EXISTING])),
    ("the existing pod's anti-affinity is honoured for a pod without affinity",
     mk_pod("p", SEC_S1),
     [mk_pod("e", SEC_S2, "machine1", affinity=aff(anti=[term(ZONE, sel(security="S1"))]))], (UNSCHED, [EXISTING])),
    ("the existing pod's anti-affinity does not match the incoming pod",
     mk_pod("p", SEC_S1),
     [mk_pod("e", SEC_S2, "machine1", affinity=aff(anti=[term(ZONE, sel(security="S2"))]))], OK),
    ("the existing pod's anti-affinity only covers its own namespace",
     mk_pod("p", SEC_S1, ns="other"),
     [mk_pod("e", SEC_S2, "machine1", affinity=aff(anti=[term(ZONE, sel(security="S1"))]))], OK),
    ("the existing pod's anti-affinity with a topology key the node lacks",
     mk_pod("p", SEC_S1),
     [mk_pod("e", SEC_S2, "machine1", affinity=aff(anti=[term("rack", sel(security="S1"))]))], OK),
    ("an absent labelSelector selects no pod",
     mk_pod("p", SEC_S1, affinity=aff(anti=[term(HOST, None)])),
     [mk_pod("e", SEC_S1, "machine1")], OK),
    ("an empty labelSelector selects every pod",
     mk_pod("p", SEC_S1, affinity=aff(anti=[term(HOST, {})])),
     [mk_pod("e", SEC_S2, "machine1")], (UNSCHED, [ANTI])),
    ("affinity by hostname satisfied by a pod on the node",
     mk_pod("p", SEC_S1, affinity=aff(req=[term(HOST, sel(security="S1"))])),
     [mk_pod("e", SEC_S1, "machine1", ns="default")], OK),
    ("an invalid selector makes the pod unschedulable at PreFilter",
     mk_pod("p", SEC_S1, affinity=aff(req=[term(HOST, exprs(expr("security", "Bogus", "S1")))])),
     [], UNRES),
]


@pytest.mark.parametrize("name,pod,existing,want", SINGLE_NODE_CASES, ids=[c[0] for c in SINGLE_NODE_CASES])
def test_required_affinity_single_node(name, pod, existing, want):
    infos = cluster([SINGLE_NODE], existing)
    got = filter_all(make_fw(infos), pod, infos)["machine1"]
    if isinstance(want, Code):
        assert got[0] == want and got[1][0].startswith("parsing pod: ")
    else:
        assert got == want


# --------------------------------------------------------------------------------------------
# InterPodAffinity: several nodes and topologies
# --------------------------------------------------------------------------------------------

FOO = {"foo": "bar"}
ZONE_NODES = [mk_node("nodeA", {"region": "r1", "zone": "z1"}), mk_node("nodeB", {"region": "r1", "zone": "z1"}),
              mk_node("nodeC", {"region": "r2", "zone": "z2"})]

MULTI_NODE_CASES = [
    ("affinity: every node of the domain holding a matching pod qualifies",
     ZONE_NODES, [mk_pod("e", FOO, "nodeA")],
     mk_pod("p", affinity=aff(req=[term(REGION, sel(foo="bar"))])),
     {"nodeA": OK, "nodeB": OK, "nodeC": (UNRES, [AFF])}),
    ("affinity by hostname: only the node holding the pod",
     ZONE_NODES, [mk_pod("e", FOO, "nodeA")],
     mk_pod("p", affinity=aff(req=[term(HOST, sel(foo="bar"))])),
     {"nodeA": OK, "nodeB": (UNRES, [AFF]), "nodeC": (UNRES, [AFF])}),
    ("affinity: a node without the topology key never qualifies",
     [mk_node("nodeA", {"zone": "z1"}), mk_node("nodeB", {})], [mk_pod("e", FOO, "nodeA")],
     mk_pod("p", affinity=aff(req=[term(ZONE, sel(foo="bar"))])),
     {"nodeA": OK, "nodeB": (UNRES, [AFF])}),
    ("affinity with two terms: a pod must match both, and both domains must hold one",
     ZONE_NODES, [mk_pod("e1", {"foo": "bar"}, "nodeA"), mk_pod("e2", {"foo": "bar", "tier": "db"}, "nodeB")],
     mk_pod("p", affinity=aff(req=[term(ZONE, sel(foo="bar")), term(HOST, sel(tier="db"))])),
     {"nodeA": (UNRES, [AFF]), "nodeB": OK, "nodeC": (UNRES, [AFF])}),
    ("first pod of a self-affine group: every node with the key qualifies",
     [mk_node("nodeA", {"zone": "z1"}), mk_node("nodeB", {"zone": "z2"}), mk_node("nodeC", {})], [],
     mk_pod("p", FOO, affinity=aff(req=[term(ZONE, sel(foo="bar"))])),
     {"nodeA": OK, "nodeB": OK, "nodeC": (UNRES, [AFF])}),
    ("first pod exception needs all topology keys on the node",
     [mk_node("nodeA", {"zone": "z1", "region": "r1"}), mk_node("nodeB", {"zone": "z2"})], [],
     mk_pod("p", FOO, affinity=aff(req=[term(ZONE, sel(foo="bar")), term(REGION, sel(foo="bar"))])),
     {"nodeA": OK, "nodeB": (UNRES, [AFF])}),
    ("no first pod exception once a matching pod runs somewhere",
     ZONE_NODES, [mk_pod("e", FOO, "nodeC")],
     mk_pod("p", FOO, affinity=aff(req=[term(ZONE, sel(foo="bar"))])),
     {"nodeA": (UNRES, [AFF]), "nodeB": (UNRES, [AFF]), "nodeC": OK}),
    ("no first pod exception when the pod does not match its own terms",
     ZONE_NODES, [],
     mk_pod("p", {"foo": "baz"}, affinity=aff(req=[term(ZONE, sel(foo="bar"))])),
     {"nodeA": (UNRES, [AFF]), "nodeB": (UNRES, [AFF]), "nodeC": (UNRES, [AFF])}),
    ("anti-affinity by zone: the whole zone of the matching pod is out",
     ZONE_NODES, [mk_pod("e", FOO, "nodeA")],
     mk_pod("p", affinity=aff(anti=[term(ZONE, sel(foo="bar"))])),
     {"nodeA": (UNSCHED, [ANTI]), "nodeB": (UNSCHED, [ANTI]), "nodeC": OK}),
    ("anti-affinity by hostname: only the node of the matching pod is out",
     ZONE_NODES, [mk_pod("e", FOO, "nodeA")],
     mk_pod("p", affinity=aff(anti=[term(HOST, sel(foo="bar"))])),
     {"nodeA": (UNSCHED, [ANTI]), "nodeB": OK, "nodeC": OK}),
    ("anti-affinity: any one term matching rejects",
     ZONE_NODES, [mk_pod("e", {"foo": "bar"}, "nodeA"), mk_pod("e2", {"app": "x"}, "nodeC")],
     mk_pod("p", affinity=aff(anti=[term(ZONE, sel(foo="bar")), term(HOST, sel(app="x"))])),
     {"nodeA": (UNSCHED, [ANTI]), "nodeB": (UNSCHED, [ANTI]), "nodeC": (UNSCHED, [ANTI])}),
    ("existing pod's anti-affinity by zone rejects the zone",
     ZONE_NODES, [mk_pod("e", {"app": "db"}, "nodeA", affinity=aff(anti=[term(ZONE, sel(foo="bar"))]))],
     mk_pod("p", FOO),
     {"nodeA": (UNSCHED, [EXISTING]), "nodeB": (UNSCHED, [EXISTING]), "nodeC": OK}),
    ("existing pod's anti-affinity by region, incoming anti-affinity by hostname",
     ZONE_NODES, [mk_pod("e", {"app": "db"}, "nodeC", affinity=aff(anti=[term(REGION, sel(foo="bar"))]))],
     mk_pod("p", FOO, affinity=aff(anti=[term(HOST, sel(app="db"))])),
     {"nodeA": OK, "nodeB": OK, "nodeC": (UNSCHED, [ANTI])}),
    ("affinity checked before anti-affinity",
     ZONE_NODES, [mk_pod("e", FOO, "nodeA")],
     mk_pod("p", affinity=aff(req=[term(ZONE, sel(foo="bar"))], anti=[term(HOST, sel(foo="bar"))])),
     {"nodeA": (UNSCHED, [ANTI]), "nodeB": OK, "nodeC": (UNRES, [AFF])}),
    ("matchLabelKeys: only pods of the same version repel",
     ZONE_NODES, [mk_pod("e1", {"app": "web", "version": "v1"}, "nodeA"),
                  mk_pod("e2", {"app": "web", "version": "v2"}, "nodeB")],
     mk_pod("p", {"app": "web", "version": "v2"},
            affinity=aff(anti=[term(HOST, sel(app="web"), matchLabelKeys=["version"])])),
     {"nodeA": OK, "nodeB": (UNSCHED, [ANTI]), "nodeC": OK}),
    ("mismatchLabelKeys: pods of other tenants repel",
     ZONE_NODES, [mk_pod("e1", {"tenant": "a"}, "nodeA"), mk_pod("e2", {"tenant": "b"}, "nodeB")],
     mk_pod("p", {"tenant": "a"},
            affinity=aff(anti=[term(HOST, exprs(expr("tenant", "Exists")), mismatchLabelKeys=["tenant"])])),
     {"nodeA": OK, "nodeB": (UNSCHED, [ANTI]), "nodeC": OK}),
    ("matchLabelKeys on an existing pod's anti-affinity",
     ZONE_NODES, [mk_pod("e1", {"app": "web", "version": "v1"}, "nodeA",
                         affinity=aff(anti=[term(ZONE, sel(app="web"), matchLabelKeys=["version"])]))],
     mk_pod("p", {"app": "web", "version": "v2"}),
     {"nodeA": OK, "nodeB": OK, "nodeC": OK}),
    ("namespaceSelector {} covers every namespace",
     ZONE_NODES, [mk_pod("e", FOO, "nodeA", ns="elsewhere")],
     mk_pod("p", affinity=aff(anti=[term(HOST, sel(foo="bar"), namespaceSelector={})])),
     {"nodeA": (UNSCHED, [ANTI]), "nodeB": OK, "nodeC": OK}),
    ("namespaceSelector without namespace labels: the pod's own namespace stands in",
     ZONE_NODES, [mk_pod("e", FOO, "nodeA", ns="team-a"), mk_pod("e2", FOO, "nodeB")],
     mk_pod("p", affinity=aff(anti=[term(HOST, sel(foo="bar"), namespaceSelector=sel(team="a"))])),
     {"nodeA": OK, "nodeB": (UNSCHED, [ANTI]), "nodeC": OK}),
]


@pytest.mark.parametrize("name,nodes,existing,pod,want", MULTI_NODE_CASES, ids=[c[0] for c in MULTI_NODE_CASES])
def test_required_affinity_multiple_nodes(name, nodes, existing, pod, want):
    infos = cluster(nodes, existing)
    assert filter_all(make_fw(infos), pod, infos) == want


NS_LABELS = {"default": {}, "team-a": {"team": "a"}, "team-b": {"team": "b"}}

NAMESPACE_SELECTOR_CASES = [
    ("incoming anti-affinity selects namespaces by label",
     [mk_pod("e1", FOO, "nodeA", ns="team-a"), mk_pod("e2", FOO, "nodeB", ns="team-b")],
     mk_pod("p", affinity=aff(anti=[term(HOST, sel(foo="bar"), namespaceSelector=sel(team="a"))])),
     {"nodeA": (UNSCHED, [ANTI]), "nodeB": OK, "nodeC": OK}),
    ("incoming affinity: namespaces list and namespaceSelector are ORed",
     [mk_pod("e1", FOO, "nodeA", ns="team-a"), mk_pod("e2", FOO, "nodeC", ns="team-b")],
     mk_pod("p", affinity=aff(req=[term(HOST, sel(foo="bar"), namespaces=["team-b"],
                                        namespaceSelector=sel(team="a"))])),
     {"nodeA": OK, "nodeB": (UNRES, [AFF]), "nodeC": OK}),
    ("existing pod's anti-affinity matches the incoming pod's namespace labels",
     [mk_pod("e", {"app": "db"}, "nodeA", affinity=aff(anti=[
         term(ZONE, sel(foo="bar"), namespaceSelector=sel(team="b"))]))],
     mk_pod("p", FOO, ns="team-b"),
     {"nodeA": (UNSCHED, [EXISTING]), "nodeB": (UNSCHED, [EXISTING]), "nodeC": OK}),
    ("existing pod's anti-affinity: another namespace's labels do not match",
     [mk_pod("e", {"app": "db"}, "nodeA", affinity=aff(anti=[
         term(ZONE, sel(foo="bar"), namespaceSelector=sel(team="b"))]))],
     mk_pod("p", FOO, ns="team-a"),
     {"nodeA": OK, "nodeB": OK, "nodeC": OK}),
]


@pytest.mark.parametrize("name,existing,pod,want", NAMESPACE_SELECTOR_CASES,
                         ids=[c[0] for c in NAMESPACE_SELECTOR_CASES])
def test_namespace_selector_with_namespace_labels(name, existing, pod, want):
    infos = cluster(ZONE_NODES, existing)
    assert filter_all(make_fw(infos, namespace_labels=NS_LABELS), pod, infos) == want


def test_prefilter_skips_when_nothing_can_reject():
    infos = cluster(ZONE_NODES, [mk_pod("e", FOO, "nodeA")])
    fw = make_fw(infos)
    state = CycleState()
    _, st = fw.run_pre_filter(state, PodInfo.of(mk_pod("p", FOO)), infos)
    assert st.is_success() and "InterPodAffinity" in state.skip_filter
    assert state.get(PRE_FILTER_STATE_KEY) is None


def test_remove_and_add_pod_keep_counts_as_prefilter_would():
    """PreFilter's counts after removing a pod through the extension equal the
    counts PreFilter takes on a cluster without that pod; adding it back restores them."""
    existing = [mk_pod("e1", FOO, "nodeA", affinity=aff(anti=[term(ZONE, sel(app="x"))])),
                mk_pod("e2", FOO, "nodeC")]
    pod = mk_pod("p", {"app": "x"}, affinity=aff(req=[term(ZONE, sel(foo="bar"))],
                                                  anti=[term(HOST, sel(foo="bar"))]))
    infos = cluster(ZONE_NODES, existing)
    fw = make_fw(infos)
    pl = fw.plugins["InterPodAffinity"]
    state, pi = CycleState(), PodInfo.of(pod)
    fw.run_pre_filter(state, pi, infos)
    before = state.get(PRE_FILTER_STATE_KEY).clone()
    victim = infos[0].pods[0]
    copy = infos[0].clone()
    copy.remove_pod(victim.key)
    assert pl.remove_pod(state, pi, victim, copy).is_success()

    without = cluster(ZONE_NODES, existing[1:])
    ref = CycleState()
    fw.run_pre_filter(ref, pi, without)
    got, want = state.get(PRE_FILTER_STATE_KEY), ref.get(PRE_FILTER_STATE_KEY)
    assert got.existing_anti_affinity_counts == want.existing_anti_affinity_counts == {}
    assert got.affinity_counts == want.affinity_counts == {(ZONE, "z2"): 1}
    assert got.anti_affinity_counts == want.anti_affinity_counts

    assert pl.add_pod(state, pi, victim, infos[0]).is_success()
    s = state.get(PRE_FILTER_STATE_KEY)
    assert s.existing_anti_affinity_counts == before.existing_anti_affinity_counts
    assert s.affinity_counts == before.affinity_counts
    assert s.anti_affinity_counts == before.anti_affinity_counts


def test_invalid_hard_pod_affinity_weight():
    with pytest.raises(ValueError, match="hardPodAffinityWeight"):
        InterPodAffinity({"hardPodAffinityWeight": 101}, None)


# --------------------------------------------------------------------------------------------
# InterPodAffinity: scores
# --------------------------------------------------------------------------------------------

STAY_S1 = [mk_node("machine1", {"region": "China"}), mk_node("machine2", {"region": "India"}),
           mk_node("machine3", {"az": "az1"})]
PREF_S1 = weighted(5, term(REGION, exprs(expr("security", "In", "S1"))))
PREF_S2_ANTI = weighted(5, term(REGION, exprs(expr("security", "In", "S2"))))

SCORE_CASES = [
    ("no preferred terms anywhere: all equal",
     STAY_S1, [mk_pod("e1", SEC_S1, "machine1")], mk_pod("p", SEC_S1), {}, {"machine1": 0, "machine2": 0,
                                                                            "machine3": 0}),
    ("affinity: the domain of a matching pod scores highest",
     STAY_S1, [mk_pod("e1", SEC_S1, "machine1"), mk_pod("e2", SEC_S2, "machine2"),
               mk_pod("e3", SEC_S1, "machine3")],
     mk_pod("p", affinity=aff(pref=[PREF_S1])), {}, {"machine1": 100, "machine2": 0, "machine3": 0}),
    ("affinity: every node of the matching domain scores the same",
     [mk_node("machine1", {"region": "China"}), mk_node("machine2", {"region": "China"}),
      mk_node("machine3", {"region": "India"})],
     [mk_pod("e1", SEC_S1, "machine1")],
     mk_pod("p", affinity=aff(pref=[PREF_S1])), {}, {"machine1": 100, "machine2": 100, "machine3": 0}),
    ("anti-affinity: the domain of a matching pod scores lowest",
     STAY_S1, [mk_pod("e1", SEC_S1, "machine1"), mk_pod("e2", SEC_S2, "machine2")],
     mk_pod("p", affinity=aff(pref_anti=[PREF_S2_ANTI])), {}, {"machine1": 100, "machine2": 0, "machine3": 100}),
    ("affinity and anti-affinity weights add up, then scale from the lowest",
     [mk_node("m1", {"region": "China"}), mk_node("m2", {"region": "India"}), mk_node("m3", {"region": "Japan"})],
     [mk_pod("e1", SEC_S1, "m1"), mk_pod("e2", SEC_S2, "m2")],
     mk_pod("p", affinity=aff(pref=[weighted(3, term(REGION, sel(security="S1")))],
                              pref_anti=[weighted(5, term(REGION, sel(security="S2")))])),
     {}, {"m1": 100, "m2": 0, "m3": 62}),
    ("symmetry: an existing pod's preferred affinity to the incoming pod",
     STAY_S1, [mk_pod("e1", SEC_S1, "machine1"),
               mk_pod("e2", SEC_S2, "machine2", affinity=aff(pref=[weighted(5, term(REGION, sel(security="S1")))]))],
     mk_pod("p", SEC_S1), {}, {"machine1": 0, "machine2": 100, "machine3": 0}),
    ("symmetry: an existing pod's preferred anti-affinity to the incoming pod",
     STAY_S1, [mk_pod("e2", SEC_S2, "machine2",
                      affinity=aff(pref_anti=[weighted(5, term(REGION, sel(security="S1")))]))],
     mk_pod("p", SEC_S1), {}, {"machine1": 100, "machine2": 0, "machine3": 100}),
    ("symmetry: an existing pod's required affinity counts hardPodAffinityWeight",
     STAY_S1, [mk_pod("e2", SEC_S2, "machine2", affinity=aff(req=[term(REGION, sel(security="S1"))]))],
     mk_pod("p", SEC_S1), {}, {"machine1": 0, "machine2": 100, "machine3": 0}),
    ("symmetry: hardPodAffinityWeight 0 ignores existing pods' required affinity",
     STAY_S1, [mk_pod("e2", SEC_S2, "machine2", affinity=aff(req=[term(REGION, sel(security="S1"))]))],
     mk_pod("p", SEC_S1), {"InterPodAffinity": {"hardPodAffinityWeight": 0}},
     {"machine1": 0, "machine2": 0, "machine3": 0}),
    ("ignorePreferredTermsOfExistingPods: existing pods' terms are not scored",
     STAY_S1, [mk_pod("e2", SEC_S2, "machine2", affinity=aff(pref=[weighted(5, term(REGION, sel(security="S1")))]))],
     mk_pod("p", SEC_S1), {"InterPodAffinity": {"ignorePreferredTermsOfExistingPods": True}},
     {"machine1": 0, "machine2": 0, "machine3": 0}),
    ("hostname affinity with several weights",
     [mk_node("m1"), mk_node("m2"), mk_node("m3")],
     [mk_pod("e1", {"app": "a"}, "m1"), mk_pod("e2", {"app": "b"}, "m2"), mk_pod("e3", {"app": "b"}, "m3"),
      mk_pod("e4", {"app": "a"}, "m3")],
     mk_pod("p", affinity=aff(pref=[weighted(10, term(HOST, sel(app="a"))), weighted(30, term(HOST, sel(app="b")))])),
     {}, {"m1": 0, "m2": 66, "m3": 100}),
]


@pytest.mark.parametrize("name,nodes,existing,pod,args,want", SCORE_CASES, ids=[c[0] for c in SCORE_CASES])
def test_preferred_affinity_scores(name, nodes, existing, pod, args, want):
    infos = cluster(nodes, existing)
    assert scores(make_fw(infos, args=args), pod, infos) == want


def test_normalize_score_scales_between_lowest_and_highest():
    pl = InterPodAffinity({}, None)
    state = CycleState()
    from actors.scheduler.plugins.interpodaffinity import PRE_SCORE_STATE_KEY, _PreScoreState
    state.write(PRE_SCORE_STATE_KEY, _PreScoreState({"zone": {"a": 1}}))
    s = [NodeScore("a", -5), NodeScore("b", 0), NodeScore("c", 3), NodeScore("d", -5)]
    assert pl.normalize_score(state, None, s).is_success()
    assert [x.score for x in s] == [0, 62, 100, 0]


# --------------------------------------------------------------------------------------------
# DefaultPreemption
# --------------------------------------------------------------------------------------------

PREEMPT_PLUGINS = ("NodeResourcesFit", "InterPodAffinity", "DefaultPreemption")


class FixedOffset:
    """Stands in for the plugin's random source: always examines from ``offset``."""

    def __init__(self, offset: int = 0) -> None:
        self.offset = offset

    def randrange(self, n: int) -> int:
        return self.offset % n


def preempt(infos: list[NodeInfo], pod: dict, args: dict | None = None, offset: int = 0,
            plugins=PREEMPT_PLUGINS, registry: dict | None = None
            ) -> tuple[PostFilterResult | None, Status, dict[str, Status]]:
    fw = make_fw(infos, plugins, args, registry=registry)
    fw.plugins["DefaultPreemption"].rng = FixedOffset(offset)
    state, pi = CycleState(), PodInfo.of(pod)
    _, st = fw.run_pre_filter(state, pi, infos)
    statuses: dict[str, Status] = {}
    for n in infos:
        s = fw.run_filter(state, pi, n) if st.is_success() else st
        assert not s.is_success(), f"{pi.name} fits {n.name} without preemption"
        statuses[n.name] = s
    result, status = fw.run_post_filter(state, pi, statuses)
    return result, status, statuses


def victims(result: PostFilterResult | None) -> tuple[str, list[str]] | None:
    if result is None or not result.nominated_node_name:
        return None
    return result.nominated_node_name, [v.name for v in result.victims]


T1, T2, T3 = "2024-01-01T00:00:01Z", "2024-01-01T00:00:02Z", "2024-01-01T00:00:03Z"
TWO = [mk_node("node1"), mk_node("node2")]
THREE = [mk_node("node1"), mk_node("node2"), mk_node("node3")]

PREEMPTION_CASES = [
    ("fits on one node with preemption; the other holds only higher priority",
     TWO, [mk_pod("a", node="node1", cpu="3", priority=LOW), mk_pod("b", node="node2", cpu="3", priority=HIGH)],
     mk_pod("p", cpu="2", priority=MID), {}, 0, ("node1", ["a"])),
    ("fits on both nodes: ties go to the first examined",
     TWO, [mk_pod("a", node="node1", cpu="3", priority=LOW), mk_pod("b", node="node2", cpu="3", priority=LOW)],
     mk_pod("p", cpu="2", priority=MID), {}, 0, ("node1", ["a"])),
    ("fits on both nodes: ties go to the first examined (another offset)",
     TWO, [mk_pod("a", node="node1", cpu="3", priority=LOW), mk_pod("b", node="node2", cpu="3", priority=LOW)],
     mk_pod("p", cpu="2", priority=MID), {}, 1, ("node2", ["b"])),
    ("the smaller lower-priority pod is reprieved, the medium one preempted",
     TWO, [mk_pod("m", node="node1", cpu="2500m", priority=MID), mk_pod("l", node="node1", cpu="500m", priority=LOW),
           mk_pod("h", node="node2", cpu="4", priority=HIGH + 1)],
     mk_pod("p", cpu="2", priority=HIGH), {}, 0, ("node1", ["m"])),
    ("the pod needs two victims; the earliest started is reprieved",
     [mk_node("node1")], [mk_pod("a", node="node1", cpu="2", priority=LOW, start=T1),
                          mk_pod("b", node="node1", cpu="1", priority=LOW, start=T2),
                          mk_pod("c", node="node1", cpu="1", priority=LOW, start=T3)],
     mk_pod("p", cpu="2", priority=MID), {}, 0, ("node1", ["b", "c"])),
    ("higher priority pods are reprieved first",
     [mk_node("node1")], [mk_pod("a", node="node1", cpu="2", priority=LOW, start=T1),
                          mk_pod("b", node="node1", cpu="2", priority=MID, start=T2)],
     mk_pod("p", cpu="2", priority=HIGH), {}, 0, ("node1", ["a"])),
    ("equal start times: the pod first on the node is reprieved",
     [mk_node("node1")], [mk_pod("a", node="node1", cpu="2", priority=LOW, start=T1),
                          mk_pod("b", node="node1", cpu="2", priority=LOW, start=T1)],
     mk_pod("p", cpu="2", priority=MID), {}, 0, ("node1", ["b"])),
    ("the node whose highest victim priority is lowest",
     THREE, [mk_pod("a", node="node1", cpu="3", priority=MID), mk_pod("b", node="node2", cpu="3", priority=LOW),
             mk_pod("c", node="node3", cpu="3", priority=MID)],
     mk_pod("p", cpu="2", priority=HIGH), {}, 0, ("node2", ["b"])),
    ("equal highest priority: the adjusted sum favours fewer victims",
     THREE, [mk_pod("a1", node="node1", cpu="2", priority=MID), mk_pod("a2", node="node1", cpu="2", priority=MID),
             mk_pod("b1", node="node2", cpu="2", priority=MID), mk_pod("b2", node="node2", cpu="2", priority=LOW),
             mk_pod("c1", node="node3", cpu="4", priority=MID)],
     mk_pod("p", cpu="4", priority=HIGH), {}, 0, ("node3", ["c1"])),
    ("equal highest priority and count: the smaller sum",
     TWO, [mk_pod("a1", node="node1", cpu="2", priority=MID), mk_pod("a2", node="node1", cpu="2", priority=LOW),
           mk_pod("b1", node="node2", cpu="2", priority=MID), mk_pod("b2", node="node2", cpu="2", priority=MID)],
     mk_pod("p", cpu="4", priority=HIGH), {}, 0, ("node1", ["a1", "a2"])),
    ("negative priorities: fewer victims still win (adjusted sums)",
     TWO, [mk_pod("a1", node="node1", cpu="2", priority=NEG), mk_pod("a2", node="node1", cpu="2", priority=NEG),
           mk_pod("b1", node="node2", cpu="4", priority=NEG)],
     mk_pod("p", cpu="3", priority=LOW), {}, 0, ("node2", ["b1"])),
    ("same priorities and counts: the latest started victims",
     THREE, [mk_pod("a", node="node1", cpu="3", priority=LOW, start=T2),
             mk_pod("b", node="node2", cpu="3", priority=LOW, start=T3),
             mk_pod("c", node="node3", cpu="3", priority=LOW, start=T1)],
     mk_pod("p", cpu="2", priority=MID), {}, 0, ("node2", ["b"])),
    ("a pod that is not started yet is the latest",
     TWO, [mk_pod("a", node="node1", cpu="3", priority=LOW, start=T3),
           mk_pod("b", node="node2", cpu="3", priority=LOW)],
     mk_pod("p", cpu="2", priority=MID), {}, 0, ("node2", ["b"])),
    ("only lower priority is preempted: equal priority pods stay",
     TWO, [mk_pod("a", node="node1", cpu="3", priority=MID), mk_pod("b", node="node2", cpu="3", priority=LOW)],
     mk_pod("p", cpu="2", priority=MID), {}, 0, ("node2", ["b"])),
    ("incoming anti-affinity: the repelling pod is the victim although cpu is plenty",
     TWO, [mk_pod("a", {"app": "db"}, "node1", cpu="100m", priority=LOW),
           mk_pod("h", node="node2", cpu="4", priority=HIGH + 1)],
     mk_pod("p", cpu="1", priority=HIGH, affinity=aff(anti=[term(HOST, sel(app="db"))])), {}, 0,
     ("node1", ["a"])),
    ("existing pod's anti-affinity: the repelling lower-priority pod is the victim",
     TWO, [mk_pod("a", {"app": "db"}, "node1", cpu="100m", priority=LOW,
                  affinity=aff(anti=[term(HOST, sel(app="web"))])),
           mk_pod("b", {"app": "db"}, "node1", cpu="100m", priority=LOW),
           mk_pod("h", node="node2", cpu="4", priority=HIGH + 1)],
     mk_pod("p", {"app": "web"}, cpu="1", priority=HIGH), {}, 0, ("node1", ["a"])),
    ("the candidate search stops after minCandidateNodesAbsolute candidates",
     THREE, [mk_pod("a", node="node1", cpu="3", priority=NEG), mk_pod("b", node="node2", cpu="3", priority=LOW),
             mk_pod("c", node="node3", cpu="3", priority=LOW)],
     mk_pod("p", cpu="2", priority=MID),
     {"DefaultPreemption": {"minCandidateNodesPercentage": 0, "minCandidateNodesAbsolute": 1}}, 1,
     ("node2", ["b"])),
    ("without the limit every node is examined and the best chosen",
     THREE, [mk_pod("a", node="node1", cpu="3", priority=NEG), mk_pod("b", node="node2", cpu="3", priority=LOW),
             mk_pod("c", node="node3", cpu="3", priority=LOW)],
     mk_pod("p", cpu="2", priority=MID), {}, 1, ("node1", ["a"])),
]


@pytest.mark.parametrize("name,nodes,existing,pod,args,offset,want", PREEMPTION_CASES,
                         ids=[c[0] for c in PREEMPTION_CASES])
def test_preemption_picks_node_and_victims(name, nodes, existing, pod, args, offset, want):
    infos = cluster(nodes, existing)
    before = {n.name: [p.key for p in n.pods] for n in infos}
    result, status, _ = preempt(infos, pod, args, offset)
    assert status.is_success(), status
    assert victims(result) == want
    assert {n.name: [p.key for p in n.pods] for n in infos} == before  # the snapshot is left alone


NO_PREEMPTION_CASES = [
    ("too big for any node even when emptied",
     TWO, [mk_pod("a", node="node1", cpu="3", priority=LOW)],
     mk_pod("p", cpu="5", priority=HIGH),
     "preemption: 0/2 nodes are available: 1 Insufficient cpu, 1 No preemption victims found for incoming pod."),
    ("all other pods have higher or equal priority",
     TWO, [mk_pod("a", node="node1", cpu="3", priority=HIGH), mk_pod("b", node="node2", cpu="3", priority=MID)],
     mk_pod("p", cpu="2", priority=MID),
     "preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod."),
    ("preemptionPolicy Never",
     TWO, [mk_pod("a", node="node1", cpu="3", priority=LOW), mk_pod("b", node="node2", cpu="3", priority=LOW)],
     mk_pod("p", cpu="2", priority=HIGH, policy="Never"),
     "preemption: not eligible due to preemptionPolicy=Never."),
    ("every node is UnschedulableAndUnresolvable",
     TWO, [mk_pod("a", node="node1", cpu="1", priority=LOW)],
     mk_pod("p", cpu="2", priority=HIGH, affinity=aff(req=[term(ZONE, sel(app="x"))])),
     "preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."),
    ("affinity to the lower-priority pod that would have to go",
     [mk_node("node1", {"zone": "z1"}), mk_node("node2", {"zone": "z2"})],
     [mk_pod("a", {"app": "x"}, "node1", cpu="4", priority=LOW)],
     mk_pod("p", cpu="2", priority=HIGH, affinity=aff(req=[term(ZONE, sel(app="x"))])),
     "preemption: 0/2 nodes are available: 1 Preemption is not helpful for scheduling, "
     "1 node(s) didn't match pod affinity rules."),
    ("a lower-priority pod is still terminating on the nominated node",
     TWO, [mk_pod("a", node="node1", cpu="3", priority=LOW, terminating=True),
           mk_pod("b", node="node2", cpu="3", priority=LOW)],
     mk_pod("p", cpu="2", priority=HIGH, nominated="node1"),
     "preemption: not eligible due to a terminating pod on the nominated node."),
]


@pytest.mark.parametrize("name,nodes,existing,pod,message", NO_PREEMPTION_CASES,
                         ids=[c[0] for c in NO_PREEMPTION_CASES])
def test_no_preemption(name, nodes, existing, pod, message):
    result, status, _ = preempt(cluster(nodes, existing), pod)
    assert status.code == Code.UNSCHEDULABLE
    assert status.message() == message
    assert victims(result) is None


def test_nominated_node_without_terminating_pods_preempts_again():
    infos = cluster(TWO, [mk_pod("a", node="node1", cpu="3", priority=LOW),
                          mk_pod("b", node="node2", cpu="3", priority=HIGH)])
    result, status, _ = preempt(infos, mk_pod("p", cpu="2", priority=MID, nominated="node1"))
    assert status.is_success() and victims(result) == ("node1", ["a"])


def test_nodes_without_a_status_are_not_examined():
    infos = cluster(TWO, [mk_pod("a", node="node1", cpu="3", priority=LOW),
                          mk_pod("b", node="node2", cpu="3", priority=LOW)])
    fw = make_fw(infos, PREEMPT_PLUGINS)
    fw.plugins["DefaultPreemption"].rng = FixedOffset(0)
    state, pi = CycleState(), PodInfo.of(mk_pod("p", cpu="2", priority=MID))
    fw.run_pre_filter(state, pi, infos)
    result, status = fw.run_post_filter(state, pi, {"node2": fw.run_filter(state, pi, infos[1])})
    assert status.is_success() and victims(result) == ("node2", ["b"])


class PerZoneLimit:
    """A filter whose PreFilter counts ``app=x`` pods over the node list it is
    given (no add_pod/remove_pod): at most one per zone."""

    name = "PerZoneLimit"

    def __init__(self, args, handle):
        pass

    def pre_filter(self, state, pod, nodes):
        counts: dict[str, int] = {}
        for n in nodes:
            z = n.labels.get(ZONE, "")
            counts[z] = counts.get(z, 0) + sum(1 for p in n.pods if p.labels.get("app") == "x")
        state.write("PreFilterPerZoneLimit", counts)
        return None, Status()

    def filter(self, state, pod, node):
        if pod.labels.get("app") == "x" and state.read("PreFilterPerZoneLimit").get(node.labels.get(ZONE, ""), 0):
            return Status.unschedulable("zone already has one")
        return Status()


def test_prefilter_without_extensions_is_rerun_on_the_what_if_node():
    infos = cluster([mk_node("node1", {"zone": "z1"}), mk_node("node2", {"zone": "z1"})],
                    [mk_pod("a", {"app": "x"}, "node2", cpu="100m", priority=LOW),
                     mk_pod("b", {"app": "y"}, "node1", cpu="100m", priority=LOW)])
    registry = dict(REGISTRY, PerZoneLimit=PerZoneLimit)
    result, status, statuses = preempt(infos, mk_pod("p", {"app": "x"}, cpu="1", priority=HIGH),
                                       plugins=("NodeResourcesFit", "PerZoneLimit", "DefaultPreemption"),
                                       registry=registry)
    assert statuses["node1"].reasons == ["zone already has one"]
    # node1's own pods cannot help (the x pod runs on node2): only node2 frees the zone
    assert status.is_success() and victims(result) == ("node2", ["a"])


def test_node_what_if_fresh_runs_every_prefilter():
    infos = cluster([mk_node("node1")], [mk_pod("a", {"app": "db"}, "node1", cpu="3", priority=LOW)])
    fw = make_fw(infos, PREEMPT_PLUGINS)
    pod = PodInfo.of(mk_pod("p", cpu="2", priority=MID, affinity=aff(anti=[term(HOST, sel(app="db"))])))
    w, st = NodeWhatIf.fresh(fw, pod, infos[0].clone(), infos)
    assert st.is_success()
    assert w.run_filters().reasons == ["Insufficient cpu"]
    assert w.remove_pod(w.node.pods[0]).is_success()
    assert w.run_filters().is_success()
    assert len(infos[0].pods) == 1


PICK_CASES = [
    ("highest victim priority first",
     [("n1", [(MID, T1)]), ("n2", [(LOW, T1), (LOW, T1)]), ("n3", [(MID, T1), (LOW, T1)])], "n2"),
    ("then the sum of priorities",
     [("n1", [(MID, T1), (MID, T1)]), ("n2", [(MID, T1), (LOW, T1)]), ("n3", [(MID, T1), (MID, T1)])], "n2"),
    ("sums are adjusted so negative priorities do not favour more victims",
     [("n1", [(NEG, T1), (NEG, T1)]), ("n2", [(NEG, T1)])], "n2"),
    ("then the latest start among the highest-priority victims",
     [("n1", [(MID, T2), (LOW, T3)]), ("n2", [(MID, T3), (LOW, T1)]), ("n3", [(MID, T1), (LOW, T3)])], "n2"),
    ("the earliest of equal highest-priority victims counts",
     [("n1", [(MID, T3), (MID, T1)]), ("n2", [(MID, T2), (MID, T2)])], "n2"),
    ("then the first", [("n1", [(LOW, T1)]), ("n2", [(LOW, T1)])], "n1"),
]


@pytest.mark.parametrize("name,cands,want", PICK_CASES, ids=[c[0] for c in PICK_CASES])
def test_pick_one_node_for_preemption(name, cands, want):
    cs = [Candidate(n, [PodInfo.of(mk_pod(f"{n}-{i}", priority=p, start=t)) for i, (p, t) in enumerate(vs)])
          for n, vs in cands]
    assert pick_one_node_for_preemption(cs).name == want
    assert pick_one_node_for_preemption([]) is None


@pytest.mark.parametrize("args,n,want", [({}, 50, 50), ({}, 2000, 200), ({}, 500, 100),
                                         ({"minCandidateNodesPercentage": 0, "minCandidateNodesAbsolute": 3}, 50, 3),
                                         ({"minCandidateNodesPercentage": 50, "minCandidateNodesAbsolute": 0}, 7, 3)])
def test_num_candidates(args, n, want):
    assert DefaultPreemption(args, None).calculate_num_candidates(n) == want


@pytest.mark.parametrize("args", [{"minCandidateNodesPercentage": 101}, {"minCandidateNodesAbsolute": -1},
                                  {"minCandidateNodesPercentage": 0, "minCandidateNodesAbsolute": 0}])
def test_invalid_args(args):
    with pytest.raises(ValueError):
        DefaultPreemption(args, None)
