"""Unit tests for kubeapi.patch: JSON Patch (RFC 6902), JSON Merge Patch (RFC 7386), guards."""
from __future__ import annotations

import copy
import json
import random

import pytest

from kubeapi.patch import (
    MAX_NESTING_DEPTH,
    MAX_PATCH_OPS,
    PatchError,
    apply_json_patch,
    apply_merge_patch,
    create_merge_patch,
    decode_patch,
    escape_token,
    json_equal,
    parse_pointer,
    resolve_pointer,
)


def nested(depth: int, leaf=1) -> object:
    """A value with ``depth`` objects nested inside each other."""
    value = leaf
    for _ in range(depth):
        value = {"k": value}
    return value


def nested_lists(depth: int) -> object:
    value: object = []
    for _ in range(depth - 1):
        value = [value]
    return value


def apply_checked(doc, patch):
    """apply_json_patch, also asserting neither input was mutated."""
    doc_before, patch_before = copy.deepcopy(doc), copy.deepcopy(patch)
    try:
        return apply_json_patch(doc, patch)
    finally:
        assert doc == doc_before
        assert patch == patch_before


# --------------------------------------------------------------------------- RFC 6902 appendix A

RFC6902_EXAMPLES = [
    # (name, document, patch, expected result or None for an error)
    ("A.1 add object member", {"foo": "bar"},
     [{"op": "add", "path": "/baz", "value": "qux"}],
     {"baz": "qux", "foo": "bar"}),
    ("A.2 add array element", {"foo": ["bar", "baz"]},
     [{"op": "add", "path": "/foo/1", "value": "qux"}],
     {"foo": ["bar", "qux", "baz"]}),
    ("A.3 remove object member", {"baz": "qux", "foo": "bar"},
     [{"op": "remove", "path": "/baz"}],
     {"foo": "bar"}),
    ("A.4 remove array element", {"foo": ["bar", "qux", "baz"]},
     [{"op": "remove", "path": "/foo/1"}],
     {"foo": ["bar", "baz"]}),
    ("A.5 replace value", {"baz": "qux", "foo": "bar"},
     [{"op": "replace", "path": "/baz", "value": "boo"}],
     {"baz": "boo", "foo": "bar"}),
    ("A.6 move value", {"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
     [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
     {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}}),
    ("A.7 move array element", {"foo": ["all", "grass", "cows", "eat"]},
     [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
     {"foo": ["all", "cows", "eat", "grass"]}),
    ("A.8 test success", {"baz": "qux", "foo": ["a", 2, "c"]},
     [{"op": "test", "path": "/baz", "value": "qux"}, {"op": "test", "path": "/foo/1", "value": 2}],
     {"baz": "qux", "foo": ["a", 2, "c"]}),
    ("A.9 test error", {"baz": "qux"},
     [{"op": "test", "path": "/baz", "value": "bar"}],
     None),
    ("A.10 add nested member object", {"foo": "bar"},
     [{"op": "add", "path": "/child", "value": {"grandchild": {}}}],
     {"foo": "bar", "child": {"grandchild": {}}}),
    ("A.11 ignore unrecognized elements", {"foo": "bar"},
     [{"op": "add", "path": "/baz", "value": "qux", "xyz": 123}],
     {"foo": "bar", "baz": "qux"}),
    ("A.12 add to nonexistent target", {"foo": "bar"},
     [{"op": "add", "path": "/baz/bat", "value": "qux"}],
     None),
    # A.13 (duplicate "op" members) cannot be expressed as a Python dict; see
    # test_rfc6902_a13_duplicate_members_rejected below.
    ("A.14 ~ escape ordering", {"/": 9, "~1": 10},
     [{"op": "test", "path": "/~01", "value": 10}],
     {"/": 9, "~1": 10}),
    ("A.15 comparing strings and numbers", {"/": 9, "~1": 10},
     [{"op": "test", "path": "/~01", "value": "10"}],
     None),
    ("A.16 add array value", {"foo": ["bar"]},
     [{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}],
     {"foo": ["bar", ["abc", "def"]]}),
]


@pytest.mark.parametrize("name,doc,patch,expected", RFC6902_EXAMPLES, ids=[e[0] for e in RFC6902_EXAMPLES])
def test_rfc6902_appendix_a(name, doc, patch, expected):
    if expected is None:
        with pytest.raises(PatchError) as info:
            apply_checked(doc, patch)
        assert info.value.op_index == len(patch) - 1
        assert info.value.path == patch[-1]["path"]
    else:
        result = apply_checked(doc, patch)
        assert result == expected
        # Key order is irrelevant in JSON but the values must be exactly equal.
        assert json.dumps(result, sort_keys=True) == json.dumps(expected, sort_keys=True)


def test_rfc6902_a13_duplicate_members_rejected():
    body = '[{ "op": "add", "path": "/baz", "value": "qux", "op": "remove" }]'
    with pytest.raises(PatchError, match="duplicate member 'op'") as info:
        decode_patch(body)
    assert info.value.code == 400
    # A well-formed body decodes to the same structure json.loads gives.
    good = '[{ "op": "add", "path": "/baz", "value": "qux" }]'
    assert decode_patch(good) == json.loads(good)
    assert decode_patch(good.encode()) == json.loads(good)


# --------------------------------------------------------------------------- RFC 7386 appendix A

RFC7386_EXAMPLES = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize("doc,patch,expected", RFC7386_EXAMPLES, ids=[f"case{i}" for i in range(len(RFC7386_EXAMPLES))])
def test_rfc7386_appendix_a(doc, patch, expected):
    doc_before, patch_before = copy.deepcopy(doc), copy.deepcopy(patch)
    result = apply_merge_patch(doc, patch)
    assert result == expected
    assert doc == doc_before and patch == patch_before


def test_merge_patch_lists_replaced_whole_and_nulls_inside_lists_kept():
    doc = {"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b"}]}}
    patch = {"spec": {"containers": [{"name": "a", "image": None}]}}
    assert apply_merge_patch(doc, patch) == {"spec": {"containers": [{"name": "a", "image": None}]}}


