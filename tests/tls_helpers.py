"""Test certificates made with ``cryptography``: a CA, leaf certificates it signs, the engine's TLS directory.

    ca = TestCA("test CA")                                   # a self-signed CA (EC P-256)
    leaf = ca.issue(["node1", "127.0.0.1"])                  # a server+client certificate for those names
    write_tls_dir(path, leaf, ca)                            # rustfs_cert.pem, rustfs_key.pem, ca.crt
    write_secret_volume(path, {"rustfs_cert.pem": ..., ...}) # as a Kubernetes Secret volume lays it out
    ca.client_context()                                      # an ssl client context trusting only this CA

A name that parses as an IP address becomes an IP SAN, anything else a DNS SAN (wildcards allowed).
``write_secret_volume`` makes the layout the kubelet makes (`..<timestamp>/` with the files, a `..data`
symlink to it, each file a symlink through `..data`), and rotates by swapping `..data` atomically, the
way cert-manager's renewals reach a pod.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# The engine's TLS directory (docs/tls.md).
CERT_FILE, KEY_FILE, CA_FILE = "rustfs_cert.pem", "rustfs_key.pem", "ca.crt"


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _san(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


@dataclass(frozen=True)
class Leaf:
    """A certificate (PEM chain: the leaf, then its CA) and its private key (PEM)."""

    cert_pem: bytes
    key_pem: bytes
    names: tuple[str, ...]
    serial: int


class TestCA:
    """A self-signed CA that issues leaf certificates valid for both server and client auth."""

    __test__ = False  # not a pytest test class

    def __init__(self, common_name: str = "rustfs test CA", days: int = 2) -> None:
        self.key = _key()
        now = datetime.datetime.now(datetime.timezone.utc)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        self.cert = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256()))
        self.cert_pem = self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(self, names: Iterable[str], days: int = 1, common_name: str | None = None) -> Leaf:
        """A leaf for ``names`` (DNS names, wildcards or IP addresses), signed by this CA."""
        names = tuple(names)
        assert names, "a certificate needs at least one name"
        key = _key()
        now = datetime.datetime.now(datetime.timezone.utc)
        serial = x509.random_serial_number()
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name or names[0][:64])]))
            .issuer_name(self.cert.subject).public_key(key.public_key()).serial_number(serial)
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName([_san(n) for n in names]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=False, key_cert_sign=False,
                                         crl_sign=False, content_commitment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256()))
        chain = cert.public_bytes(serialization.Encoding.PEM) + self.cert_pem
        return Leaf(chain, _key_pem(key), names, serial)

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts only this CA and checks host names."""
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cadata=self.cert_pem.decode())
        return context

    def bundle(self, path: Path) -> Path:
        """This CA's certificate written to ``path`` (for clients that take a CA file, e.g. boto3's verify)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.cert_pem)
        return path


def tls_files(leaf: Leaf, ca: TestCA | bytes | None) -> dict[str, bytes]:
    """The engine's TLS directory as file name -> content (``ca``: a CA, PEM bytes of one or more, or none)."""
    files = {CERT_FILE: leaf.cert_pem, KEY_FILE: leaf.key_pem}
    if ca is not None:
        files[CA_FILE] = ca.cert_pem if isinstance(ca, TestCA) else ca
    return files


def write_tls_dir(path: Path, leaf: Leaf, ca: TestCA | bytes | None = None) -> Path:
    """Plain files in ``path``: rustfs_cert.pem, rustfs_key.pem and (with ``ca``) ca.crt."""
    path.mkdir(parents=True, exist_ok=True)
    for name, content in tls_files(leaf, ca).items():
        temporary = path / f".{name}.tmp"
        temporary.write_bytes(content)
        os.replace(temporary, path / name)
    return path


def write_secret_volume(path: Path, files: Mapping[str, bytes], mode: int = 0o644,
                        owner: tuple[int, int] | None = None) -> Path:
    """Lay out (or rotate) ``files`` in ``path`` as the kubelet does for a Secret volume: the data in a fresh
    ``..<timestamp>`` directory, ``..data`` a symlink to it (swapped atomically), each file a symlink to
    ``..data/<name>``; the previous data directory is removed. Returns ``path``."""
    path.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("..%Y_%m_%d_%H_%M_%S.") + f"{time.monotonic_ns() % 10**9:09d}"
    data = path / stamp
    data.mkdir()
    for name, content in files.items():
        (data / name).write_bytes(content)
        (data / name).chmod(mode)
        if owner is not None:
            os.chown(data / name, *owner)
    data.chmod(0o755)
    link, old = path / "..data", None
    if link.is_symlink():
        old = path / os.readlink(link)
    temporary = path / "..data_tmp"
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(stamp)
    os.replace(temporary, link)               # the atomic swap a pod sees on rotation
    for name in files:
        if not (path / name).is_symlink():
            (path / name).symlink_to(f"..data/{name}")
    if old is not None and old.is_dir() and old != data:
        for child in old.iterdir():
            child.unlink()
        old.rmdir()
    return path
