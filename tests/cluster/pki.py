"""The local cluster's certificates and keys, made with `cryptography` (it comes with ansible-core).

The cluster CA signs the API server's serving certificate and every client certificate; the API
server trusts client certificates from it (`--client-ca-file`), so a certificate's CN is the user
and its O the group. A second CA, the front proxy's, signs the certificate the API server presents
to aggregated API servers, as kubeadm sets it up. The ServiceAccount key pair signs and checks the
tokens of ServiceAccounts.
"""

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = datetime.timedelta(days=30)


@dataclass(frozen=True)
class KeyPair:
    cert: Path
    key: Path


def _write_key(key, path):
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    path.chmod(0o600)


def _name(common_name, organization=None):
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


def _key_usage(key_cert_sign):
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=key_cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _builder(subject, issuer, public_key):
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        # A few minutes back, so a clock a little behind does not refuse a certificate just made.
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


class CertificateAuthority:
    """A CA whose files are ``<prefix>.crt`` and ``<prefix>.key`` in ``folder``; it issues certificates there."""

    def __init__(self, folder, prefix, common_name):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.cert = self.folder / f"{prefix}.crt"
        self.key = self.folder / f"{prefix}.key"
        self._key = ec.generate_private_key(ec.SECP256R1())
        name = _name(common_name)
        public = self._key.public_key()
        self._cert = (
            _builder(name, name, public)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_key_usage(key_cert_sign=True), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        self.cert.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))
        _write_key(self._key, self.key)

    def _issue(self, filename, subject, usage, sans=()):
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            _builder(subject, self._cert.subject, key.public_key())
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(key_cert_sign=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), critical=False)
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
        cert = builder.sign(self._key, hashes.SHA256())
        paths = KeyPair(self.folder / f"{filename}.crt", self.folder / f"{filename}.key")
        paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(key, paths.key)
        return paths

    def serving(self, filename, dns_names, ip_addresses):
        """A server certificate for these names and addresses."""
        sans = [x509.DNSName(n) for n in dns_names] + [x509.IPAddress(ipaddress.ip_address(a)) for a in ip_addresses]
        return self._issue(filename, _name(dns_names[0]), ExtendedKeyUsageOID.SERVER_AUTH, sans)

    def client(self, filename, user, group=None):
        """A client certificate: the API server reads ``user`` from its CN and ``group`` from its O."""
        return self._issue(filename, _name(user, group), ExtendedKeyUsageOID.CLIENT_AUTH)


def service_account_keys(folder):
    """(private key, public key) in ``folder``: the API server signs tokens with one and checks them with the other."""
    key = ec.generate_private_key(ec.SECP256R1())
    private, public = Path(folder) / "sa.key", Path(folder) / "sa.pub"
    _write_key(key, private)
    public.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return private, public
