"""Inside the build sandbox: the only way out, and uv under it. Standard library only.

    python -I relay.py SOCKET TOKEN -- uv pip compile ...

The sandbox has a network namespace of its own (loopback only). This relay listens on the
sandbox's 127.0.0.1, carries each connection to the bot's egress proxy through the Unix socket
SOCKET (bound into the sandbox), and runs the command with `HTTP(S)_PROXY` pointing at itself,
TOKEN being the resolution's proxy session. Whatever a build does, its connections reach only
that proxy, which allows only the indexes of the allow-list.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading


def _pump(source: socket.socket, target: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            target.sendall(data)
    except OSError:
        pass
    finally:
        try:
            target.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def _serve(listener: socket.socket, path: str) -> None:
    while True:
        client, _ = listener.accept()
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            upstream.connect(path)
        except OSError:
            client.close()
            continue
        threading.Thread(target=_pump, args=(client, upstream), daemon=True).start()
        threading.Thread(target=_pump, args=(upstream, client), daemon=True).start()


def main(argv: list[str]) -> int:
    path, token, separator, *command = argv
    if separator != "--" or not command:
        print("usage: relay.py SOCKET TOKEN -- COMMAND...", file=sys.stderr)
        return 2
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port = listener.getsockname()[1]
    threading.Thread(target=_serve, args=(listener, path), daemon=True).start()
    proxy = f"http://{token}:x@127.0.0.1:{port}"
    env = {**os.environ, "HTTP_PROXY": proxy, "HTTPS_PROXY": proxy, "ALL_PROXY": proxy}
    env |= {"http_proxy": proxy, "https_proxy": proxy, "NO_PROXY": ""}
    return subprocess.run(command, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
