"""What a gateway and its forward-pass helper process say to each other: length-prefixed msgpack
frames (4-byte little-endian length, then the body).

The helper writes one `Hello` to its stdout once its model is loaded and it listens on a local
socket. Each embedder connects, sends `Auth` with the token the helper was started with, then
`ForwardRequest`s (token ids, already tokenised); the helper answers each with a `ForwardReply`
of the same ``id``.
"""

from __future__ import annotations

import struct
from typing import IO

import msgspec

LENGTH = struct.Struct("<I")
MAX_FRAME_BYTES = 1 << 28  # a bulk request of ~30k long texts; larger is a broken stream


class Hello(msgspec.Struct, frozen=True, tag="hello"):
    """The helper is ready: the model it loaded (``all-MiniLM-L6-v2-int8`` when int8), the
    abstract unix socket it listens on, and its pid."""

    name: str
    dim: int
    address: str
    pid: int


class Auth(msgspec.Struct, frozen=True, tag="auth"):
    """A connection's first frame: the token the helper got on its command line's stdin."""

    token: str


class ForwardRequest(msgspec.Struct, frozen=True, tag="forward"):
    id: int
    ids: list[list[int]]


class ForwardReply(msgspec.Struct, frozen=True, tag="reply"):
    """``vectors``: ``len(ids) x dim`` little-endian float32, row-major; or ``error``."""

    id: int
    vectors: bytes = b""
    error: str | None = None


Message = Hello | Auth | ForwardRequest | ForwardReply
_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Message)


class FrameError(RuntimeError):
    """The stream ended mid-frame or carried something that is not a frame."""


def encode_frame(message: Message) -> bytes:
    body = _encoder.encode(message)
    return LENGTH.pack(len(body)) + body


def body_length(head: bytes | bytearray) -> int:
    """The body length a frame's 4-byte head announces. Raises `FrameError` past the limit."""
    (length,) = LENGTH.unpack(head)
    if length > MAX_FRAME_BYTES:
        raise FrameError(f"frame of {length} bytes is over the {MAX_FRAME_BYTES} limit")
    return int(length)


def decode_body(body: bytes) -> Message:
    try:
        return _decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise FrameError(f"undecodable frame: {exc}") from exc


def read_message(stream: IO[bytes]) -> Message | None:
    """The next message of a blocking stream, or None at a clean end. Raises `FrameError`."""
    head = stream.read(LENGTH.size)
    if not head:
        return None
    if len(head) != LENGTH.size:
        raise FrameError("stream ended inside a frame's length")
    length = body_length(head)
    body = stream.read(length)
    if len(body) != length:
        raise FrameError(f"stream ended {length - len(body)} bytes short of a frame")
    return decode_body(body)
