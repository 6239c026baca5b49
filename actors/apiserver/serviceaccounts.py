"""What the apiserver does for service accounts: the TokenRequest
subresource (``serviceaccounts/<name>/token``), the admission that mounts a
projected token into pods, and authenticating those tokens — checking that
the account and the object a token is bound to still exist."""
from __future__ import annotations

import secrets
from typing import Any, Awaitable, Callable

from kubeapi import errors, models
from kubeapi import field as kfield
from kubeapi.models.base import format_time

from .auth import AUTHENTICATED, UserInfo
from .satoken import (BOUND_KINDS, DEFAULT_EXPIRATION, GROUP_ALL, MAX_EXPIRATION, MIN_EXPIRATION, Bound,
                      InvalidToken, TokenSigner, bound_object, split_username)

# what ServiceAccount admission mounts (upstream's kube-api-access volume)
MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
ROOT_CA_CONFIGMAP = "kube-root-ca.crt"
PROJECTED_EXPIRATION = 3607  # upstream's: an hour, and a little, so it is recognisable

Getter = Callable[[str, str | None, str], Awaitable[dict | None]]  # (plural, namespace, name) -> object


async def token_request(signer: TokenSigner, get: Getter, namespace: str, name: str, body: Any,
                        now: float) -> dict:
    """Answer a TokenRequest for ``namespace/name``: the request with its status filled in."""
    if not isinstance(body, dict) or body.get("kind", "TokenRequest") != "TokenRequest":
        raise errors.bad_request("the body must be an authentication.k8s.io/v1 TokenRequest")
    spec = body.get("spec") or {}
    errs = []
    seconds = spec.get("expirationSeconds", DEFAULT_EXPIRATION)
    if not isinstance(seconds, int) or isinstance(seconds, bool):
        errs.append(kfield.invalid("spec.expirationSeconds", seconds, "must be an integer"))
    elif seconds < MIN_EXPIRATION:
        errs.append(kfield.invalid("spec.expirationSeconds", seconds,
                                   "may not specify a duration less than 10 minutes"))
    elif seconds > MAX_EXPIRATION:
        errs.append(kfield.invalid("spec.expirationSeconds", seconds,
                                   "may not specify a duration larger than 2^32 seconds"))
    audiences = spec.get("audiences") or [signer.issuer]
    if not isinstance(audiences, list) or not all(isinstance(a, str) and a for a in audiences):
        errs.append(kfield.invalid("spec.audiences", audiences, "must be a list of non-empty strings"))
    ref = spec.get("boundObjectRef")
    if ref is not None and (not isinstance(ref, dict) or ref.get("kind") not in BOUND_KINDS):
        errs.append(kfield.not_supported("spec.boundObjectRef.kind", (ref or {}).get("kind") if isinstance(
            ref, dict) else ref, BOUND_KINDS))
    elif ref is not None and not ref.get("name"):
        errs.append(kfield.required("spec.boundObjectRef.name"))
    if errs:
        raise errors.invalid("TokenRequest", name, errs, "authentication.k8s.io")
    sa = await get("serviceaccounts", namespace, name)
    if sa is None:
        raise errors.not_found("serviceaccounts", name)
    bound = None
    if ref is not None:
        plural = ref["kind"].lower() + "s"
        obj = await get(plural, None if ref["kind"] == "Node" else namespace, ref["name"])
        if obj is None:
            raise errors.not_found(plural, ref["name"])
        uid = obj["metadata"].get("uid", "")
        if ref.get("uid") and ref["uid"] != uid:
            raise errors.conflict(plural, ref["name"], reason=(
                f"the UID in the bound object reference ({ref['uid']}) does not match the UID in record. "
                "The object might have been deleted and then recreated"))
        bound = Bound(ref["kind"], ref["name"], uid)
    token, exp = signer.issue(namespace=namespace, name=name, uid=sa["metadata"].get("uid", ""),
                              audiences=audiences, now=now, expiration_seconds=seconds, bound=bound)
    return {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
            "metadata": {"name": name, "namespace": namespace, "creationTimestamp": format_time(now)},
            "spec": dict(spec, audiences=audiences, expirationSeconds=seconds),
            "status": {"token": token, "expirationTimestamp": format_time(exp)}}


async def authenticate(signer: TokenSigner, get: Getter, token: str, now: float) -> UserInfo | None:
    """The service account a bearer token speaks for; None when it is not one
    of ours or no longer valid (the account or its bound object gone)."""
    try:
        claims = signer.verify(token, [signer.issuer], now)
    except InvalidToken:
        return None
    namespace, name = split_username(claims["sub"]) or ("", "")
    private = claims["kubernetes.io"]
    sa = await get("serviceaccounts", namespace, name)
    if sa is None or sa["metadata"].get("uid") != (private.get("serviceaccount") or {}).get("uid"):
        return None
    bound = bound_object(claims)
    if bound is not None:
        obj = await get(bound.kind.lower() + "s", None if bound.kind == "Node" else namespace, bound.name)
        if obj is None or obj["metadata"].get("uid") != bound.uid:
            return None
    return UserInfo(claims["sub"], (GROUP_ALL, f"{GROUP_ALL}:{namespace}", AUTHENTICATED))


def mount_token(pod: Any, sa: dict) -> None:
    """ServiceAccount admission's token volume: unless the pod or its account
    opts out, a projected volume with a bound token, the cluster CA and the
    namespace, mounted read-only into every container at MOUNT_PATH."""
    spec = pod.spec
    automount = spec.automount_service_account_token
    if automount is None:
        automount = sa.get("automountServiceAccountToken")
    if automount is False:
        return
    containers = [*(spec.init_containers or []), *(spec.containers or [])]
    if any(m.mount_path == MOUNT_PATH for c in containers for m in c.volume_mounts or ()):
        return  # the pod mounts something there itself
    volume = f"kube-api-access-{_suffix()}"
    core = models.core
    spec.volumes = [*(spec.volumes or []), core.Volume.from_json({"name": volume, "projected": {
        "defaultMode": 0o644, "sources": [
            {"serviceAccountToken": {"expirationSeconds": PROJECTED_EXPIRATION, "path": "token"}},
            {"configMap": {"name": ROOT_CA_CONFIGMAP, "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace",
                                        "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}]}})]
    for c in containers:
        c.volume_mounts = [*(c.volume_mounts or []),
                           core.VolumeMount(name=volume, read_only=True, mount_path=MOUNT_PATH)]


def _suffix(n: int = 5) -> str:
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    return "".join(secrets.choice(alphabet) for _ in range(n))
