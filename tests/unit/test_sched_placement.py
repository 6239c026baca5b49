"""Placement plugins: TaintToleration, NodeAffinity and PodTopologySpread,
table-driven after upstream's plugin tests (same cases, reasons and scores)."""
from __future__ import annotations

import pytest

from actors.scheduler.framework import (Code, CycleState, Framework, ListSnapshot, NodeScore, PluginSpec,
                                        PreFilterResult, Profile, SimpleHandle, fit_error_message)
from actors.scheduler.nodeinfo import NodeInfo, PodInfo
from actors.scheduler.plugins.nodeaffinity import (ERR_REASON_CONFLICT, ERR_REASON_ENFORCED, ERR_REASON_POD,
                                                   NodeAffinity, NodeSelector, PreferredSchedulingTerms,
                                                   default_normalize_score)
from actors.scheduler.plugins.podtopologyspread import (ERR_REASON_CONSTRAINTS_NOT_MATCH, workload_selector,
                                                        ERR_REASON_NODE_LABEL_NOT_MATCH, LABEL_HOSTNAME,
                                                        LABEL_TOPOLOGY_ZONE, PodTopologySpread)
from actors.scheduler.plugins.tainttoleration import (TaintToleration, find_matching_untolerated_taint,
                                                      toleration_tolerates_taint)

NS = "default"


# --------------------------------------------------------------------------------------------
# builders
# --------------------------------------------------------------------------------------------


def node(name: str, labels: dict | None = None, taints: list | None = None) -> dict:
    n = {"metadata": {"name": name, "labels": dict(labels or {})}, "spec": {}}
    if taints:
        n["spec"]["taints"] = taints
    return n


def pod(name: str = "p", *, labels: dict | None = None, ns: str = NS, node_name: str = "",
        tolerations: list | None = None, node_selector: dict | None = None, affinity: dict | None = None,
        spread: list | None = None, terminating: bool = False) -> dict:
    meta = {"name": name, "namespace": ns, "labels": dict(labels or {})}
    if terminating:
        meta["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    spec: dict = {"containers": [{"name": "c", "image": "i"}]}
    if node_name:
        spec["nodeName"] = node_name
    if tolerations is not None:
        spec["tolerations"] = tolerations
    if node_selector is not None:
        spec["nodeSelector"] = node_selector
    if affinity is not None:
        spec["affinity"] = affinity
    if spread is not None:
        spec["topologySpreadConstraints"] = spread
    return {"metadata": meta, "spec": spec}


def on(node_name: str, name: str, **labels: str) -> dict:
    """An existing pod bound to ``node_name``."""
    return pod(name, labels=labels, node_name=node_name)


def tsc(max_skew: int, key: str, when: str = "DoNotSchedule", selector: dict | None = None, **extra) -> dict:
    c = {"maxSkew": max_skew, "topologyKey": key, "whenUnsatisfiable": when}
    if selector is not None:
        c["labelSelector"] = selector
    c.update(extra)
    return c


def exists(*keys: str) -> dict:
    return {"matchExpressions": [{"key": k, "operator": "Exists"} for k in keys]}


FOO = exists("foo")
BAR = exists("bar")


def infos(nodes: list[dict], pods: list[dict] = ()) -> list[NodeInfo]:
    by_name = {}
    out = []
    for n in nodes:
        ni = NodeInfo(n)
        by_name[ni.name] = ni
        out.append(ni)
    for p in pods:
        by_name[p["spec"]["nodeName"]].add_pod(PodInfo.of(p))
    return out


def run_filter(plugin, p: dict, nodes: list[NodeInfo], all_nodes: list[NodeInfo] | None = None
               ) -> tuple[CycleState, dict]:
    """PreFilter (over all nodes), then Filter on each of ``nodes``: name → Status."""
    state = CycleState()
    pi = PodInfo.of(p)
    if hasattr(plugin, "pre_filter"):
        _, st = plugin.pre_filter(state, pi, all_nodes if all_nodes is not None else nodes)
        if st.code == Code.SKIP:
            state.skip_filter.add(plugin.name)
        else:
            assert st.is_success(), st
    return state, {n.name: plugin.filter(state, pi, n) for n in nodes}


def run_score(plugin, p: dict, nodes: list[NodeInfo]) -> dict[str, int] | None:
    """PreScore, Score and NormalizeScore over ``nodes``; None when PreScore skips."""
    state = CycleState()
    pi = PodInfo.of(p)
    st = plugin.pre_score(state, pi, nodes)
    if st.code == Code.SKIP:
        return None
    assert st.is_success(), st
    scores = []
    for n in nodes:
        s, st = plugin.score(state, pi, n)
        assert st.is_success(), st
        scores.append(NodeScore(n.name, s))
    st = plugin.normalize_score(state, pi, scores)
    assert st.is_success(), st
    return {s.name: s.score for s in scores}


def status_of(st) -> tuple:
    """(code, reasons) with success as (SUCCESS, [])."""
    return (st.code, list(st.reasons))


OK = (Code.SUCCESS, [])


def rejected(reason: str) -> tuple:
    return (Code.UNSCHEDULABLE_AND_UNRESOLVABLE, [reason])


def skewed() -> tuple:
    return (Code.UNSCHEDULABLE, [ERR_REASON_CONSTRAINTS_NOT_MATCH])


# --------------------------------------------------------------------------------------------
# TaintToleration
# --------------------------------------------------------------------------------------------

EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


@pytest.mark.parametrize("tol_effect", ["", *EFFECTS])
@pytest.mark.parametrize("taint_effect", EFFECTS)
@pytest.mark.parametrize("operator,tol_value,expect_value_ok", [
    ("Exists", "", True),
    ("Equal", "v1", True),
    ("", "v1", True),  # no operator means Equal
    ("Equal", "other", False),
    ("", "other", False),
])
def test_toleration_operator_effect_matrix(tol_effect, taint_effect, operator, tol_value, expect_value_ok):
    tol = {"key": "k", "operator": operator, "value": tol_value, "effect": tol_effect}
    taint = {"key": "k", "value": "v1", "effect": taint_effect}
    effect_ok = tol_effect in ("", taint_effect)
    assert toleration_tolerates_taint(tol, taint) is (effect_ok and expect_value_ok)
    # a different key is never tolerated by a keyed toleration
    assert toleration_tolerates_taint(tol, {**taint, "key": "other"}) is False


@pytest.mark.parametrize("tol,taint,want", [
    ({"operator": "Exists"}, {"key": "any", "value": "x", "effect": "NoExecute"}, True),  # tolerates everything
    ({"operator": "Exists", "effect": "NoSchedule"}, {"key": "any", "effect": "NoSchedule"}, True),
    ({"operator": "Exists", "effect": "NoSchedule"}, {"key": "any", "effect": "NoExecute"}, False),
    ({"key": "k", "operator": "Exists", "value": "ignored"}, {"key": "k", "value": "v", "effect": "NoSchedule"}, True),
    ({"key": "k", "operator": "Equal"}, {"key": "k", "effect": "NoSchedule"}, True),  # both values empty
    ({"key": "k", "operator": "Equal"}, {"key": "k", "value": "v", "effect": "NoSchedule"}, False),
    ({"key": "k", "operator": "Gt", "value": "1"}, {"key": "k", "value": "2", "effect": "NoSchedule"}, False),
    ({"operator": "Equal", "value": "v"}, {"key": "k", "value": "v", "effect": "NoSchedule"}, True),  # empty key
])
def test_toleration_edge_cases(tol, taint, want):
    assert toleration_tolerates_taint(tol, taint) is want


TAINT_FILTER_CASES = [
    ("no tolerations, NoSchedule taint", [],
     [{"key": "dedicated", "value": "user1", "effect": "NoSchedule"}],
     rejected("node(s) had untolerated taint {dedicated: user1}")),
    ("tolerated, operator omitted", [{"key": "dedicated", "value": "user1", "effect": "NoSchedule"}],
     [{"key": "dedicated", "value": "user1", "effect": "NoSchedule"}], OK),
    ("Equal with another value", [{"key": "dedicated", "operator": "Equal", "value": "user2", "effect": "NoSchedule"}],
     [{"key": "dedicated", "value": "user1", "effect": "NoSchedule"}],
     rejected("node(s) had untolerated taint {dedicated: user1}")),
    ("Exists tolerates any value", [{"key": "foo", "operator": "Exists", "effect": "NoSchedule"}],
     [{"key": "foo", "value": "bar", "effect": "NoSchedule"}], OK),
    ("several taints all tolerated",
     [{"key": "dedicated", "operator": "Equal", "value": "user2", "effect": "NoSchedule"},
      {"key": "foo", "operator": "Exists", "effect": "NoSchedule"}],
     [{"key": "dedicated", "value": "user2", "effect": "NoSchedule"},
      {"key": "foo", "value": "bar", "effect": "NoSchedule"}], OK),
    ("matching key and value but another (non-empty) effect",
     [{"key": "foo", "operator": "Equal", "value": "bar", "effect": "PreferNoSchedule"}],
     [{"key": "foo", "value": "bar", "effect": "NoSchedule"}],
     rejected("node(s) had untolerated taint {foo: bar}")),
    ("empty toleration effect matches NoSchedule", [{"key": "foo", "operator": "Equal", "value": "bar"}],
     [{"key": "foo", "value": "bar", "effect": "NoSchedule"}], OK),
    ("untolerated PreferNoSchedule taint does not filter",
     [{"key": "dedicated", "operator": "Equal", "value": "user2", "effect": "NoSchedule"}],
     [{"key": "dedicated", "value": "user1", "effect": "PreferNoSchedule"}], OK),
    ("no tolerations, only PreferNoSchedule", [],
     [{"key": "dedicated", "value": "user1", "effect": "PreferNoSchedule"}], OK),
    ("NoExecute taint untolerated", [{"key": "k", "operator": "Exists", "effect": "NoSchedule"}],
     [{"key": "k", "value": "v", "effect": "NoExecute"}], rejected("node(s) had untolerated taint {k: v}")),
    ("NoExecute taint tolerated", [{"key": "k", "operator": "Exists", "effect": "NoExecute"}],
     [{"key": "k", "value": "v", "effect": "NoExecute"}], OK),
    ("empty key with Exists tolerates all taints", [{"operator": "Exists"}],
     [{"key": "a", "value": "1", "effect": "NoSchedule"}, {"key": "b", "effect": "NoExecute"}], OK),
    ("empty key with Exists restricted to one effect", [{"operator": "Exists", "effect": "NoSchedule"}],
     [{"key": "a", "value": "1", "effect": "NoSchedule"}, {"key": "b", "value": "2", "effect": "NoExecute"}],
     rejected("node(s) had untolerated taint {b: 2}")),
    ("taint without value", [],
     [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}],
     rejected("node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }")),
    ("the first untolerated taint is named", [{"key": "a", "operator": "Exists"}],
     [{"key": "a", "value": "1", "effect": "NoSchedule"}, {"key": "c", "value": "3", "effect": "PreferNoSchedule"},
      {"key": "b", "value": "2", "effect": "NoExecute"}, {"key": "d", "value": "4", "effect": "NoSchedule"}],
     rejected("node(s) had untolerated taint {b: 2}")),
    ("unknown operator tolerates nothing", [{"key": "k", "operator": "Gt", "value": "1", "effect": "NoSchedule"}],
     [{"key": "k", "value": "2", "effect": "NoSchedule"}], rejected("node(s) had untolerated taint {k: 2}")),
    ("no taints", [], [], OK),
]