def test_merge_patch_result_does_not_alias_inputs():
    doc = {"a": {"b": 1}, "keep": {"x": [1]}}
    patch = {"a": {"c": [1, 2]}}
    result = apply_merge_patch(doc, patch)
    result["a"]["c"].append(3)
    result["keep"]["x"].append(2)
    assert patch == {"a": {"c": [1, 2]}}
    assert doc == {"a": {"b": 1}, "keep": {"x": [1]}}


# --------------------------------------------------------------------------- JSON Pointer

RFC6901_DOC = {
    "foo": ["bar", "baz"], "": 0, "a/b": 1, "c%d": 2, "e^f": 3, "g|h": 4,
    "i\\j": 5, 'k"l': 6, " ": 7, "m~n": 8,
}
RFC6901_POINTERS = [
    ("", RFC6901_DOC), ("/foo", ["bar", "baz"]), ("/foo/0", "bar"), ("/", 0),
    ("/a~1b", 1), ("/c%d", 2), ("/e^f", 3), ("/g|h", 4), ("/i\\j", 5),
    ('/k"l', 6), ("/ ", 7), ("/m~0n", 8),
]


@pytest.mark.parametrize("pointer,expected", RFC6901_POINTERS)
def test_rfc6901_pointer_examples(pointer, expected):
    assert resolve_pointer(RFC6901_DOC, pointer) == expected
    # The same pointers work inside a patch "test" operation.
    assert apply_json_patch(RFC6901_DOC, [{"op": "test", "path": pointer, "value": expected}]) == RFC6901_DOC


def test_pointer_escaping_round_trip_and_order():
    for key in ["a/b", "m~n", "~1", "~0", "/~", "~/", "plain", "", "-", "0"]:
        pointer = "/" + escape_token(key)
        assert parse_pointer(pointer) == [key]
        doc = apply_json_patch({}, [{"op": "add", "path": pointer, "value": key}])
        assert doc == {key: key}
    assert escape_token("~1") == "~01"  # "~" escaped first, so this is not "/"
    assert parse_pointer("/~01") == ["~1"]
    assert parse_pointer("/a/b~1c/~0") == ["a", "b/c", "~"]
    assert parse_pointer("") == []
    assert parse_pointer("/") == [""]


