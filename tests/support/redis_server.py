"""A real ``redis-server`` on a free loopback port, started and stopped by the tests.

The binary is the run's server (:mod:`tests.support.servers`): Redis 7 by default,
Valkey 9 or Redis 6.2 when ``SOCKETIO_REDIS_ADAPTER_TEST_SERVER`` says so.  A test
that needs one kind whatever the run's is asks for it: ``RedisServer(kind="redis-6.2")``
(and is marked ``needs_server("redis-6.2")``)."""

from __future__ import annotations

import ctypes
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

from .ports import free_port
from .servers import require_tls, server_binary, server_kind

# prctl, looked up here rather than in the forked child (no dlopen after fork)
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None


def _die_with_parent() -> None:
    """In the child: on Linux, get SIGTERM when the test process dies, even by a crash.

    Otherwise a test run that segfaults leaves its redis-server running.
    """
    if _PRCTL is not None:
        _PRCTL(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG


class RedisServer:
    """One redis-server process that the tests own (stopped by its PID only).

    :param kind: the kind of server (``redis``, ``valkey``, ``redis-6.2``, see
                 :mod:`tests.support.servers`); None for the run's.
    """

    def __init__(
        self, port: int | None = None, unix_socket: bool = False, tls: bool = False,
        kind: str | None = None,
    ) -> None:
        self.kind = server_kind(kind)
        if tls:
            require_tls(self.kind)
        self.binary = server_binary(kind)
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.workdir = tempfile.mkdtemp(prefix="sra-redis-")
        self.socket_path = f"{self.workdir}/redis.sock" if unix_socket else None
        self.tls_files: dict[str, str] = self._make_certificates() if tls else {}

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _make_certificates(self) -> dict[str, str]:
        """A throwaway CA and a server certificate for 127.0.0.1 (trustme)."""
        import trustme  # noqa: PLC0415 - only the TLS tests need it

        authority = trustme.CA()
        certificate = authority.issue_cert("127.0.0.1")
        files = {
            "ca": f"{self.workdir}/ca.pem",
            "cert": f"{self.workdir}/cert.pem",
            "key": f"{self.workdir}/key.pem",
        }
        authority.cert_pem.write_to_path(files["ca"])
        certificate.cert_chain_pems[0].write_to_path(files["cert"])
        certificate.private_key_pem.write_to_path(files["key"])
        return files

    @property
    def tls_url(self) -> str:
        """A ``rediss://`` URL that verifies the server with the test CA."""
        assert self.tls_files, "start the server with tls=True"
        return (
            f"rediss://127.0.0.1:{self.port}/0?ssl_ca_certs={self.tls_files['ca']}"
            "&ssl_cert_reqs=required"
        )

    @property
    def unix_url(self) -> str:
        assert self.socket_path is not None, "start the server with unix_socket=True"
        return f"unix://{self.socket_path}?db=0"

    def start(self, timeout: float = 10.0) -> None:
        assert self.binary is not None
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", self.workdir,
                "--protected-mode", "yes",
                *(["--unixsocket", self.socket_path] if self.socket_path else []),
                *self._tls_arguments(),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.binary} exited with {self.process.returncode}")
            if self.ping():
                return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"{self.binary} did not answer on port {self.port} in {timeout}s")

    def _tls_arguments(self) -> list[str]:
        if not self.tls_files:
            return []
        # TLS only: the plain port is off, so nothing can bypass it
        return [
            "--port", "0",
            "--tls-port", str(self.port),
            "--tls-cert-file", self.tls_files["cert"],
            "--tls-key-file", self.tls_files["key"],
            "--tls-ca-cert-file", self.tls_files["ca"],
            "--tls-auth-clients", "no",
        ]

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as raw:
                sock = raw
                if self.tls_files:
                    context = ssl.create_default_context(cafile=self.tls_files["ca"])
                    sock = context.wrap_socket(raw, server_hostname="127.0.0.1")
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def command(self, *args: str) -> bytes:
        """Run one command with a raw RESP connection and return the raw reply."""
        payload = f"*{len(args)}\r\n".encode()
        for arg in args:
            data = arg.encode()
            payload += b"$%d\r\n%s\r\n" % (len(data), data)
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
            sock.sendall(payload)
            time.sleep(0.05)
            return sock.recv(65536)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def kill(self) -> None:
        """SIGKILL the server (a crash: no goodbye to its clients)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def restart(self, downtime: float = 0.0) -> None:
        self.stop()
        if downtime:
            time.sleep(downtime)
        self.start()


def running(server: RedisServer) -> Iterator[RedisServer]:
    """A fixture's body: start ``server``, yield it, stop it (by its PID) however the
    tests using it end."""
    server.start()
    try:
        yield server
    finally:
        server.stop()
