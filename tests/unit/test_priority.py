"""scheduling.k8s.io/v1 PriorityClass: defaults, validation, the Priority admission of pods and
PriorityClasses, the table columns, and the system classes the apiserver creates at start."""
from __future__ import annotations

import asyncio
import random
from datetime import datetime, timezone
from typing import Any

import pytest

from actors.apiserver.handler import APIHandler, Request
from actors.apiserver.server import APIServer
from actors.apiserver.storage import LocalKV, ObjectStore
from kubeapi.defaults import apply_defaults
from kubeapi.models import PriorityClass
from kubeapi.registry import resolve
from kubeapi.table import table
from kubeapi.validation import validate

# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def pc_body(name: str = "high", value: int | None = 1000, **extra: Any) -> dict:
    body: dict[str, Any] = {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                            "metadata": {"name": name}, **extra}
    if value is not None:
        body["value"] = value
    return body


def parsed(body: dict) -> PriorityClass:
    pc = PriorityClass.from_json(body)
    apply_defaults("PriorityClass", pc)
    return pc


def errors_of(body: dict, old: dict | None = None) -> list[tuple[str, str, str]]:
    errs = validate("PriorityClass", parsed(body), parsed(old) if old else None)
    return [(e.type.value, e.field, e.detail) for e in errs]


def handler() -> APIHandler:
    store = ObjectStore(LocalKV(), clock=lambda: 1_700_000_000.0, rng=random.Random(3))
    return APIHandler(store)


def call(h: APIHandler, *reqs: Request):
    async def go():
        return [await h.handle(r) for r in reqs]
    out = asyncio.run(go())
    return out if len(out) > 1 else out[0]


def pc_create(body: dict) -> Request:
    return Request("create", "scheduling.k8s.io", "v1", "priorityclasses", body=body)


def pc_patch(name: str, patch: dict) -> Request:
    return Request("patch", "scheduling.k8s.io", "v1", "priorityclasses", name=name, body=patch,
                   patch_type="merge")


def ns_create(name: str = "team") -> Request:
    return Request("create", "", "v1", "namespaces", body={"metadata": {"name": name}})


