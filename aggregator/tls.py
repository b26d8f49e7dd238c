"""TLS on the client port and on the links to operator SMSCs: PEM files read and checked once,
then turned into Twisted's TLS options.

Rules this module keeps (README, *TLS*):

1. Files are read when the config is loaded, not when a port opens: a missing, unreadable or
   wrong file is a config error naming the file, line and field, before anything listens. A
   file must be a regular file of at most `MAX_PEM_BYTES` (a device or a FIFO would block or
   never end), and no message ever quotes what a file holds (it may be a private key).
2. The certificate file holds the server's certificate first, then any chain; the key file
   its unencrypted private key (an encrypted one would make OpenSSL prompt on the terminal
   of a server). The key must match the certificate.
3. On an operator link the aggregator trusts exactly the certificates of that operator's
   file: a self-signed certificate is its own trust root, a CA-issued one is trusted through
   the CA placed after it in the file. It checks that the certificate names the host it
   dials (an IP address in `subjectAltName` for `127.0.0.1`, a DNS name for `localhost`),
   as a real client checks its SMSC, with the same library (`service_identity`) at load
   time as at each handshake, so a link that would fail every handshake is refused at load.
4. Validity dates need the wall clock, which config loading does not read (a scenario's
   config must check the same whenever it runs): `serve` checks them at start-up
   (`expired`).
"""

from __future__ import annotations

import ipaddress
import os
import stat
from datetime import datetime
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import types as key_types
from OpenSSL import crypto
from service_identity import CertificateError, VerificationError
from service_identity.cryptography import verify_certificate_hostname, verify_certificate_ip_address
from twisted.internet.interfaces import IOpenSSLClientConnectionCreator
from twisted.internet.ssl import Certificate, CertificateOptions, optionsForClientTLS, trustRootFromCertificates

if TYPE_CHECKING:
    from aggregator.config.model import NetworkConfig, TlsConfig

__all__ = [
    "MAX_PEM_BYTES",
    "TlsProblem",
    "check_key",
    "check_names",
    "client_options",
    "expired",
    "expired_listen_certificate",
    "expired_operator_certificate",
    "read_certificates",
    "read_pem",
    "server_options",
]

# A certificate with its chain is a few kilobytes; a whole public CA bundle is about 220 KB.
# 1 MiB leaves room for any real chain and still bounds what a wrong path can make us read.
MAX_PEM_BYTES = 1 << 20


class TlsProblem(ValueError):
    """A TLS file that cannot be used; the message names the file, never its content."""


def read_pem(path: str, what: str) -> bytes:
    """The bytes of a PEM file: a regular file of at most MAX_PEM_BYTES. Opened without
    blocking and checked on the open descriptor, so a FIFO or a device is refused, not read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise TlsProblem(f"cannot read {what} file {path}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise TlsProblem(f"expected a regular {what} file, got {path}, which is not a regular file")
        if info.st_size > MAX_PEM_BYTES:
            raise TlsProblem(f"expected a {what} file of at most {MAX_PEM_BYTES} bytes, got {path},"
                             f" which has {info.st_size}")
        with os.fdopen(fd, "rb", closefd=True) as file:
            fd = -1
            data = file.read(MAX_PEM_BYTES + 1)
    except OSError as exc:
        raise TlsProblem(f"cannot read {what} file {path}: {exc.strerror or exc}") from None
    finally:
        if fd >= 0:
            os.close(fd)
    if len(data) > MAX_PEM_BYTES:
        raise TlsProblem(f"expected a {what} file of at most {MAX_PEM_BYTES} bytes, got {path}, which is larger")
    return data


def read_certificates(pem: bytes, path: str) -> tuple[x509.Certificate, ...]:
    """Every certificate of a PEM file, the server's own first."""
    try:
        certificates = tuple(x509.load_pem_x509_certificates(pem))
    except ValueError:
        raise TlsProblem(f"expected PEM certificates (-----BEGIN CERTIFICATE-----) in {path},"
                         " found none that can be read") from None
    return certificates


