"""Label and field selectors: parsing, validation messages, matching and canonical forms."""
from __future__ import annotations

import pytest

from kubeapi.selectors import (
    FieldRequirement,
    LabelSelector,
    Operator,
    Requirement,
    SelectorError,
    escape_field_value,
    everything,
    label_selector_from_dict,
    label_value_errors,
    new_requirement,
    nothing,
    object_fields,
    parse_field_selector,
    parse_label_selector,
    qualified_name_errors,
    selector_from_set,
    unescape_field_value,
    validate_fields,
)

# --------------------------------------------------------------------------------------------
# Label selector parsing
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, canonical", [
    ("", ""),
    ("   \t\n", ""),
    ("a=b", "a=b"),
    ("a==b", "a==b"),
    ("a!=b", "a!=b"),
    ("a", "a"),
    ("!a", "!a"),
    ("! a", "!a"),
    ("a=", "a="),
    ("a in (x,y)", "a in (x,y)"),
    ("a in (y, x, y)", "a in (x,y)"),           # values are a sorted set
    ("a notin (x)", "a notin (x)"),
    ("a  notin ( z , x )", "a notin (x,z)"),
    ("a in(x)", "a in (x)"),
    ("a in ()", "a in ()"),                      # the set holding only ""
    ("a in (,b)", "a in (,b)"),
    ("a in (b,)", "a in (,b)"),
    ("a in (b,,c)", "a in (,b,c)"),
    ("a>3", "a>3"),
    ("a < 10", "a<10"),
    ("  a = b , c != d  ", "a=b,c!=d"),
    ("z=1,a=2,m", "a=2,m,z=1"),                  # sorted by key
    ("b=1,a in (x),!c,d>5", "a in (x),b=1,!c,d>5"),
    ("in=notin", "in=notin"),                    # keywords are plain identifiers outside operators
    ("a in (in,notin)", "a in (in,notin)"),
    ("example.com/app=web", "example.com/app=web"),
    ("a=A-b_c.1", "a=A-b_c.1"),
])
def test_parse_valid(text: str, canonical: str) -> None:
    assert str(parse_label_selector(text)) == canonical


def test_parse_canonical_round_trips() -> None:
    s = parse_label_selector("zone notin (b,a), app = web, !legacy, gen > 2, tier")
    assert str(s) == "app=web,gen>2,!legacy,tier,zone notin (a,b)"
    assert parse_label_selector(str(s)) == s


def test_parse_builds_requirements() -> None:
    s = parse_label_selector("b in (y,x),a")
    assert s.requirements == (Requirement("a", Operator.EXISTS), Requirement("b", Operator.IN, ("x", "y")))


_QNAME_REGEX_MSG = ("must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
                    "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', "
                    "regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")


