"""Certificates, keys and the admin kubeconfig of the local control plane (envtest style).

Two CAs (serving and client), the kube-apiserver serving certificate, an admin client
certificate in ``system:masters`` and a service-account signing key pair, all ECDSA P-256,
written as PEM files; and a self-contained kubeconfig that embeds them.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "CERT_VALIDITY",
    "KeyPair",
    "Pki",
    "generate_pki",
    "issue_certificate",
    "new_ca",
    "write_file",
    "write_kubeconfig",
]

CERT_VALIDITY: Final = dt.timedelta(days=7)


@dataclass(frozen=True)
class KeyPair:
    """A certificate and its private key (ECDSA P-256)."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str, organizations: Sequence[str] = ()) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def _validity(validity: dt.timedelta) -> tuple[dt.datetime, dt.datetime]:
    now = dt.datetime.now(dt.UTC)
    # Backdate a little so a freshly issued certificate is valid despite clock skew.
    return now - dt.timedelta(minutes=5), now + validity


def new_ca(common_name: str, *, validity: dt.timedelta = CERT_VALIDITY) -> KeyPair:
    """A self-signed certificate authority."""
    key = _new_key()
    not_before, not_after = _validity(validity)
    public_key = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .sign(key, hashes.SHA256())
    )
    return KeyPair(cert=cert, key=key)


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    """ECDSA keys sign: a CA also signs certificates and CRLs; a leaf only signs handshakes."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def issue_certificate(
    ca: KeyPair,
    common_name: str,
    *,
    organizations: Sequence[str] = (),
    dns_names: Sequence[str] = (),
    ip_addresses: Sequence[str] = (),
    server: bool = False,
    client: bool = False,
    validity: dt.timedelta = CERT_VALIDITY,
) -> KeyPair:
    """A leaf certificate signed by ``ca`` for TLS server and/or client authentication."""
    if not (server or client):
        raise ValueError("a certificate must be for server and/or client authentication")
    key = _new_key()
    not_before, not_after = _validity(validity)
    usages = []
    if server:
        usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
    if client:
        usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, organizations))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
    )
    sans: list[x509.GeneralName] = [x509.DNSName(name) for name in dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return KeyPair(cert=builder.sign(ca.key, hashes.SHA256()), key=key)


@dataclass(frozen=True)
class Pki:
    """Paths of the PEM files written by :func:`generate_pki`."""

    directory: Path

    @property
    def serving_ca_cert(self) -> Path:
        return self.directory / "serving-ca.crt"

    @property
    def serving_ca_key(self) -> Path:
        return self.directory / "serving-ca.key"

    @property
    def serving_cert(self) -> Path:
        # kube-apiserver's --cert-dir convention: apiserver.crt / apiserver.key.
        return self.directory / "apiserver.crt"

    @property
    def serving_key(self) -> Path:
        return self.directory / "apiserver.key"

    @property
    def client_ca_cert(self) -> Path:
        return self.directory / "client-ca.crt"

    @property
    def client_ca_key(self) -> Path:
        return self.directory / "client-ca.key"

    @property
    def admin_cert(self) -> Path:
        return self.directory / "admin.crt"

    @property
    def admin_key(self) -> Path:
        return self.directory / "admin.key"

    @property
    def service_account_key(self) -> Path:
        return self.directory / "sa.key"

    @property
    def service_account_pub(self) -> Path:
        return self.directory / "sa.pub"

    def exists(self) -> bool:
        return all(
            p.is_file()
            for p in (
                self.serving_ca_cert,
                self.serving_cert,
                self.serving_key,
                self.client_ca_cert,
                self.admin_cert,
                self.admin_key,
                self.service_account_key,
                self.service_account_pub,
            )
        )


def write_file(path: Path, data: bytes, *, private: bool = False) -> None:
    """Write ``data`` to ``path`` atomically (temporary file, then rename); ``private``: 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def generate_pki(
    directory: Path,
    *,
    dns_names: Sequence[str] = ("localhost",),
    ip_addresses: Sequence[str] = ("127.0.0.1",),
    validity: dt.timedelta = CERT_VALIDITY,
) -> Pki:
    """Write envtest-style certificates into ``directory``.

    * serving CA + kube-apiserver serving certificate for ``dns_names``/``ip_addresses``;
    * a separate client CA (the apiserver's ``--client-ca-file``) and an admin client
      certificate signed by it with CN ``admin`` and O ``system:masters``;
    * a service-account token signing key pair (ECDSA P-256, ES256).
    """
    pki = Pki(directory)
    serving_ca = new_ca("flowplane-serving-ca", validity=validity)
    serving = issue_certificate(
        serving_ca,
        "kube-apiserver",
        dns_names=dns_names,
        ip_addresses=ip_addresses,
        server=True,
        validity=validity,
    )
    client_ca = new_ca("flowplane-client-ca", validity=validity)
    admin = issue_certificate(
        client_ca, "admin", organizations=("system:masters",), client=True, validity=validity
    )
    sa_key = _new_key()

    write_file(pki.serving_ca_cert, serving_ca.cert_pem)
    write_file(pki.serving_ca_key, serving_ca.key_pem, private=True)
    write_file(pki.serving_cert, serving.cert_pem)
    write_file(pki.serving_key, serving.key_pem, private=True)
    write_file(pki.client_ca_cert, client_ca.cert_pem)
    write_file(pki.client_ca_key, client_ca.key_pem, private=True)
    write_file(pki.admin_cert, admin.cert_pem)
    write_file(pki.admin_key, admin.key_pem, private=True)
    write_file(
        pki.service_account_key,
        sa_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        private=True,
    )
    write_file(
        pki.service_account_pub,
        sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )
    return pki


def write_kubeconfig(path: Path, server: str, pki: Pki, *, name: str = "flowplane-local") -> Path:
    """Write a self-contained admin kubeconfig (certificates embedded as base64)."""

    def b64(p: Path) -> str:
        return base64.b64encode(p.read_bytes()).decode("ascii")

    config: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": name,
                "cluster": {
                    "server": server,
                    "certificate-authority-data": b64(pki.serving_ca_cert),
                },
            }
        ],
        "users": [
            {
                "name": f"{name}-admin",
                "user": {
                    "client-certificate-data": b64(pki.admin_cert),
                    "client-key-data": b64(pki.admin_key),
                },
            }
        ],
        "contexts": [
            {
                "name": name,
                "context": {"cluster": name, "user": f"{name}-admin", "namespace": "default"},
            }
        ],
        "current-context": name,
        "preferences": {},
    }
    write_file(path, yaml.safe_dump(config, sort_keys=False).encode(), private=True)
    return path
