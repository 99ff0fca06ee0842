"""TLS for the server: gRPC with server TLS or mutual TLS, and HTTPS.

The gRPC options follow Triton's flags: ``--grpc-use-ssl``, ``--grpc-server-cert``,
``--grpc-server-key``, ``--grpc-root-cert`` and ``--grpc-use-ssl-mutual`` (clients must then
present a certificate signed by the root certificate). HTTPS takes the same three files
(``--http-use-ssl`` ...). Files are read and checked when the options are made, so a server
never starts half-configured.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import grpc

from hepinfer.errors import ServeError


def _pem(path: Path | None, what: str) -> bytes:
    if path is None:
        msg = f"TLS needs the {what} (a PEM file)"
        raise ServeError(msg)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        msg = f"TLS {what} {str(path)!r} cannot be read: {exc.strerror}"
        raise ServeError(msg) from None
    if b"-----BEGIN" not in data:
        msg = f"TLS {what} {str(path)!r} is not a PEM file (no '-----BEGIN' line)"
        raise ServeError(msg)
    return data


@dataclass(frozen=True)
class ServerTls:
    """A server certificate and key, and for mutual TLS the root that signs client certs."""

    cert: Path
    key: Path
    root: Path | None = None
    #: require and verify a client certificate signed by `root`
    mutual: bool = False

    def __post_init__(self) -> None:
        _pem(self.cert, "server certificate")
        _pem(self.key, "server key")
        if self.mutual and self.root is None:
            msg = (
                "mutual TLS (--grpc-use-ssl-mutual) needs the root certificate that signs "
                "the clients' certificates (--grpc-root-cert)"
            )
            raise ServeError(msg)
        if self.root is not None:
            _pem(self.root, "root certificate")

    def pem(self) -> tuple[bytes, bytes, bytes | None]:
        """(certificate chain, private key, root certificates or None)."""
        root = _pem(self.root, "root certificate") if self.root is not None else None
        return _pem(self.cert, "server certificate"), _pem(self.key, "server key"), root

    def grpc_credentials(self) -> grpc.ServerCredentials:
        """Credentials for a grpc (aio) server port."""
        chain, key, root = self.pem()
        return grpc.ssl_server_credentials(
            [(key, chain)], root_certificates=root, require_client_auth=self.mutual
        )

    def ssl_context(self) -> ssl.SSLContext:
        """An SSL context for the HTTPS front end."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(str(self.cert), str(self.key))
            if self.root is not None:
                context.load_verify_locations(str(self.root))
        except ssl.SSLError as exc:
            msg = f"TLS certificate {self.cert} / key {self.key} do not load: {exc}"
            raise ServeError(msg) from None
        context.verify_mode = ssl.CERT_REQUIRED if self.mutual else ssl.CERT_NONE
        return context
