"""Field paths, field errors and API Status bodies: exact upstream wording, reasons and codes."""
from __future__ import annotations

import json

import pytest

from kubeapi import errors, field
from kubeapi.errors import ApiError, StatusCause, StatusDetails
from kubeapi.field import ErrorList, ErrorType, Path


def compact(obj: object) -> str:
    """Serialize like the API server: member order kept, no spaces."""
    return json.dumps(obj, separators=(",", ":"))


# --------------------------------------------------------------------------------------------
# Paths
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path, text", [
    (Path("spec"), "spec"),
    (Path("spec", "template", "spec"), "spec.template.spec"),
    (Path("spec").child("containers").index(0).child("ports").index(1).child("containerPort"),
     "spec.containers[0].ports[1].containerPort"),
    (Path("metadata").child("labels").key("app"), "metadata.labels[app]"),
    (Path("metadata", "annotations").key("example.com/x"), "metadata.annotations[example.com/x]"),
    (Path("spec").child("a", "b").index(3).index(4), "spec.a.b[3][4]"),
    (Path("items").index(2).key("k").child("v"), "items[2][k].v"),
])
def test_path_string(path: Path, text: str) -> None:
    assert str(path) == text


def test_path_is_immutable_and_shared() -> None:
    base = Path("spec", "ports")
    a, b = base.index(0), base.index(1)
    assert str(base) == "spec.ports" and str(a) == "spec.ports[0]" and str(b) == "spec.ports[1]"
    assert a.root() == Path("spec") and a.parent == base
    assert Path("spec", "ports") == base and hash(Path("spec", "ports")) == hash(base)
    with pytest.raises(AttributeError):
        base.name = "x"  # type: ignore[misc]


# --------------------------------------------------------------------------------------------
# Field errors
# --------------------------------------------------------------------------------------------

PORT = Path("spec", "ports").index(0).child("port")


@pytest.mark.parametrize("err, message, reason", [
    (field.invalid(PORT, 0, "must be between 1 and 65535, inclusive"),
     "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive", "FieldValueInvalid"),
    (field.invalid("metadata.name", "Foo", "bad"),
     'metadata.name: Invalid value: "Foo": bad', "FieldValueInvalid"),
    (field.required(Path("spec", "selector"), ""), "spec.selector: Required value", "FieldValueRequired"),
    (field.required("spec.containers", "must have at least one"),
     "spec.containers: Required value: must have at least one", "FieldValueRequired"),
    (field.duplicate(Path("spec", "ports").index(1), {"protocol": "TCP", "port": 80}),
     'spec.ports[1]: Duplicate value: {"port":80,"protocol":"TCP"}', "FieldValueDuplicate"),
    (field.duplicate("spec.names[1]", "a"), 'spec.names[1]: Duplicate value: "a"', "FieldValueDuplicate"),
    (field.not_supported(Path("spec", "type"), "x", ["ClusterIP", "NodePort"]),
     'spec.type: Unsupported value: "x": supported values: "ClusterIP", "NodePort"', "FieldValueNotSupported"),
    (field.not_supported("spec.type", "x"), 'spec.type: Unsupported value: "x"', "FieldValueNotSupported"),
    (field.forbidden(Path("spec", "clusterIP"), "may not change once set"),
     "spec.clusterIP: Forbidden: may not change once set", "FieldValueForbidden"),
    (field.too_long(Path("metadata", "annotations"), 262144),
     "metadata.annotations: Too long: may not be more than 262144 bytes", "FieldValueTooLong"),
    (field.too_long("x", 1), "x: Too long: may not be more than 1 byte", "FieldValueTooLong"),
    (field.too_long("x", -1), "x: Too long: value is too long", "FieldValueTooLong"),
    (field.too_long_characters("x", 10), "x: Too long: may not be more than 10 characters", "FieldValueTooLong"),
    (field.too_many(Path("spec", "items"), 5, 3), "spec.items: Too many: 5: must have at most 3 items",
     "FieldValueTooMany"),
    (field.too_many("spec.items", 2, 1), "spec.items: Too many: 2: must have at most 1 item", "FieldValueTooMany"),
    (field.too_many("spec.items", -1, 3), "spec.items: Too many: must have at most 3 items", "FieldValueTooMany"),
    (field.too_many("spec.items", 9, -1), "spec.items: Too many: 9: has too many items", "FieldValueTooMany"),
    (field.internal_error(Path("spec"), RuntimeError("boom")), "spec: Internal error: boom", "InternalError"),
    (field.internal_error(None, "boom"), "<nil>: Internal error: boom", "InternalError"),
    (field.not_found(Path("spec", "volumeName"), "pv1"), 'spec.volumeName: Not found: "pv1"', "FieldValueNotFound"),
    (field.type_invalid("spec.replicas", "3", "must be of type integer"),
     'spec.replicas: Invalid value: "3": must be of type integer', "FieldValueTypeInvalid"),
])
def test_field_error_messages(err: field.FieldError, message: str, reason: str) -> None:
    assert err.error() == message
    assert str(err) == message
    assert err.type.value == reason
    assert err.to_cause() == {"reason": reason, "message": message.split(": ", 1)[1], "field": message.split(": ", 1)[0]}


