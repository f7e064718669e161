"""A private redis-server that a test can stop and start again on the same port.

It keeps nothing on disk, so a restart loses every key, as a Redis without persistence (or one
whose disk was lost) does in production. A password and TLS are optional, for the tests of
`redis://:password@` and `rediss://` URLs.
"""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import redis

from worker.processes import free_port, stop_process


@dataclass(frozen=True)
class Tls:
    """Certificate files for a TLS-only server; clients verify the server against `ca`."""

    ca: Path
    cert: Path
    key: Path


def make_tls(folder: Path) -> Tls:
    """A throwaway certificate authority and a certificate it signed for 127.0.0.1."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)

    def cert(
        subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name, signer: Any, ca: bool
    ) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
            builder = builder.add_extension(san, critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kbatch test CA")])
    ca_cert = cert("kbatch test CA", ca_key, ca_name, ca_key, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    server_cert = cert("127.0.0.1", key, ca_name, ca_key, ca=False)
    tls = Tls(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    tls.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    tls.cert.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    tls.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return tls


class RedisServer:
    """redis-server on 127.0.0.1, on a port that survives `restart()`."""

    def __init__(self, workdir: Path, *, password: str | None = None, tls: Tls | None = None):
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError(
                "redis-server is not installed (Debian: apt-get install redis-server)"
            )
        self._exe = exe
        self._workdir = workdir
        self._password = password
        self._tls = tls
        self.port = free_port()
        self.restarts = 0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The URL clients use; with TLS they must trust `tls.ca` (SSL_CERT_FILE, say)."""
        scheme = "rediss" if self._tls else "redis"
        auth = f":{self._password}@" if self._password else ""
        return f"{scheme}://{auth}127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        if self._tls:
            return redis.Redis.from_url(self.url, ssl_ca_certs=str(self._tls.ca))
        return redis.Redis.from_url(self.url)

    def start(self) -> RedisServer:
        args = [self._exe, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        if self._password:
            args += ["--requirepass", self._password]
        if self._tls:
            args += ["--port", "0", "--tls-port", str(self.port)]
            args += ["--tls-cert-file", str(self._tls.cert), "--tls-key-file", str(self._tls.key)]
            args += ["--tls-ca-cert-file", str(self._tls.ca), "--tls-auth-clients", "no"]
        else:
            args += ["--port", str(self.port)]
        self._proc = subprocess.Popen(
            args, cwd=self._workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self._wait_ready(self._proc)
        return self

    def stop(self) -> None:
        if self._proc is not None:
            stop_process(self._proc)
            self._proc = None

    def restart(self) -> None:
        """Stop the server and start an empty one on the same port."""
        self.stop()
        self.start()
        self.restarts += 1

    def _wait_ready(self, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
        client = self.client()
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    raise RuntimeError(f"redis-server exited with {proc.returncode}")
                try:
                    if client.ping():
                        return
                except redis.ConnectionError:
                    time.sleep(0.05)  # readiness poll interval, bounded by the deadline
            raise RuntimeError(f"redis-server on port {self.port} not ready in {timeout:.0f}s")
        finally:
            client.close()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
