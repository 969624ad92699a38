"""Small TCP peers on loopback for the tests that stand in for a SLURM daemon or sit in front of one."""

from __future__ import annotations

import contextlib
import socket
import threading


class LoopbackServer:
    """Listens on a free loopback port and hands each connection, in turn, to :meth:`handle` on a
    thread of its own; :meth:`close` stops it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = int(self.sock.getsockname()[1])
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def handle(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn, contextlib.suppress(OSError):  # a peer that went away ends its connection only
                self.handle(conn)

    def close(self) -> None:
        self.sock.close()
        self.thread.join(timeout=10)