def pod_create(name: str = "web", ns: str = "team", **spec_extra: Any) -> Request:
    spec = {"containers": [{"name": "c", "image": "nginx:1.25"}], **spec_extra}
    return Request("create", "", "v1", "pods", namespace=ns,
                   body={"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec})


# --------------------------------------------------------------------------------------------
# Defaults
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("body, policy", [
    (pc_body(), "PreemptLowerPriority"),
    (pc_body(preemptionPolicy="Never"), "Never"),
    (pc_body(preemptionPolicy="PreemptLowerPriority"), "PreemptLowerPriority"),
])
def test_preemption_policy_defaults(body: dict, policy: str) -> None:
    pc = parsed(body)
    assert pc.preemption_policy == policy
    assert pc.to_json()["preemptionPolicy"] == policy


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------

RESERVED = "priority class names with 'system-' prefix are reserved for system use only. error: "


@pytest.mark.parametrize("body, expected", [
    (pc_body(), []),
    (pc_body(value=1_000_000_000), []),
    (pc_body(value=-2_147_483_648), []),
    (pc_body(globalDefault=True, description="the default"), []),
    (pc_body("system-cluster-critical", 2_000_000_000), []),
    (pc_body("system-node-critical", 2_000_001_000), []),
    (pc_body(value=1_000_000_001),
     [("FieldValueForbidden", "value", "maximum allowed value of a user defined priority is 1000000000")]),
    (pc_body("system-foo", 10),
     [("FieldValueForbidden", "metadata.name", RESERVED + "system-foo is not a known system priority class")]),
    (pc_body("system-cluster-critical", 1000),
     [("FieldValueForbidden", "metadata.name",
       RESERVED + "value of system-cluster-critical PriorityClass must be 2000000000")]),
    (pc_body("system-node-critical", 2_000_001_000, globalDefault=True),
     [("FieldValueForbidden", "metadata.name",
       RESERVED + "globalDefault of system-node-critical PriorityClass must be false")]),
    (pc_body(preemptionPolicy="Sometimes"),
     [("FieldValueNotSupported", "preemptionPolicy", 'supported values: "PreemptLowerPriority", "Never"')]),
    (pc_body(preemptionPolicy=""), [("FieldValueRequired", "preemptionPolicy", "")]),
])
def test_validate_priority_class(body: dict, expected: list) -> None:
    assert errors_of(body) == expected


def test_invalid_name_is_reported_on_metadata_name() -> None:
    errs = errors_of(pc_body("High_Priority"))
    assert [(t, f) for t, f, _ in errs] == [("FieldValueInvalid", "metadata.name")]


@pytest.mark.parametrize("new, old, expected", [
    (pc_body(description="now documented"), pc_body(), []),
    (pc_body(globalDefault=True), pc_body(), []),
    (pc_body(), pc_body(preemptionPolicy="PreemptLowerPriority"), []),
    (pc_body(value=2000), pc_body(),
     [("FieldValueForbidden", "value", "may not be changed in an update.")]),
    (pc_body(preemptionPolicy="Never"), pc_body(),
     [("FieldValueInvalid", "preemptionPolicy", "field is immutable")]),
    (pc_body(value=7, preemptionPolicy="Never"), pc_body(),
     [("FieldValueForbidden", "value", "may not be changed in an update."),
      ("FieldValueInvalid", "preemptionPolicy", "field is immutable")]),
])
def test_validate_priority_class_update(new: dict, old: dict, expected: list) -> None:
    assert errors_of(new, old) == expected


def test_value_is_required() -> None:
    out = call(handler(), pc_create(pc_body(value=None)))
    assert out.code == 400 and out.body["reason"] == "BadRequest"
    assert "value" in out.body["message"]


def test_invalid_priority_class_is_a_422_with_upstreams_message() -> None:
    out = call(handler(), pc_create(pc_body(value=1_000_000_001)))
    assert out.code == 422
    assert out.body["message"] == ('PriorityClass.scheduling.k8s.io "high" is invalid: value: Forbidden: '
                                   "maximum allowed value of a user defined priority is 1000000000")
    assert out.body["details"]["causes"] == [{
        "reason": "FieldValueForbidden", "field": "value",
        "message": "Forbidden: maximum allowed value of a user defined priority is 1000000000"}]


# --------------------------------------------------------------------------------------------
# Admission of pods
# --------------------------------------------------------------------------------------------

CLASSES = [
    pc_body("high", 1000),
    pc_body("batch", 10, preemptionPolicy="Never"),
    pc_body("negative", -5),
]


@pytest.mark.parametrize("name, classes, spec, expected", [
    ("class resolves to its value", CLASSES, {"priorityClassName": "high"},
     {"priorityClassName": "high", "priority": 1000, "preemptionPolicy": "PreemptLowerPriority"}),
    ("class's preemption policy", CLASSES, {"priorityClassName": "batch"},
     {"priorityClassName": "batch", "priority": 10, "preemptionPolicy": "Never"}),
    ("negative value", CLASSES, {"priorityClassName": "negative"},
     {"priorityClassName": "negative", "priority": -5, "preemptionPolicy": "PreemptLowerPriority"}),
    ("the same priority may be given", CLASSES, {"priorityClassName": "high", "priority": 1000},
     {"priorityClassName": "high", "priority": 1000, "preemptionPolicy": "PreemptLowerPriority"}),
    ("the same policy may be given", CLASSES, {"priorityClassName": "batch", "preemptionPolicy": "Never"},
     {"priorityClassName": "batch", "priority": 10, "preemptionPolicy": "Never"}),
    ("no class, no default", CLASSES, {},
     {"priorityClassName": None, "priority": 0, "preemptionPolicy": "PreemptLowerPriority"}),
    ("no class, priority 0 given", CLASSES, {"priority": 0},
     {"priorityClassName": None, "priority": 0, "preemptionPolicy": "PreemptLowerPriority"}),
    ("no class: the global default", [*CLASSES, pc_body("dflt", 50, globalDefault=True,
                                                         preemptionPolicy="Never")], {},
     {"priorityClassName": "dflt", "priority": 50, "preemptionPolicy": "Never"}),
    ("a named class beats the default", [*CLASSES, pc_body("dflt", 50, globalDefault=True)],
     {"priorityClassName": "high"},
     {"priorityClassName": "high", "priority": 1000, "preemptionPolicy": "PreemptLowerPriority"}),
])
def test_pod_priority_admission(name: str, classes: list, spec: dict, expected: dict) -> None:
    h = handler()
    for pc in classes:
        assert call(h, pc_create(pc)).code == 201
    call(h, ns_create())
    out = call(h, pod_create(**spec))
    assert out.code == 201, out.body
    got = out.body["spec"]
    assert {k: got.get(k) for k in expected} == expected
    stored = call(h, Request("get", "", "v1", "pods", namespace="team", name="web"))
    assert {k: stored.body["spec"].get(k) for k in expected} == expected


@pytest.mark.parametrize("name, spec, message", [
    ("missing class", {"priorityClassName": "nope"},
     'pods "web" is forbidden: no PriorityClass with name nope was found'),
    ("priority differs from the class's", {"priorityClassName": "high", "priority": 5},
     'pods "web" is forbidden: the integer value of priority (5) must not be provided in pod spec; '
     "priority admission controller computed 1000 from the given PriorityClass name"),
    ("priority given without a class", {"priority": 7},
     'pods "web" is forbidden: the integer value of priority (7) must not be provided in pod spec; '
     "priority admission controller computed 0 from the given PriorityClass name"),
    ("preemption policy differs from the class's", {"priorityClassName": "batch",
                                                     "preemptionPolicy": "PreemptLowerPriority"},
     'pods "web" is forbidden: the string value of PreemptionPolicy (PreemptLowerPriority) must not be '
     "provided in pod spec; priority admission controller computed Never from the given PriorityClass name"),
])
def test_pod_priority_admission_errors(name: str, spec: dict, message: str) -> None:
    h = handler()
    for pc in CLASSES:
        call(h, pc_create(pc))
    call(h, ns_create())
    out = call(h, pod_create(**spec))
    assert out.code == 403 and out.body["reason"] == "Forbidden"
    assert out.body["message"] == message
    assert call(h, Request("get", "", "v1", "pods", namespace="team", name="web")).code == 404


def test_pod_update_keeps_the_admitted_priority() -> None:
    h = handler()
    call(h, pc_create(pc_body("batch", 10, preemptionPolicy="Never")), ns_create())
    pod = call(h, pod_create(priorityClassName="batch")).body
    pod["metadata"]["labels"] = {"v": "2"}
    del pod["spec"]["priority"], pod["spec"]["preemptionPolicy"]
    out = call(h, Request("update", "", "v1", "pods", namespace="team", name="web", body=pod))
    assert out.code == 200, out.body
    assert (out.body["spec"]["priority"], out.body["spec"]["preemptionPolicy"]) == (10, "Never")


# --------------------------------------------------------------------------------------------
# Admission of PriorityClasses: one global default
# --------------------------------------------------------------------------------------------

SECOND_DEFAULT = ('priorityclasses.scheduling.k8s.io "second" is forbidden: PriorityClass first is '
                  "already marked as default. Only one default can exist")


def test_only_one_global_default() -> None:
    h = handler()
    assert call(h, pc_create(pc_body("first", 10, globalDefault=True))).code == 201
    assert call(h, pc_create(pc_body("plain", 20))).code == 201
    second = call(h, pc_create(pc_body("second", 20, globalDefault=True)))
    assert second.code == 403 and second.body["reason"] == "Forbidden"
    assert second.body["message"] == SECOND_DEFAULT
    assert call(h, pc_create(pc_body("second", 20))).code == 201
    marked = call(h, pc_patch("second", {"globalDefault": True}))
    assert marked.code == 403 and marked.body["message"] == SECOND_DEFAULT
    # re-marking the default itself, or changing it otherwise, is fine
    assert call(h, pc_patch("first", {"globalDefault": True, "description": "d"})).code == 200
    # once the first gives the role up, another may take it
    assert call(h, pc_patch("first", {"globalDefault": False})).code == 200
    assert call(h, pc_patch("second", {"globalDefault": True})).code == 200


def test_immutable_value_through_the_handler() -> None:
    h = handler()
    call(h, pc_create(pc_body("high", 1000)))
    out = call(h, pc_patch("high", {"value": 2000}))
    assert out.code == 422
    assert out.body["details"]["causes"] == [{"reason": "FieldValueForbidden", "field": "value",
                                              "message": "Forbidden: may not be changed in an update."}]
    out = call(h, pc_patch("high", {"preemptionPolicy": "Never"}))
    assert out.code == 422
    assert out.body["details"]["causes"][0]["field"] == "preemptionPolicy"


# --------------------------------------------------------------------------------------------
# Registry and table
# --------------------------------------------------------------------------------------------


def test_registry_entry_and_table_columns() -> None:
    res = resolve("pc")
    assert (res.group, res.version, res.kind, res.plural, res.singular, res.namespaced) == (
        "scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", "priorityclass", False)
    assert res.key(None, "high") == "/registry/priorityclasses/high"
    obj = pc_body("high", 1000, globalDefault=True, preemptionPolicy="Never")
    obj["metadata"]["creationTimestamp"] = "2024-01-01T11:55:00Z"
    t = table(res, [obj], now=datetime(2024, 1, 1, 12, 0, tzinfo=timezone.utc))
    assert [(c["name"], c["type"]) for c in t["columnDefinitions"]] == [
        ("Name", "string"), ("Value", "integer"), ("Global-Default", "boolean"), ("Age", "string"),
        ("PreemptionPolicy", "string")]
    assert t["rows"][0]["cells"] == ["high", 1000, True, "5m", "Never"]


# --------------------------------------------------------------------------------------------
# Bootstrap: the system classes
# --------------------------------------------------------------------------------------------


def test_bootstrap_creates_the_system_priority_classes() -> None:
    async def go() -> None:
        server = APIServer(LocalKV())
        try:
            await server.ensure_system_objects()
            await server.ensure_system_objects()  # idempotent on a restart
            listed = await server.request("list", "scheduling.k8s.io", "v1", "priorityclasses")
            got = {i["metadata"]["name"]: (i["value"], i.get("globalDefault"), i["preemptionPolicy"])
                   for i in listed["body"]["items"]}
            assert got == {"system-cluster-critical": (2_000_000_000, None, "PreemptLowerPriority"),
                           "system-node-critical": (2_000_001_000, None, "PreemptLowerPriority")}
            pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "dns"},
                   "spec": {"priorityClassName": "system-node-critical",
                            "containers": [{"name": "c", "image": "coredns:1.11"}]}}
            out = await server.request("create", "", "v1", "pods", namespace="kube-system", body=pod)
            assert out["code"] == 201, out["body"]
            assert out["body"]["spec"]["priority"] == 2_000_001_000
            # the system classes stay: a delete is refused, a deletecollection passes them by
            await server.request("create", "scheduling.k8s.io", "v1", "priorityclasses", body=pc_body("mine", 5))
            gone = await server.request("delete", "scheduling.k8s.io", "v1", "priorityclasses",
                                        name="system-node-critical")
            assert gone["code"] == 403 and gone["body"]["message"] == (
                'priorityclasses.scheduling.k8s.io "system-node-critical" is forbidden: '
                "this is a system priority class and cannot be deleted")
            swept = await server.request("deletecollection", "scheduling.k8s.io", "v1", "priorityclasses")
            assert [i["metadata"]["name"] for i in swept["body"]["items"]] == ["mine"]
            left = await server.request("list", "scheduling.k8s.io", "v1", "priorityclasses")
            assert sorted(i["metadata"]["name"] for i in left["body"]["items"]) == [
                "system-cluster-critical", "system-node-critical"]
        finally:
            await server.close()

    asyncio.run(asyncio.wait_for(go(), 20))
