"""Markdown for long fields, rendered to HTML that is safe to put in a page.

Markdown itself passes raw HTML through, so the output is always cleaned with nh3 (an
allow-list sanitiser): scripts, event handlers, styles and non-http(s)/mailto links
(``javascript:``, ``data:``) are dropped, and every link gets ``rel="noopener noreferrer"``.
"""

from __future__ import annotations

import markdown as md
import nh3

ALLOWED_TAGS = {
    "p", "br", "hr", "strong", "em", "b", "i", "code", "pre", "blockquote",
    "ul", "ol", "li", "a", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th",
    "td", "del", "sup", "sub", "dl", "dt", "dd", "kbd",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "th": {"align"}, "td": {"align"}}
URL_SCHEMES = {"http", "https", "mailto"}


def render_markdown(text: str) -> str:
    if not text:
        return ""
    html = md.markdown(text, extensions=["extra", "sane_lists"], output_format="html")
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer",
        strip_comments=True,
    )
