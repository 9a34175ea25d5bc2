"""Fixtures of the change-request tests."""

from __future__ import annotations

import pytest

from tests.factories import UserFactory


@pytest.fixture
def committee(db):
    """Three committee members, as in seed_demo."""
    return [UserFactory(username=name, roles=["committee"]) for name in ("cora", "cole", "cleo")]


@pytest.fixture
def proposer(db):
    return UserFactory(username="sam", roles=["engineer"])