@pytest.mark.parametrize("pointer", ["a", "a/b", "/a~2", "/a~", "/~x"])
def test_invalid_pointers_rejected(pointer):
    with pytest.raises(PatchError) as info:
        apply_json_patch({"a": 1}, [{"op": "add", "path": pointer, "value": 1}])
    assert info.value.code == 400
    assert info.value.path == pointer
    with pytest.raises(PatchError):
        parse_pointer(pointer)


def test_resolve_pointer_missing():
    with pytest.raises(PatchError, match="does not exist"):
        resolve_pointer({"a": {"b": 1}}, "/a/c")
    with pytest.raises(PatchError, match="does not exist"):
        resolve_pointer({"a": 1}, "/a/b")


# --------------------------------------------------------------------------- JSON Patch semantics


def test_all_or_nothing_on_late_failure():
    doc = {"metadata": {"labels": {"app": "web"}}, "spec": {"replicas": 1}}
    snapshot = copy.deepcopy(doc)
    patch = [
        {"op": "add", "path": "/metadata/labels/tier", "value": "front"},
        {"op": "replace", "path": "/spec/replicas", "value": 3},
        {"op": "remove", "path": "/metadata/labels/app"},
        {"op": "test", "path": "/spec/replicas", "value": 4},  # fails: it's 3 now
    ]
    with pytest.raises(PatchError) as info:
        apply_json_patch(doc, patch)
    err = info.value
    assert err.op_index == 3 and err.path == "/spec/replicas"
    assert "operation 3" in str(err) and "/spec/replicas" in str(err)
    assert err.code == 422
    assert doc == snapshot
    # Without the failing test the same prefix succeeds, so the rollback above was real.
    assert apply_json_patch(doc, patch[:3]) == {
        "metadata": {"labels": {"tier": "front"}}, "spec": {"replicas": 3}}


def test_inputs_not_mutated_and_results_not_aliased():
    doc = {"a": {"b": [1, 2]}, "c": "d"}
    value = {"x": [1]}
    patch = [
        {"op": "add", "path": "/v", "value": value},
        {"op": "add", "path": "/v/x/-", "value": 2},  # mutates the added value in the result
        {"op": "add", "path": "/a/b/-", "value": 3},
        {"op": "copy", "from": "/a", "path": "/a2"},
    ]
    result = apply_checked(doc, patch)
    assert value == {"x": [1]}
    assert result == {"a": {"b": [1, 2, 3]}, "c": "d", "v": {"x": [1, 2]}, "a2": {"b": [1, 2, 3]}}
    result["a"]["b"].append(99)
    assert result["a2"]["b"] == [1, 2, 3]  # copy is deep
    assert doc == {"a": {"b": [1, 2]}, "c": "d"}


def test_empty_patch_returns_equal_copy():
    doc = {"a": [1, {"b": 2}]}
    result = apply_json_patch(doc, [])
    assert result == doc
    assert result is not doc and result["a"] is not doc["a"]


def test_dash_appends():
    doc = {"items": []}
    patch = [{"op": "add", "path": "/items/-", "value": i} for i in range(3)]
    assert apply_checked(doc, patch) == {"items": [0, 1, 2]}
    # "-" on an object is just a member name.
    assert apply_json_patch({}, [{"op": "add", "path": "/-", "value": 1}]) == {"-": 1}


@pytest.mark.parametrize("op", [
    {"op": "remove", "path": "/a/-"},
    {"op": "replace", "path": "/a/-", "value": 1},
    {"op": "test", "path": "/a/-", "value": 1},
    {"op": "copy", "from": "/a/-", "path": "/b"},
    {"op": "move", "from": "/a/-", "path": "/b"},
])
def test_dash_only_valid_for_add(op):
    with pytest.raises(PatchError, match="does not exist"):
        apply_json_patch({"a": [1, 2]}, [op])


@pytest.mark.parametrize("index", ["01", "00", "-1", "+1", "1.0", "1e0", " 1", "x"])
@pytest.mark.parametrize("op", ["add", "remove", "replace", "test"])
def test_malformed_array_indexes(index, op):
    patch = [{"op": op, "path": f"/a/{index}", "value": 0}]
    with pytest.raises(PatchError, match="not a valid array index") as info:
        apply_json_patch({"a": [0, 1, 2]}, patch)
    assert info.value.op_index == 0