def check_key(pem: bytes, path: str, certificate: x509.Certificate, certificate_path: str) -> None:
    """The key file holds an unencrypted private key matching `certificate`."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except TypeError:                        # "Password was not given but private key is encrypted"
        raise TlsProblem(f"the private key in {path} is encrypted; give it unencrypted"
                         " (openssl pkey -in KEY -out KEY.plain)") from None
    except (ValueError, UnsupportedAlgorithm):
        raise TlsProblem(f"expected a PEM private key (-----BEGIN PRIVATE KEY-----) in {path},"
                         " found none that can be read") from None
    if _public_der(key.public_key()) != _public_der(certificate.public_key()):
        raise TlsProblem(f"the private key in {path} does not match the certificate in {certificate_path}")


def check_names(certificate: x509.Certificate, host: str, path: str) -> None:
    """The certificate names `host` (IP address or DNS name) as the handshake will require."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    try:
        if address is None:
            verify_certificate_hostname(certificate, host)
        else:
            verify_certificate_ip_address(certificate, str(address))
    except CertificateError:
        kind = "IP" if address is not None else "DNS"
        raise TlsProblem(f"the certificate in {path} has no subjectAltName, so the aggregator cannot check it"
                         f" names the host it dials ({host}); make it with -addext"
                         f" subjectAltName={kind}:{host}") from None
    except VerificationError:
        names = ", ".join(_names(certificate)) or "none"
        raise TlsProblem(f"the certificate in {path} does not name the host the aggregator dials ({host});"
                         f" its names: {names}") from None


def expired(tls: TlsConfig, now: datetime) -> datetime | None:
    """When the first certificate of `tls` past its validity at `now` expired (or is not yet
    valid: then its start), else None."""
    for certificate in read_certificates(tls.certificate_pem, tls.certificate):
        if now > certificate.not_valid_after_utc:
            return certificate.not_valid_after_utc
        if now < certificate.not_valid_before_utc:
            return certificate.not_valid_before_utc
    return None


def expired_operator_certificate(config: NetworkConfig, now: datetime) -> str | None:
    """An operator's certificate outside its validity makes every handshake of that link fail:
    `serve` refuses to start (exit 2) and says which. Config loading cannot check this, as it
    reads no clock (rule 4)."""
    for i, op in enumerate(config.operators):
        if op.tls is not None and (when := expired(op.tls, now)) is not None:
            return (f"operators[{i}].tls.certificate: the certificate in {op.tls.certificate} is not valid now"
                    f" (valid {'until' if when < now else 'from'} {when:%Y-%m-%d %H:%M:%S} UTC); make a new one")
    return None


def expired_listen_certificate(config: NetworkConfig, now: datetime) -> str | None:
    """The client TLS port's certificate outside its validity: a warning only, since showing a
    client an expired certificate is a test an integrator may want."""
    tls = config.listen.tls
    if tls is not None and (when := expired(tls, now)) is not None:
        return (f"listen.tls.certificate: the certificate in {tls.certificate} is not valid now"
                f" (valid {'until' if when < now else 'from'} {when:%Y-%m-%d %H:%M:%S} UTC)")
    return None


def server_options(tls: TlsConfig) -> CertificateOptions:
    """What a listening port presents: the certificate, the chain after it, the key. Twisted's
    defaults otherwise (TLS 1.2 at least, its cipher list)."""
    first, *chain = read_certificates(tls.certificate_pem, tls.certificate)
    key = serialization.load_pem_private_key(tls.key_pem, password=None)
    return CertificateOptions(
        # cryptography's loader is typed to return any private key kind, pyOpenSSL's PKey to take
        # signing keys only (RSA, DSA, EC, Ed): check_key() matched this one to a certificate's.
        privateKey=crypto.PKey.from_cryptography_key(key),  # type: ignore[arg-type]
        certificate=crypto.X509.from_cryptography(first),
        extraCertChain=[crypto.X509.from_cryptography(c) for c in chain])


def client_options(tls: TlsConfig, host: str) -> IOpenSSLClientConnectionCreator:
    """What the aggregator's connector uses to dial an operator: trust exactly the operator's
    certificates, and check the leaf names `host` (rule 3)."""
    roots = [Certificate(crypto.X509.from_cryptography(c))
             for c in read_certificates(tls.certificate_pem, tls.certificate)]
    return optionsForClientTLS(host, trustRoot=trustRootFromCertificates(roots))


def _public_der(public: key_types.PublicKeyTypes) -> bytes:
    return public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _names(certificate: x509.Certificate) -> list[str]:
    try:
        alt = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return ([f"DNS:{n}" for n in alt.get_values_for_type(x509.DNSName)]
            + [f"IP:{n}" for n in alt.get_values_for_type(x509.IPAddress)])
