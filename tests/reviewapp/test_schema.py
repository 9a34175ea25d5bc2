"""The OpenAPI schema at /api/schema/ and the docs at /api/docs/ cover the ingestion API."""

from __future__ import annotations

import pytest

from reviewapp.api.ingest import EnvelopeSchema, OutputSchema
from reviewapp.envelope import FIELDS, MAX_EXTERNAL_ID, MAX_MODEL_VERSION

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    from rest_framework.test import APIClient

    with django_db_blocker.unblock():
        response = APIClient().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200, response.content[:500]
    return response.json()


def test_the_schema_lists_the_ingestion_endpoints(schema):
    paths = schema["paths"]
    assert {"post", "get"} <= set(paths["/api/v1/predictions"])
    assert "post" in paths["/api/v1/predictions/batch"]
    assert "get" in paths["/api/v1/predictions/{id}"]
    assert "get" in paths["/api/v1/models"]
    post = paths["/api/v1/predictions"]["post"]
    assert {"202", "200", "400", "403", "404", "413"} <= set(post["responses"])
    params = {p["name"] for p in paths["/api/v1/predictions"]["get"]["parameters"]}
    assert {"model", "external_id"} <= params


def test_the_schema_documents_the_envelope_fields(schema):
    components = schema["components"]["schemas"]
    envelope = next(v for k, v in components.items() if k.startswith("EnvelopeSchema"))
    assert set(envelope["properties"]) == FIELDS
    assert set(envelope["required"]) == {
        "model",
        "model_version",
        "external_id",
        "input",
        "output",
        "confidence",
    }


def test_the_schema_serializer_agrees_with_the_validator():
    """The hand-written validator runs; the serializer only documents. They must not drift."""
    fields = EnvelopeSchema().fields
    assert set(fields) == FIELDS
    assert fields["external_id"].max_length == MAX_EXTERNAL_ID
    assert fields["model_version"].max_length == MAX_MODEL_VERSION
    assert (fields["confidence"].min_value, fields["confidence"].max_value) == (0, 1)
    assert {"label", "scores"} == set(OutputSchema().fields)


def test_the_schema_names_token_authentication(schema):
    scheme = schema["components"]["securitySchemes"]["ServiceToken"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "Authorization")
    post = schema["paths"]["/api/v1/predictions"]["post"]
    assert {"ServiceToken": []} in post["security"]


def test_the_ingestion_views_generate_without_warnings():
    from django.urls import include, path
    from drf_spectacular.drainage import GENERATOR_STATS
    from drf_spectacular.generators import SchemaGenerator

    from reviewapp.api.urls import ingest_patterns

    GENERATOR_STATS.reset()
    generator = SchemaGenerator(patterns=[path("api/v1/", include((ingest_patterns, "api")))])
    generated = generator.get_schema(request=None, public=True)
    assert len(generated["paths"]) == 5  # with /predictions/{id}/replay
    # drf-spectacular keeps its counters private; an empty one means no warning was emitted.
    assert not GENERATOR_STATS._warn_cache
    assert not GENERATOR_STATS._error_cache


def test_the_api_docs_page_answers(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert b"swagger" in response.content.lower()


def test_the_whole_api_generates_a_valid_schema_without_warnings():
    """`manage.py spectacular --validate --fail-on-warn` as a test, over every app's API (the
    governance API included): no warning, no error, and valid OpenAPI 3."""
    from drf_spectacular.drainage import GENERATOR_STATS
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.validation import validate_schema

    GENERATOR_STATS.reset()
    generated = SchemaGenerator().get_schema(request=None, public=True)
    assert "/api/v1/change-requests/{id}/approve" in generated["paths"]
    assert not GENERATOR_STATS._warn_cache
    assert not GENERATOR_STATS._error_cache
    validate_schema(generated)
