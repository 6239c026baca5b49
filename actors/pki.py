"""The cluster's certificates: one CA, and serving certificates it signs.

``raykube up`` makes the CA (kept in the raykube state directory) and an
admin bearer token; each apiserver replica gets the CA and signs its own
serving certificate for the addresses it is reached at (its node's IP,
loopback, and the in-cluster ``kubernetes.default.svc`` names), so clients
verify the server with the CA from their kubeconfig. kubectl sends bearer
tokens only over TLS, so authentication needs it.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import os
import secrets
import ssl
import tempfile
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SERVICE_NAMES = ("kubernetes", "kubernetes.default", "kubernetes.default.svc",
                 "kubernetes.default.svc.cluster.local", "localhost")
SERVICE_IP = "10.96.0.1"  # the first address of the service CIDR, as upstream


@dataclass(frozen=True)
class CertKey:
    cert_pem: bytes
    key_pem: bytes


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def new_ca(common_name: str = "raykube-ca", days: int = 3650) -> CertKey:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(_now() - dt.timedelta(minutes=5))
            .not_valid_after(_now() + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    return CertKey(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def serving_cert(ca: CertKey, hosts: list[str], days: int = 365) -> CertKey:
    """A server certificate for ``hosts`` (IP addresses and DNS names) signed by ``ca``."""
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem)
    ca_key = serialization.load_pem_private_key(ca.key_pem, password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = []
    for h in dict.fromkeys(hosts):
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            sans.append(x509.DNSName(h))
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now() - dt.timedelta(minutes=5))
            .not_valid_after(_now() + dt.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))  # type: ignore[arg-type]
    return CertKey(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def apiserver_hosts(node_ip: str) -> list[str]:
    return [node_ip, "127.0.0.1", SERVICE_IP, *SERVICE_NAMES]


def server_ssl_context(ck: CertKey) -> ssl.SSLContext:
    """A TLS server context for ``ck`` (the PEMs go through a private temp file,
    which is all the ssl module loads from)."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    with tempfile.TemporaryDirectory(prefix="raykube-tls-") as d:
        path = os.path.join(d, "tls.pem")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(ck.cert_pem + ck.key_pem)
        ctx.load_cert_chain(path)
    return ctx


def client_ssl_context(ca_pem: bytes) -> ssl.SSLContext:
    """A TLS client context that trusts only the cluster CA."""
    return ssl.create_default_context(cadata=ca_pem.decode())


def new_token() -> str:
    return secrets.token_urlsafe(32)