def test_array_index_bounds():
    doc = {"a": [0, 1, 2]}
    # add may target one past the end; the others must hit an element.
    assert apply_json_patch(doc, [{"op": "add", "path": "/a/3", "value": 9}]) == {"a": [0, 1, 2, 9]}
    assert apply_json_patch(doc, [{"op": "add", "path": "/a/0", "value": 9}]) == {"a": [9, 0, 1, 2]}
    assert apply_json_patch(doc, [{"op": "remove", "path": "/a/2"}]) == {"a": [0, 1]}
    assert apply_json_patch(doc, [{"op": "replace", "path": "/a/0", "value": 7}]) == {"a": [7, 1, 2]}
    for op in (
        {"op": "add", "path": "/a/4", "value": 9},
        {"op": "remove", "path": "/a/3"},
        {"op": "replace", "path": "/a/3", "value": 9},
        {"op": "test", "path": "/a/3", "value": 9},
        {"op": "add", "path": "/a/" + "9" * 5000, "value": 9},
    ):
        with pytest.raises(PatchError, match="out of range"):
            apply_json_patch(doc, [op])
    # Digits on an object are member names, not indexes.
    assert apply_json_patch({}, [{"op": "add", "path": "/01", "value": 1}]) == {"01": 1}


def test_missing_paths():
    doc = {"a": {"b": 1}, "s": "str"}
    for op in (
        {"op": "remove", "path": "/x"},
        {"op": "replace", "path": "/a/x", "value": 1},
        {"op": "test", "path": "/a/b/c", "value": 1},
        {"op": "add", "path": "/x/y", "value": 1},
        {"op": "add", "path": "/s/y", "value": 1},
        {"op": "move", "from": "/x", "path": "/y"},
        {"op": "copy", "from": "/a/x", "path": "/y"},
        {"op": "copy", "from": "/a", "path": "/x/y"},
    ):
        with pytest.raises(PatchError, match="does not exist") as info:
            apply_json_patch(doc, [{"op": "test", "path": "/a/b", "value": 1}, op])
        assert info.value.op_index == 1
        assert info.value.path == op["path"]
        assert info.value.code == 422


@pytest.mark.parametrize("op,message", [
    ({"op": "frobnicate", "path": "/a"}, "unknown op"),
    ({"path": "/a", "value": 1}, "no 'op'"),
    ({"op": "add", "value": 1}, "no 'path'"),
    ({"op": "add", "path": "/a"}, "no 'value'"),
    ({"op": "replace", "path": "/a"}, "no 'value'"),
    ({"op": "test", "path": "/a"}, "no 'value'"),
    ({"op": "move", "path": "/a"}, "no 'from'"),
    ({"op": "copy", "path": "/a"}, "no 'from'"),
    ({"op": "add", "path": 5, "value": 1}, "must be a string"),
    ({"op": "copy", "path": "/b", "from": None}, "must be a string"),
    ({"op": "ADD", "path": "/a", "value": 1}, "unknown op"),
    ("add /a 1", "must be an object"),
])
def test_malformed_operations(op, message):
    with pytest.raises(PatchError, match=message) as info:
        apply_json_patch({"a": 1}, [{"op": "test", "path": "/a", "value": 1}, op])
    assert info.value.op_index == 1
    assert info.value.code == 400
    assert "operation 1" in str(info.value)


def test_patch_must_be_a_list():
    for patch in ({"op": "add", "path": "/a", "value": 1}, "[]", None):
        with pytest.raises(PatchError, match="array of operations") as info:
            apply_json_patch({}, patch)
        assert info.value.op_index is None


def test_null_value_is_present():
    assert apply_json_patch({}, [{"op": "add", "path": "/a", "value": None}]) == {"a": None}
    assert apply_json_patch({"a": None}, [{"op": "test", "path": "/a", "value": None}]) == {"a": None}


