"""A loopback TCP proxy in front of PostgreSQL that counts client/server round trips.

A round trip ("turn") is counted each time the client sends after the server last spoke
(or for its first send): a pipelined batch of statements is one turn, a statement that
waits for its answer before the next is sent is one turn each. Connect to
``127.0.0.1:proxy.port`` instead of the server.
"""

from __future__ import annotations

import socket
import threading


class TurnCounter:
    """The proxy: listens on ``127.0.0.1:port`` and forwards every connection to ``target``."""

    def __init__(self, target: tuple[str, int] = ("127.0.0.1", 5432)):
        self.target = target
        self.turns = 0
        self.bytes_up = 0
        self._lock = threading.Lock()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self._closed = False
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def snapshot(self) -> int:
        """Round trips counted so far, over all connections."""
        with self._lock:
            return self.turns

    def close(self) -> None:
        """Stop listening and close every proxied connection."""
        self._closed = True
        for s in [self._listener, *self._sockets]:
            try:
                s.close()
            except OSError:
                pass

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            for s in (client, server):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sockets += [client, server]
            state = {"last": "server"}
            threading.Thread(target=self._pump, args=(client, server, state, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, state, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, state: dict, upstream: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                with self._lock:
                    if upstream:
                        if state["last"] != "client":
                            self.turns += 1
                        state["last"] = "client"
                        self.bytes_up += len(data)
                    else:
                        state["last"] = "server"
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
