"""Service account tokens: signed JWTs the apiserver issues through
``serviceaccounts/<name>/token`` (a TokenRequest) and accepts as bearer
tokens.

Tokens are JWS compact ES256 (ECDSA P-256 over SHA-256), upstream's claim
set: ``iss``, ``sub`` = ``system:serviceaccount:<ns>:<name>``, ``aud``,
``exp``/``iat``/``nbf``, ``jti``, and the private ``kubernetes.io`` claim
naming the namespace, the account (name, uid) and the object the token is
bound to (a Pod, Secret or Node, by name and uid). The signing key lives in
the control plane (``raykube up`` makes it; every apiserver replica gets
it), so any replica verifies what another issued. A token is valid while
it has not expired and its account — and bound object — still exist with
the same uid: deleting the pod revokes the pod's tokens.
"""
from __future__ import annotations

import base64
import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

ISSUER = "https://kubernetes.default.svc.cluster.local"
MIN_EXPIRATION = 600          # upstream refuses shorter TokenRequests
DEFAULT_EXPIRATION = 3600
MAX_EXPIRATION = 1 << 32
BOUND_KINDS = ("Pod", "Secret", "Node")
PREFIX = "system:serviceaccount:"
GROUP_ALL = "system:serviceaccounts"


class InvalidToken(ValueError):
    """Not a token this cluster issued, or no longer valid (the reason, for logs)."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_signing_key() -> bytes:
    """A fresh P-256 private key, PKCS#8 PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def username(namespace: str, name: str) -> str:
    return f"{PREFIX}{namespace}:{name}"


def split_username(user: str) -> tuple[str, str] | None:
    """(namespace, name) of a service account's user name, else None."""
    if not user.startswith(PREFIX):
        return None
    namespace, sep, name = user[len(PREFIX):].partition(":")
    return (namespace, name) if sep and namespace and name and ":" not in name else None


@dataclass(frozen=True)
class Bound:
    kind: str
    name: str
    uid: str


class TokenSigner:
    """Issues and verifies this cluster's service account JWTs."""

    def __init__(self, key_pem: bytes, issuer: str = ISSUER) -> None:
        key = serialization.load_pem_private_key(key_pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise ValueError("the service account signing key must be an ECDSA P-256 key")
        self._key = key
        self._public = key.public_key()
        self.issuer = issuer
        der = self._public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.key_id = _b64(hashlib.sha256(der).digest())

    # ---------------------------------------------------------------- issue
    def issue(self, *, namespace: str, name: str, uid: str, audiences: list[str], now: float,
              expiration_seconds: int, bound: Bound | None = None) -> tuple[str, float]:
        """A token for the account, and its expiry (Unix seconds)."""
        exp = int(now) + int(expiration_seconds)
        private: dict[str, Any] = {"namespace": namespace, "serviceaccount": {"name": name, "uid": uid}}
        if bound is not None:
            private[bound.kind.lower()] = {"name": bound.name, "uid": bound.uid}
        claims = {"aud": list(audiences), "exp": exp, "iat": int(now), "iss": self.issuer, "jti": str(uuid.uuid4()),
                  "kubernetes.io": private, "nbf": int(now), "sub": username(namespace, name)}
        return self._sign(claims), float(exp)

    def _sign(self, claims: dict) -> str:
        header = {"alg": "ES256", "kid": self.key_id, "typ": "JWT"}
        signing_input = f"{_b64(json.dumps(header, separators=(',', ':')).encode())}." \
                        f"{_b64(json.dumps(claims, separators=(',', ':')).encode())}"
        r, s = decode_dss_signature(self._key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        return f"{signing_input}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    # --------------------------------------------------------------- verify
    def verify(self, token: str, audiences: list[str], now: float) -> dict:
        """The claims of a token this signer issued, still within its lifetime
        and meant for one of ``audiences``; else :class:`InvalidToken`."""
        parts = token.split(".")
        if len(parts) != 3:
            raise InvalidToken("not a JWS compact token")
        try:
            header = json.loads(_unb64(parts[0]))
            claims = json.loads(_unb64(parts[1]))
            sig = _unb64(parts[2])
        except (ValueError, UnicodeDecodeError) as e:
            raise InvalidToken(f"malformed token: {e}") from None
        if not isinstance(header, dict) or header.get("alg") != "ES256" or not isinstance(claims, dict):
            raise InvalidToken("unsupported token")
        if len(sig) != 64:
            raise InvalidToken("bad signature length")
        der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
        try:
            self._public.verify(der, f"{parts[0]}.{parts[1]}".encode(), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise InvalidToken("bad signature") from None
        if claims.get("iss") != self.issuer:
            raise InvalidToken("wrong issuer")
        aud = claims.get("aud")
        aud = [aud] if isinstance(aud, str) else aud or []
        if not set(aud) & set(audiences):
            raise InvalidToken("token audiences do not match")
        if not isinstance(claims.get("exp"), int) or now >= claims["exp"]:
            raise InvalidToken("token has expired")
        if isinstance(claims.get("nbf"), int) and now + 60 < claims["nbf"]:  # a minute of clock skew
            raise InvalidToken("token not yet valid")
        if split_username(str(claims.get("sub", ""))) is None or not isinstance(claims.get("kubernetes.io"), dict):
            raise InvalidToken("not a service account token")
        return claims


def bound_object(claims: dict) -> Bound | None:
    """The object a verified token is bound to, if any."""
    private = claims.get("kubernetes.io") or {}
    for kind in BOUND_KINDS:
        ref = private.get(kind.lower())
        if isinstance(ref, dict):
            return Bound(kind, str(ref.get("name", "")), str(ref.get("uid", "")))
    return None