def test_move_into_own_child_rejected():
    doc = {"a": {"b": {"c": 1}}, "ab": 2}
    for source, target in (("/a", "/a/x"), ("/a", "/a/b/c2"), ("", "/x")):
        with pytest.raises(PatchError, match="own child") as info:
            apply_json_patch(doc, [{"op": "move", "from": source, "path": target}])
        assert info.value.path == target
    # "/a" is not a prefix of "/ab" token-wise, and a move to itself is a no-op.
    assert apply_json_patch(doc, [{"op": "move", "from": "/a", "path": "/ab"}]) == {"ab": {"b": {"c": 1}}}
    assert apply_json_patch(doc, [{"op": "move", "from": "/a/b", "path": "/a/b"}]) == doc
    # Moving a child up over its parent is fine.
    assert apply_json_patch(doc, [{"op": "move", "from": "/a/b", "path": "/a"}]) == {"a": {"c": 1}, "ab": 2}


def test_copy_into_own_child_allowed():
    doc = {"a": {"b": 1}}
    assert apply_json_patch(doc, [{"op": "copy", "from": "/a", "path": "/a/c"}]) == {"a": {"b": 1, "c": {"b": 1}}}
    assert apply_json_patch({"x": 1}, [{"op": "copy", "from": "", "path": "/y"}]) == {"x": 1, "y": {"x": 1}}


def test_move_within_array_and_between_arrays():
    doc = {"a": [1, 2, 3], "b": []}
    assert apply_json_patch(doc, [{"op": "move", "from": "/a/0", "path": "/a/-"}]) == {"a": [2, 3, 1], "b": []}
    assert apply_json_patch(doc, [{"op": "move", "from": "/a/2", "path": "/a/0"}]) == {"a": [3, 1, 2], "b": []}
    assert apply_json_patch(doc, [{"op": "move", "from": "/a/1", "path": "/b/0"}]) == {"a": [1, 3], "b": [2]}


def test_whole_document_operations():
    doc = {"a": 1}
    assert apply_json_patch(doc, [{"op": "add", "path": "", "value": [1]}]) == [1]
    assert apply_json_patch(doc, [{"op": "replace", "path": "", "value": {"b": 2}}]) == {"b": 2}
    assert apply_json_patch(doc, [{"op": "test", "path": "", "value": {"a": 1}}]) == doc
    with pytest.raises(PatchError, match="whole document"):
        apply_json_patch(doc, [{"op": "remove", "path": ""}])
    assert apply_json_patch("scalar", [{"op": "replace", "path": "", "value": 5}]) == 5


def test_test_uses_json_equality():
    doc = {"t": True, "one": 1, "f": 1.0, "n": None, "o": {"a": [1, {"b": False}]}}
    ok = [("/t", True), ("/one", 1.0), ("/f", 1), ("/n", None), ("/o", {"a": [1.0, {"b": False}]})]
    for path, value in ok:
        assert apply_json_patch(doc, [{"op": "test", "path": path, "value": value}]) == doc
    bad = [("/t", 1), ("/one", True), ("/f", "1"), ("/n", False), ("/n", 0),
           ("/o", {"a": [1, {"b": 0}]}), ("/o", {"a": [1]}), ("/o", {"a": [1, {"b": False}], "x": 1})]
    for path, value in bad:
        with pytest.raises(PatchError, match="test failed"):
            apply_json_patch(doc, [{"op": "test", "path": path, "value": value}])
    assert json_equal([True, None], [True, None]) and not json_equal([True], [1])
    assert not json_equal({"a": 1}, [("a", 1)])


def test_non_json_values_rejected():
    for bad in ((1, 2), {1: "x"}, {"a": {1, 2}}, float("nan"), b"bytes"):
        with pytest.raises(PatchError) as info:
            apply_json_patch({}, [{"op": "add", "path": "/a", "value": bad}])
        assert info.value.code == 400
        with pytest.raises(PatchError):
            apply_merge_patch({}, {"a": bad})


def test_replace_keeps_object_order_and_array_length():
    doc = {"a": 1, "b": 2, "c": 3}
    result = apply_json_patch(doc, [{"op": "replace", "path": "/b", "value": 9}])
    assert list(result) == ["a", "b", "c"]
    assert apply_json_patch([1, 2], [{"op": "replace", "path": "/1", "value": 5}]) == [1, 5]


