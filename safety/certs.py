"""The local development certificate chain: generated on first use into ``<data dir>/dev-certs``, never shipped.

c2pa-python 0.38 accepts a leaf with CA:FALSE, digitalSignature, EKU emailProtection, SKI and AKI, the chain in
leaf-first PEM order and a PKCS#8 key (DESIGN.md, measured). A clip signed with it reads back Valid with
``signingCredential.untrusted``; an operator who adds ``root.pem`` to the trust anchors gets Trusted.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEV_CERT_DIR = "dev-certs"
ORGANIZATION = "vasa-studio local development (UNTRUSTED)"
ROOT_VALIDITY = dt.timedelta(days=3650)
LEAF_VALIDITY = dt.timedelta(days=730)


@dataclass(frozen=True)
class CertificateChain:
    """PEM files of one signing identity."""

    chain_pem: Path  # leaf, then root
    key_pem: Path  # PKCS#8 private key of the leaf
    root_pem: Path  # the root alone: what a verifier adds to its trust anchors


def development_chain(data_dir: Path) -> CertificateChain:
    """The development chain in data_dir, generated (ES256, P-256) if it is not there yet."""
    folder = data_dir / DEV_CERT_DIR
    chain = CertificateChain(folder / "chain.pem", folder / "signer.key", folder / "root.pem")
    if chain.chain_pem.exists() and chain.key_pem.exists() and chain.root_pem.exists():
        return chain
    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)

    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = _name("vasa-studio development root")
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + ROOT_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )

    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name("vasa-studio development signer"))
        .issuer_name(root_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + LEAF_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )

    pem = serialization.Encoding.PEM
    key_bytes = leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    _write_private(chain.key_pem, key_bytes)
    chain.root_pem.write_bytes(root.public_bytes(pem))
    chain.chain_pem.write_bytes(leaf.public_bytes(pem) + root.public_bytes(pem))
    return chain


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
        ]
    )


def _key_usage(cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _write_private(path: Path, data: bytes) -> None:
    """Writes a key readable by its owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