@pytest.mark.parametrize("value, rendered", [
    (0, "0"),
    (-7, "-7"),
    (True, "true"),
    (False, "false"),
    (None, "null"),
    ("abc", '"abc"'),
    ('a"b\\c', '"a\\"b\\\\c"'),
    ("line\nnext\ttab", '"line\\nnext\\ttab"'),
    ("\x01\x7f", '"\\x01\\x7f"'),
    ("héllo ✓", '"héllo ✓"'),
    ("zero\u200bwidth", '"zero\\u200bwidth"'),
    (0.5, "0.5"),
    (1.0, "1"),
    (100.0, "100"),
    (123456.0, "123456"),
    (1e6, "1e+06"),
    (1234567.0, "1.234567e+06"),
    (0.0001, "0.0001"),
    (0.00001, "1e-05"),
    (-2.5e-7, "-2.5e-07"),
    (["a", "b"], '["a","b"]'),
    ({"b": 1, "a": [True, None]}, '{"a":[true,null],"b":1}'),
    (["<a&b>"], '["\\u003ca\\u0026b\\u003e"]'),
    ([], "[]"),
])
def test_render_value_like_go(value: object, rendered: str) -> None:
    assert field.render_value(value) == rendered
    assert field.invalid("f", value, "d").error() == f"f: Invalid value: {rendered}: d"