@pytest.mark.parametrize("text, message", [
    (",a", "found ',', expected: !, identifier, or 'end of string'"),
    ("a,", "found '', expected: identifier after ','"),
    ("a,,b", "found ',', expected: identifier after ','"),
    ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
    ("a in x", "unable to parse requirement: found 'x', expected: '('"),
    ("a in", "unable to parse requirement: found '', expected: '('"),
    ("a in (x y)", "unable to parse requirement: found 'y', expected: ',' or ')'"),
    ("a in (x", "unable to parse requirement: found '', expected: ',' or ')'"),
    ("a in (x,", "unable to parse requirement: found '', expected: ',', or identifier"),
    ("a in (=)", "unable to parse requirement: found '=', expected: ',', ')' or identifier"),
    ("a=(b)", "unable to parse requirement: found '(', expected: identifier"),
    ("a=b=c", "found '=', expected: ',' or 'end of string'"),
    ("a=b c", "found 'c', expected: ',' or 'end of string'"),
    ("!a=b", "found '=', expected: ',' or 'end of string'"),
    ("!=b", "found '!=', expected: !, identifier, or 'end of string'"),
    ("!(a)", "unable to parse requirement: found '(', expected: identifier"),
    ("a>x", "unable to parse requirement: values[0]: Invalid value: \"x\": "
            "for 'Gt', 'Lt' operators, the value must be an integer"),
    ("a<1.5", "unable to parse requirement: values[0]: Invalid value: \"1.5\": "
              "for 'Gt', 'Lt' operators, the value must be an integer"),
    ("a/b/c=d", "unable to parse requirement: key: Invalid value: \"a/b/c\": a qualified name "
                + _QNAME_REGEX_MSG + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"),
    ("-a=b", "unable to parse requirement: key: Invalid value: \"-a\": name part " + _QNAME_REGEX_MSG),
    ("/a", "unable to parse requirement: key: Invalid value: \"/a\": prefix part must be non-empty"),
    ("a/=b", "unable to parse requirement: key: Invalid value: \"a/\": name part must be non-empty; name part "
             + _QNAME_REGEX_MSG),
    ("Ex.com/a", "unable to parse requirement: key: Invalid value: \"Ex.com/a\": prefix part a lowercase RFC 1123 "
                 "subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and "
                 "end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
                 "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"),
    ("k" * 64, "unable to parse requirement: key: Invalid value: \"" + "k" * 64
               + "\": name part must be no more than 63 characters"),
    ("a=b-", "unable to parse requirement: values[0]: Invalid value: \"b-\": a valid label must be an empty "
             "string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
             "alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation "
             "is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"),
    ("a=" + "v" * 64, "unable to parse requirement: values[0]: Invalid value: \"" + "v" * 64
                      + "\": must be no more than 63 characters"),
])
def test_parse_invalid(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as exc:
        parse_label_selector(text)
    assert str(exc.value) == message
    assert isinstance(exc.value, ValueError)


def test_parse_accepts_limits() -> None:
    key = "x." * 126 + "y/" + "n" * 63  # a 253-char prefix
    assert len(key.split("/")[0]) == 253
    assert str(parse_label_selector(f"{key}={'v' * 63}")) == f"{key}={'v' * 63}"
    with pytest.raises(SelectorError, match="prefix part must be no more than 253 characters"):
        parse_label_selector("x" + key + "=v")


def test_new_requirement_validates_every_problem() -> None:
    with pytest.raises(SelectorError) as exc:
        new_requirement("-bad", "=", ["a", "b"])
    assert len(exc.value.errors) == 2
    assert str(exc.value).startswith("[key: Invalid value: \"-bad\"")
    assert "values: Invalid value: [\"a\", \"b\"]: exact-match compatibility requires one single value" in str(exc.value)
    with pytest.raises(SelectorError, match="values set can't be empty"):
        new_requirement("a", Operator.IN, [])
    with pytest.raises(SelectorError, match="values set must be empty for exists"):
        new_requirement("a", Operator.EXISTS, ["x"])
    with pytest.raises(SelectorError, match="exactly one value is required"):
        new_requirement("a", Operator.GREATER_THAN, ["1", "2"])
    with pytest.raises(SelectorError, match='operator: Unsupported value: "like"'):
        new_requirement("a", "like", ["x"])
    assert new_requirement("a", "notin", ["y", "x"]) == Requirement("a", Operator.NOT_IN, ("x", "y"))


# --------------------------------------------------------------------------------------------
# Label selector matching
# --------------------------------------------------------------------------------------------

_LABELS = {"app": "web", "tier": "fe", "gen": "5", "empty": "", "word": "abc"}


@pytest.mark.parametrize("text, expected", [
    ("", True),
    ("app=web", True),
    ("app==web", True),
    ("app=db", False),
    ("missing=web", False),
    ("app!=db", True),
    ("app!=web", False),
    ("missing!=web", True),          # a missing key satisfies !=
    ("app in (db,web)", True),
    ("app in (db)", False),
    ("missing in (web)", False),
    ("app notin (web)", False),
    ("app notin (db)", True),
    ("missing notin (web)", True),   # a missing key satisfies notin
    ("app", True),
    ("missing", False),
    ("!app", False),
    ("!missing", True),
    ("empty=", True),
    ("empty", True),
    ("missing=", False),
    ("empty in ()", True),
    ("gen>4", True),
    ("gen>5", False),
    ("gen<6", True),
    ("gen<5", False),
    ("missing>1", False),
    ("word>1", False),               # non-integer label values never satisfy Gt/Lt
    ("word<1", False),
    ("app=web,tier=fe,gen>1", True),
    ("app=web,tier=be", False),
])
def test_label_matching(text: str, expected: bool) -> None:
    assert parse_label_selector(text).matches(_LABELS) is expected


def test_everything_nothing_and_empty() -> None:
    assert everything().is_empty() and everything().matches({}) and everything().matches(None)
    assert parse_label_selector("").is_empty()
    assert not parse_label_selector("a").is_empty()
    assert not nothing().is_empty()
    assert not nothing().matches({}) and not nothing().matches({"a": "b"})
    assert not nothing().add(Requirement("a", Operator.EXISTS)).matches({"a": "b"})


def test_add_and_requires_exact_match() -> None:
    s = parse_label_selector("b=1").add(new_requirement("a", "in", ["x"]))
    assert str(s) == "a in (x),b=1"
    assert s.requires_exact_match("a") == "x"
    assert s.requires_exact_match("b") == "1"
    assert s.requires_exact_match("c") is None
    assert parse_label_selector("a in (x,y)").requires_exact_match("a") is None
    assert parse_label_selector("a!=x").requires_exact_match("a") is None


def test_selector_from_set() -> None:
    s = selector_from_set({"tier": "fe", "app": "web"})
    assert str(s) == "app=web,tier=fe"
    assert s.matches({"app": "web", "tier": "fe", "x": "y"}) and not s.matches({"app": "web"})
    with pytest.raises(SelectorError, match="key: Invalid value"):
        selector_from_set({"bad key": "x"})


# --------------------------------------------------------------------------------------------
# Label selector object form
# --------------------------------------------------------------------------------------------


def test_from_dict_converts() -> None:
    s = label_selector_from_dict({
        "matchLabels": {"tier": "fe", "app": "web"},
        "matchExpressions": [
            {"key": "zone", "operator": "In", "values": ["b", "a"]},
            {"key": "env", "operator": "NotIn", "values": ["dev"]},
            {"key": "gpu", "operator": "Exists"},
            {"key": "legacy", "operator": "DoesNotExist", "values": []},
        ],
    })
    assert str(s) == "app=web,env notin (dev),gpu,!legacy,tier=fe,zone in (a,b)"
    assert s.matches({"app": "web", "tier": "fe", "zone": "a", "gpu": ""})
    assert not s.matches({"app": "web", "tier": "fe", "zone": "a", "gpu": "", "legacy": "1"})
    assert not s.matches({"app": "web", "tier": "fe", "zone": "a", "gpu": "", "env": "dev"})


@pytest.mark.parametrize("d", [None, {}, {"matchLabels": {}, "matchExpressions": []}, {"matchLabels": None}])
def test_from_dict_empty_depends_on_flag(d: dict | None) -> None:
    assert label_selector_from_dict(d).matches({"any": "thing"})
    assert label_selector_from_dict(d).is_empty()
    none = label_selector_from_dict(d, empty_matches_all=False)
    assert not none.matches({}) and not none.is_empty()


def test_from_dict_non_empty_ignores_flag() -> None:
    s = label_selector_from_dict({"matchLabels": {"a": "b"}}, empty_matches_all=False)
    assert s.matches({"a": "b"})


@pytest.mark.parametrize("d, errors", [
    ({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]},
     ["spec.selector.matchExpressions[0].values: Required value: "
      "must be specified when `operator` is 'In' or 'NotIn'"]),
    ({"matchExpressions": [{"key": "a", "operator": "Exists"}, {"key": "b", "operator": "NotIn"}]},
     ["spec.selector.matchExpressions[1].values: Required value: "
      "must be specified when `operator` is 'In' or 'NotIn'"]),
    ({"matchExpressions": [{"key": "a", "operator": "DoesNotExist", "values": ["x"]}]},
     ["spec.selector.matchExpressions[0].values: Forbidden: "
      "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"]),
    ({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]},
     ['spec.selector.matchExpressions[0].operator: Invalid value: "Gt": not a valid selector operator']),
    ({"matchExpressions": [{"key": "a b", "operator": "Exists"}]},
     ['spec.selector.matchExpressions[0].key: Invalid value: "a b": name part ' + _QNAME_REGEX_MSG]),
    ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["ok", "-no"]}]},
     ['spec.selector.matchExpressions[0].values[1]: Invalid value: "-no": a valid label must be an empty '
      "string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
      "alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation "
      "is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"]),
    ({"matchLabels": {"-k": "v"}},
     ['spec.selector.matchLabels: Invalid value: "-k": name part ' + _QNAME_REGEX_MSG]),
    ({"matchLabels": {"k": "v" * 64}},
     ['spec.selector.matchLabels: Invalid value: "' + "v" * 64 + '": must be no more than 63 characters']),
    ({"matchLabels": ["a"]},
     ['spec.selector.matchLabels: Invalid value: ["a"]: must be a map of strings to strings']),
    ({"matchExpressions": {"key": "a"}},
     ['spec.selector.matchExpressions: Invalid value: {"key": "a"}: must be a list of label selector requirements']),
    ({"matchExpressions": [{"key": "a", "operator": "In", "values": "x"}]},
     ['spec.selector.matchExpressions[0].values: Invalid value: "x": must be a list of strings',
      "spec.selector.matchExpressions[0].values: Required value: "
      "must be specified when `operator` is 'In' or 'NotIn'"]),
])
def test_from_dict_validation_paths(d: dict, errors: list[str]) -> None:
    with pytest.raises(SelectorError) as exc:
        label_selector_from_dict(d, path="spec.selector")
    assert exc.value.errors == errors


