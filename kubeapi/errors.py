"""API errors and the ``Status`` bodies the API server answers them with.

A failed request gets a ``Status`` object (``kind: Status``) whose ``reason`` and ``code``
clients branch on (``IsNotFound``, ``IsConflict``, retry after a 429, re-list after a 410) and
whose ``message`` kubectl prints verbatim. The constructors here reproduce upstream's wording,
reasons, codes and ``details`` exactly, so a real kubectl or client library cannot tell
raykube's API server from the real one.

Handlers raise :class:`ApiError`; the HTTP layer turns any exception into a body with
:func:`status_from_exception` (anything unexpected becomes a 500 without a traceback) and sends
:meth:`ApiError.headers` (``Retry-After``) alongside.

Pure and synchronous: no I/O, no Ray.
"""
from __future__ import annotations

from dataclasses import dataclass, field as dc_field
from typing import Any, Mapping, Sequence

from kubeapi.field import ErrorList, FieldError, go_quote as _quote

__all__ = [
    "ApiError",
    "OPTIMISTIC_LOCK_MESSAGE",
    "Reason",
    "StatusCause",
    "StatusDetails",
    "already_exists",
    "bad_request",
    "conflict",
    "expired",
    "forbidden",
    "forbidden_access",
    "forbidden_message",
    "gone",
    "internal",
    "invalid",
    "is_already_exists",
    "is_conflict",
    "is_expired",
    "is_forbidden",
    "is_gone",
    "is_invalid",
    "is_not_found",
    "method_not_supported",
    "not_acceptable",
    "not_found",
    "reason_for_error",
    "request_entity_too_large",
    "server_timeout",
    "service_unavailable",
    "status_from_exception",
    "success",
    "timeout",
    "too_many_requests",
    "too_old_resource_version",
    "unauthorized",
    "unsupported_media_type",
]

OPTIMISTIC_LOCK_MESSAGE = ("the object has been modified; please apply your changes to the latest "
                           "version and try again")


class Reason:
    """The ``reason`` values of a failure Status (clients switch on these, not on messages)."""

    UNKNOWN = ""
    UNAUTHORIZED = "Unauthorized"
    FORBIDDEN = "Forbidden"
    NOT_FOUND = "NotFound"
    ALREADY_EXISTS = "AlreadyExists"
    CONFLICT = "Conflict"
    GONE = "Gone"
    INVALID = "Invalid"
    SERVER_TIMEOUT = "ServerTimeout"
    TIMEOUT = "Timeout"
    TOO_MANY_REQUESTS = "TooManyRequests"
    BAD_REQUEST = "BadRequest"
    METHOD_NOT_ALLOWED = "MethodNotAllowed"
    NOT_ACCEPTABLE = "NotAcceptable"
    REQUEST_ENTITY_TOO_LARGE = "RequestEntityTooLarge"
    UNSUPPORTED_MEDIA_TYPE = "UnsupportedMediaType"
    INTERNAL_ERROR = "InternalError"
    EXPIRED = "Expired"
    SERVICE_UNAVAILABLE = "ServiceUnavailable"


_KNOWN_REASONS = frozenset(v for k, v in vars(Reason).items() if k.isupper() and v)


@dataclass
class StatusCause:
    """One cause of a failure; ``reason`` is a field error type such as ``FieldValueInvalid``."""

    reason: str = ""
    message: str = ""
    field: str = ""

    def to_dict(self) -> dict[str, str]:
        d = {"reason": self.reason, "message": self.message, "field": self.field}
        return {k: v for k, v in d.items() if v}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> StatusCause:
        return cls(str(d.get("reason") or ""), str(d.get("message") or ""), str(d.get("field") or ""))


@dataclass
class StatusDetails:
    """What the failure is about; ``kind`` holds a *resource* (``pods``) for most reasons and a
    *Kind* (``Service``) for Invalid, exactly as upstream fills it."""

    name: str = ""
    group: str = ""
    kind: str = ""
    uid: str = ""
    causes: list[StatusCause] = dc_field(default_factory=list)
    retry_after_seconds: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Upstream's JSON member order, with every empty member omitted."""
        d: dict[str, Any] = {}
        for key, value in (("name", self.name), ("group", self.group), ("kind", self.kind),
                           ("uid", self.uid)):
            if value:
                d[key] = value
        if self.causes:
            d["causes"] = [c.to_dict() for c in self.causes]
        if self.retry_after_seconds:
            d["retryAfterSeconds"] = self.retry_after_seconds
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> StatusDetails:
        return cls(
            name=str(d.get("name") or ""), group=str(d.get("group") or ""),
            kind=str(d.get("kind") or ""), uid=str(d.get("uid") or ""),
            causes=[StatusCause.from_dict(c) for c in d.get("causes") or [] if isinstance(c, Mapping)],
            retry_after_seconds=int(d.get("retryAfterSeconds") or 0),
        )


