"""One error shape for the whole API, and never a 500 for bad input (with a little fuzzing)."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework import exceptions, serializers

from reviewapp.core.api import exception_handler, flatten_errors
from reviewapp.core.exceptions import Conflict, NotFound, PermissionDenied, ServiceError
from reviewapp.models import Prediction
from tests.factories import envelope_for

OK_STATUSES = {200, 202, 400, 403, 404, 413}


# --- the error shape ------------------------------------------------------------------------
def test_flatten_errors_names_nested_fields_by_dotted_path():
    detail = {
        "output": {"label": ["Bad label."], "non_field_errors": ["Whole output wrong."]},
        "items": [{"x": ["no"]}, {}, {"y": ["bad", "worse"]}],
        "confidence": ["Too high."],
    }
    assert flatten_errors(detail) == {
        "output.label": ["Bad label."],
        "output": ["Whole output wrong."],
        "items[0].x": ["no"],
        "items[2].y": ["bad", "worse"],
        "confidence": ["Too high."],
    }
    assert flatten_errors("plain") == {"detail": ["plain"]}
    assert flatten_errors(["a", "b"]) == {"detail": ["a", "b"]}


def test_an_error_about_the_whole_body_is_named_detail_not_drf_s_non_field_errors():
    """A JSON array or string where an object belongs (``PATCH /change-requests/1`` with
    ``[]``), or a rule across fields: the request as a whole, which the schema's error
    component names ``detail``."""
    assert flatten_errors({"non_field_errors": ["Expected a dictionary."]}) == {
        "detail": ["Expected a dictionary."]
    }


@pytest.mark.parametrize(
    ("exc", "status", "errors"),
    [
        (ServiceError("Bad.", errors={"a.b": ["Bad."]}), 400, {"a.b": ["Bad."]}),
        (ServiceError("Bad."), 400, {"detail": ["Bad."]}),
        (NotFound("No such thing.", field="id"), 404, {"id": ["No such thing."]}),
        (PermissionDenied("Not yours."), 403, {"detail": ["Not yours."]}),
        (Conflict("Stale.", field="version"), 409, {"version": ["Stale."]}),
        (ServiceError("Too big.", status=413), 413, {"detail": ["Too big."]}),
    ],
)
def test_service_errors_become_their_status_with_the_field_paths(exc, status, errors):
    response = exception_handler(exc, {})
    assert response.status_code == status
    assert response.data == {"errors": errors}


def test_drf_and_django_exceptions_get_the_same_shape():
    assert exception_handler(exceptions.ParseError("bad"), {}).status_code == 400
    assert "body" in exception_handler(exceptions.ParseError("bad"), {}).data["errors"]
    assert exception_handler(Http404(), {}).status_code == 404
    assert exception_handler(DjangoPermissionDenied(), {}).status_code == 403
    unauthenticated = exception_handler(exceptions.NotAuthenticated(), {})
    assert unauthenticated.status_code in (401, 403)
    assert list(unauthenticated.data) == ["errors"]

    class Nested(serializers.Serializer):
        label = serializers.CharField()

    class Outer(serializers.Serializer):
        output = Nested()
        confidence = serializers.FloatField(max_value=1)

    form = Outer(data={"output": {}, "confidence": 3})
    assert not form.is_valid()
    validation = exception_handler(exceptions.ValidationError(form.errors), {})
    assert validation.status_code == 400
    assert set(validation.data["errors"]) == {"output.label", "confidence"}


def test_other_exceptions_are_left_to_django():
    assert exception_handler(ValueError("boom"), {}) is None


@pytest.mark.django_db
def test_a_wrong_method_is_405_in_the_error_shape(api, fraud_model):
    response = api.get("/api/v1/predictions/batch")
    assert response.status_code == 405
    assert list(response.json()) == ["errors"]
    assert api.delete("/api/v1/predictions").status_code == 405


# --- fuzzing: any JSON in any field, any bytes as a body ------------------------------------
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(alphabet=st.characters(), max_size=30)  # includes NUL and surrogates
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(alphabet=st.characters(), max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = [
    "model",
    "model_version",
    "external_id",
    "input",
    "output",
    "confidence",
    "signals",
    "lineage",
    "occurred_at",
]
FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _post(api, url: str, body: str | bytes):
    response = api.post(url, body, content_type="application/json")
    assert response.status_code in OK_STATUSES, (response.status_code, body[:300])
    if response.status_code >= 400:
        assert response.json()["errors"]
    return response


@pytest.mark.django_db
@FUZZ
@given(patch=st.dictionaries(st.sampled_from(FIELDS), json_values, min_size=1, max_size=4))
def test_any_value_in_any_field_never_gives_a_500(api, fraud_model, patch):
    body = {**envelope_for(fraud_model, "fuzz"), **patch}
    before = Prediction.objects.count()
    response = _post(api, "/api/v1/predictions", json.dumps(body))
    if response.status_code >= 400:
        assert Prediction.objects.count() == before


@pytest.mark.django_db
@FUZZ
@given(nested=json_values, key=st.text(alphabet=st.characters(), max_size=10))
def test_any_json_inside_the_free_form_objects_is_stored_or_refused(api, fraud_model, nested, key):
    body = envelope_for(fraud_model, f"free-{key!r}"[:200])
    body["input"] = {key: nested}
    body["lineage"] = {"extra": nested}
    _post(api, "/api/v1/predictions", json.dumps(body))


@pytest.mark.django_db
@FUZZ
@given(raw=st.binary(max_size=200))
def test_any_bytes_as_a_body_never_give_a_500(api, fraud_model, raw):
    assert _post(api, "/api/v1/predictions", raw).status_code in {400, 404, 403, 202, 200}
    _post(api, "/api/v1/predictions/batch", raw)


@pytest.mark.django_db
@FUZZ
@given(items=st.lists(json_values, max_size=5))
def test_any_batch_items_never_give_a_500(api, fraud_model, items):
    valid = envelope_for(fraud_model, "batch-fuzz")
    response = _post(api, "/api/v1/predictions/batch", json.dumps({"predictions": [*items, valid]}))
    results = response.json()["results"]
    assert len(results) == len(items) + 1
    assert results[-1]["status"] in {"accepted", "duplicate"}


@pytest.mark.django_db
@FUZZ
# Any character a URL can carry (UTF-8, so no lone surrogates), NUL and controls included.
@given(
    model=st.text(alphabet=st.characters(codec="utf-8"), max_size=20),
    key=st.text(alphabet=st.characters(codec="utf-8"), max_size=20),
)
def test_any_lookup_key_never_gives_a_500(api, fraud_model, model, key):
    response = api.get("/api/v1/predictions", {"model": model, "external_id": key})
    assert response.status_code in {200, 400, 404}