def test_error_list_aggregate_dedups_message_but_not_causes() -> None:
    a = field.invalid("spec.a", 1, "bad")
    b = field.required("spec.b", "")
    assert ErrorList().aggregate() == ""
    assert ErrorList([a]).aggregate() == "spec.a: Invalid value: 1: bad"
    errs = ErrorList([a, b, a])
    assert errs.aggregate() == "[spec.a: Invalid value: 1: bad, spec.b: Required value]"
    assert errs.messages() == ["spec.a: Invalid value: 1: bad", "spec.b: Required value"]
    assert errs.to_causes() == [
        {"reason": "FieldValueInvalid", "message": "Invalid value: 1: bad", "field": "spec.a"},
        {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.b"},
        {"reason": "FieldValueInvalid", "message": "Invalid value: 1: bad", "field": "spec.a"},
    ]
    assert errs.filter_out(ErrorType.INVALID) == [b]
    combined = ErrorList([a]) + [b]
    assert isinstance(combined, ErrorList) and combined.aggregate().startswith("[")


def test_cause_omits_empty_field() -> None:
    assert field.invalid("", 1, "x").to_cause() == {"reason": "FieldValueInvalid", "message": "Invalid value: 1: x"}


# --------------------------------------------------------------------------------------------
# API errors: message, reason, code and the exact Status JSON
# --------------------------------------------------------------------------------------------

_ERRS = field.ErrorList([field.invalid(PORT, 0, "must be between 1 and 65535, inclusive")])

STATUS_CASES = [
    pytest.param(
        errors.not_found("pods", "nope"), 404, "NotFound", 'pods "nope" not found',
        '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \\"nope\\" not found",'
        '"reason":"NotFound","details":{"name":"nope","kind":"pods"},"code":404}', id="not_found"),
    pytest.param(
        errors.not_found("deployments", "x", group="apps"), 404, "NotFound", 'deployments.apps "x" not found',
        '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"deployments.apps \\"x\\" '
        'not found","reason":"NotFound","details":{"name":"x","group":"apps","kind":"deployments"},"code":404}',
        id="not_found_group"),
    pytest.param(
        errors.already_exists("services", "x"), 409, "AlreadyExists", 'services "x" already exists',
        '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"services \\"x\\" already '
        'exists","reason":"AlreadyExists","details":{"name":"x","kind":"services"},"code":409}', id="already_exists"),
    pytest.param(
        errors.conflict("services", "x"), 409, "Conflict",
        'Operation cannot be fulfilled on services "x": the object has been modified; please apply your changes '
        'to the latest version and try again',
        '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Operation cannot be '
        'fulfilled on services \\"x\\": the object has been modified; please apply your changes to the latest '
        'version and try again","reason":"Conflict","details":{"name":"x","kind":"services"},"code":409}',
        id="conflict"),
    pytest.param(
        errors.invalid("Service", "x", _ERRS), 422, "Invalid",
        'Service "x" is invalid: spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive',
        '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Service \\"x\\" is '
        'invalid: spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive","reason":"Invalid",'
        '"details":{"name":"x","kind":"Service","causes":[{"reason":"FieldValueInvalid","message":"Invalid value: '
        '0: must be between 1 and 65535, inclusive","field":"spec.ports[0].port"}]},"code":422}', id="invalid"),
    pytest.param(
        errors.bad_request("the server rejected our request"), 400, "BadRequest", "the server rejected our request",
        '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"the server rejected our '
        'request","reason":"BadRequest","code":400}', id="bad_request"),
    pytest.param(
        errors.unauthorized(), 401, "Unauthorized", "Unauthorized",
        '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized",'
        '"reason":"Unauthorized","code":401}', id="unauthorized"),
    pytest.param(
        errors.forbidden("pods", "x", "no way"), 403, "Forbidden", 'pods "x" is forbidden: no way',
        '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \\"x\\" is '
        'forbidden: no way","reason":"Forbidden","details":{"name":"x","kind":"pods"},"code":403}', id="forbidden"),
    pytest.param(
        errors.forbidden_access("u", "get", "pods", namespace="ns", name="x"), 403, "Forbidden",
        'pods "x" is forbidden: User "u" cannot get resource "pods" in API group "" in the namespace "ns"',
        '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \\"x\\" is forbidden: '
        'User \\"u\\" cannot get resource \\"pods\\" in API group \\"\\" in the namespace \\"ns\\"",'
        '"reason":"Forbidden","details":{"name":"x","kind":"pods"},"code":403}', id="forbidden_access"),
    pytest.param(
        errors.gone("gone for good"), 410, "Gone", "gone for good",
        '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"gone for good",'
        '"reason":"Gone","code":410}', id="gone"),
    pytest.param(
        errors.too_old_resource_version(5, 17), 410, "Expired", "too old resource version: 5 (17)",
        '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: '
        '5 (17)","reason":"Expired","code":410}', id="expired"),
    pytest.param(
        errors.request_entity_too_large("limit is 3145728"), 413, "RequestEntityTooLarge",
        "Request entity too large: limit is 3145728",
        '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Request entity too large: '
        'limit is 3145728","reason":"RequestEntityTooLarge","code":413}', id="too_large"),
    pytest.param(
        errors.unsupported_media_type("text/plain", ["application/json-patch+json", "application/merge-patch+json"]),
        415, "UnsupportedMediaType",
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json-patch+json, application/merge-patch+json",
        '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"the body of the request was '
        'in an unknown format - accepted media types include: application/json-patch+json, '
        'application/merge-patch+json","reason":"UnsupportedMediaType","code":415}', id="unsupported_media_type"),
    pytest.param(
        errors.not_acceptable(["application/json"]), 406, "NotAcceptable",
        "only the following media types are accepted: application/json",
        '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"only the following media '
        'types are accepted: application/json","reason":"NotAcceptable","code":406}', id="not_acceptable"),
    pytest.param(
        errors.method_not_supported("bindings", "list"), 405, "MethodNotAllowed",
        'list is not supported on resources of kind "bindings"',
        '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"list is not supported on '
        'resources of kind \\"bindings\\"","reason":"MethodNotAllowed","details":{"kind":"bindings"},"code":405}',
        id="method_not_supported"),
    pytest.param(
        errors.too_many_requests(retry_after_seconds=3), 429, "TooManyRequests",
        "Too many requests, please try again later.",
        '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Too many requests, please '
        'try again later.","reason":"TooManyRequests","details":{"retryAfterSeconds":3},"code":429}',
        id="too_many_requests"),
    pytest.param(
        errors.too_many_requests("Cannot evict pod as it would violate the pod's disruption budget."), 429,
        "TooManyRequests", "Cannot evict pod as it would violate the pod's disruption budget.",
        '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Cannot evict pod as it '
        'would violate the pod\'s disruption budget.","reason":"TooManyRequests","details":{},"code":429}',
        id="too_many_requests_no_retry"),
    pytest.param(
        errors.internal("etcd exploded"), 500, "InternalError", "Internal error occurred: etcd exploded",
        '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Internal error occurred: '
        'etcd exploded","reason":"InternalError","details":{"causes":[{"message":"etcd exploded"}]},"code":500}',
        id="internal"),
    pytest.param(
        errors.server_timeout("pods", "create", 2), 500, "ServerTimeout",
        "The create operation against pods could not be completed at this time, please try again.",
        '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"The create operation '
        'against pods could not be completed at this time, please try again.","reason":"ServerTimeout",'
        '"details":{"name":"create","kind":"pods","retryAfterSeconds":2},"code":500}', id="server_timeout"),
    pytest.param(
        errors.service_unavailable("storage is not ready"), 503, "ServiceUnavailable", "storage is not ready",
        '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"storage is not ready",'
        '"reason":"ServiceUnavailable","code":503}', id="service_unavailable"),
    pytest.param(
        errors.timeout("request did not complete within 60s", 1), 504, "Timeout",
        "Timeout: request did not complete within 60s",
        '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Timeout: request did not '
        'complete within 60s","reason":"Timeout","details":{"retryAfterSeconds":1},"code":504}', id="timeout"),
]


@pytest.mark.parametrize("err, code, reason, message, body", STATUS_CASES)
def test_constructor_status(err: ApiError, code: int, reason: str, message: str, body: str) -> None:
    assert isinstance(err, ApiError)
    assert (err.code, err.reason, err.message, str(err)) == (code, reason, message, message)
    assert compact(err.status()) == body
    assert compact(errors.status_from_exception(err)) == body


def test_invalid_with_several_errors_and_group() -> None:
    errs = ErrorList([
        field.required(Path("spec", "selector"), ""),
        field.invalid(Path("spec", "replicas"), -1, "must be greater than or equal to 0"),
        field.required(Path("spec", "selector"), ""),  # duplicate: once in the message, twice in causes
    ])
    err = errors.invalid("Deployment", "web", errs, group="apps")
    assert err.message == ('Deployment.apps "web" is invalid: [spec.selector: Required value, '
                           'spec.replicas: Invalid value: -1: must be greater than or equal to 0]')
    details = err.status()["details"]
    assert details["name"] == "web" and details["group"] == "apps" and details["kind"] == "Deployment"
    assert [c["field"] for c in details["causes"]] == ["spec.selector", "spec.replicas", "spec.selector"]
    assert details["causes"][0] == {"reason": "FieldValueRequired", "message": "Required value",
                                    "field": "spec.selector"}


def test_invalid_without_errors() -> None:
    err = errors.invalid("Pod", "p", [])
    assert err.message == 'Pod "p" is invalid'
    assert err.status()["details"] == {"name": "p", "kind": "Pod"}


@pytest.mark.parametrize("kwargs, message, kind", [
    (dict(user="u", verb="list", resource="pods", namespace="default"),
     'pods is forbidden: User "u" cannot list resource "pods" in API group "" in the namespace "default"', "pods"),
    (dict(user="system:anonymous", verb="get", resource="nodes", name="n1"),
     'nodes "n1" is forbidden: User "system:anonymous" cannot get resource "nodes" in API group "" '
     'at the cluster scope', "nodes"),
    (dict(user="u", verb="create", resource="deployments", group="apps", namespace="ns", name="d",
          subresource="scale"),
     'deployments.apps "d" is forbidden: User "u" cannot create resource "deployments/scale" in API group "apps" '
     'in the namespace "ns"', "deployments"),
    (dict(user="u", verb="get", path="/healthz"), 'forbidden: User "u" cannot get path "/healthz"', None),
    (dict(user="<b>&", verb="get", resource="pods", namespace="ns", reason="RBAC: no binding"),
     'pods is forbidden: User "&lt;b&gt;&amp;" cannot get resource "pods" in API group "" in the namespace "ns": '
     'RBAC: no binding', "pods"),
])
def test_forbidden_access_wording(kwargs: dict, message: str, kind: str | None) -> None:
    err = errors.forbidden_access(**kwargs)
    assert (err.code, err.reason, err.message) == (403, "Forbidden", message)
    assert err.status()["details"].get("kind") == kind


def test_unauthorized_empty_message_falls_back() -> None:
    assert errors.unauthorized("").message == "not authorized"
    assert errors.unauthorized("token expired").message == "token expired"


@pytest.mark.parametrize("err, headers", [
    (errors.too_many_requests(retry_after_seconds=7), {"Retry-After": "7"}),
    (errors.too_many_requests(), {}),
    (errors.timeout("slow", 2), {"Retry-After": "2"}),
    (errors.server_timeout("pods", "get", 1), {"Retry-After": "1"}),
    (errors.not_found("pods", "x"), {}),
])
def test_retry_after_header(err: ApiError, headers: dict) -> None:
    assert err.headers() == headers
    assert err.retry_after_seconds == int(headers.get("Retry-After", 0))


@pytest.mark.parametrize("args, body", [
    (dict(name="cm", kind="configmaps", uid="1234"),
     '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success","details":{"name":"cm",'
     '"kind":"configmaps","uid":"1234"}}'),
    (dict(name="d", kind="deployments", group="apps", uid="u1"),
     '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success","details":{"name":"d","group":"apps",'
     '"kind":"deployments","uid":"u1"}}'),
    (dict(name="p", kind="Pod", code=200),
     '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success","details":{"name":"p","kind":"Pod"},'
     '"code":200}'),
    (dict(), '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success"}'),
])
def test_success_status(args: dict, body: str) -> None:
    assert compact(errors.success(**args)) == body


@pytest.mark.parametrize("exc, message", [
    (ValueError("bad thing"), "Internal error occurred: bad thing"),
    (KeyError("k"), "Internal error occurred: 'k'"),
    (RuntimeError(), "Internal error occurred: RuntimeError"),
])
def test_status_from_unexpected_exception(exc: Exception, message: str) -> None:
    try:
        raise exc
    except Exception as caught:  # a real traceback exists; it must not reach the body
        body = errors.status_from_exception(caught)
    assert body["code"] == 500 and body["reason"] == "InternalError" and body["status"] == "Failure"
    assert body["message"] == message
    assert "Traceback" not in compact(body) and "test_errors.py" not in compact(body)
    assert list(body) == ["kind", "apiVersion", "metadata", "status", "message", "reason", "details", "code"]


@pytest.mark.parametrize("err", [case.values[0] for case in STATUS_CASES])
def test_from_status_round_trip(err: ApiError) -> None:
    again = ApiError.from_status(json.loads(compact(err.status())))
    assert again.status() == err.status()
    assert (again.code, again.reason, again.message) == (err.code, err.reason, err.message)


def test_details_model_round_trip() -> None:
    d = StatusDetails(name="n", kind="pods", causes=[StatusCause("FieldValueInvalid", "m", "f")],
                      retry_after_seconds=4)
    assert d.to_dict() == {"name": "n", "kind": "pods",
                           "causes": [{"reason": "FieldValueInvalid", "message": "m", "field": "f"}],
                           "retryAfterSeconds": 4}
    assert StatusDetails.from_dict(d.to_dict()) == d


@pytest.mark.parametrize("err, expected", [
    (errors.not_found("pods", "x"), {"not_found"}),
    (ApiError(404, "SomethingNew", "m"), {"not_found"}),
    (errors.already_exists("pods", "x"), {"already_exists"}),
    (errors.conflict("pods", "x"), {"conflict"}),
    (ApiError(409, "SomethingNew", "m"), {"conflict"}),
    (errors.invalid("Pod", "x", []), {"invalid"}),
    (errors.forbidden("pods", "x", "r"), {"forbidden"}),
    (errors.gone("g"), {"gone"}),
    (errors.expired("e"), {"expired"}),
    (errors.internal("i"), set()),
    (ValueError("not an api error"), set()),
])
def test_classification(err: BaseException, expected: set[str]) -> None:
    checks = {
        "not_found": errors.is_not_found, "already_exists": errors.is_already_exists,
        "conflict": errors.is_conflict, "invalid": errors.is_invalid, "forbidden": errors.is_forbidden,
        "gone": errors.is_gone, "expired": errors.is_expired,
    }
    assert {name for name, check in checks.items() if check(err)} == expected
    assert errors.reason_for_error(err) == (err.reason if isinstance(err, ApiError) else "")
