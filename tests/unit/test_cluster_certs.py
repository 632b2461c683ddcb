"""The local control plane without processes: certificates, kubeconfig, binary lookup, CLI."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import socket
import stat
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from flowplane_devtools import cli, cluster, locate
from flowplane_devtools.locate import ControlPlaneError, find_binary, free_ports
from flowplane_devtools.pki import Pki, generate_pki, issue_certificate, new_ca, write_kubeconfig


def load_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return generate_pki(tmp_path_factory.mktemp("pki"))


def test_all_files_written_and_keys_private(pki: Pki) -> None:
    assert pki.exists()
    for key in (pki.serving_ca_key, pki.serving_key, pki.client_ca_key, pki.admin_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(pki.service_account_key.stat().st_mode) == 0o600


def test_cas_are_self_signed_p256_cas(pki: Pki) -> None:
    for path in (pki.serving_ca_cert, pki.client_ca_cert):
        ca = load_cert(path)
        assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        assert ca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
        ca.verify_directly_issued_by(ca)
        key = ca.public_key()
        assert isinstance(key, ec.EllipticCurvePublicKey)
        assert key.curve.name == "secp256r1"
    # Two distinct CAs: a client cert must not be accepted as a serving cert and vice versa.
    assert load_cert(pki.serving_ca_cert).subject != load_cert(pki.client_ca_cert).subject


def test_serving_cert_sans_and_issuer(pki: Pki) -> None:
    cert = load_cert(pki.serving_cert)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["localhost"]
    assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in eku
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca

    cert.verify_directly_issued_by(load_cert(pki.serving_ca_cert))
    with pytest.raises((InvalidSignature, ValueError)):
        cert.verify_directly_issued_by(load_cert(pki.client_ca_cert))


def test_admin_client_cert_is_system_masters(pki: Pki) -> None:
    cert = load_cert(pki.admin_cert)
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    orgs = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    assert [a.value for a in cn] == ["admin"]
    assert [a.value for a in orgs] == ["system:masters"]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.CLIENT_AUTH in eku
    assert ExtendedKeyUsageOID.SERVER_AUTH not in eku

    cert.verify_directly_issued_by(load_cert(pki.client_ca_cert))
    with pytest.raises((InvalidSignature, ValueError)):
        cert.verify_directly_issued_by(load_cert(pki.serving_ca_cert))


def test_leaf_keys_match_certificates(pki: Pki) -> None:
    for cert_path, key_path in (
        (pki.serving_cert, pki.serving_key),
        (pki.admin_cert, pki.admin_key),
    ):
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        assert key.public_key() == load_cert(cert_path).public_key()


def test_service_account_key_pair_matches(pki: Pki) -> None:
    private = serialization.load_pem_private_key(
        pki.service_account_key.read_bytes(), password=None
    )
    public = serialization.load_pem_public_key(pki.service_account_pub.read_bytes())
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    assert isinstance(public, ec.EllipticCurvePublicKey)
    signature = private.sign(b"token", ec.ECDSA(hashes.SHA256()))
    public.verify(signature, b"token", ec.ECDSA(hashes.SHA256()))


def test_validity_window_is_backdated_and_bounded() -> None:
    ca = new_ca("ca", validity=dt.timedelta(days=2))
    leaf = issue_certificate(ca, "x", client=True, validity=dt.timedelta(days=2))
    now = dt.datetime.now(dt.UTC)
    for cert in (ca.cert, leaf.cert):
        assert cert.not_valid_before_utc < now
        assert now + dt.timedelta(days=1) < cert.not_valid_after_utc
        assert cert.not_valid_after_utc <= now + dt.timedelta(days=2, minutes=1)


def test_issue_certificate_requires_a_usage() -> None:
    with pytest.raises(ValueError):
        issue_certificate(new_ca("ca"), "nobody")


def test_custom_sans() -> None:
    ca = new_ca("ca")
    leaf = issue_certificate(
        ca, "srv", dns_names=["a.example", "b"], ip_addresses=["10.1.2.3", "::1"], server=True
    )
    sans = leaf.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["a.example", "b"]
    assert sans.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("10.1.2.3"),
        ipaddress.ip_address("::1"),
    ]


def test_kubeconfig_embeds_serving_ca_and_admin_cert(pki: Pki, tmp_path: Path) -> None:
    path = write_kubeconfig(tmp_path / "kubeconfig", "https://127.0.0.1:6443", pki)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    config = yaml.safe_load(path.read_text())
    cluster_entry = config["clusters"][0]["cluster"]
    user = config["users"][0]["user"]
    assert cluster_entry["server"] == "https://127.0.0.1:6443"
    assert base64.b64decode(cluster_entry["certificate-authority-data"]) == (
        pki.serving_ca_cert.read_bytes()
    )
    assert base64.b64decode(user["client-certificate-data"]) == pki.admin_cert.read_bytes()
    assert base64.b64decode(user["client-key-data"]) == pki.admin_key.read_bytes()
    assert config["current-context"] == config["contexts"][0]["name"]


def test_free_ports_are_distinct_and_bindable() -> None:
    ports = free_ports(4)
    assert len(set(ports)) == 4
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_find_binary_env_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "flowplane-controlplane"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv(locate.BINARY_ENV, str(fake))
    assert find_binary() == fake

    monkeypatch.setenv(locate.BINARY_ENV, str(tmp_path / "missing"))
    with pytest.raises(ControlPlaneError, match=r"build-controlplane\.sh"):
        find_binary()


def test_repo_root_is_the_checkout_not_devtools() -> None:
    root = locate.repo_root()
    assert (root / "pyproject.toml").is_file()
    assert (root / "hack" / "build-controlplane.sh").is_file()
    assert (root / "devtools" / "pyproject.toml").is_file()


def test_cluster_gathers_the_public_names() -> None:
    for name in cluster.__all__:
        assert getattr(cluster, name) is not None, name
    assert cluster.main is cli.main


def test_cli_without_a_control_plane(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state_dir = tmp_path / "cluster"
    assert cli.main(["env", "--state-dir", str(state_dir)]) == 1
    assert "flowplane-cluster up" in capsys.readouterr().err
    assert cli.main(["status", "--state-dir", str(state_dir)]) == 1
    assert cli.main(["down", "--state-dir", str(state_dir)]) == 0
    assert f"No control plane in {state_dir}" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0
    assert "up" in capsys.readouterr().out
