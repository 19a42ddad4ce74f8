"""A test-owned TCP proxy on 127.0.0.1 that can be cut and restored.

The shared PostgreSQL server must never be stopped, so a test makes "the database
goes away" for one service only: the service's database URL points at this proxy,
and :meth:`TcpProxy.cut` closes every connection it carries and refuses new ones
(each is accepted and closed at once, so the port stays this proxy's and a client
sees the server hang up rather than waiting). :meth:`TcpProxy.restore` lets
connections through again.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
from types import TracebackType

__all__ = ["TcpProxy"]

_CHUNK = 65536


class TcpProxy:
    """Forward ``127.0.0.1:<port>`` to ``upstream`` until cut; a context manager that stops it."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._lock = threading.Lock()
        self._pairs: set[tuple[socket.socket, socket.socket]] = set()
        self._cut = False
        self._closed = threading.Event()
        self.refused = 0  # connections refused while cut
        self.carried = 0  # connections forwarded
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    # -- control ---------------------------------------------------------------
    def cut(self) -> None:
        """Close every forwarded connection and refuse new ones until :meth:`restore`."""
        with self._lock:
            self._cut = True
            pairs, self._pairs = self._pairs, set()
        for pair in pairs:
            _close_pair(pair)

    def restore(self) -> None:
        with self._lock:
            self._cut = False

    @property
    def is_cut(self) -> bool:
        return self._cut

    def close(self) -> None:
        self._closed.set()
        self.cut()
        with contextlib.suppress(OSError):
            self._listener.close()
        self._thread.join(timeout=5)

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- forwarding ------------------------------------------------------------
    def _accept_loop(self) -> None:
        self._listener.settimeout(0.2)
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self._cut:
                self.refused += 1
                _hang_up(client)
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                _hang_up(client)
                continue
            pair = (client, server)
            with self._lock:
                if self._cut:  # cut while connecting
                    _close_pair(pair)
                    continue
                self._pairs.add(pair)
                self.carried += 1
            threading.Thread(target=self._pump, args=(pair,), daemon=True).start()

    def _pump(self, pair: tuple[socket.socket, socket.socket]) -> None:
        client, server = pair
        other = {client: server, server: client}
        with selectors.DefaultSelector() as selector:
            try:
                for s in pair:
                    s.setblocking(False)
                    selector.register(s, selectors.EVENT_READ)
                while not self._closed.is_set():
                    for key, _ in selector.select(timeout=0.5):
                        sock = key.fileobj
                        assert isinstance(sock, socket.socket)
                        data = sock.recv(_CHUNK)
                        if not data:
                            return
                        other[sock].setblocking(True)
                        other[sock].sendall(data)
                        other[sock].setblocking(False)
            except (OSError, ValueError):
                return  # cut (sockets closed under us) or a side hung up
            finally:
                with self._lock:
                    self._pairs.discard(pair)
                _close_pair(pair)


def _hang_up(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.close()


def _close_pair(pair: tuple[socket.socket, socket.socket]) -> None:
    for sock in pair:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        _hang_up(sock)
