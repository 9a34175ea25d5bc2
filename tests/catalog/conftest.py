from __future__ import annotations

import pytest

from catalog import services
from tests.factories import UserFactory


@pytest.fixture
def editor(db):
    return UserFactory(username="edith", roles=["catalog_editor"], email="edith@example.test")


@pytest.fixture
def editor2(db):
    return UserFactory(username="emil", roles=["catalog_editor"], email="emil@example.test")


@pytest.fixture
def engineer(db):
    return UserFactory(username="sam", roles=["engineer"], email="sam@example.test")


@pytest.fixture
def reviewer(db):
    return UserFactory(username="ana", roles=["reviewer"])


FULL = {
    "summary": "A one-paragraph summary of what goes wrong.",
    "category": "data-drift",
    "cause": "The cause.",
    "effect": "The effect.",
    "detection_signals": "Watch the monitor.",
    "trigger_steps": "1. Do this.",
    "business_impact": "Money is lost.",
    "severity": "S2",
}


@pytest.fixture
def make_fm(db):
    def make(user, title="Currency drift", *, publish_by=None, **fields):
        data = {**FULL, "title": title, "owner": user.username, "steward": user.username}
        data.update(fields)
        fm = services.failure_mode_create(user=user, data=data)
        if publish_by is not None:
            fm = services.failure_mode_transition(failure_mode=fm, user=user, action="submit")
            fm = services.failure_mode_transition(
                failure_mode=fm, user=publish_by, action="publish"
            )
        return fm

    return make