def test_from_dict_reports_all_errors_at_once() -> None:
    with pytest.raises(SelectorError) as exc:
        label_selector_from_dict({
            "matchLabels": {"ok": "-bad"},
            "matchExpressions": [{"key": "a", "operator": "Like", "values": ["x"]},
                                 {"key": "b", "operator": "In"}],
        })
    paths = [e.split(":")[0] for e in exc.value.errors]
    assert paths == ["matchLabels", "matchExpressions[0].operator", "matchExpressions[1].values"]
    assert str(exc.value).startswith("[matchLabels: ")


# --------------------------------------------------------------------------------------------
# Field selectors
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, canonical", [
    ("", ""),
    (",", ""),
    ("metadata.name=web", "metadata.name=web"),
    ("metadata.name==web", "metadata.name=web"),
    ("status.phase!=Running", "status.phase!=Running"),
    ("b=1,a=2", "a=2,b=1"),
    ("a=1,,b=2", "a=1,b=2"),
    ("a=", "a="),
    (r"a=x\,y", r"a=x\,y"),
    (r"a=x\=y\\z", r"a=x\=y\\z"),
])
def test_field_parse_canonical(text: str, canonical: str) -> None:
    assert str(parse_field_selector(text)) == canonical


@pytest.mark.parametrize("text, field, op, value", [
    (r"a=x\,y", "a", "=", "x,y"),
    (r"a!=k\=v", "a", "!=", "k=v"),
    (r"a==back\\slash", "a", "=", "back\\slash"),
    ("a==b", "a", "=", "b"),
    ("a.b.c=", "a.b.c", "=", ""),
])
def test_field_parse_unescapes(text: str, field: str, op: str, value: str) -> None:
    assert parse_field_selector(text).requirements == (FieldRequirement(field, op, value),)


