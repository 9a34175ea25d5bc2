"""The one Markdown renderer: the usual XSS payloads never reach a page."""

from __future__ import annotations

import pytest

from reviewapp.core.markdown import render_markdown

PAYLOADS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=https://evil.example/x.js></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    '<p onclick="alert(1)">click</p>',
    '<a href="#" onmouseover="alert(1)">hover</a>',
    "<body onload=alert(1)>",
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    '<a href="&#106;avascript:alert(1)">entity</a>',
    '<a href=" javascript:alert(1)">space</a>',
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    '<a href="data:text/html,<script>alert(1)</script>">data</a>',
    "![x](javascript:alert(1))",
    '<iframe src="https://evil.example"></iframe>',
    '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    "<svg onload=alert(1)><circle r=1 /></svg>",
    '<svg><a xlink:href="javascript:alert(1)"><text>x</text></a></svg>',
    "<math><mi xlink:href=javascript:alert(1)>x</mi></math>",
    "<style>body{background:url(javascript:alert(1))}</style>",
    '<p style="background:url(javascript:alert(1))">styled</p>',
    '<object data="javascript:alert(1)"></object>',
    '<embed src="javascript:alert(1)">',
    '<form action="javascript:alert(1)"><button>go</button></form>',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<base href="javascript:alert(1)//">',
    "<!-- <script>alert(1)</script> -->",
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_xss_payloads_are_neutralised(payload):
    html = render_markdown(f"Before\n\n{payload}\n\nAfter").lower()
    for bad in (
        "<script", "javascript:", "data:", "onerror", "onload", "onclick", "onmouseover",
        "<iframe", "srcdoc", "<svg", "<math", "<style", "style=", "<object", "<embed",
        "<form", "<meta", "<base", "<img", "<!--", "alert(1)</script",
    ):  # fmt: skip
        assert bad not in html, (payload, html)
    assert "before" in html and "after" in html


def test_ordinary_markdown_survives():
    html = render_markdown(
        "## Card fraud\n\n- **Accept** when the inputs agree\n- `code` and *emphasis*\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n\n[docs](https://example.com/a) "
        "[mail](mailto:ml@example.com) [rel](/catalog/)"
    )
    assert "<h2>Card fraud</h2>" in html
    assert "<li><strong>Accept</strong> when the inputs agree</li>" in html
    assert "<code>code</code>" in html and "<em>emphasis</em>" in html
    assert "<table>" in html and "<td>1</td>" in html
    assert '<a href="https://example.com/a" rel="noopener noreferrer">docs</a>' in html
    assert 'href="mailto:ml@example.com"' in html
    assert 'href="/catalog/"' in html


def test_a_page_title_heading_is_not_allowed():
    assert "<h1" not in render_markdown("# Big")
    assert "Big" in render_markdown("# Big")


def test_empty_text_is_empty_html():
    assert render_markdown("") == ""


@pytest.mark.django_db
def test_review_guidelines_use_the_same_renderer(lead, fraud_model):
    from reviewapp.services.pools import guideline_publish

    body = "## Rules\n\n<script>alert(1)</script> [x](javascript:alert(1)) <img src=x>"
    version = guideline_publish(model=fraud_model, body=body, by=lead)
    assert version.html == render_markdown(body)
    assert "<script" not in version.html and "javascript:" not in version.html


def test_a_remote_markdown_image_becomes_a_link():
    html = render_markdown("See ![the chart](https://tracker.example/pixel.png) here.")
    assert "<img" not in html
    assert (
        '<a href="https://tracker.example/pixel.png" rel="noopener noreferrer">the chart</a>'
        in (html)
    )


def test_an_image_from_this_site_is_shown():
    html = render_markdown("![diagram](/static/img/favicon.svg)")
    assert '<img alt="diagram" src="/static/img/favicon.svg">' in html


@pytest.mark.parametrize(
    "src", ["//tracker.example/p.png", "http://tracker.example/p.png", "relative.png"]
)
def test_other_image_sources_never_load(src):
    assert "<img" not in render_markdown(f"![x]({src})")
    assert "<img" not in render_markdown(f'<img src="{src}" alt="x">')


def test_listed_origins_may_serve_images(settings):
    settings.MARKDOWN_IMAGE_ORIGINS = ["https://img.example.org"]
    html = render_markdown(
        "![a](https://img.example.org/a.png) ![b](https://img.example.org.evil/b.png)"
    )
    assert '<img alt="a" src="https://img.example.org/a.png">' in html
    assert '<img src="https://img.example.org.evil' not in html
    assert 'href="https://img.example.org.evil/b.png"' in html
    raw = render_markdown('<img src="https://img.example.org/c.png" onerror="alert(1)">')
    assert '<img src="https://img.example.org/c.png">' in raw and "onerror" not in raw
