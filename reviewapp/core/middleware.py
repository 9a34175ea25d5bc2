from __future__ import annotations

import logging
import re
import zoneinfo
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _

from .context import (
    get_request_id,
    reset_request,
    reset_request_id,
    set_request,
    set_request_id,
)
from .params import DB_INT_MAX, UNSTORABLE_MESSAGE, first_unstorable
from .registry import body_limit_for

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIdMiddleware:
    """Gives each request an id (or keeps a sane X-Request-ID) that audit events carry."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        token = set_request_id(incoming if _SAFE_REQUEST_ID.match(incoming) else None)
        request.request_id = get_request_id()
        request_token = set_request(request)
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = request.request_id
            return response
        finally:
            reset_request(request_token)
            reset_request_id(token)


class RequestIdLogFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = get_request_id() or "-"
        return True


class BodySizeLimitMiddleware:
    """Refuses an oversized body with 413 before any of it is parsed (the limits are the
    ones apps registered for their paths)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = body_limit_for(request.path)
        if limit is not None and request.method in {"POST", "PUT", "PATCH"}:
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > limit:
                return too_large(limit)
        return self.get_response(request)


def too_large(limit: int) -> JsonResponse:
    message = f"Request body is larger than the limit of {limit} bytes."
    return JsonResponse({"errors": {"body": [message]}}, status=413)


class UserTimezoneMiddleware:
    """Shows times in the signed-in user's zone (stored in UTC everywhere)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        zone_name = settings.DISPLAY_TIME_ZONE
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            pref = getattr(user, "preference", None) if hasattr(user, "preference") else None
            if pref is not None:
                zone_name = pref.time_zone
        try:
            timezone.activate(zoneinfo.ZoneInfo(zone_name))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            timezone.activate(zoneinfo.ZoneInfo("UTC"))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


class PermissionsPolicyMiddleware:
    """Turns off the browser features listed in ``settings.PERMISSIONS_POLICY_FEATURES`` (camera,
    microphone, geolocation, ...) for every response: no page of ours uses any of them, so a
    script that got in somehow cannot either."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.header = ", ".join(f"{feature}=()" for feature in settings.PERMISSIONS_POLICY_FEATURES)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if self.header:
            response.setdefault("Permissions-Policy", self.header)
        return response


class StorableInputMiddleware:
    """Refuses a NUL character or an unpaired surrogate in any query or form parameter (name
    or value) with a 400 that names the parameter, before any view or database sees it:
    PostgreSQL cannot store NUL in text, and no database stores a lone surrogate. JSON bodies
    are checked by the one JSON parser (``core.parsers``); API bodies are not read here, so the
    ingestion views keep their raw body.

    Pages get a small HTML page, ``/api/`` gets ``{"errors": {name: [message]}}``.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        name = _bad_parameter(request)
        if name is not None:
            return bad_parameter_response(request, name, str(UNSTORABLE_MESSAGE))
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Any, view_args: Any, view_kwargs: dict[str, Any]
    ) -> HttpResponse | None:
        """An id in the path (``<int:item_id>``) past what an integer column holds names no
        row: 404 here, rather than a database error when the view looks it up."""
        for name, value in view_kwargs.items():
            if isinstance(value, int) and not -DB_INT_MAX <= value <= DB_INT_MAX:
                message = str(_("No such %(name)s.") % {"name": name})
                if is_api_path(request.path):
                    return JsonResponse({"errors": {name: [message]}}, status=404)
                raise Http404(message)
        return None


def _pairs(data: Any) -> list[tuple[str, str]]:
    return [(key, value) for key, values in data.lists() for value in values]


def _bad_parameter(request: HttpRequest) -> str | None:
    name = first_unstorable(_pairs(request.GET))
    if name is not None or is_api_path(request.path):
        return name
    content_type = request.META.get("CONTENT_TYPE", "")
    if request.method == "POST" and content_type.startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        try:
            return first_unstorable(_pairs(request.POST))
        except MultiPartParserError:
            return "body"
    return None


def is_api_path(path: str) -> bool:
    return path.startswith("/api/")


def bad_parameter_response(request: HttpRequest, name: str, message: str) -> HttpResponse:
    """400 naming the parameter: JSON for the API, a plain page for people."""
    if is_api_path(request.path):
        return JsonResponse({"errors": {name: [message]}}, status=400)
    html = render_to_string("core/bad_input.html", {"name": name, "message": message}, request=None)
    return HttpResponse(html, status=400)
