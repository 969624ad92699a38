"""Shared fixtures of the integration tests."""

from munge_fixture import munged

__all__ = ["munged"]
