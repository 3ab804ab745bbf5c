"""Records what a gateway does to a real redis-server (``MONITOR``) and groups it into the
*operations* Redis Cluster must serve from one slot: a multi-key command, a MULTI/EXEC
transaction, or a Lua script (its declared KEYS and every key the script touched).

Keys are found by Redis itself (``COMMAND GETKEYS``), so no command table is kept here.
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import redis
from redis.crc import key_slot

_LINE = re.compile(r"^\d+\.\d+ \[(\d+) ([^\]]+)\] (.*)$")
_ARG = re.compile(r'"((?:[^"\\]|\\.)*)"')
_ESCAPE = re.compile(r"\\x([0-9a-fA-F]{2})|\\(.)")
_SIMPLE = {"n": "\n", "r": "\r", "t": "\t", "a": "\a", "b": "\b"}
# Keyless or administrative commands the gateway sends; never multi-key.
_SKIP = frozenset({"PING", "CLIENT", "HELLO", "SELECT", "INFO", "SCRIPT", "MONITOR"})


def _unescape(text: str) -> bytes:
    def one(match: re.Match[str]) -> str:
        if match.group(1) is not None:
            return chr(int(match.group(1), 16))
        return _SIMPLE.get(match.group(2), match.group(2))

    return _ESCAPE.sub(one, text).encode("latin-1")


@dataclass
class Operation:
    """What must be served from one slot; ``name`` is the command (or MULTI, or EVALSHA)."""

    name: str
    keys: list[bytes] = field(default_factory=list)

    @property
    def slots(self) -> set[int]:
        return {key_slot(k) for k in self.keys}


@dataclass
class Recording:
    lines: list[tuple[str, list[bytes]]] = field(default_factory=list)

    def operations(self, client: redis.Redis) -> list[Operation]:
        """Every operation that touched more than one key."""
        found: list[Operation] = []
        open_multi: dict[str, Operation] = {}
        script: Operation | None = None  # the script whose own calls follow its line
        for source, args in self.lines:
            name = args[0].decode().upper()
            if source == "lua":
                if script is not None:
                    script.keys += _keys(client, args)
                continue
            if script is not None:  # scripts are atomic: its calls are all fed by now
                found.append(script)
                script = None
            if name in _SKIP:
                continue
            if name == "MULTI":
                open_multi[source] = Operation("MULTI")
                continue
            if name in ("EXEC", "DISCARD"):
                operation = open_multi.pop(source, None)
                if operation is not None:
                    found.append(operation)
                continue
            keys = _keys(client, args)
            if source in open_multi:
                open_multi[source].keys += keys
            elif name.startswith(("EVAL", "FCALL")):
                script = Operation(name, keys)
            else:
                found.append(Operation(name, keys))
        if script is not None:
            found.append(script)
        return [op for op in found if len(set(op.keys)) > 1]


def _keys(client: redis.Redis, args: list[bytes]) -> list[bytes]:
    try:
        keys = client.command_getkeys(*args)
    except redis.ResponseError:  # "The command has no key arguments"
        return []
    return [k if isinstance(k, bytes) else str(k).encode() for k in keys]


@contextmanager
def monitoring(host: str, port: int) -> Iterator[Recording]:
    """Record every command the server runs while the block runs."""
    recording = Recording()
    sock = socket.create_connection((host, port))
    sock.sendall(b"MONITOR\r\n")
    ready = threading.Event()
    stop = threading.Event()

    def read() -> None:
        buffer = b""
        while not stop.is_set():
            try:
                chunk = sock.recv(1 << 16)
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk
            *complete, buffer = buffer.split(b"\r\n")
            for raw in complete:
                line = raw.decode("latin-1")
                if line == "+OK":
                    ready.set()
                    continue
                match = _LINE.match(line.removeprefix("+"))
                if match is not None:
                    args = [_unescape(a) for a in _ARG.findall(match.group(3))]
                    source = "lua" if match.group(2) == "lua" else match.group(2)
                    recording.lines.append((source, args))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    ready.wait(5)
    try:
        yield recording
    finally:
        # A last command marks the end: everything before it has been fed to MONITOR.
        with redis.Redis(host=host, port=port) as client:
            client.ping()
        stop.set()
        sock.shutdown(socket.SHUT_RDWR)
        sock.close()
        reader.join(5)
