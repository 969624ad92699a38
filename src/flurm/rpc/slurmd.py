"""The one rule for the protocol version flurm talks to a slurmd in (the node agent, the takeover's
pre-flight ping): that of the release it registered (or was imported) with; while flurm does not know
it, each served version in turn."""

from __future__ import annotations

from flurm.protocol.messages.base import Message
from flurm.protocol.versions import SERVED, served_version_of_release
from flurm.protocol.wire import WireError
from flurm.rpc.transport import Response, Signer, call
from flurm.state.model import Node


def node_version(node: Node) -> int | None:
    """The protocol version of the release the slurmd registered with; None while flurm does not
    know it."""
    return served_version_of_release(node.version)


async def call_node(
    node: Node, msg_type: int, body: Message, signer: Signer, timeout: float
) -> Response | None:
    """One request to a slurmd in its version. A slurmd whose release flurm does not know yet is tried
    in each served version, oldest first as slurmctld starts (SLURM_MIN_PROTOCOL_VERSION): one that
    does not speak a version has done nothing (its header check fails before the auth is read) and
    closes the connection unanswered (22.05, 24.11) or answers with an HTTP error (26.05)."""
    known = node_version(node)
    versions = (known,) if known is not None else tuple(sorted(SERVED))
    for i, version in enumerate(versions):
        try:
            return await call(
                node.addr,
                node.port,
                msg_type,
                body,  # type: ignore[arg-type]
                signer,
                timeout=timeout,
                version=version,
            )
        except ConnectionRefusedError:
            raise
        except (ConnectionError, WireError):
            if i == len(versions) - 1:
                raise
    return None