def test_kubernetes_style_patch():
    pod = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web", "labels": {"app.kubernetes.io/name": "web"}, "finalizers": ["a", "b"]},
        "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]},
    }
    patch = [
        {"op": "test", "path": "/metadata/labels/app.kubernetes.io~1name", "value": "web"},
        {"op": "replace", "path": "/spec/containers/0/image", "value": "nginx:1.26"},
        {"op": "remove", "path": "/metadata/finalizers/0"},
        {"op": "add", "path": "/metadata/annotations", "value": {"note/x": "y"}},
    ]
    result = apply_checked(pod, patch)
    assert result["spec"]["containers"][0]["image"] == "nginx:1.26"
    assert result["metadata"]["finalizers"] == ["b"]
    assert result["metadata"]["annotations"] == {"note/x": "y"}


# --------------------------------------------------------------------------- create_merge_patch


POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "name": "web-0",
        "namespace": "default",
        "labels": {"app": "web", "tier": "front"},
        "annotations": {"kubectl.kubernetes.io/last-applied": "{}"},
        "resourceVersion": "41",
    },
    "spec": {
        "nodeName": "",
        "containers": [
            {"name": "nginx", "image": "nginx:1.25", "ports": [{"containerPort": 80}],
             "resources": {"limits": {"cpu": "500m"}}},
        ],
        "restartPolicy": "Always",
    },
    "status": {"phase": "Pending", "conditions": []},
}


def _edit(fn):
    pod = copy.deepcopy(POD)
    fn(pod)
    return pod


