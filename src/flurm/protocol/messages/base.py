"""The shape every message body has, and the registry from msg_type to body class.

A body class is a frozen dataclass with ``pack(w, version)`` and ``unpack(r, version)``; it is used for a
release newer than 22.05 only where its ``NEWER_LAYOUTS`` names that release. Several
message types may share one body layout (8001/4020/6019 carry a bare return code), so the registry
maps a type to a class; the type itself travels in the header.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, Protocol, Self, TypeVar

from flurm.protocol.constants import PROTOCOL_VERSION, MsgType
from flurm.protocol.versions import check_body
from flurm.protocol.wire import DecodeError, Reader, Writer


class Body(Protocol):
    def pack(self, w: Writer, version: int) -> None: ...

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self: ...


_REGISTRY: dict[int, type[Body]] = {}
B = TypeVar("B", bound=type)


def register(*msg_types: MsgType) -> Callable[[B], B]:
    """Class decorator: these message types carry this body layout."""

    def deco(cls: B) -> B:
        for t in msg_types:
            if t in _REGISTRY and _REGISTRY[t] is not cls:
                raise RuntimeError(f"{t!r} registered twice")
            _REGISTRY[t] = cls
        # a layout may be registered for more types later (by the module of their family)
        cls.MSG_TYPES = (*cls.__dict__.get("MSG_TYPES", ()), *msg_types)  # type: ignore[attr-defined]
        return cls

    return deco


def body_class(msg_type: int) -> type[Body] | None:
    return _REGISTRY.get(msg_type)


def decode_body(msg_type: int, data: bytes, version: int = PROTOCOL_VERSION) -> Body:
    """Decode a body of the given type; every byte must be consumed."""
    cls = _REGISTRY.get(msg_type)
    if cls is None:
        raise DecodeError(f"message type {msg_type} is not known")
    check_body(cls, version)
    r = Reader(data)
    body = cls.unpack(r, version)
    r.expect_end(f"{cls.__name__} ({msg_type})")
    return body


def encode_body(body: Body, version: int = PROTOCOL_VERSION) -> bytes:
    check_body(type(body), version)
    w = Writer()
    body.pack(w, version)
    return w.getvalue()


class Message:
    """Marker base for body dataclasses (gives them MSG_TYPES for introspection)."""

    MSG_TYPES: ClassVar[tuple[MsgType, ...]] = ()
    # the releases newer than 22.05 whose layout of this body was compared with their packer
    # (versions.check_body refuses the others)
    NEWER_LAYOUTS: ClassVar[frozenset[int]] = frozenset()
