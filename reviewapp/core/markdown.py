"""Markdown written by people (catalog entries, review guidelines), rendered to HTML that is
safe to put in a page. The one renderer and the one allow-list of the project.

Markdown itself passes raw HTML through, so the output is always cleaned with nh3 (an
allow-list sanitiser): only the tags and attributes below survive; scripts, styles, event
handlers, iframes, SVG and images are dropped; a link keeps an http(s) or mailto URL only
(``javascript:`` and ``data:`` go) and gets ``rel="noopener noreferrer"``.
"""

from __future__ import annotations

import markdown as md
import nh3

# No h1: a page's own title is its only h1. No img: a picture from anywhere would load in a
# reviewer's browser (tracking, mixed content).
ALLOWED_TAGS = frozenset({
    "p", "br", "hr", "strong", "em", "b", "i", "code", "pre", "blockquote",
    "ul", "ol", "li", "a", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr",
    "th", "td", "del", "sup", "sub", "dl", "dt", "dd", "kbd",
})  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "th": {"align"}, "td": {"align"}}
URL_SCHEMES = frozenset({"http", "https", "mailto"})


def render_markdown(text: str) -> str:
    if not text:
        return ""
    html = md.markdown(text, extensions=["extra", "sane_lists"], output_format="html")
    return nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=set(URL_SCHEMES),
        link_rel="noopener noreferrer",
        strip_comments=True,
    )