@pytest.mark.parametrize("name,tolerations,taints,want", TAINT_FILTER_CASES, ids=[c[0] for c in TAINT_FILTER_CASES])
def test_taint_toleration_filter(name, tolerations, taints, want):
    pl = TaintToleration({}, None)
    ni = NodeInfo(node("nodeA", taints=taints))
    st = pl.filter(CycleState(), PodInfo.of(pod(tolerations=tolerations)), ni)
    assert status_of(st) == want


def _pns(key, value):
    return {"key": key, "value": value, "effect": "PreferNoSchedule"}


TAINT_SCORE_CASES = [
    ("tolerated taint scores higher than intolerable one",
     [{"key": "foo", "operator": "Equal", "value": "bar", "effect": "PreferNoSchedule"}],
     {"nodeA": [_pns("foo", "bar")], "nodeB": [_pns("foo", "blah")]},
     {"nodeA": 100, "nodeB": 0}),
    ("the number of tolerated taints does not matter",
     [{"key": "cpu-type", "operator": "Equal", "value": "arm64", "effect": "PreferNoSchedule"},
      {"key": "disk-type", "operator": "Equal", "value": "ssd", "effect": "PreferNoSchedule"}],
     {"nodeA": [], "nodeB": [_pns("cpu-type", "arm64")],
      "nodeC": [_pns("cpu-type", "arm64"), _pns("disk-type", "ssd")]},
     {"nodeA": 100, "nodeB": 100, "nodeC": 100}),
    ("the more intolerable taints, the lower the score",
     [{"key": "foo", "operator": "Equal", "value": "bar", "effect": "PreferNoSchedule"}],
     {"nodeA": [], "nodeB": [_pns("cpu-type", "arm64")],
      "nodeC": [_pns("cpu-type", "arm64"), _pns("disk-type", "ssd")]},
     {"nodeA": 100, "nodeB": 50, "nodeC": 0}),
    ("only PreferNoSchedule taints and tolerations count",
     [{"key": "cpu-type", "operator": "Equal", "value": "arm64", "effect": "NoSchedule"},
      {"key": "disk-type", "operator": "Equal", "value": "ssd", "effect": "NoSchedule"}],
     {"nodeA": [], "nodeB": [{"key": "cpu-type", "value": "arm64", "effect": "NoSchedule"}],
      "nodeC": [_pns("cpu-type", "arm64"), _pns("disk-type", "ssd")]},
     {"nodeA": 100, "nodeB": 100, "nodeC": 0}),
    ("no tolerations: lands on the node without taints", [],
     {"nodeA": [], "nodeB": [_pns("cpu-type", "arm64")]},
     {"nodeA": 100, "nodeB": 0}),
    ("a toleration without effect tolerates PreferNoSchedule", [{"key": "cpu-type", "operator": "Exists"}],
     {"nodeA": [_pns("cpu-type", "arm64")], "nodeB": [_pns("cpu-type", "arm64"), _pns("gpu", "x")],
      "nodeC": [_pns("gpu", "x"), _pns("disk", "y"), _pns("net", "z")]},
     {"nodeA": 100, "nodeB": 67, "nodeC": 0}),
]


@pytest.mark.parametrize("name,tolerations,taints,want", TAINT_SCORE_CASES, ids=[c[0] for c in TAINT_SCORE_CASES])
def test_taint_toleration_score(name, tolerations, taints, want):
    nodes = infos([node(n, taints=t) for n, t in taints.items()])
    assert run_score(TaintToleration({}, None), pod(tolerations=tolerations), nodes) == want


def test_taint_toleration_events_and_helpers():
    assert {(e.resource, e.action) for e in TaintToleration({}, None).events_to_register()} == {
        ("Node", "Add"), ("Node", "Update")}
    taints = [{"key": "a", "effect": "PreferNoSchedule"}, {"key": "b", "effect": "NoSchedule"}]
    assert find_matching_untolerated_taint(taints, []) == taints[0]
    assert find_matching_untolerated_taint(taints, [], lambda t: t["effect"] == "NoSchedule") == taints[1]
    assert find_matching_untolerated_taint(taints, [{"operator": "Exists"}]) is None


def test_taint_toleration_score_without_prescore_is_an_error():
    s, st = TaintToleration({}, None).score(CycleState(), PodInfo.of(pod()), NodeInfo(node("n")))
    assert st.code == Code.ERROR


# --------------------------------------------------------------------------------------------
# NodeAffinity
# --------------------------------------------------------------------------------------------


def required(*terms: dict) -> dict:
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": list(terms)}}}


def expr(key: str, op: str, *values: str) -> dict:
    e = {"key": key, "operator": op}
    if values:
        e["values"] = list(values)
    return e


def term(*exprs: dict, fields: list | None = None) -> dict:
    t: dict = {}
    if exprs:
        t["matchExpressions"] = list(exprs)
    if fields is not None:
        t["matchFields"] = fields
    return t


def name_in(*names: str) -> dict:
    return {"key": "metadata.name", "operator": "In", "values": list(names)}