@pytest.mark.parametrize("text, message", [
    ("a", "invalid selector: 'a'; can't understand 'a'"),
    ("a=1,b", "invalid selector: 'a=1,b'; can't understand 'b'"),
    ("a=x=y", "invalid field selector: unescaped character in value: '='"),
    (r"a=x\y", r"invalid field selector: invalid escape sequence: \y"),
    ("a=x\\", "invalid field selector: invalid escape sequence: \\"),
    ("a!==b", "invalid field selector: unescaped character in value: '='"),
])
def test_field_parse_invalid(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as exc:
        parse_field_selector(text)
    assert str(exc.value) == message


@pytest.mark.parametrize("value", ["", "plain", "a,b", "k=v", "back\\slash", "\\,=\\\\", "x\\=,y"])
def test_field_escape_round_trip(value: str) -> None:
    escaped = escape_field_value(value)
    assert unescape_field_value(escaped) == value
    assert parse_field_selector(f"f={escaped}").requirements[0].value == value
    assert parse_field_selector(str(parse_field_selector(f"f={escaped}"))).requirements[0].value == value


def test_field_escape_exact() -> None:
    assert escape_field_value("a\\b,c=d") == "a\\\\b\\,c\\=d"


_FIELDS = {"metadata.name": "web", "status.phase": "Running", "spec.nodeName": ""}


@pytest.mark.parametrize("text, expected", [
    ("", True),
    ("metadata.name=web", True),
    ("metadata.name==web", True),
    ("metadata.name=db", False),
    ("metadata.name!=db", True),
    ("metadata.name!=web", False),
    ("status.phase!=Pending,metadata.name=web", True),
    ("status.phase=Pending,metadata.name=web", False),
    ("spec.nodeName=", True),
    ("missing=", True),              # missing fields read as ""
    ("missing=x", False),
    ("missing!=x", True),
])
def test_field_matching(text: str, expected: bool) -> None:
    assert parse_field_selector(text).matches(_FIELDS) is expected


def test_requires_exact() -> None:
    s = parse_field_selector("status.phase!=Failed,spec.nodeName=n1,metadata.name==web")
    assert s.requires_exact("spec.nodeName") == "n1"
    assert s.requires_exact("metadata.name") == "web"
    assert s.requires_exact("status.phase") is None
    assert s.requires_exact("metadata.namespace") is None
    assert parse_field_selector("spec.nodeName=").requires_exact("spec.nodeName") == ""
    assert parse_field_selector("").requires_exact("spec.nodeName") is None
    assert parse_field_selector("").is_empty() and not s.is_empty()


# --------------------------------------------------------------------------------------------
# Selectable fields per kind
# --------------------------------------------------------------------------------------------


def test_object_fields_pod() -> None:
    pod = {
        "metadata": {"name": "web-1", "namespace": "prod", "labels": {"app": "web"}},
        "spec": {"nodeName": "n1", "restartPolicy": "Always", "schedulerName": "default-scheduler",
                 "serviceAccountName": "sa", "hostNetwork": True},
        "status": {"phase": "Running", "podIP": "10.0.0.9",
                   "podIPs": [{"ip": "10.0.0.5"}, {"ip": "fd00::5"}], "nominatedNodeName": "n2"},
    }
    assert object_fields("Pod", pod) == {
        "metadata.name": "web-1", "metadata.namespace": "prod",
        "spec.nodeName": "n1", "spec.restartPolicy": "Always", "spec.schedulerName": "default-scheduler",
        "spec.serviceAccountName": "sa", "spec.hostNetwork": "true",
        "status.phase": "Running", "status.podIP": "10.0.0.5", "status.nominatedNodeName": "n2",
    }


def test_object_fields_minimal_pod() -> None:
    f = object_fields("Pod", {"metadata": {"name": "p"}, "status": {"podIP": "10.1.1.1"}})
    assert f["spec.hostNetwork"] == "false"
    assert f["status.podIP"] == "10.1.1.1"
    assert f["spec.nodeName"] == "" and f["metadata.namespace"] == ""
    assert parse_field_selector("spec.nodeName=").matches(f)      # unscheduled pods
    assert not parse_field_selector("spec.nodeName!=").matches(f)


def test_object_fields_event() -> None:
    ev = {
        "metadata": {"name": "web-1.17a", "namespace": "prod"},
        "involvedObject": {"kind": "Pod", "namespace": "prod", "name": "web-1", "uid": "u-1",
                           "apiVersion": "v1", "resourceVersion": "42", "fieldPath": "spec.containers{app}"},
        "reason": "Scheduled", "type": "Normal", "source": {"component": "default-scheduler"},
        "reportingComponent": "",
    }
    assert object_fields("Event", ev) == {
        "metadata.name": "web-1.17a", "metadata.namespace": "prod",
        "involvedObject.kind": "Pod", "involvedObject.namespace": "prod", "involvedObject.name": "web-1",
        "involvedObject.uid": "u-1", "involvedObject.apiVersion": "v1",
        "involvedObject.resourceVersion": "42", "involvedObject.fieldPath": "spec.containers{app}",
        "reason": "Scheduled", "reportingComponent": "", "source": "default-scheduler", "type": "Normal",
    }
    # Without source.component the reporting controller stands in as the source.
    ev2 = dict(ev, source={}, reportingComponent="kubelet")
    assert object_fields("Event", ev2)["source"] == "kubelet"
    sel = validate_fields("Event", parse_field_selector("involvedObject.name=web-1,involvedObject.kind=Pod"))
    assert sel.matches(object_fields("Event", ev))


@pytest.mark.parametrize("kind, obj, expected", [
    ("Node", {"metadata": {"name": "n1"}, "spec": {"unschedulable": True}},
     {"metadata.name": "n1", "spec.unschedulable": "true"}),
    ("Node", {"metadata": {"name": "n1"}}, {"metadata.name": "n1", "spec.unschedulable": "false"}),
    ("Namespace", {"metadata": {"name": "ns"}, "status": {"phase": "Terminating"}},
     {"metadata.name": "ns", "status.phase": "Terminating"}),
    ("Secret", {"metadata": {"name": "s", "namespace": "d"}, "type": "kubernetes.io/tls"},
     {"metadata.name": "s", "metadata.namespace": "d", "type": "kubernetes.io/tls"}),
    ("ReplicaSet", {"metadata": {"name": "rs", "namespace": "d"}, "status": {"replicas": 3}},
     {"metadata.name": "rs", "metadata.namespace": "d", "status.replicas": "3"}),
    ("ReplicaSet", {"metadata": {"name": "rs", "namespace": "d"}},
     {"metadata.name": "rs", "metadata.namespace": "d", "status.replicas": "0"}),
    ("Job", {"metadata": {"name": "j", "namespace": "d"}, "status": {"succeeded": 2}},
     {"metadata.name": "j", "metadata.namespace": "d", "status.successful": "2"}),
    ("ConfigMap", {"metadata": {"name": "c", "namespace": "d"}, "data": {"k": "v"}},
     {"metadata.name": "c", "metadata.namespace": "d"}),
])
def test_object_fields_other_kinds(kind: str, obj: dict, expected: dict) -> None:
    assert object_fields(kind, obj) == expected


@pytest.mark.parametrize("kind, text", [
    ("Pod", "spec.nodeName=n1,status.phase=Running,spec.hostNetwork=true,status.podIP=1.2.3.4"),
    ("Pod", "metadata.name=a,metadata.namespace=b,spec.restartPolicy=Never,spec.schedulerName=s"),
    ("Pod", "spec.serviceAccountName=sa,status.nominatedNodeName=n"),
    ("Event", "reason=Failed,type=Warning,source=kubelet,reportingComponent=x,involvedObject.uid=u"),
    ("Node", "spec.unschedulable=true,metadata.name=n1"),
    ("Namespace", "status.phase=Active"),
    ("Secret", "type=Opaque,metadata.namespace=d"),
    ("ReplicaSet", "status.replicas!=0"),
    ("Job", "status.successful=1"),
    ("ConfigMap", "metadata.name=c,metadata.namespace=d"),
])
def test_validate_fields_accepts(kind: str, text: str) -> None:
    sel = parse_field_selector(text)
    assert validate_fields(kind, sel) == sel


@pytest.mark.parametrize("kind, text, bad", [
    ("Pod", "spec.nodeName=n1,spec.nodename=n1", "spec.nodename"),
    ("Pod", "type=x", "type"),
    ("Event", "status.phase=x", "status.phase"),
    ("Node", "metadata.namespace=x", "metadata.namespace"),   # cluster-scoped
    ("Namespace", "metadata.namespace=x", "metadata.namespace"),
    ("Secret", "data.key=x", "data.key"),
    ("ConfigMap", "data=x", "data"),
    ("ReplicaSet", "spec.replicas=1", "spec.replicas"),
    ("Pod", " spec.nodeName=n1", " spec.nodeName"),           # no whitespace trimming
])
def test_validate_fields_rejects(kind: str, text: str, bad: str) -> None:
    with pytest.raises(SelectorError) as exc:
        validate_fields(kind, parse_field_selector(text))
    assert str(exc.value) == f"field label not supported: {bad}"


def test_validate_fields_rewrites_legacy_pod_host() -> None:
    sel = validate_fields("Pod", parse_field_selector("spec.host=n1"))
    assert str(sel) == "spec.nodeName=n1"
    assert sel.requires_exact("spec.nodeName") == "n1"
    with pytest.raises(SelectorError, match="field label not supported: spec.host"):
        validate_fields("Node", parse_field_selector("spec.host=n1"))


def test_selectors_are_hashable_values() -> None:
    assert parse_label_selector("b,a=1") != parse_label_selector("a==1,b")  # == is kept as written
    assert parse_label_selector("b,a=1") == parse_label_selector("a=1 , b")
    assert len({parse_label_selector("a=1,b"), parse_label_selector("b,a=1")}) == 1
    assert parse_field_selector("a=1,b!=2") == parse_field_selector("b!=2,a=1")
    assert isinstance(hash(parse_field_selector("a=1")), int)
    assert LabelSelector() == everything() != nothing()


def test_trailing_newline_is_not_a_valid_key_or_value():
    """The string parser splits on whitespace; a key or value checked
    directly (object form, labels on objects) must reject a trailing newline."""
    assert qualified_name_errors("app\n")
    assert label_value_errors("web\n")
    with pytest.raises(SelectorError):
        label_selector_from_dict({"matchLabels": {"app\n": "web"}})
