#!/usr/bin/env python3
"""voms-relay.py LISTEN_PORT NETNS_PATH TARGET_PORT PIDFILE: forward 127.0.0.1:LISTEN_PORT (this network
namespace) to 127.0.0.1:TARGET_PORT inside the network namespace NETNS_PATH (where vomsd runs, since it
always binds the wildcard address). Bytes are copied unchanged (TLS stays end to end)."""

import os
import socket
import sys
import threading


def pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def serve(listener: socket.socket, target: int) -> None:
    while True:
        conn, _ = listener.accept()
        try:
            upstream = socket.create_connection(("127.0.0.1", target), timeout=10)
        except OSError:
            conn.close()
            continue
        upstream.settimeout(None)
        for a, b in ((conn, upstream), (upstream, conn)):
            threading.Thread(target=pump, args=(a, b), daemon=True).start()


def main() -> None:
    if sys.argv[1] == "--serve":  # second stage, inside the namespace
        listener = socket.socket(fileno=int(sys.argv[2]))
        serve(listener, int(sys.argv[3]))
        return
    port, netns, target, pidfile = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    listener = socket.create_server(("127.0.0.1", port), reuse_port=False)
    os.set_inheritable(listener.fileno(), True)
    with open(pidfile, "w") as f:
        f.write(f"{os.getpid()}\n")
    os.execvp("nsenter", ["nsenter", f"--net={netns}", sys.executable, os.path.abspath(__file__), "--serve",
                          str(listener.fileno()), target])


if __name__ == "__main__":
    main()
