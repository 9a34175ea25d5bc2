from __future__ import annotations

import pytest
from django.urls import reverse

from reviewapp.core.markdown import render_markdown

pytestmark = pytest.mark.django_db


def test_script_tags_are_removed():
    html = render_markdown("Hello <script>alert('x')</script> **world**")
    assert "<script" not in html and "alert(" not in html
    assert "<strong>world</strong>" in html


def test_javascript_links_are_removed():
    html = render_markdown('[click](javascript:alert(1)) and <a href="javascript:evil()">raw</a>')
    assert "javascript:" not in html
    assert "click" in html and "raw" in html


def test_event_handlers_and_styles_are_removed_but_safe_links_kept():
    html = render_markdown('<img src=x onerror="alert(1)"> [docs](https://example.com/a)')
    assert "onerror" not in html and "<img" not in html
    assert 'href="https://example.com/a"' in html and 'rel="noopener noreferrer"' in html


def test_detail_page_renders_sanitised_markdown(client, engineer, make_fm):
    fm = make_fm(
        engineer, cause="Step <script>steal()</script> [x](javascript:steal())\n\n- one\n- two"
    )
    client.force_login(engineer)
    body = client.get(reverse("catalog:failure-mode", args=[fm.slug])).content.decode()
    assert "steal()" not in body
    assert "<li>one</li>" in body
