"""Content negotiation for the API (its own module: DRF reads it from settings while
``rest_framework.views`` is being imported, so it must not import that module)."""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.negotiation import DefaultContentNegotiation


class JSONFallbackNegotiation(DefaultContentNegotiation):
    """Picks a renderer as DRF does, but never answers 406: a client that asks for HTML (a
    browser, ``Accept: text/html``) gets the view's first renderer (JSON on the API) rather
    than an error after the request may already have done its work.

    The same for ``?format=``: DRF answers 404 "Not found." when no renderer has that name
    (``?format=xml``), a status no list operation documents and a false statement about the
    resource. A format no renderer has is ignored like an unknown Accept header; a format one
    has still picks it (the schema's ``?format=json``)."""

    def filter_renderers(self, renderers, format):
        matching = [renderer for renderer in renderers if renderer.format == format]
        return matching or renderers

    def select_renderer(self, request, renderers, format_suffix=None):
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except exceptions.NotAcceptable:
            renderer = renderers[0]
            return renderer, renderer.media_type
