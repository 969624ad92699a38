"""One exception tree: every error class of flurm derives from FlurmError and carries a SLURM return code."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import flurm
from flurm.auth.errors import AuthServiceError, CredentialError
from flurm.config.hostlists import HostlistError
from flurm.errors import FlurmError, SlurmError, rc_of
from flurm.protocol.constants import SlurmRC
from flurm.protocol.frame import FrameTooLarge
from flurm.protocol.versions import VersionError
from flurm.protocol.wire import DecodeError
from flurm.rpc.transport import error_rc


def _flurm_exception_classes() -> list[type[BaseException]]:
    found: list[type[BaseException]] = []
    for info in pkgutil.walk_packages(flurm.__path__, "flurm."):
        module = importlib.import_module(info.name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, BaseException) and obj.__module__ == info.name:
                found.append(obj)
    return found


def test_every_exception_class_of_flurm_is_a_flurm_error() -> None:
    classes = _flurm_exception_classes()
    assert len(classes) >= 20
    strays = [f"{c.__module__}.{c.__qualname__}" for c in classes if not issubclass(c, FlurmError)]
    assert not strays, f"exception classes outside the FlurmError tree: {strays}"


def test_every_flurm_error_names_a_return_code() -> None:
    for cls in _flurm_exception_classes():
        assert isinstance(cls.rc, int), cls  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("exc", "rc"),
    [
        (SlurmError(SlurmRC.ESLURM_INVALID_JOB_ID), SlurmRC.ESLURM_INVALID_JOB_ID),
        (VersionError("0x2700"), SlurmRC.SLURM_PROTOCOL_VERSION_ERROR),
        (FrameTooLarge("big", msg_type=1008, version=0x2600), SlurmRC.SLURM_PROTOCOL_INSANE_MSG_LENGTH),
        (DecodeError("short"), SlurmRC.SLURM_UNEXPECTED_MSG_ERROR),
        (DecodeError("x", rc=SlurmRC.ESLURM_AUTH_UNPACK), SlurmRC.ESLURM_AUTH_UNPACK),
        (CredentialError("replayed"), SlurmRC.SLURM_PROTOCOL_AUTHENTICATION_ERROR),
        (AuthServiceError("munged down"), SlurmRC.ESLURM_AUTH_CRED_INVALID),
        (HostlistError("n[1-"), SlurmRC.ESLURM_INVALID_NODE_NAME),
        (RuntimeError("a bug"), SlurmRC.SLURM_ERROR),
    ],
)
def test_the_return_code_is_read_off_the_exception(exc: BaseException, rc: int) -> None:
    assert rc_of(exc) == rc
    assert error_rc(exc) == rc


def test_a_body_that_does_not_decode_is_an_incomplete_packet_unless_its_version_is_the_reason() -> None:
    assert error_rc(DecodeError("short"), decoding=True) == SlurmRC.ESLURM_PROTOCOL_INCOMPLETE_PACKET
    assert error_rc(RecursionError(), decoding=True) == SlurmRC.ESLURM_PROTOCOL_INCOMPLETE_PACKET
    assert error_rc(VersionError("old"), decoding=True) == SlurmRC.SLURM_PROTOCOL_VERSION_ERROR


def test_errors_that_were_value_errors_still_are() -> None:
    assert issubclass(HostlistError, ValueError)
    assert str(SlurmError(SlurmRC.ESLURM_INVALID_JOB_ID)) == "Invalid job id specified"
