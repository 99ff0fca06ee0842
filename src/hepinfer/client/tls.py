"""TLS for the client's gRPC channels (server TLS and mutual TLS).

The file options mirror perf_analyzer's (``--ssl-grpc-root-certifications-file``,
``--ssl-grpc-private-key-file``, ``--ssl-grpc-certificate-chain-file``) and tritonclient's
``ssl=True`` arguments: a CA bundle to verify the server (the system's roots when None), and
for mutual TLS the client's own key and certificate chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc

from hepinfer.errors import ClientError


def read_pem(path: Path | None, what: str) -> bytes | None:
    """The bytes of a PEM file, or None; ClientError naming `what` when it cannot be read."""
    if path is None:
        return None
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        msg = f"{what} {str(path)!r} cannot be read: {exc.strerror}"
        raise ClientError(msg) from None
    if b"-----BEGIN" not in data:
        msg = f"{what} {str(path)!r} is not a PEM file (no '-----BEGIN' line)"
        raise ClientError(msg)
    return data


@dataclass(frozen=True)
class TlsOptions:
    """How to verify the server, and the client's identity for mutual TLS."""

    #: CA certificates (PEM) that signed the server's certificate; None: the system's roots
    root_certificates: Path | None = None
    #: the client's private key (PEM), for mutual TLS; needs `certificate_chain`
    private_key: Path | None = None
    #: the client's certificate chain (PEM), for mutual TLS; needs `private_key`
    certificate_chain: Path | None = None
    #: the name the server's certificate must carry, when it differs from the address's host
    server_name: str = ""

    def __post_init__(self) -> None:
        if (self.private_key is None) != (self.certificate_chain is None):
            msg = (
                "mutual TLS needs both the client's private key and its certificate chain; "
                f"got private_key={self.private_key} certificate_chain={self.certificate_chain}"
            )
            raise ClientError(msg)

    def credentials(self) -> grpc.ChannelCredentials:
        """GRPC channel credentials for these options (files read now)."""
        return grpc.ssl_channel_credentials(
            root_certificates=read_pem(self.root_certificates, "root certificates file"),
            private_key=read_pem(self.private_key, "private key file"),
            certificate_chain=read_pem(self.certificate_chain, "certificate chain file"),
        )

    def channel_options(self) -> tuple[tuple[str, str], ...]:
        """Channel options for a server name that differs from the target host."""
        if not self.server_name:
            return ()
        return (("grpc.ssl_target_name_override", self.server_name),)


def open_channel(
    url: str, options: list[tuple[str, int | str]], tls: TlsOptions | None
) -> grpc.Channel:
    """A blocking gRPC channel to `url`, secure when `tls` is given."""
    if tls is None:
        return grpc.insecure_channel(url, options=options)
    return grpc.secure_channel(url, tls.credentials(), options=[*options, *tls.channel_options()])


def open_aio_channel(
    url: str, options: list[tuple[str, int | str]], tls: TlsOptions | None
) -> grpc.aio.Channel:
    """An asyncio gRPC channel to `url`, secure when `tls` is given."""
    if tls is None:
        return grpc.aio.insecure_channel(url, options=options)
    return grpc.aio.secure_channel(
        url, tls.credentials(), options=[*options, *tls.channel_options()]
    )
