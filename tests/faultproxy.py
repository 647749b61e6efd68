"""A loopback TCP proxy that injects faults between a client and a real server.

TLS passes through untouched (the client still verifies the real CE). Faults apply to connections
accepted while they are set, counted on the server-to-client direction:

* ``refuse``: accept, then reset at once (the TLS handshake fails);
* ``reset_after=N``: forward N bytes, then reset both sides (RST);
* ``truncate_after=N``: forward N bytes, then close both sides cleanly (FIN);
* ``delay=S``: hold the first server bytes of each connection for S seconds.

Everything stays on 127.0.0.1; every thread stops when the proxy is closed.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from dataclasses import dataclass


@dataclass
class Faults:
    """The faults applied to new connections."""

    refuse: bool = False
    reset_after: int | None = None
    truncate_after: int | None = None
    delay: float = 0.0


def _hard_close(sock: socket.socket) -> None:
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST on close
    except OSError:
        pass
    sock.close()


class FaultProxy:
    """Forward 127.0.0.1:<port> to ``target`` with :class:`Faults`."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.faults = Faults()
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._socks: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def heal(self) -> None:
        """Stop injecting faults (open connections keep theirs)."""
        self.faults = Faults()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()
        for sock in list(self._socks):
            try:
                sock.close()
            except OSError:
                pass

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            faults = self.faults
            if faults.refuse:
                _hard_close(client)
                continue
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                _hard_close(client)
                continue
            server.settimeout(None)
            client.settimeout(None)
            self._socks += [client, server]
            threading.Thread(target=self._pump, args=(client, server, None), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, faults), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, faults: Faults | None) -> None:
        sent = 0
        first = True
        try:
            while not self._stop.is_set():
                data = src.recv(65536)
                if not data:
                    break
                if faults is not None:
                    if first and faults.delay:
                        time.sleep(faults.delay)
                    first = False
                    limit = faults.reset_after if faults.reset_after is not None else faults.truncate_after
                    if limit is not None and sent + len(data) >= limit:
                        dst.sendall(data[: max(0, limit - sent)])
                        if faults.reset_after is not None:
                            _hard_close(dst)
                            _hard_close(src)
                        else:
                            dst.shutdown(socket.SHUT_RDWR)
                            src.shutdown(socket.SHUT_RDWR)
                        return
                dst.sendall(data)
                sent += len(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
