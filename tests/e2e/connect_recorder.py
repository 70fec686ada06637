"""Runs the `vigil` command with a Python audit hook that records every outbound connect().

``python connect_recorder.py LOG vigil-args...``: each ``socket.connect`` on an AF_INET/AF_INET6
socket appends ``{"event": "connect", "host": ..., "port": ...}`` to LOG, and each
``socket.getaddrinfo`` a ``{"event": "lookup", "host": ...}`` line, before the call happens (a
refused or failing connection is recorded too). Connections opened by C code (OpenCV's FFmpeg,
libpq) bypass the hook: the test's strace recorder sees those.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import traceback
from typing import Any

NAME_EVENTS = {"socket.gethostbyname", "socket.gethostbyaddr", "socket.getnameinfo"}


def main() -> None:
    log_path, args = sys.argv[1], sys.argv[2:]
    lock = threading.Lock()
    log = open(log_path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - lives as long as the process

    def write(entry: dict[str, object]) -> None:
        with lock:
            log.write(json.dumps(entry) + "\n")

    def hook(event: str, hook_args: tuple[Any, ...]) -> None:
        if event == "socket.connect":
            sock, address = hook_args
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                write({"event": "connect", "host": str(address[0]), "port": int(address[1])})
        elif event == "socket.getaddrinfo":
            write({"event": "lookup", "host": str(hook_args[0])})
        elif event in NAME_EVENTS:  # name service calls that may query DNS: who made them
            where = "".join(traceback.format_stack(limit=8)[:-1])
            write({"event": event, "args": repr(hook_args)[:200], "stack": where})

    sys.addaudithook(hook)
    sys.argv = ["vigil", *args]
    from vigil.cli.main import run

    run()


if __name__ == "__main__":
    main()