class ApiError(Exception):
    """A request failure that maps onto one ``Status`` response.

    ``details`` is ``None`` when upstream sends no ``details`` member at all; an empty
    :class:`StatusDetails` is sent as ``{}``, which also happens upstream (e.g. a 429 with
    no retry hint).
    """

    def __init__(self, code: int, reason: str, message: str,
                 details: StatusDetails | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        """The ``Status`` body, members in upstream's order, empty ones omitted."""
        body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure"}
        if self.message:
            body["message"] = self.message
        if self.reason:
            body["reason"] = self.reason
        if self.details is not None:
            body["details"] = self.details.to_dict()
        body["code"] = self.code or 500
        return body

    def headers(self) -> dict[str, str]:
        """Extra response headers: ``Retry-After`` when the details carry a retry hint."""
        if self.details is not None and self.details.retry_after_seconds > 0:
            return {"Retry-After": str(self.details.retry_after_seconds)}
        return {}

    @property
    def retry_after_seconds(self) -> int:
        return self.details.retry_after_seconds if self.details is not None else 0

    @classmethod
    def from_status(cls, status: Mapping[str, Any]) -> ApiError:
        """Rebuild the error from a ``Status`` body, e.g. one received from a peer."""
        details = status.get("details")
        return cls(
            code=int(status.get("code") or 0),
            reason=str(status.get("reason") or ""),
            message=str(status.get("message") or ""),
            details=StatusDetails.from_dict(details) if isinstance(details, Mapping) else None,
        )

    def __repr__(self) -> str:
        return f"ApiError(code={self.code}, reason={self.reason!r}, message={self.message!r})"


# --------------------------------------------------------------------------------------------
# Constructors
# --------------------------------------------------------------------------------------------


def _qualified(name: str, group: str) -> str:
    """``pods`` / ``deployments.apps``: a resource or kind qualified by its API group."""
    return f"{name}.{group}" if group else name


def not_found(resource: str, name: str, group: str = "") -> ApiError:
    """404: ``pods "nope" not found``."""
    return ApiError(404, Reason.NOT_FOUND, f"{_qualified(resource, group)} {_quote(name)} not found",
                    StatusDetails(name=name, group=group, kind=resource))


def already_exists(resource: str, name: str, group: str = "") -> ApiError:
    """409: ``services "x" already exists``."""
    return ApiError(409, Reason.ALREADY_EXISTS, f"{_qualified(resource, group)} {_quote(name)} already exists",
                    StatusDetails(name=name, group=group, kind=resource))


def conflict(resource: str, name: str, reason: str = OPTIMISTIC_LOCK_MESSAGE, group: str = "") -> ApiError:
    """409: a write lost a race (stale resourceVersion, failed precondition).

    ``reason`` defaults to the optimistic-lock message clients (and ``kubectl apply``'s retry
    logic) expect when a resourceVersion no longer matches.
    """
    return ApiError(409, Reason.CONFLICT,
                    f"Operation cannot be fulfilled on {_qualified(resource, group)} {_quote(name)}: {reason}",
                    StatusDetails(name=name, group=group, kind=resource))


def apply_conflict(resource: str, name: str, message: str, conflicts: Sequence[tuple[str, str]],
                   group: str = "") -> ApiError:
    """409 from server-side apply: one ``FieldManagerConflict`` cause per
    (``conflict with "mgr" using v1``, ``.spec.x``)."""
    causes = [StatusCause("FieldManagerConflict", msg, fld) for msg, fld in conflicts]
    return ApiError(409, Reason.CONFLICT, message,
                    StatusDetails(name=name, group=group, kind=resource, causes=causes))


def invalid(kind: str, name: str, errors: Sequence[FieldError], group: str = "") -> ApiError:
    """422: the object failed validation; one cause per field error.

    The message is ``Service "x" is invalid: <errors>`` (several errors as ``[e1, e2]``);
    kubectl rebuilds its ``The Service "x" is invalid: ...`` line from the details.
    """
    errs = ErrorList(errors)
    msg = f"{_qualified(kind, group)} {_quote(name)} is invalid"
    if errs:
        msg += ": " + errs.aggregate()
    causes = [StatusCause(e.type.value, e.body(), e.field) for e in errs]
    return ApiError(422, Reason.INVALID, msg, StatusDetails(name=name, group=group, kind=kind, causes=causes))


def bad_request(message: str) -> ApiError:
    """400: the request itself is malformed (undecodable body, bad query parameter)."""
    return ApiError(400, Reason.BAD_REQUEST, message)


def unauthorized(message: str = "Unauthorized") -> ApiError:
    """401: no valid credentials. The default matches the API server's authentication failure."""
    return ApiError(401, Reason.UNAUTHORIZED, message or "not authorized")


def forbidden(resource: str, name: str, reason: str, group: str = "") -> ApiError:
    """403: ``pods "x" is forbidden: <reason>`` (``pods is forbidden: ...`` without a name,
    ``forbidden: ...`` without a resource)."""
    if not resource and not group:
        message = f"forbidden: {reason}"
    elif not name:
        message = f"{_qualified(resource, group)} is forbidden: {reason}"
    else:
        message = f"{_qualified(resource, group)} {_quote(name)} is forbidden: {reason}"
    return ApiError(403, Reason.FORBIDDEN, message, StatusDetails(name=name, group=group, kind=resource))


_SANITIZE = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def forbidden_message(user: str, verb: str, resource: str = "", group: str = "", namespace: str = "",
                      subresource: str = "", path: str = "") -> str:
    """Why an authorizer denied a request, in the API server's words.

    ``User "u" cannot get resource "pods" in API group "" in the namespace "ns"``; without a
    resource (a non-resource URL) it names ``path`` instead. ``&``/``<``/``>`` are HTML-escaped
    as upstream does, since the text echoes user-controlled input.
    """
    if not resource:
        msg = f"User {_quote(user)} cannot {verb} path {_quote(path)}"
    else:
        res = f"{resource}/{subresource}" if subresource else resource
        if namespace:
            msg = (f"User {_quote(user)} cannot {verb} resource {_quote(res)} in API group {_quote(group)} "
                   f"in the namespace {_quote(namespace)}")
        else:
            msg = (f"User {_quote(user)} cannot {verb} resource {_quote(res)} in API group {_quote(group)} "
                   f"at the cluster scope")
    return msg.translate(_SANITIZE)


def forbidden_access(user: str, verb: str, resource: str = "", group: str = "", namespace: str = "",
                     name: str = "", subresource: str = "", path: str = "", reason: str = "") -> ApiError:
    """403 for an authorization denial: ``pods "x" is forbidden: User "u" cannot get ...``.

    ``reason`` is the authorizer's optional explanation, appended after ``: ``.
    """
    msg = forbidden_message(user, verb, resource, group, namespace, subresource, path)
    if reason:
        msg += f": {reason}"
    return forbidden(resource, name, msg, group)


def gone(message: str) -> ApiError:
    """410 Gone: the resource is permanently unavailable."""
    return ApiError(410, Reason.GONE, message)


def expired(message: str) -> ApiError:
    """410 Expired: the requested resourceVersion or continue token was compacted away.

    Informers react to this by re-listing, so watch and list paths must use it (not ``gone``).
    """
    return ApiError(410, Reason.EXPIRED, message)


def too_old_resource_version(requested: int, oldest: int) -> ApiError:
    """410 Expired for a watch from before the oldest retained revision."""
    return expired(f"too old resource version: {requested} ({oldest})")


def request_entity_too_large(message: str) -> ApiError:
    """413: ``Request entity too large: <message>`` (e.g. ``limit is 3145728``)."""
    return ApiError(413, Reason.REQUEST_ENTITY_TOO_LARGE, f"Request entity too large: {message}")


def unsupported_media_type(content_type: str,
                           accepted: Sequence[str] = ("application/json", "application/yaml")) -> ApiError:
    """415: the body's Content-Type cannot be decoded here.

    As upstream, the message lists what is accepted rather than echoing ``content_type`` (which
    is taken so callers can log it and for symmetry with the request that failed).
    """
    del content_type  # not part of upstream's message
    return ApiError(415, Reason.UNSUPPORTED_MEDIA_TYPE,
                    "the body of the request was in an unknown format - accepted media types include: "
                    + ", ".join(accepted))


def not_acceptable(accepted: Sequence[str]) -> ApiError:
    """406: none of the media types in ``Accept`` can be produced."""
    return ApiError(406, Reason.NOT_ACCEPTABLE,
                    "only the following media types are accepted: " + ", ".join(accepted))


def method_not_supported(resource: str, action: str, group: str = "") -> ApiError:
    """405: ``<action> is not supported on resources of kind "<resource>"``."""
    return ApiError(405, Reason.METHOD_NOT_ALLOWED,
                    f"{action} is not supported on resources of kind {_quote(_qualified(resource, group))}",
                    StatusDetails(group=group, kind=resource))


def too_many_requests(message: str = "Too many requests, please try again later.",
                      retry_after_seconds: int = 0) -> ApiError:
    """429 with a retry hint (sent as ``details.retryAfterSeconds`` and ``Retry-After``)."""
    return ApiError(429, Reason.TOO_MANY_REQUESTS, message,
                    StatusDetails(retry_after_seconds=retry_after_seconds))


def internal(message: str) -> ApiError:
    """500: ``Internal error occurred: <message>``, the message repeated as the only cause."""
    return ApiError(500, Reason.INTERNAL_ERROR, f"Internal error occurred: {message}",
                    StatusDetails(causes=[StatusCause(message=message)]))


def server_timeout(resource: str, operation: str, retry_after_seconds: int = 0, group: str = "") -> ApiError:
    """500 ServerTimeout: an operation could not finish in time but may succeed if retried."""
    return ApiError(500, Reason.SERVER_TIMEOUT,
                    f"The {operation} operation against {_qualified(resource, group)} could not be completed "
                    f"at this time, please try again.",
                    StatusDetails(name=operation, group=group, kind=resource,
                                  retry_after_seconds=retry_after_seconds))


def service_unavailable(message: str) -> ApiError:
    """503: the server (or the store behind it) cannot serve right now."""
    return ApiError(503, Reason.SERVICE_UNAVAILABLE, message)


def timeout(message: str, retry_after_seconds: int = 0) -> ApiError:
    """504: ``Timeout: <message>``; the request may still complete in the background."""
    return ApiError(504, Reason.TIMEOUT, f"Timeout: {message}",
                    StatusDetails(retry_after_seconds=retry_after_seconds))


def success(name: str = "", kind: str = "", group: str = "", uid: str = "",
            code: int | None = None) -> dict[str, Any]:
    """The ``Status`` a delete returns when it does not return the object.

    The store reports ``kind`` as the resource (``pods``) and includes ``uid`` and no code;
    the handler's fallback uses the Kind and ``code: 200``. Both shapes are produced by
    passing the corresponding arguments.
    """
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
    details = StatusDetails(name=name, group=group, kind=kind, uid=uid).to_dict()
    if details:
        body["details"] = details
    if code:
        body["code"] = code
    return body


def status_from_exception(exc: BaseException) -> dict[str, Any]:
    """The Status body for any exception raised while serving a request.

    Unexpected exceptions become a 500 InternalError carrying only the exception's message
    (never a traceback), so a bug cannot leak internals beyond what the error says.
    """
    if isinstance(exc, ApiError):
        return exc.status()
    return internal(str(exc) or type(exc).__name__).status()


# --------------------------------------------------------------------------------------------
# Classification (for controllers and clients that branch on the kind of failure)
# --------------------------------------------------------------------------------------------


def reason_for_error(exc: BaseException | None) -> str:
    """The Status reason of ``exc``, or ``""`` for anything that is not an :class:`ApiError`."""
    return exc.reason if isinstance(exc, ApiError) else ""


def _is(exc: BaseException | None, reason: str, code: int) -> bool:
    # As upstream: match the reason, or the code when the reason is one this server never sends.
    if not isinstance(exc, ApiError):
        return False
    return exc.reason == reason or (exc.reason not in _KNOWN_REASONS and exc.code == code)


def is_not_found(exc: BaseException | None) -> bool:
    return _is(exc, Reason.NOT_FOUND, 404)


def is_already_exists(exc: BaseException | None) -> bool:
    # Reason only: an unrecognised 409 is a conflict, not a create collision.
    return reason_for_error(exc) == Reason.ALREADY_EXISTS


def is_conflict(exc: BaseException | None) -> bool:
    return _is(exc, Reason.CONFLICT, 409)


def is_invalid(exc: BaseException | None) -> bool:
    return _is(exc, Reason.INVALID, 422)


def is_forbidden(exc: BaseException | None) -> bool:
    return _is(exc, Reason.FORBIDDEN, 403)


def is_gone(exc: BaseException | None) -> bool:
    return _is(exc, Reason.GONE, 410)


def is_expired(exc: BaseException | None) -> bool:
    """Whether a list/watch must restart from a fresh list (410 Expired; reason only)."""
    return reason_for_error(exc) == Reason.EXPIRED
