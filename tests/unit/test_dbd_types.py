"""The DBD message types keep SLURM's numbers (slurmdbd_defs.h marks every tenth)."""

from flurm.protocol.dbd_types import DbdMsgType


def test_anchors_match_slurmdbd_defs() -> None:
    anchors = {
        DbdMsgType.DEFUNCT_DBD_INIT: 1400,
        DbdMsgType.DBD_GET_ASSOCS: 1410,
        DbdMsgType.DBD_GOT_CLUSTER_USAGE: 1420,
        DbdMsgType.DBD_MODIFY_CLUSTERS: 1430,
        DbdMsgType.DBD_ROLL_USAGE: 1440,
        DbdMsgType.DBD_REMOVE_QOS: 1450,
        DbdMsgType.DBD_ARCHIVE_LOAD: 1460,
        DbdMsgType.DBD_GET_EVENTS: 1470,
        DbdMsgType.DBD_REMOVE_RES: 1480,
        DbdMsgType.DBD_GOT_STATS: 1490,
        DbdMsgType.DBD_JOB_HEAVY: 1498,
        DbdMsgType.SLURM_PERSIST_INIT: 6500,
    }
    for member, number in anchors.items():
        assert member == number, member.name


def test_numbers_are_dense_and_unique() -> None:
    numbers = sorted(m.value for m in DbdMsgType if m.value < 2000)
    assert numbers == list(range(1400, 1499))