NA_FILTER_CASES = [
    # (name, pod kwargs, node labels, node name, want)
    ("no selector or affinity", {}, {"foo": "bar"}, "node1", OK),
    ("nodeSelector missing label", {"node_selector": {"foo": "bar"}}, {}, "node1", rejected(ERR_REASON_POD)),
    ("nodeSelector matches", {"node_selector": {"foo": "bar"}}, {"foo": "bar", "x": "y"}, "node1", OK),
    ("nodeSelector other value", {"node_selector": {"foo": "bar"}}, {"foo": "baz"}, "node1",
     rejected(ERR_REASON_POD)),
    ("nodeSelector empty value needs the label", {"node_selector": {"foo": ""}}, {}, "node1",
     rejected(ERR_REASON_POD)),
    ("empty nodeSelector matches", {"node_selector": {}}, {}, "node1", OK),
    ("no terms matches nothing", {"affinity": required()}, {"foo": "bar"}, "node1", rejected(ERR_REASON_POD)),
    ("an empty term matches nothing", {"affinity": required({})}, {"foo": "bar"}, "node1",
     rejected(ERR_REASON_POD)),
    ("empty term ORed with a matching one", {"affinity": required({}, term(expr("foo", "Exists")))},
     {"foo": "bar"}, "node1", OK),
    ("In matches", {"affinity": required(term(expr("foo", "In", "value1", "value2")))}, {"foo": "value2"},
     "node1", OK),
    ("In does not match", {"affinity": required(term(expr("foo", "In", "value1", "value2")))},
     {"foo": "value3"}, "node1", rejected(ERR_REASON_POD)),
    ("In on a missing label", {"affinity": required(term(expr("foo", "In", "bar")))}, {}, "node1",
     rejected(ERR_REASON_POD)),
    ("NotIn matches another value", {"affinity": required(term(expr("foo", "NotIn", "bar")))}, {"foo": "baz"},
     "node1", OK),
    ("NotIn matches a missing label", {"affinity": required(term(expr("foo", "NotIn", "bar")))}, {}, "node1", OK),
    ("NotIn rejects the value", {"affinity": required(term(expr("foo", "NotIn", "bar", "baz")))},
     {"foo": "baz"}, "node1", rejected(ERR_REASON_POD)),
    ("Exists", {"affinity": required(term(expr("foo", "Exists")))}, {"foo": ""}, "node1", OK),
    ("Exists on a missing label", {"affinity": required(term(expr("foo", "Exists")))}, {"bar": "x"}, "node1",
     rejected(ERR_REASON_POD)),
    ("DoesNotExist", {"affinity": required(term(expr("foo", "DoesNotExist")))}, {"bar": "x"}, "node1", OK),
    ("DoesNotExist with the label", {"affinity": required(term(expr("foo", "DoesNotExist")))}, {"foo": "x"},
     "node1", rejected(ERR_REASON_POD)),
    ("Gt greater", {"affinity": required(term(expr("gen", "Gt", "5")))}, {"gen": "8"}, "node1", OK),
    ("Gt equal", {"affinity": required(term(expr("gen", "Gt", "5")))}, {"gen": "5"}, "node1",
     rejected(ERR_REASON_POD)),
    ("Gt with a non-integer label", {"affinity": required(term(expr("gen", "Gt", "5")))}, {"gen": "eight"},
     "node1", rejected(ERR_REASON_POD)),
    ("Gt on a missing label", {"affinity": required(term(expr("gen", "Gt", "5")))}, {}, "node1",
     rejected(ERR_REASON_POD)),
    ("Lt smaller", {"affinity": required(term(expr("gen", "Lt", "5")))}, {"gen": "3"}, "node1", OK),
    ("Lt greater", {"affinity": required(term(expr("gen", "Lt", "5")))}, {"gen": "13"}, "node1",
     rejected(ERR_REASON_POD)),
    ("Gt with a non-integer value: the term does not parse",
     {"affinity": required(term(expr("gen", "Gt", "five")))}, {"gen": "8"}, "node1", rejected(ERR_REASON_POD)),
    ("Gt with two values: the term does not parse",
     {"affinity": required(term(expr("gen", "Gt", "1", "2")))}, {"gen": "8"}, "node1", rejected(ERR_REASON_POD)),
    ("unknown operator: the term matches nothing",
     {"affinity": required(term(expr("foo", "Like", "b")))}, {"foo": "b"}, "node1", rejected(ERR_REASON_POD)),
    ("unparsable term ORed with a matching one",
     {"affinity": required(term(expr("foo", "Like", "b")), term(expr("foo", "In", "b")))}, {"foo": "b"},
     "node1", OK),
    ("expressions of a term are ANDed",
     {"affinity": required(term(expr("foo", "In", "bar"), expr("kernel", "Exists")))}, {"foo": "bar"}, "node1",
     rejected(ERR_REASON_POD)),
    ("expressions ANDed, all hold",
     {"affinity": required(term(expr("foo", "In", "bar"), expr("kernel", "Exists"), expr("gen", "Gt", "2")))},
     {"foo": "bar", "kernel": "5.10", "gen": "3"}, "node1", OK),
    ("terms are ORed",
     {"affinity": required(term(expr("foo", "In", "nope")), term(expr("zone", "In", "z1", "z2")))},
     {"zone": "z2"}, "node1", OK),
    ("nodeSelector and affinity both hold",
     {"node_selector": {"foo": "bar"}, "affinity": required(term(expr("zone", "Exists")))},
     {"foo": "bar", "zone": "z"}, "node1", OK),
    ("nodeSelector holds, affinity not",
     {"node_selector": {"foo": "bar"}, "affinity": required(term(expr("zone", "Exists")))},
     {"foo": "bar"}, "node1", rejected(ERR_REASON_POD)),
    ("affinity holds, nodeSelector not",
     {"node_selector": {"foo": "bar"}, "affinity": required(term(expr("zone", "Exists")))},
     {"foo": "baz", "zone": "z"}, "node1", rejected(ERR_REASON_POD)),
    ("matchFields metadata.name In", {"affinity": required(term(fields=[name_in("node1")]))}, {}, "node1", OK),
    ("matchFields metadata.name In other", {"affinity": required(term(fields=[name_in("node2")]))}, {}, "node1",
     rejected(ERR_REASON_POD)),
    ("matchFields metadata.name NotIn",
     {"affinity": required(term(fields=[{"key": "metadata.name", "operator": "NotIn", "values": ["node1"]}]))},
     {}, "node1", rejected(ERR_REASON_POD)),
    ("matchFields NotIn another node",
     {"affinity": required(term(fields=[{"key": "metadata.name", "operator": "NotIn", "values": ["node2"]}]))},
     {}, "node1", OK),
    ("matchFields In with two values does not parse",
     {"affinity": required(term(fields=[name_in("node1", "node2")]))}, {}, "node1", rejected(ERR_REASON_POD)),
    ("matchFields with Exists does not parse",
     {"affinity": required(term(fields=[{"key": "metadata.name", "operator": "Exists"}]))}, {}, "node1",
     rejected(ERR_REASON_POD)),
    ("matchFields ANDed with matchExpressions",
     {"affinity": required(term(expr("foo", "In", "bar"), fields=[name_in("node1")]))}, {"foo": "baz"}, "node1",
     rejected(ERR_REASON_POD)),
    ("matchFields and matchExpressions both hold",
     {"affinity": required(term(expr("foo", "In", "bar"), fields=[name_in("node1")]))}, {"foo": "bar"}, "node1",
     OK),
    ("matchFields term ORed with a label term",
     {"affinity": required(term(fields=[name_in("node2")]), term(expr("foo", "Exists")))}, {"foo": ""}, "node1",
     OK),
]


@pytest.mark.parametrize("name,kw,labels,node_name,want", NA_FILTER_CASES, ids=[c[0] for c in NA_FILTER_CASES])
def test_node_affinity_filter(name, kw, labels, node_name, want):
    pl = NodeAffinity({}, None)
    state, got = run_filter(pl, pod(**kw), infos([node(node_name, labels)]))
    if pl.name in state.skip_filter:
        assert want == OK
        return
    assert status_of(got[node_name]) == want


def test_node_affinity_filter_without_prefilter_state():
    pl = NodeAffinity({}, None)
    st = pl.filter(CycleState(), PodInfo.of(pod(node_selector={"a": "b"})), NodeInfo(node("n", {"a": "c"})))
    assert status_of(st) == rejected(ERR_REASON_POD)


NA_PREFILTER_CASES = [
    ("no affinity: skip", {}, (Code.SKIP, None)),
    ("nodeSelector only: no narrowing", {"node_selector": {"a": "b"}}, (Code.SUCCESS, None)),
    ("empty terms: no narrowing", {"affinity": required()}, (Code.SUCCESS, None)),
    ("label terms: no narrowing", {"affinity": required(term(expr("a", "Exists")))}, (Code.SUCCESS, None)),
    ("one term naming a node", {"affinity": required(term(fields=[name_in("node1")]))},
     (Code.SUCCESS, {"node1"})),
    ("terms naming nodes are unioned",
     {"affinity": required(term(fields=[name_in("node1")]), term(fields=[name_in("node2")]))},
     (Code.SUCCESS, {"node1", "node2"})),
    ("requirements of a term are intersected",
     {"affinity": required(term(fields=[name_in("node1"), name_in("node1")]))}, (Code.SUCCESS, {"node1"})),
    ("a term not naming nodes keeps all nodes",
     {"affinity": required(term(fields=[name_in("node1")]), term(expr("a", "Exists")))}, (Code.SUCCESS, None)),
    ("NotIn names do not narrow",
     {"affinity": required(term(fields=[{"key": "metadata.name", "operator": "NotIn", "values": ["n"]}]))},
     (Code.SUCCESS, None)),
    ("conflicting names in one term",
     {"affinity": required(term(fields=[name_in("node1"), name_in("node2")]))},
     (Code.UNSCHEDULABLE_AND_UNRESOLVABLE, ERR_REASON_CONFLICT)),
]


@pytest.mark.parametrize("name,kw,want", NA_PREFILTER_CASES, ids=[c[0] for c in NA_PREFILTER_CASES])
def test_node_affinity_prefilter(name, kw, want):
    r, st = NodeAffinity({}, None).pre_filter(CycleState(), PodInfo.of(pod(**kw)), [])
    code, extra = want
    assert st.code == code
    if code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE:
        assert st.reasons == [extra] and r is None
    elif extra is None:
        assert r is None
    else:
        assert r == PreFilterResult(extra)


def test_node_affinity_added_affinity():
    added = {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        term(expr("pool", "In", "general"))]}}
    pl = NodeAffinity({"addedAffinity": added}, None)
    nodes = infos([node("n1", {"pool": "general", "foo": "bar"}), node("n2", {"pool": "gpu", "foo": "bar"}),
                   node("n3", {"pool": "general"})])
    # the added affinity applies even to pods without any: PreFilter does not skip
    _, got = run_filter(pl, pod(), nodes)
    assert {n: status_of(s) for n, s in got.items()} == {
        "n1": OK, "n2": rejected(ERR_REASON_ENFORCED), "n3": OK}
    _, got = run_filter(pl, pod(node_selector={"foo": "bar"}), nodes)
    assert {n: status_of(s) for n, s in got.items()} == {
        "n1": OK, "n2": rejected(ERR_REASON_ENFORCED), "n3": rejected(ERR_REASON_POD)}
    with pytest.raises(ValueError, match="addedAffinity"):
        NodeAffinity({"addedAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [term(expr("pool", "Gt", "x"))]}}}, None)


def preferred(*weighted: tuple[int, dict]) -> dict:
    return {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": w, "preference": t} for w, t in weighted]}}


def label_term(**labels: str) -> dict:
    return term(*[expr(k, "In", v) for k, v in labels.items()])


AFFINITY2 = preferred((2, label_term(foo="bar")), (4, label_term(key="value")),
                      (5, label_term(foo="bar", key="value", az="az1")))
SCORE_NODES = [node("node1", {"foo": "bar"}), node("node2", {"key": "value"}),
               node("node3", {"foo": "bar", "key": "value", "az": "az1"})]

NA_SCORE_CASES = [
    ("no affinity: skipped", {}, {}, None),
    ("no node matches: all zero", {"affinity": preferred((2, label_term(foo="nope")))}, {},
     {"node1": 0, "node2": 0, "node3": 0}),
    ("only node1 matches", {"affinity": preferred((2, label_term(foo="bar")))}, {},
     {"node1": 100, "node2": 0, "node3": 100}),
    ("weights summed and normalized", {"affinity": AFFINITY2}, {},
     {"node1": 18, "node2": 36, "node3": 100}),
    ("zero weight and empty preference ignored",
     {"affinity": preferred((0, label_term(key="value")), (3, {}), (1, label_term(foo="bar")))}, {},
     {"node1": 100, "node2": 0, "node3": 100}),
    ("matchFields in a preference", {"affinity": preferred((7, term(fields=[name_in("node2")])),
                                                           (3, label_term(foo="bar")))}, {},
     {"node1": 42, "node2": 100, "node3": 42}),
    ("Exists/DoesNotExist in a preference",
     {"affinity": preferred((1, term(expr("az", "Exists"))), (4, term(expr("key", "DoesNotExist"))))}, {},
     {"node1": 100, "node2": 0, "node3": 25}),
    ("added preferred terms add to the pod's", {"affinity": preferred((2, label_term(foo="bar")))},
     {"addedAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
         {"weight": 6, "preference": label_term(key="value")}]}},
     {"node1": 25, "node2": 75, "node3": 100}),
    ("added preferred terms alone", {},
     {"addedAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
         {"weight": 6, "preference": label_term(key="value")}]}},
     {"node1": 0, "node2": 100, "node3": 100}),
]


