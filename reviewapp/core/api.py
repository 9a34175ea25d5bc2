"""API error shape: every error answers ``{"errors": {"<field.path>": ["message", ...]}}``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, serializers, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .exceptions import ServiceError
from .forms import normalize_line_endings
from .params import DB_INT_MAX, parse_int


def flatten_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """Turn DRF's nested error detail into dotted field paths (``output.label``)."""
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if key in ("non_field_errors", "detail"):
                # About the object as a whole: the object's own path, or `detail` for the
                # whole body (the error component's documented name; DRF's is not a field).
                path = prefix or "detail"
            for k, v in flatten_errors(value, path).items():
                out.setdefault(k, []).extend(v)
    elif isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            out[prefix or "detail"] = [str(item) for item in detail]
        else:
            for index, item in enumerate(detail):
                for k, v in flatten_errors(item, f"{prefix}[{index}]").items():
                    out.setdefault(k, []).extend(v)
    else:
        out[prefix or "detail"] = [str(detail)]
    return out


def error_response(errors: dict[str, list[str]], status_code: int) -> Response:
    return Response({"errors": errors}, status=status_code)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ServiceError):
        return error_response(exc.errors, exc.status)
    if isinstance(exc, exceptions.ParseError):
        return error_response(
            {"body": [f"Malformed JSON: {exc.detail}"]}, status.HTTP_400_BAD_REQUEST
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    response.data = {"errors": flatten_errors(response.data)}
    return response


class StrictInputSerializer(serializers.Serializer):
    """Base of every JSON input serializer: a field it does not declare is refused with a 400
    naming it, as ingestion does, rather than silently ignored (a client that sends
    ``reviewer`` or ``decided_at`` must learn the server did not take them). Text values
    arrive with ``\n`` line endings only (``core.forms.normalize_line_endings``)."""

    default_error_messages = {"unknown_field": _("Unknown field: this endpoint does not take it.")}

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = sorted(str(key) for key in data if key not in self.fields)
            if unknown:
                message = str(self.error_messages["unknown_field"])
                raise serializers.ValidationError({key: [message] for key in unknown})
        # Text a person wrote keeps "\n" line endings only, as the HTML forms do.
        return super().to_internal_value(normalize_line_endings(data))


def id_field(**kwargs: Any) -> serializers.IntegerField:
    """An integer input that fits a database integer column (an id, a generation, a version)."""
    return serializers.IntegerField(min_value=0, max_value=DB_INT_MAX, **kwargs)


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    """limit/offset paging whose offset is a whole number a database takes: a bad or huge one
    is a 400 naming ``offset`` (DRF's own reads "²" as 0 and passes 10**20 to the database)."""

    max_limit = 500

    def get_offset(self, request: Any) -> int:
        return parse_int(
            request.query_params.get(self.offset_query_param),
            name=self.offset_query_param,
            minimum=0,
            maximum=DB_INT_MAX,
            default=0,
        )