POD_EDITS = [
    ("add label", _edit(lambda p: p["metadata"]["labels"].update(version="v2")),
     {"metadata": {"labels": {"version": "v2"}}}),
    ("remove label", _edit(lambda p: p["metadata"]["labels"].pop("tier")),
     {"metadata": {"labels": {"tier": None}}}),
    ("change image", _edit(lambda p: p["spec"]["containers"][0].update(image="nginx:1.26")),
     {"spec": {"containers": [{**POD["spec"]["containers"][0], "image": "nginx:1.26"}]}}),
    ("add container", _edit(lambda p: p["spec"]["containers"].append({"name": "sidecar", "image": "envoy"})),
     {"spec": {"containers": POD["spec"]["containers"] + [{"name": "sidecar", "image": "envoy"}]}}),
    ("bind and run", _edit(lambda p: (p["spec"].update(nodeName="node-1"), p["status"].update(
        phase="Running", conditions=[{"type": "Ready", "status": "True"}]))),
     {"spec": {"nodeName": "node-1"},
      "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}),
    ("drop annotations", _edit(lambda p: p["metadata"].pop("annotations")),
     {"metadata": {"annotations": None}}),
    ("replace labels map", _edit(lambda p: p["metadata"].update(labels={"app": "api"})),
     {"metadata": {"labels": {"app": "api", "tier": None}}}),
    ("label map becomes string", _edit(lambda p: p["metadata"].update(labels="none")),
     {"metadata": {"labels": "none"}}),
    ("unchanged", copy.deepcopy(POD), {}),
]


@pytest.mark.parametrize("name,modified,expected_patch", POD_EDITS, ids=[e[0] for e in POD_EDITS])
def test_create_merge_patch_pods(name, modified, expected_patch):
    original = copy.deepcopy(POD)
    modified_before = copy.deepcopy(modified)
    patch = create_merge_patch(original, modified)
    assert patch == expected_patch
    assert apply_merge_patch(original, patch) == modified
    assert original == POD and modified == modified_before
    # The patch is a fresh value: editing it can't reach into the inputs.
    for sub in (patch.get("spec"), patch.get("metadata")):
        for member in (sub or {}).values():
            if isinstance(member, list):
                member.append("junk")
            elif isinstance(member, dict):
                member["junk"] = 1
    assert original == POD and modified == modified_before


def test_create_merge_patch_is_minimal_and_independent():
    original = {"a": {"b": 1, "c": [1, 2]}, "d": True}
    modified = {"a": {"b": 1, "c": [1, 2, 3]}, "d": 1}
    patch = create_merge_patch(original, modified)
    assert patch == {"a": {"c": [1, 2, 3]}, "d": 1}  # true != 1 in JSON
    patch["a"]["c"].append(4)
    assert modified["a"]["c"] == [1, 2, 3]


def test_create_merge_patch_non_objects():
    assert create_merge_patch({"a": 1}, [1]) == [1]
    assert create_merge_patch([1], {"a": 1}) == {"a": 1}
    assert create_merge_patch("x", "y") == "y"
    assert apply_merge_patch([1], create_merge_patch([1], {"a": 1})) == {"a": 1}


def test_create_merge_patch_null_limit():
    """Documented limit: a member set to null in ``modified`` comes back deleted."""
    original = {"a": 1, "b": None}
    modified = {"a": None, "b": None}
    patch = create_merge_patch(original, modified)
    assert patch == {"a": None}
    assert apply_merge_patch(original, patch) == {"b": None}  # not `modified`


def _random_scalar(rng: random.Random):
    return rng.choice([
        rng.randint(-5, 5), rng.random(), rng.choice(["", "a", "b", "web", "nginx:1.2"]),
        rng.choice([True, False]),
    ])


def _random_value(rng: random.Random, depth: int, in_list: bool = False):
    roll = rng.random()
    if depth <= 0 or roll < 0.4:
        if in_list and rng.random() < 0.1:
            return None  # nulls are only a problem as object members
        return _random_scalar(rng)
    if roll < 0.75:
        return {rng.choice("abcdefgh"): _random_value(rng, depth - 1) for _ in range(rng.randint(0, 4))}
    return [_random_value(rng, depth - 1, in_list=True) for _ in range(rng.randint(0, 3))]


def _mutate(rng: random.Random, value, depth: int):
    if isinstance(value, dict) and rng.random() < 0.8:
        out = dict(value)
        for key in list(out):
            roll = rng.random()
            if roll < 0.15:
                del out[key]
            elif roll < 0.5:
                out[key] = _mutate(rng, out[key], depth - 1)
        for _ in range(rng.randint(0, 2)):
            out[rng.choice("abcdefghij")] = _random_value(rng, max(depth - 1, 0))
        return out
    if rng.random() < 0.5:
        return copy.deepcopy(value)
    return _random_value(rng, depth)


def _assert_minimal(original, modified, patch):
    """Every member of the patch reflects a real difference (nothing redundant)."""
    assert isinstance(patch, dict)
    for key, value in patch.items():
        if value is None:
            assert key in original and key not in modified
        elif isinstance(value, dict) and isinstance(original.get(key), dict) and isinstance(modified[key], dict):
            assert value, "empty sub-patch"
            _assert_minimal(original[key], modified[key], value)
        else:
            assert key not in original or not json_equal(original[key], modified[key])


def test_create_merge_patch_randomized_round_trip():
    rng = random.Random(20240607)
    changed = 0
    for _ in range(600):
        original = {k: _random_value(rng, 4) for k in rng.sample("abcdef", rng.randint(0, 5))}
        modified = _mutate(rng, original, 4)
        if not isinstance(modified, dict):
            modified = {"root": modified}
        before = (copy.deepcopy(original), copy.deepcopy(modified))
        patch = create_merge_patch(original, modified)
        assert json_equal(apply_merge_patch(original, patch), modified), (original, modified, patch)
        _assert_minimal(original, modified, patch)
        assert (patch == {}) == json_equal(original, modified)
        assert create_merge_patch(modified, modified) == {}
        assert (original, modified) == before
        changed += patch != {}
    assert changed > 300  # the generator really exercises changes


# --------------------------------------------------------------------------- guards


def test_too_many_operations():
    ok = [{"op": "test", "path": "", "value": {}}] * MAX_PATCH_OPS
    assert apply_json_patch({}, ok) == {}
    with pytest.raises(PatchError, match="patch too large") as info:
        apply_json_patch({}, ok + [{"op": "test", "path": "", "value": {}}])
    assert info.value.code == 413


def test_document_nesting_limit():
    assert apply_json_patch(nested(MAX_NESTING_DEPTH), []) == nested(MAX_NESTING_DEPTH)
    for deep in (nested(MAX_NESTING_DEPTH + 1), nested_lists(MAX_NESTING_DEPTH + 1), nested(50_000)):
        with pytest.raises(PatchError, match="nesting too deep"):
            apply_json_patch(deep, [])
        with pytest.raises(PatchError, match="nesting too deep"):
            apply_merge_patch(deep, {})
        with pytest.raises(PatchError, match="nesting too deep"):
            create_merge_patch({}, deep)


def test_patch_value_nesting_limit():
    with pytest.raises(PatchError, match="nesting too deep") as info:
        apply_json_patch({}, [{"op": "add", "path": "/a", "value": nested(50_000)}])
    assert info.value.op_index == 0
    with pytest.raises(PatchError, match="nesting too deep"):
        apply_json_patch({"a": 1}, [{"op": "test", "path": "/a", "value": nested(50_000)}])
    with pytest.raises(PatchError, match="nesting too deep"):
        apply_merge_patch({}, nested(50_000))
    # Depth counts from the document root: a value fits only where there is room.
    deep_doc = {"a": nested(49, leaf={})}  # 51 levels
    path = "/a" + "/k" * 49 + "/x"  # 51 tokens
    fits = nested(MAX_NESTING_DEPTH - 51)
    assert apply_json_patch(deep_doc, [{"op": "add", "path": path, "value": fits}])
    with pytest.raises(PatchError, match="nesting too deep"):
        apply_json_patch(deep_doc, [{"op": "add", "path": path, "value": {"k": fits}}])
    with pytest.raises(PatchError, match="nesting too deep"):
        apply_merge_patch(deep_doc, {"a": nested(MAX_NESTING_DEPTH)})


def test_copy_cannot_grow_depth_past_limit():
    # Each op copies the innermost {} one level deeper: cheap ops, linear depth growth.
    patch = [
        {"op": "copy", "from": "/x" * (i + 1), "path": "/x" * (i + 2)}
        for i in range(MAX_NESTING_DEPTH + 10)
    ]
    with pytest.raises(PatchError, match="nesting too deep") as info:
        apply_json_patch({"x": {}}, patch)
    # Op i leaves the document i + 3 levels deep, so op MAX - 2 is the first too deep.
    assert info.value.op_index == MAX_NESTING_DEPTH - 2
    assert apply_json_patch({"x": {}}, patch[: MAX_NESTING_DEPTH - 2]) == nested_x(MAX_NESTING_DEPTH)


def nested_x(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth - 1):
        value = {"x": value}
    return value


def test_move_cannot_grow_depth_past_limit():
    doc = {"a": nested(60), "b": nested(50)}
    target = "/b" + "/k" * 49 + "/m"
    with pytest.raises(PatchError, match="nesting too deep"):
        apply_json_patch(doc, [{"op": "move", "from": "/a", "path": target}])
    doc_ok = {"a": nested(40), "b": nested(50)}
    moved = apply_json_patch(doc_ok, [{"op": "move", "from": "/a", "path": target}])
    assert "a" not in moved


def test_copy_amplification_bounded():
    doc = {"a": list(range(200_000))}
    patch = [{"op": "copy", "from": "/a", "path": f"/c{i}"} for i in range(10)]
    with pytest.raises(PatchError, match="patch too large") as info:
        apply_json_patch(doc, patch)
    assert info.value.code == 413 and info.value.op_index == 4
    assert len(apply_json_patch(doc, patch[:4])) == 5
    # Copying the whole document into a new member doubles it each time; the
    # budget stops it after ~20 ops, long before depth (one level per op) would.
    doubling = [{"op": "copy", "from": "", "path": f"/d{i}"} for i in range(60)]
    with pytest.raises(PatchError, match="patch too large") as info:
        apply_json_patch({"a": 1}, doubling)
    assert info.value.op_index < 25


def test_decode_patch_guards():
    with pytest.raises(PatchError, match="nesting too deep"):
        decode_patch("[" * 100_000 + "]" * 100_000)
    with pytest.raises(PatchError, match="nesting too deep"):
        decode_patch('{"a":' * 1000 + "1" + "}" * 1000)
    # Brackets inside strings don't count toward depth.
    assert decode_patch(json.dumps({"a": "[" * 500})) == {"a": "[" * 500}
    assert decode_patch("[" * MAX_NESTING_DEPTH + "]" * MAX_NESTING_DEPTH) is not None
    for bad in ("{", "[1,]", '{"a": NaN}', '{"a": Infinity}', b"\xff\xfe"):
        with pytest.raises(PatchError) as info:
            decode_patch(bad)
        assert info.value.code == 400
