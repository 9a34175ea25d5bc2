"""Shared factory-boy factories. App-specific ones may live beside their tests."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection

from reviewapp import demo
from reviewapp.core.audit import Actor
from reviewapp.governance.services import policy_version_create
from reviewapp.models import MLModel

DEFAULT_RULES = demo.DEMO_MODELS[0]["rules"]


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    password = factory.PostGenerationMethodCall("set_password", "pw-for-tests")

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        if create and extracted:
            self.groups.add(*Group.objects.filter(name__in=extracted))
        if create:
            self.save()


class MLModelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MLModel
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"model-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.replace("-", " ").title())
    owner_team = "ML Platform"
    criticality = "high"
    labels = ["fraud", "legit"]


def make_policy(model: MLModel, rules: dict | None = None, *, activate: bool = True):
    return policy_version_create(
        model_slug=model.slug,
        rules=rules or DEFAULT_RULES,
        labels=model.labels,
        activate=activate,
        actor=Actor.system("tests"),
    )


def envelope_for(model: MLModel, external_id: str = "txn-1", **overrides) -> dict:
    """A valid envelope for ``model``; override any top-level field."""
    body = {
        "model": model.slug,
        "model_version": "2026.11.1",
        "external_id": external_id,
        "input": {"amount": 912.5, "country": "NL"},
        "output": {"label": model.labels[0], "scores": {model.labels[0]: 0.55}},
        "confidence": 0.55,
        "signals": {"ood_score": 0.1, "attributions": {"amount": 0.4}},
        "lineage": {"dataset": "tx-2026-11"},
    }
    body.update(overrides)
    return body


def signed_in_queries(own: int) -> int:
    """Queries of a signed-in page: the session and the user (with the time-zone preference),
    then the page's ``own``; on SQLite also the user's role names, which PostgreSQL loads
    with the user."""
    return own + (2 if connection.vendor == "postgresql" else 3)