@pytest.mark.parametrize("name,kw,args,want", NA_SCORE_CASES, ids=[c[0] for c in NA_SCORE_CASES])
def test_node_affinity_score(name, kw, args, want):
    assert run_score(NodeAffinity(args, None), pod(**kw), infos(SCORE_NODES)) == want


def test_node_affinity_score_parse_error_is_an_error():
    pl = NodeAffinity({}, None)
    st = pl.pre_score(CycleState(), PodInfo.of(pod(affinity=preferred((1, term(expr("a", "Gt", "x")))))), [])
    assert st.code == Code.ERROR


def test_node_selector_helpers():
    ns = NodeSelector({"nodeSelectorTerms": [term(expr("a", "Bogus")), term(expr("b", "In", "1"))]})
    assert ns.errors and "Unsupported value" in ns.errors[0]
    assert ns.matches({"b": "1"}, "n") and not ns.matches({"a": "1"}, "n")
    with pytest.raises(ValueError):
        PreferredSchedulingTerms([{"weight": 1, "preference": term(expr("a", "In"))}])  # In needs values
    scores = [NodeScore("a", 3), NodeScore("b", 0), NodeScore("c", 7)]
    default_normalize_score(100, False, scores)
    assert [s.score for s in scores] == [42, 0, 100]
    scores = [NodeScore("a", 3), NodeScore("b", 0), NodeScore("c", 7)]
    default_normalize_score(100, True, scores)
    assert [s.score for s in scores] == [58, 100, 0]
    zeros = [NodeScore("a", 0)]
    default_normalize_score(100, True, zeros)
    assert zeros[0].score == 100
    assert {(e.resource, e.action) for e in NodeAffinity({}, None).events_to_register()} == {
        ("Node", "Add"), ("Node", "Update")}


# --------------------------------------------------------------------------------------------
# PodTopologySpread: filtering
# --------------------------------------------------------------------------------------------

ZONE_NODES = [
    node("node-a", {"zone": "zone1", "node": "node-a"}),
    node("node-b", {"zone": "zone1", "node": "node-b"}),
    node("node-x", {"zone": "zone2", "node": "node-x"}),
    node("node-y", {"zone": "zone2", "node": "node-y"}),
]
# matching pods: zone1 = 3 (a: 2, b: 1), zone2 = 2 (x: 0, y: 2)
PODS_32 = [on("node-a", "p-a1", foo=""), on("node-a", "p-a2", foo=""), on("node-b", "p-b1", foo=""),
           on("node-y", "p-y1", foo=""), on("node-y", "p-y2", foo="")]
NODE_NAMES = ["node-a", "node-b", "node-x", "node-y"]


def spread_filter(p: dict, nodes: list[dict], pods: list[dict], args: dict | None = None) -> dict[str, tuple]:
    pl = PodTopologySpread(args or {"defaultingType": "List"}, None)
    nis = infos(nodes, pods)
    state, got = run_filter(pl, p, nis)
    if pl.name in state.skip_filter:
        return {n.name: ("skip",) for n in nis}
    return {n: status_of(s) for n, s in got.items()}


def expect(**by_node: tuple) -> dict:
    return {k.replace("_", "-"): v for k, v in by_node.items()}


PTS_FILTER_CASES = [
    ("no existing pods", pod(labels={"foo": ""}, spread=[tsc(1, "zone", selector=FOO)]), ZONE_NODES, [],
     expect(node_a=OK, node_b=OK, node_x=OK, node_y=OK)),
    ("no existing pods, the pod does not match itself", pod(labels={"bar": ""}, spread=[tsc(1, "zone", selector=FOO)]),
     ZONE_NODES, [], expect(node_a=OK, node_b=OK, node_x=OK, node_y=OK)),
    ("zones 3/2, maxSkew 1", pod(labels={"foo": ""}, spread=[tsc(1, "zone", selector=FOO)]), ZONE_NODES, PODS_32,
     expect(node_a=skewed(), node_b=skewed(), node_x=OK, node_y=OK)),
    ("zones 3/2, maxSkew 2", pod(labels={"foo": ""}, spread=[tsc(2, "zone", selector=FOO)]), ZONE_NODES, PODS_32,
     expect(node_a=OK, node_b=OK, node_x=OK, node_y=OK)),
    ("zones 3/2, pod not matching itself", pod(labels={"bar": ""}, spread=[tsc(1, "zone", selector=FOO)]),
     ZONE_NODES, PODS_32, expect(node_a=OK, node_b=OK, node_x=OK, node_y=OK)),
    ("hostnames 2/1/0/2, maxSkew 1", pod(labels={"foo": ""}, spread=[tsc(1, "node", selector=FOO)]), ZONE_NODES,
     PODS_32, expect(node_a=skewed(), node_b=skewed(), node_x=OK, node_y=skewed())),
    ("hostnames 2/1/0/2, maxSkew 2", pod(labels={"foo": ""}, spread=[tsc(2, "node", selector=FOO)]), ZONE_NODES,
     PODS_32, expect(node_a=skewed(), node_b=OK, node_x=OK, node_y=skewed())),
    ("zone and hostname constraints", pod(labels={"foo": ""}, spread=[tsc(1, "zone", selector=FOO),
                                                                       tsc(1, "node", selector=FOO)]),
     ZONE_NODES, PODS_32, expect(node_a=skewed(), node_b=skewed(), node_x=OK, node_y=skewed())),
    ("soft constraints are not filtered", pod(labels={"foo": ""}, spread=[tsc(1, "zone", "ScheduleAnyway", FOO)]),
     ZONE_NODES, PODS_32, {n: ("skip",) for n in NODE_NAMES}),
    ("pods in other namespaces do not count", pod(labels={"foo": ""}, spread=[tsc(1, "zone", selector=FOO)]),
     ZONE_NODES, [pod("o1", labels={"foo": ""}, ns="other", node_name="node-a"),
                  pod("o2", labels={"foo": ""}, ns="other", node_name="node-a"), on("node-x", "p-x1", foo="")],
     expect(node_a=OK, node_b=OK, node_x=skewed(), node_y=skewed())),
    ("terminating pods do not count", pod(labels={"foo": ""}, spread=[tsc(1, "node", selector=FOO)]), ZONE_NODES,
     [pod("t1", labels={"foo": ""}, node_name="node-a", terminating=True), on("node-b", "p-b1", foo=""),
      on("node-x", "p-x1", foo=""), on("node-y", "p-y1", foo="")],
     expect(node_a=OK, node_b=skewed(), node_x=skewed(), node_y=skewed())),
    ("absent labelSelector selects nothing", pod(labels={"foo": ""}, spread=[tsc(1, "node")]), ZONE_NODES, PODS_32,
     expect(node_a=OK, node_b=OK, node_x=OK, node_y=OK)),
    ("node missing the topology key",
     pod(labels={"foo": ""}, spread=[tsc(1, "zone", selector=FOO)]),
     ZONE_NODES + [node("node-z", {"node": "node-z"})],
     PODS_32 + [on("node-z", "p-z1", foo=""), on("node-z", "p-z2", foo="")],
     {**expect(node_a=skewed(), node_b=skewed(), node_x=OK, node_y=OK),
      "node-z": rejected(ERR_REASON_NODE_LABEL_NOT_MATCH)}),
    ("node missing one of two topology keys: its pods count for neither",
     pod(labels={"foo": ""}, spread=[tsc(1, "zone", selector=FOO), tsc(1, "node", selector=FOO)]),
     ZONE_NODES[:3] + [node("node-y", {"zone": "zone2"})],
     [on("node-a", "p-a1", foo=""), on("node-y", "p-y1", foo=""), on("node-y", "p-y2", foo="")],
     expect(node_a=skewed(), node_b=skewed(), node_x=OK, node_y=rejected(ERR_REASON_NODE_LABEL_NOT_MATCH))),
    # minDomains: fewer eligible domains than minDomains make the global minimum 0
    ("minDomains above the domain count",
     pod(labels={"foo": ""}, spread=[tsc(1, "node", selector=FOO, minDomains=5)]), ZONE_NODES,
     [on(n, f"p-{n}", foo="") for n in NODE_NAMES],
     expect(node_a=skewed(), node_b=skewed(), node_x=skewed(), node_y=skewed())),
    ("minDomains equal to the domain count",
     pod(labels={"foo": ""}, spread=[tsc(1, "node", selector=FOO, minDomains=4)]), ZONE_NODES,
     [on(n, f"p-{n}", foo="") for n in NODE_NAMES],
     expect(node_a=OK, node_b=OK, node_x=OK, node_y=OK)),
    ("minDomains on zones: 2 zones < 3",
     pod(labels={"foo": ""}, spread=[tsc(1, "zone", selector=FOO, minDomains=3)]), ZONE_NODES,
     [on("node-a", "p-a1", foo=""), on("node-x", "p-x1", foo="")],
     expect(node_a=skewed(), node_b=skewed(), node_x=skewed(), node_y=skewed())),
    ("minDomains on zones with maxSkew 2",
     pod(labels={"foo": ""}, spread=[tsc(2, "zone", selector=FOO, minDomains=3)]), ZONE_NODES,
     [on("node-a", "p-a1", foo=""), on("node-x", "p-x1", foo=""), on("node-x", "p-x2", foo="")],
     expect(node_a=OK, node_b=OK, node_x=skewed(), node_y=skewed())),
    # node inclusion policies
    ("nodeAffinityPolicy Honor (default): nodes the pod cannot go to are not domains",
     pod(labels={"foo": ""}, node_selector={"pool": "a"}, spread=[tsc(1, "node", selector=FOO)]),
     [node(n, {"node": n, "pool": "a" if n != "node-y" else "b"}) for n in NODE_NAMES],
     [on("node-a", "p-a1", foo=""), on("node-b", "p-b1", foo=""), on("node-x", "p-x1", foo="")],
     expect(node_a=OK, node_b=OK, node_x=OK, node_y=OK)),
    ("nodeAffinityPolicy Ignore: every node is a domain",
     pod(labels={"foo": ""}, node_selector={"pool": "a"},
         spread=[tsc(1, "node", selector=FOO, nodeAffinityPolicy="Ignore")]),
     [node(n, {"node": n, "pool": "a" if n != "node-y" else "b"}) for n in NODE_NAMES],
     [on("node-a", "p-a1", foo=""), on("node-b", "p-b1", foo=""), on("node-x", "p-x1", foo="")],
     expect(node_a=skewed(), node_b=skewed(), node_x=skewed(), node_y=OK)),
    ("nodeAffinityPolicy Honor with required node affinity",
     pod(labels={"foo": ""}, affinity=required(term(expr("pool", "NotIn", "b"))),
         spread=[tsc(1, "node", selector=FOO)]),
     [node(n, {"node": n, "pool": "a" if n != "node-y" else "b"}) for n in NODE_NAMES],
     [on("node-a", "p-a1", foo=""), on("node-b", "p-b1", foo=""), on("node-x", "p-x1", foo="")],
     expect(node_a=OK, node_b=OK, node_x=OK, node_y=OK)),
    ("nodeTaintsPolicy Ignore (default): tainted nodes are domains",
     pod(labels={"foo": ""}, spread=[tsc(1, "node", selector=FOO)]),
     ZONE_NODES[:3] + [node("node-y", {"node": "node-y"}, [{"key": "k", "effect": "NoSchedule"}])],
     [on("node-a", "p-a1", foo=""), on("node-b", "p-b1", foo=""), on("node-x", "p-x1", foo="")],
     expect(node_a=skewed(), node_b=skewed(), node_x=skewed(), node_y=OK)),
    ("nodeTaintsPolicy Honor: untolerated tainted nodes are not domains",
     pod(labels={"foo": ""}, spread=[tsc(1, "node", selector=FOO, nodeTaintsPolicy="Honor")]),
     ZONE_NODES[:3] + [node("node-y", {"node": "node-y"}, [{"key": "k", "effect": "NoSchedule"}])],
     [on("node-a", "p-a1", foo=""), on("node-b", "p-b1", foo=""), on("node-x", "p-x1", foo="")],
     expect(node_a=OK, node_b=OK, node_x=OK, node_y=OK)),
    ("nodeTaintsPolicy Honor: tolerated taints keep the domain",
     pod(labels={"foo": ""}, tolerations=[{"key": "k", "operator": "Exists"}],
         spread=[tsc(1, "node", selector=FOO, nodeTaintsPolicy="Honor")]),
     ZONE_NODES[:3] + [node("node-y", {"node": "node-y"}, [{"key": "k", "effect": "NoSchedule"}])],
     [on("node-a", "p-a1", foo=""), on("node-b", "p-b1", foo=""), on("node-x", "p-x1", foo="")],
     expect(node_a=skewed(), node_b=skewed(), node_x=skewed(), node_y=OK)),
    ("nodeTaintsPolicy Honor: PreferNoSchedule taints do not matter",
     pod(labels={"foo": ""}, spread=[tsc(1, "node", selector=FOO, nodeTaintsPolicy="Honor")]),
     ZONE_NODES[:3] + [node("node-y", {"node": "node-y"}, [{"key": "k", "effect": "PreferNoSchedule"}])],
     [on("node-a", "p-a1", foo=""), on("node-b", "p-b1", foo=""), on("node-x", "p-x1", foo="")],
     expect(node_a=skewed(), node_b=skewed(), node_x=skewed(), node_y=OK)),
    # matchLabelKeys
    ("matchLabelKeys narrows the selector to the pod's revision",
     pod(labels={"foo": "", "rev": "v2"}, spread=[tsc(1, "node", selector=FOO, matchLabelKeys=["rev"])]),
     ZONE_NODES, [on("node-a", "old1", foo="", rev="v1"), on("node-a", "old2", foo="", rev="v1")],
     expect(node_a=OK, node_b=OK, node_x=OK, node_y=OK)),
    ("without matchLabelKeys old revisions count",
     pod(labels={"foo": "", "rev": "v2"}, spread=[tsc(1, "node", selector=FOO)]),
     ZONE_NODES, [on("node-a", "old1", foo="", rev="v1"), on("node-a", "old2", foo="", rev="v1")],
     expect(node_a=skewed(), node_b=OK, node_x=OK, node_y=OK)),
    ("matchLabelKeys with an empty labelSelector",
     pod(labels={"app": "web"}, spread=[tsc(1, "node", selector={}, matchLabelKeys=["app"])]),
     ZONE_NODES, [on("node-a", "w1", app="web"), on("node-b", "w2", app="web"), on("node-x", "o1", app="db")],
     expect(node_a=skewed(), node_b=skewed(), node_x=OK, node_y=OK)),
    ("matchLabelKeys absent from the pod's labels are ignored",
     pod(labels={"foo": ""}, spread=[tsc(1, "node", selector=FOO, matchLabelKeys=["rev"])]),
     ZONE_NODES, [on("node-a", "old1", foo="", rev="v1")],
     expect(node_a=skewed(), node_b=OK, node_x=OK, node_y=OK)),
    ("an empty labelSelector counts no pods (but matches the pod)",
     pod(labels={"foo": ""}, spread=[tsc(1, "node", selector={})]), ZONE_NODES, PODS_32,
     expect(node_a=OK, node_b=OK, node_x=OK, node_y=OK)),
]


