"""Who is calling, and may they: the apiserver's authenticate and authorize steps.

Authentication over HTTP is by bearer token (a static token table, as
upstream's ``--token-auth-file``, and the service account tokens the
cluster signs); a request without credentials is
``system:anonymous`` in ``system:unauthenticated``, and a bad token is 401.
Callers on the Ray transport are inside the cluster's trust boundary and
assert their own identity, as a front proxy's ``X-Remote-User`` is trusted.

Authorization until RBAC exists: members of ``system:masters`` may do
everything (upstream's superuser group); anyone may read ``/version`` and
the health checks, authenticated users may read discovery and OpenAPI (the
``system:public-info-viewer`` and ``system:discovery`` roles); everything
else is 403. ``AlwaysAllow`` (an explicit flag) lets every request through.
"""
from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Awaitable, Callable

from kubeapi import errors

MASTERS = "system:masters"
AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"
PUBLIC_PATHS = ("/version", "/healthz", "/livez", "/readyz")
DISCOVERY_PATHS = ("/api", "/apis", "/openapi")
MODES = ("Default", "AlwaysAllow")


@dataclass(frozen=True)
class UserInfo:
    name: str
    groups: tuple[str, ...] = ()


ANONYMOUS = UserInfo("system:anonymous", (UNAUTHENTICATED,))
# what in-cluster Ray callers are unless they say otherwise (the loopback client)
CLUSTER_ADMIN = UserInfo("system:admin", (MASTERS, AUTHENTICATED))


@dataclass
class TokenAuthenticator:
    """Bearer tokens → users: the static table first, then (when given)
    ``service_accounts``, which knows the tokens the cluster signed."""

    tokens: dict[str, UserInfo] = field(default_factory=dict)
    service_accounts: Callable[[str], Awaitable[UserInfo | None]] | None = None

    async def authenticate(self, authorization: str | None) -> UserInfo:
        if not authorization:
            return ANONYMOUS
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() == "bearer" and token:
            for known, user in self.tokens.items():
                if hmac.compare_digest(known.encode(), token.encode()):
                    return UserInfo(user.name, tuple(dict.fromkeys((*user.groups, AUTHENTICATED))))
            if self.service_accounts is not None:
                user = await self.service_accounts(token)
                if user is not None:
                    return user
        raise errors.unauthorized()


def _under(path: str, prefixes: tuple[str, ...]) -> bool:
    return any(path == p or path.startswith(p + "/") for p in prefixes)


@dataclass
class Authorizer:
    mode: str = "Default"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"authorization mode must be one of {', '.join(MODES)}, not {self.mode!r}")

    def allow(self, user: UserInfo) -> bool:
        """May ``user`` call the resource API (every verb, until RBAC)?"""
        return self.mode == "AlwaysAllow" or MASTERS in user.groups

    def allow_path(self, user: UserInfo, path: str) -> bool:
        """May ``user`` GET a non-resource path?"""
        if self.allow(user) or _under(path, PUBLIC_PATHS):
            return True
        return AUTHENTICATED in user.groups and _under(path, DISCOVERY_PATHS)
