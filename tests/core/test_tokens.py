"""One reader of ``Authorization: <scheme> <token>`` for service and personal tokens."""

import pytest
from django.test import RequestFactory
from rest_framework.exceptions import AuthenticationFailed

from reviewapp.core.tokens import token_from_header


def _request(header: str):
    return RequestFactory().get("/api/v1/models", HTTP_AUTHORIZATION=header)


def test_the_token_of_its_own_scheme_is_returned():
    assert token_from_header(_request("Bearer fsp_abc_def"), "Bearer") == "fsp_abc_def"
    assert token_from_header(_request("token fs_abc_def"), "Token") == "fs_abc_def"


def test_another_scheme_is_left_to_the_next_authentication_class():
    assert token_from_header(_request("Token fs_abc_def"), "Bearer") is None
    assert token_from_header(RequestFactory().get("/"), "Bearer") is None


@pytest.mark.parametrize("header", ["Bearer", "Bearer a b"])
def test_a_malformed_header_of_its_scheme_is_refused_naming_the_shape(header):
    with pytest.raises(AuthenticationFailed, match="expected 'Bearer <token>'"):
        token_from_header(_request(header), "Bearer")


def test_for_the_api_a_malformed_header_is_a_401(client):
    response = client.get("/api/v1/models", HTTP_AUTHORIZATION="Token a b")
    assert response.status_code == 401
    assert "Token <token>" in response.content.decode()