@pytest.mark.parametrize("name,p,nodes,pods,want", PTS_FILTER_CASES, ids=[c[0] for c in PTS_FILTER_CASES])
def test_pod_topology_spread_filter(name, p, nodes, pods, want):
    assert spread_filter(p, nodes, pods) == want


def owned(p: dict, kind: str = "ReplicaSet") -> dict:
    """``p`` controlled by a workload (default spreading applies to such pods)."""
    p["metadata"]["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": kind, "name": "owner", "uid": "u1",
                                         "controller": True}]
    return p


def test_pod_topology_spread_default_constraints_filter():
    # List defaulting with a hard default constraint: a controlled pod's labels are the selector
    args = {"defaultingType": "List", "defaultConstraints": [{"maxSkew": 1, "topologyKey": "node",
                                                              "whenUnsatisfiable": "DoNotSchedule"}]}
    pods = [on("node-a", "w1", app="web"), on("node-a", "w2", app="web"), on("node-b", "w3", app="web"),
            on("node-x", "d1", app="db")]
    got = spread_filter(owned(pod(labels={"app": "web"})), ZONE_NODES, pods, args)
    assert got == expect(node_a=skewed(), node_b=skewed(), node_x=OK, node_y=OK)
    # a bare pod (no controller; no Service is known here) gets no default spreading
    assert spread_filter(pod(labels={"app": "web"}), ZONE_NODES, pods, args) == {n: ("skip",) for n in NODE_NAMES}
    # per-pod labels are left out of that selector: StatefulSet siblings still count
    ss = [on("node-a", "s-0", app="db", **{"statefulset.kubernetes.io/pod-name": "s-0"})]
    me = owned(pod(labels={"app": "db", "statefulset.kubernetes.io/pod-name": "s-1"}), "StatefulSet")
    assert spread_filter(me, ZONE_NODES, ss, args) == expect(node_a=skewed(), node_b=OK, node_x=OK, node_y=OK)
    # no labels: no default spreading
    assert spread_filter(owned(pod()), ZONE_NODES, pods, args) == {n: ("skip",) for n in NODE_NAMES}
    # the pod's own constraints replace the defaults
    own = pod(labels={"app": "web"}, spread=[tsc(5, "node", selector=exists("app"))])
    assert spread_filter(own, ZONE_NODES, pods, args) == expect(node_a=OK, node_b=OK, node_x=OK, node_y=OK)
    # System defaulting has only soft constraints
    assert spread_filter(pod(labels={"app": "web"}), ZONE_NODES, pods, {}) == {n: ("skip",) for n in NODE_NAMES}


def test_pod_topology_spread_default_selector_from_handle():
    from kubeapi.selectors import selector_from_set

    class Handle:
        snapshot = None

        def default_selector(self, p):
            return selector_from_set({"tier": "fe"}) if p["metadata"]["name"] == "owned" else None

    args = {"defaultingType": "List", "defaultConstraints": [{"maxSkew": 1, "topologyKey": "node",
                                                              "whenUnsatisfiable": "DoNotSchedule"}]}
    pl = PodTopologySpread(args, Handle())
    nis = infos(ZONE_NODES, [on("node-a", "f1", tier="fe"), on("node-b", "f2", tier="fe"),
                             on("node-x", "f3", tier="fe")])
    state, got = run_filter(pl, pod("owned", labels={"tier": "fe"}), nis)
    assert {n: status_of(s) for n, s in got.items()} == expect(node_a=skewed(), node_b=skewed(),
                                                                node_x=skewed(), node_y=OK)
    r, st = pl.pre_filter(CycleState(), PodInfo.of(pod("orphan", labels={"tier": "fe"})), nis)
    assert st.code == Code.SKIP  # the handle knows no owner: no default spreading


