"""What the node and partition records carry from 24.11 on: the node's reservation (ReservationName=) and
the partition's Nodes=ALL among its node sets (NodeSets=ALL); 22.05's records stay as they were."""

from __future__ import annotations

from dataclasses import replace

from test_reservations import T0, create, make_cluster

from flurm.controller.reservations import apply_node_flags
from flurm.protocol.constants import SLURM_22_05_PROTOCOL_VERSION, SLURM_24_11_PROTOCOL_VERSION, ShowFlags
from flurm.protocol.messages.nodes import NodeRecord
from flurm.protocol.wire import Reader
from flurm.state.records import build_node_record, build_partition_record


def test_node_names_its_active_reservation() -> None:
    c = make_cluster()
    create(c, name="now", node_list="n1")
    create(c, name="later", node_list="n3", start_time=T0 + 3600)
    assert c.reservations.node_names(T0) == {"n1": "now"}
    assert apply_node_flags(c, T0)
    assert [n.resv_name for n in c.node_list] == ["now", None, None]
    rec = build_node_record(c.nodes["n1"], ShowFlags.DETAIL)
    wire = rec.encode(SLURM_24_11_PROTOCOL_VERSION)
    assert NodeRecord.unpack(Reader(wire), SLURM_24_11_PROTOCOL_VERSION).resv_name == "now"
    # 22.05's record has no such field: its bytes are those of a record without a reservation name
    assert rec.encode(SLURM_22_05_PROTOCOL_VERSION) == replace(rec, resv_name=None).encode(
        SLURM_22_05_PROTOCOL_VERSION
    )
    # the reservation ends: the name goes with the RESERVED flag
    assert apply_node_flags(c, T0 + 3600)
    assert [n.resv_name for n in c.node_list] == [None, None, "later"]


def test_nodesets_all_from_24_11() -> None:
    c = make_cluster()
    part = c.partitions["debug"]  # Nodes=ALL
    assert build_partition_record(part, c, SLURM_24_11_PROTOCOL_VERSION).nodesets == "ALL"
    assert build_partition_record(part, c, SLURM_22_05_PROTOCOL_VERSION).nodesets is None
    assert build_partition_record(part, c).nodesets is None
    part.nodes_expr = "n[1-3]"
    assert build_partition_record(part, c, SLURM_24_11_PROTOCOL_VERSION).nodesets is None