def test_pod_topology_spread_prefilter_extensions():
    pl = PodTopologySpread({"defaultingType": "List"}, None)
    nis = infos(ZONE_NODES, PODS_32)
    p = PodInfo.of(pod(labels={"foo": ""}, spread=[tsc(1, "node", selector=FOO)]))
    state = CycleState()
    _, st = pl.pre_filter(state, p, nis)
    assert st.is_success()
    node_b = nis[1]
    assert pl.filter(state, p, node_b).code == Code.UNSCHEDULABLE  # b: 1 + 1 - 0 > 1
    what_if = state.clone()
    victim = PodInfo.of(PODS_32[2])
    assert pl.remove_pod(what_if, p, victim, node_b).is_success()
    assert pl.filter(what_if, p, node_b).is_success()  # b: 0 + 1 - 0
    assert pl.filter(state, p, node_b).code == Code.UNSCHEDULABLE  # the original state is untouched
    node_x = nis[2]
    assert pl.filter(what_if, p, node_x).is_success()  # x: 0 + 1 - 0
    assert pl.add_pod(what_if, p, PodInfo.of(on("node-x", "n1", foo="")), node_x).is_success()
    assert pl.filter(what_if, p, node_x).code == Code.UNSCHEDULABLE  # x: 1 + 1 - 0 (b is the minimum)
    assert pl.filter(what_if, p, node_b).is_success()


@pytest.mark.parametrize("selector", [
    None, {}, {"matchLabels": {"app": "web"}}, {"matchLabels": {"app": "web", "tier": ""}},
    {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web"]}]},
    {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "db"]}]},
    {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["fe"]}]},
    {"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]},
])
def test_compiled_selector_agrees_with_label_selector(selector):
    from actors.scheduler.plugins.podtopologyspread import compile_selector, filter_constraints

    (c,) = filter_constraints([tsc(1, "zone", selector=selector)], {}, "DoNotSchedule")
    m = compile_selector(c.selector)
    for labels in ({}, {"app": "web"}, {"app": "db"}, {"app": "web", "tier": ""}, {"app": "web", "tier": "fe"},
                   {"tier": "be"}, {"app": "webx"}):
        assert m(labels) == c.selector.matches(labels) == c.matches(labels), labels


def test_pod_topology_spread_invalid_selector_is_an_error():
    pl = PodTopologySpread({"defaultingType": "List"}, None)
    bad = pod(labels={"foo": ""}, spread=[tsc(1, "node", selector={"matchExpressions": [
        {"key": "foo", "operator": "Bogus"}]})])
    _, st = pl.pre_filter(CycleState(), PodInfo.of(bad), infos(ZONE_NODES))
    assert st.code == Code.ERROR


def test_pod_topology_spread_args_validation_and_events():
    with pytest.raises(ValueError):
        PodTopologySpread({"defaultingType": "Bogus"}, None)
    with pytest.raises(ValueError):
        PodTopologySpread({"defaultingType": "System", "defaultConstraints": [
            {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"}]}, None)
    with pytest.raises(ValueError, match="selector"):
        PodTopologySpread({"defaultingType": "List", "defaultConstraints": [
            {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {}}]}, None)
    events = {(e.resource, e.action) for e in PodTopologySpread({}, None).events_to_register()}
    assert {("Pod", "Add"), ("Pod", "Delete"), ("Pod", "Update"), ("Node", "Add"), ("Node", "Update")} <= events


# --------------------------------------------------------------------------------------------
# PodTopologySpread: scoring (upstream's TestPodTopologySpreadScore)
# --------------------------------------------------------------------------------------------


def host_nodes(*names: str, key: str = LABEL_HOSTNAME) -> list[dict]:
    return [node(n, {key: n}) for n in names]


def zone_host_nodes(spec: dict[str, str]) -> list[dict]:
    return [node(n, {"zone": z, LABEL_HOSTNAME: n}) for n, z in spec.items()]


def many(node_name: str, prefix: str, n: int, **labels: str) -> list[dict]:
    return [on(node_name, f"{prefix}{i}", **labels) for i in range(1, n + 1)]


SPREAD_2103 = many("node-a", "p-a", 2, foo="") + many("node-b", "p-b", 1, foo="") + many("node-d", "p-d", 3, foo="")
SPREAD_4321 = (many("node-a", "p-a", 4, foo="") + many("node-b", "p-b", 3, foo="") + many("node-c", "p-c", 2, foo="")
               + many("node-d", "p-d", 1, foo=""))
SPREAD_4213 = (many("node-a", "p-a", 4, foo="") + many("node-b", "p-b", 2, foo="") + many("node-x", "p-x", 1, foo="")
               + many("node-y", "p-y", 3, foo=""))
DIFF_SELECTORS = [on("node-a", "p-a1", foo=""), on("node-b", "p-b1", foo="", bar=""), on("node-y", "p-y1", foo=""),
                  on("node-y", "p-y2", bar="")]
ABCD = ("node-a", "node-b", "node-c", "node-d")
ZONES_ABXY = {"node-a": "zone1", "node-b": "zone1", "node-x": "zone2", "node-y": "zone2"}
POLICY_PODS = many("node-a", "p-a", 2, foo="") + [on("node-b", "p-b1", foo=""), on("node-c", "p-c1", foo="")]
UNSCHED_TAINT = [{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]


def soft(max_skew: int, key: str, selector: dict | None = FOO, **extra) -> dict:
    return tsc(max_skew, key, "ScheduleAnyway", selector, **extra)


PTS_SCORE_CASES = [
    # (name, pod, existing pods, candidate nodes, failed nodes, args, want)
    ("one constraint on node, no existing pods",
     pod(labels={"foo": ""}, spread=[soft(1, LABEL_HOSTNAME)]), [], host_nodes("node-a", "node-b"), [], None,
     {"node-a": 100, "node-b": 100}),
    ("one constraint on node, only one node is candidate",
     pod(labels={"foo": ""}, spread=[soft(1, LABEL_HOSTNAME)]),
     many("node-a", "p-a", 2, foo="") + [on("node-b", "p-b1", foo="")], host_nodes("node-a"),
     host_nodes("node-b"), None, {"node-a": 100}),
    ("one constraint on node, all nodes have the same number of matching pods",
     pod(labels={"foo": ""}, spread=[soft(1, LABEL_HOSTNAME)]),
     [on("node-a", "p-a1", foo=""), on("node-b", "p-b1", foo="")], host_nodes("node-a", "node-b"), [], None,
     {"node-a": 100, "node-b": 100}),
    ("one constraint on node, all 4 nodes are candidates (2/1/0/3)",
     pod(labels={"foo": ""}, spread=[soft(1, LABEL_HOSTNAME)]), SPREAD_2103, host_nodes(*ABCD), [], None,
     {"node-a": 20, "node-b": 60, "node-c": 100, "node-d": 0}),
    ("one constraint on node, null selector",
     pod(labels={"foo": ""}, spread=[soft(1, LABEL_HOSTNAME, None)]), SPREAD_2103, host_nodes(*ABCD), [], None,
     {"node-a": 100, "node-b": 100, "node-c": 100, "node-d": 100}),
    ("one constraint on node, maxSkew=2 (2/1/0/3)",
     pod(labels={"foo": ""}, spread=[soft(2, LABEL_HOSTNAME)]), SPREAD_2103, host_nodes(*ABCD), [], None,
     {"node-a": 33, "node-b": 66, "node-c": 100, "node-d": 16}),
    ("one constraint on node, maxSkew=3 (4/3/2/1)",
     pod(labels={"foo": ""}, spread=[soft(3, LABEL_HOSTNAME)]), SPREAD_4321, host_nodes(*ABCD), [], None,
     {"node-a": 44, "node-b": 66, "node-c": 77, "node-d": 100}),
    ("system defaulting, nodes without zone, pods selected by the pod's labels (4/3/2/1)",
     owned(pod(labels={"foo": ""})), SPREAD_4321, host_nodes(*ABCD), [], {},
     {"node-a": 44, "node-b": 66, "node-c": 77, "node-d": 100}),
    ("one constraint on node, 3 out of 4 nodes are candidates (4/2/1/~3~)",
     pod(labels={"foo": ""}, spread=[soft(1, LABEL_HOSTNAME)]), SPREAD_4213,
     host_nodes("node-a", "node-b", "node-x"), host_nodes("node-y"), None,
     {"node-a": 33, "node-b": 83, "node-x": 100}),
    ("one constraint on node, one candidate lacks the topology key (4/?2?/1/~3~)",
     pod(labels={"foo": ""}, spread=[soft(1, LABEL_HOSTNAME)]), SPREAD_4213,
     [node("node-a", {LABEL_HOSTNAME: "node-a"}), node("node-b", {"n": "node-b"}),
      node("node-x", {LABEL_HOSTNAME: "node-x"})], host_nodes("node-y"), None,
     {"node-a": 16, "node-b": 0, "node-x": 100}),
    ("one constraint on zone, 3 out of 4 nodes are candidates",
     pod(labels={"foo": ""}, spread=[soft(1, "zone")]), SPREAD_4213,
     zone_host_nodes({"node-a": "zone1", "node-b": "zone1", "node-x": "zone2"}),
     zone_host_nodes({"node-y": "zone2"}), None,
     {"node-a": 75, "node-b": 75, "node-x": 100}),
    ("two constraints on zone and node, 2 out of 4 nodes are candidates (2/~1~/2/~4~)",
     pod(labels={"foo": ""}, spread=[soft(1, "zone"), soft(1, LABEL_HOSTNAME)]),
     many("node-a", "p-a", 2, foo="") + [on("node-b", "p-b1", foo="")] + many("node-x", "p-x", 2, foo="")
     + many("node-y", "p-y", 4, foo=""),
     zone_host_nodes({"node-a": "zone1", "node-x": "zone2"}),
     zone_host_nodes({"node-b": "zone1", "node-y": "zone2"}), None,
     {"node-a": 100, "node-x": 63}),
    ("two constraints on zone and node, with different labelSelectors",
     pod(labels={"foo": "", "bar": ""}, spread=[soft(1, "zone", FOO), soft(1, LABEL_HOSTNAME, BAR)]),
     DIFF_SELECTORS, zone_host_nodes(ZONES_ABXY), [], None,
     {"node-a": 60, "node-b": 20, "node-x": 100, "node-y": 60}),
    ("two constraints on zone and node, different labelSelectors, some nodes have 0 pods",
     pod(labels={"foo": "", "bar": ""}, spread=[soft(1, "zone", FOO), soft(1, LABEL_HOSTNAME, BAR)]),
     [on("node-b", "p-b1", bar=""), on("node-x", "p-x1", foo=""), on("node-y", "p-y1", foo="", bar="")],
     zone_host_nodes(ZONES_ABXY), [], None,
     {"node-a": 100, "node-b": 60, "node-x": 40, "node-y": 0}),
    ("two constraints on zone and node, different labelSelectors, 3 out of 4 nodes are candidates",
     pod(labels={"foo": "", "bar": ""}, spread=[soft(1, "zone", FOO), soft(1, LABEL_HOSTNAME, BAR)]),
     DIFF_SELECTORS, zone_host_nodes({"node-a": "zone1", "node-b": "zone1", "node-x": "zone2"}),
     zone_host_nodes({"node-y": "zone2"}), None,
     {"node-a": 50, "node-b": 25, "node-x": 100}),
    ("existing pods in a different namespace do not count",
     pod(labels={"foo": ""}, spread=[soft(1, LABEL_HOSTNAME)]),
     [pod("p-a1", labels={"foo": ""}, ns="ns1", node_name="node-a"), on("node-a", "p-a2", foo=""),
      on("node-b", "p-b1", foo=""), on("node-b", "p-b2", foo="")],
     host_nodes("node-a", "node-b"), [], None, {"node-a": 100, "node-b": 33}),
    ("terminating pods are excluded",
     pod(labels={"foo": ""}, spread=[soft(1, LABEL_HOSTNAME)]),
     [pod("p-a", labels={"foo": ""}, node_name="node-a", terminating=True), on("node-b", "p-b", foo="")],
     host_nodes("node-a", "node-b"), [], None, {"node-a": 100, "node-b": 0}),
    ("minDomains has no effect when ScheduleAnyway",
     pod(labels={"foo": ""}, spread=[soft(2, "node", minDomains=10)]),
     many("node-a", "p-a", 2, foo="") + many("node-b", "p-b", 2, foo="") + [on("node-c", "p-c1", foo="")],
     host_nodes("node-a", "node-b", "node-c", key="node"), [], None,
     {"node-a": 75, "node-b": 75, "node-c": 100}),
    ("NodeAffinityPolicy honored with labelSelectors",
     pod(labels={"foo": ""}, node_selector={"foo": ""}, spread=[soft(1, "node")]), POLICY_PODS,
     [node("node-a", {"node": "node-a", "foo": ""}), node("node-b", {"node": "node-b", "foo": ""}),
      node("node-c", {"node": "node-c"})], [], None,
     {"node-a": 0, "node-b": 33, "node-c": 100}),
    ("NodeAffinityPolicy ignored with labelSelectors",
     pod(labels={"foo": ""}, node_selector={"foo": ""}, spread=[soft(1, "node", nodeAffinityPolicy="Ignore")]),
     POLICY_PODS,
     [node("node-a", {"node": "node-a", "foo": ""}), node("node-b", {"node": "node-b", "foo": ""}),
      node("node-c", {"node": "node-c"})], [], None,
     {"node-a": 66, "node-b": 100, "node-c": 100}),
    ("NodeAffinityPolicy honored with nodeAffinity",
     pod(labels={"foo": ""}, affinity=required(term(expr("foo", "In", ""))), spread=[soft(1, "node")]),
     POLICY_PODS,
     [node("node-a", {"node": "node-a", "foo": ""}), node("node-b", {"node": "node-b", "foo": ""}),
      node("node-c", {"node": "node-c"})], [], None,
     {"node-a": 0, "node-b": 33, "node-c": 100}),
    ("NodeAffinityPolicy ignored with nodeAffinity",
     pod(labels={"foo": ""}, affinity=required(term(expr("foo", "In", ""))),
         spread=[soft(1, "node", nodeAffinityPolicy="Ignore")]),
     POLICY_PODS,
     [node("node-a", {"node": "node-a", "foo": ""}), node("node-b", {"node": "node-b", "foo": ""}),
      node("node-c", {"node": "node-c"})], [], None,
     {"node-a": 66, "node-b": 100, "node-c": 100}),
    ("NodeTaintsPolicy honored",
     pod(labels={"foo": ""}, spread=[soft(1, "node", nodeTaintsPolicy="Honor")]), POLICY_PODS,
     [node("node-a", {"node": "node-a"}), node("node-b", {"node": "node-b"}),
      node("node-c", {"node": "node-c"}, UNSCHED_TAINT)], [], None,
     {"node-a": 0, "node-b": 33, "node-c": 100}),
    ("NodeTaintsPolicy ignored",
     pod(labels={"foo": ""}, spread=[soft(1, "node")]), POLICY_PODS,
     [node("node-a", {"node": "node-a"}), node("node-b", {"node": "node-b"}),
      node("node-c", {"node": "node-c"}, UNSCHED_TAINT)], [], None,
     {"node-a": 66, "node-b": 100, "node-c": 100}),
    ("matchLabelKeys ANDed with an empty labelSelector",
     pod(labels={"foo": "", "bar": ""}, spread=[soft(1, "zone", {}, matchLabelKeys=["foo"]),
                                               soft(1, LABEL_HOSTNAME, {}, matchLabelKeys=["bar"])]),
     [on("node-a", "p-a1", foo=""), on("node-b", "p-b1", foo="", bar=""), on("node-c", "p-y1", foo=""),
      on("node-c", "p-y2", bar="")],
     zone_host_nodes({"node-a": "zone1", "node-b": "zone1", "node-c": "zone2", "node-d": "zone2"}), [], None,
     {"node-a": 60, "node-b": 20, "node-c": 60, "node-d": 100}),
    ("matchLabelKeys ANDed with a non-empty labelSelector",
     pod(labels={"foo": "", "bar": "", "baz": ""},
         spread=[soft(1, "zone", FOO), soft(1, LABEL_HOSTNAME, BAR, matchLabelKeys=["baz"])]),
     [on("node-a", "p-a1", foo=""), on("node-b", "p-b1", foo="", bar="", baz=""), on("node-c", "p-c1", foo=""),
      on("node-c", "p-c2", bar=""), on("node-c", "p-d3", bar="", baz="")],
     zone_host_nodes({"node-a": "zone1", "node-b": "zone1", "node-c": "zone2", "node-d": "zone2"}), [], None,
     {"node-a": 60, "node-b": 20, "node-c": 60, "node-d": 100}),
]


@pytest.mark.parametrize("name,p,pods,nodes,failed,args,want", PTS_SCORE_CASES,
                         ids=[c[0] for c in PTS_SCORE_CASES])
def test_pod_topology_spread_score(name, p, pods, nodes, failed, args, want):
    all_nodes = infos(nodes + failed, pods)
    candidates = all_nodes[:len(nodes)]
    pl = PodTopologySpread({"defaultingType": "List"} if args is None else args,
                           SimpleHandle(snapshot=ListSnapshot(all_nodes)))
    assert run_score(pl, p, candidates) == want


def test_pod_topology_spread_score_skips():
    nis = infos(host_nodes("node-a", "node-b"))
    pl = PodTopologySpread({"defaultingType": "List"}, SimpleHandle(snapshot=ListSnapshot(nis)))
    assert run_score(pl, pod(labels={"foo": ""}), nis) is None  # no constraints
    assert run_score(pl, pod(labels={"foo": ""}, spread=[tsc(1, LABEL_HOSTNAME, selector=FOO)]), nis) is None
    st = pl.pre_score(CycleState(), PodInfo.of(pod(spread=[soft(1, LABEL_HOSTNAME)])), [])
    assert st.code == Code.SKIP  # nothing to score


def test_pod_topology_spread_system_defaults_zone_and_hostname():
    """System defaults with zones: maxSkew 3 on hostname and 5 on zone, both soft."""
    nodes = [node("a", {"zone": "z1", LABEL_HOSTNAME: "a", LABEL_TOPOLOGY_ZONE: "z1"}),
             node("b", {LABEL_HOSTNAME: "b", LABEL_TOPOLOGY_ZONE: "z1"}),
             node("c", {LABEL_HOSTNAME: "c", LABEL_TOPOLOGY_ZONE: "z2"}),
             node("d", {LABEL_HOSTNAME: "d"})]  # no zone: still spread by hostname
    pods = many("a", "w-a", 3, app="web") + many("c", "w-c", 1, app="web") + [on("d", "db", app="db")]
    nis = infos(nodes, pods)
    pl = PodTopologySpread({}, SimpleHandle(snapshot=ListSnapshot(nis)))
    # hostname weight log(4+2) = 1.792; zone domains z1, z2 and "" (node d): weight log(3+2) = 1.609
    # a: 3*1.792+2 + 3*1.609+4 = 16.2 -> 16; b: 2 + 8.83 -> 11; c: 1.792+2 + 1.609+4 -> 9;
    # d: hostname only, 0+2 -> 2. Normalized: 100 * (16 + 2 - s) // 16
    assert run_score(pl, owned(pod(labels={"app": "web"})), nis) == {"a": 12, "b": 43, "c": 56, "d": 100}


# --------------------------------------------------------------------------------------------
# the three plugins in a Framework
# --------------------------------------------------------------------------------------------

REGISTRY = {"TaintToleration": TaintToleration, "NodeAffinity": NodeAffinity,
            "PodTopologySpread": PodTopologySpread}


def test_framework_runs_the_placement_plugins():
    nodes = [
        node("n1", {"zone": "z1", LABEL_HOSTNAME: "n1", "disk": "ssd"}),
        node("n2", {"zone": "z1", LABEL_HOSTNAME: "n2", "disk": "hdd"}),
        node("n3", {"zone": "z2", LABEL_HOSTNAME: "n3", "disk": "ssd"},
             [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]),
        node("n4", {"zone": "z2", LABEL_HOSTNAME: "n4", "disk": "ssd"},
             [{"key": "noisy", "effect": "PreferNoSchedule"}]),
        node("n5", {"zone": "z3", LABEL_HOSTNAME: "n5", "disk": "ssd", "arch": "arm64"}),
    ]
    pods = [on("n1", "w1", app="web"), on("n1", "w2", app="web"), on("n2", "w3", app="web")]
    nis = infos(nodes, pods)
    fw = Framework(Profile(plugins=[PluginSpec("TaintToleration"), PluginSpec("NodeAffinity", weight=2),
                                    PluginSpec("PodTopologySpread", args={"defaultingType": "List"})]),
                   REGISTRY, SimpleHandle(snapshot=ListSnapshot(nis)))
    p = PodInfo.of(pod("web-4", labels={"app": "web"},
                       affinity={"nodeAffinity": {
                           "requiredDuringSchedulingIgnoredDuringExecution": {
                               "nodeSelectorTerms": [term(expr("arch", "NotIn", "arm64"))]},
                           "preferredDuringSchedulingIgnoredDuringExecution": [
                               {"weight": 10, "preference": label_term(disk="ssd")}]}},
                       spread=[tsc(1, "zone", selector={"matchLabels": {"app": "web"}}),
                               soft(1, LABEL_HOSTNAME, {"matchLabels": {"app": "web"}})]))
    state = CycleState()
    pre, st = fw.run_pre_filter(state, p, nis)
    assert st.is_success() and pre is None
    statuses = {n.name: fw.run_filter(state, p, n) for n in nis}
    assert {n: (s.code, s.reasons, s.plugin) for n, s in statuses.items() if not s.is_success()} == {
        "n1": (Code.UNSCHEDULABLE, [ERR_REASON_CONSTRAINTS_NOT_MATCH], "PodTopologySpread"),
        "n2": (Code.UNSCHEDULABLE, [ERR_REASON_CONSTRAINTS_NOT_MATCH], "PodTopologySpread"),
        "n3": (Code.UNSCHEDULABLE_AND_UNRESOLVABLE, ["node(s) had untolerated taint {dedicated: gpu}"],
               "TaintToleration"),
        "n5": (Code.UNSCHEDULABLE_AND_UNRESOLVABLE, [ERR_REASON_POD], "NodeAffinity"),
    }
    feasible = [n for n in nis if statuses[n.name].is_success()]
    assert [n.name for n in feasible] == ["n4"]
    # zone z3 (n5) is not a domain: the pod cannot go there (nodeAffinityPolicy Honor), so min is z2's 0

    # a second pod that tolerates the taint: n3 and n4 feasible, scored
    p2 = PodInfo.of(pod("web-5", labels={"app": "web"},
                        tolerations=[{"key": "dedicated", "operator": "Exists"}],
                        affinity={"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                            {"weight": 10, "preference": label_term(disk="ssd")}]}},
                        spread=[tsc(1, "zone", selector={"matchLabels": {"app": "web"}}),
                                soft(1, LABEL_HOSTNAME, {"matchLabels": {"app": "web"}})]))
    state = CycleState()
    _, st = fw.run_pre_filter(state, p2, nis)
    assert st.is_success()
    feasible = [n for n in nis if fw.run_filter(state, p2, n).is_success()]
    assert [n.name for n in feasible] == ["n3", "n4", "n5"]
    assert fw.run_pre_score(state, p2, feasible).is_success()
    totals, st = fw.run_score(state, p2, feasible)
    assert st.is_success()
    # TaintToleration: n4's PreferNoSchedule taint is not tolerated -> 100/0/100;
    # NodeAffinity (weight 2): all ssd -> 100 each; PodTopologySpread: no web pods on them -> 100 each
    assert dict(zip(["n3", "n4", "n5"], totals)) == {"n3": 400, "n4": 300, "n5": 400}

    # nowhere to go: the FitError message counts the reasons
    p3 = PodInfo.of(pod("stuck", node_selector={"disk": "nvme"}))
    state = CycleState()
    _, st = fw.run_pre_filter(state, p3, nis)
    assert st.is_success()
    statuses = {n.name: fw.run_filter(state, p3, n) for n in nis}
    assert fit_error_message(len(nis), statuses) == (
        "0/5 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, "
        "4 node(s) didn't match Pod's node affinity/selector.")
    assert {(e.resource, e.action) for e in fw.events()} >= {("Node", "Add"), ("Node", "Update"),
                                                              ("Pod", "Add"), ("Pod", "Delete")}


def test_pod_topology_spread_counts_kept_between_cycles_match_a_fresh_count():
    """Over the scheduler's snapshot, counts are updated per changed node; they
    must always equal counting everything again."""
    import random as _random

    rng = _random.Random(3)
    nodes = [node(f"n{i}", {LABEL_HOSTNAME: f"n{i}", "zone": f"z{i % 3}"}) for i in range(30)]
    nis = infos(nodes, [])
    snap = ListSnapshot(nis)
    pl = PodTopologySpread({}, SimpleHandle(snapshot=snap))
    me = PodInfo.of(pod(labels={"app": "web"}, spread=[tsc(1, "zone", selector={"matchLabels": {"app": "web"}}),
                                                        tsc(2, LABEL_HOSTNAME,
                                                            selector={"matchLabels": {"app": "web"}})]))
    constraints = pl.get_constraints(me)
    for step in range(40):
        target = rng.choice(nis)
        if target.pods and rng.random() < 0.3:
            target.remove_pod(target.pods[0].key)
        else:
            target.add_pod(PodInfo.of(on(target.name, f"p{step}", app=rng.choice(["web", "db"]))))
        kept = pl._counts(me, constraints, snap.list())
        fresh = pl._counts(me, constraints, list(snap.list()))  # not the snapshot's list: counted afresh
        assert kept == fresh, step
    assert sum(kept[0].values()) > 5 and len(kept[1]) == 30  # the counts are not trivially empty


def _sel(kind: str, ns: str, selector: dict) -> dict:
    return {"kind": kind, "metadata": {"name": kind.lower(), "namespace": ns}, "spec": {"selector": selector}}


@pytest.mark.parametrize("services,workloads,want", [
    ([], [], None),  # nothing selects the pod: no default spreading
    ([_sel("Service", "ns", {"app": "web"})], [], "app=web"),
    ([_sel("Service", "ns", {"app": "db"})], [], None),  # selects other pods
    ([_sel("Service", "other", {"app": "web"})], [], None),  # another namespace
    ([{"metadata": {"name": "manual", "namespace": "ns"}, "spec": {}}], [], None),  # no selector: endpoints by hand
    ([], [_sel("ReplicaSet", "ns", {"matchLabels": {"app": "web"},
                                    "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]})],
     "app=web,tier in (a,b)"),
    ([], [_sel("StatefulSet", "ns", {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["c"]}]})],
     "tier notin (c)"),
    ([], [_sel("ReplicaSet", "ns", {})], None),  # an empty workload selector is skipped
    ([], [_sel("ReplicaSet", "ns", {"matchExpressions": [{"key": "x", "operator": "Bad"}]})], None),  # invalid
    ([_sel("Service", "ns", {"app": "web"})], [_sel("ReplicaSet", "ns", {"matchLabels": {"tier": "a"}})],
     "app=web,tier=a"),  # both select it: the conjunction
])
def test_workload_selector_is_the_conjunction_of_what_selects_the_pod(services, workloads, want):
    pod_ = {"metadata": {"name": "p", "namespace": "ns", "labels": {"app": "web", "tier": "a"}}}
    got = workload_selector(pod_, services, workloads)
    assert (None if got is None else str(got)) == want
    if got is not None:
        assert got.matches(pod_["metadata"]["labels"])


def test_default_spreading_follows_the_handle_selector_when_offered():
    """With the hook, a pod no controller owns is spread because a Service selects it,
    and a controlled pod nothing selects is not."""
    nis = infos([node("a", {LABEL_HOSTNAME: "a"}), node("b", {LABEL_HOSTNAME: "b"})],
                many("a", "w", 3, app="web"))
    svc = [_sel("Service", "default", {"app": "web"})]
    handle = SimpleHandle(snapshot=ListSnapshot(nis))
    handle.default_selector = lambda p: workload_selector(p, svc, [])
    pl = PodTopologySpread({}, handle)
    lone = pod(labels={"app": "web"})  # no ownerReferences
    # the system defaults (hostname and zone), both with the Service's selector
    assert [str(c.selector) for c in pl.get_constraints(PodInfo.of(lone), "ScheduleAnyway")] == ["app=web"] * 2
    scores = run_score(pl, lone, nis)
    assert scores["b"] > scores["a"]
    handle.default_selector = lambda p: workload_selector(p, [], [])
    assert pl.get_constraints(PodInfo.of(owned(pod(labels={"app": "web"}))), "ScheduleAnyway") == []


def test_pod_topology_spread_cached_counts_forget_a_domain_whose_only_node_stops_counting():
    nis = infos([node("node-a", {"node": "node-a"}), node("node-b", {"node": "node-b"})],
                [on("node-a", "w1", app="web")])

    class Handle:
        class snapshot:  # the scheduler's own snapshot: counts are kept between cycles
            @staticmethod
            def list():
                return nis

    pl = PodTopologySpread({"defaultingType": "List"}, Handle())
    me = pod("me", labels={"app": "web"}, spread=[tsc(1, "node", selector={"matchLabels": {"app": "web"}},
                                                      nodeTaintsPolicy="Honor")])
    _, got = run_filter(pl, me, nis)
    assert status_of(got["node-a"])[0] != Code.SUCCESS and status_of(got["node-b"]) == OK
    # node-b is tainted: with Honor it no longer counts, so node-a's one pod is the only domain
    tainted = dict(nis[1].node, spec={"taints": [{"key": "k", "effect": "NoSchedule"}]})
    nis[1].set_node(tainted)
    _, got = run_filter(pl, me, nis)
    assert status_of(got["node-a"]) == OK
