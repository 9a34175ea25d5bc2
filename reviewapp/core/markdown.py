"""Markdown written by people (catalog entries, review guidelines), rendered to HTML that is
safe to put in a page. The one renderer and the one allow-list of the project.

Markdown itself passes raw HTML through, so the output is always cleaned with nh3 (an
allow-list sanitiser): only the tags and attributes below survive; scripts, styles, event
handlers, iframes and SVG are dropped; a link keeps an http(s) or mailto URL only
(``javascript:`` and ``data:`` go) and gets ``rel="noopener noreferrer"``.

Images load in a reviewer's browser, so a picture from anywhere could track readers or mix
content: a Markdown image (``![alt](src)``) is shown only when its source is this site (a path
starting with ``/``) or an origin listed in ``settings.MARKDOWN_IMAGE_ORIGINS`` (which the
Content-Security-Policy's img-src allows too); any other image becomes a link to it. Raw
``<img>`` HTML keeps the same rule, and one whose source is not allowed is dropped.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

import markdown as md
import nh3
from django.conf import settings
from markdown.treeprocessors import Treeprocessor

# No h1: a page's own title is its only h1.
ALLOWED_TAGS = frozenset({
    "p", "br", "hr", "strong", "em", "b", "i", "code", "pre", "blockquote",
    "ul", "ol", "li", "a", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr",
    "th", "td", "del", "sup", "sub", "dl", "dt", "dd", "kbd", "img",
})  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "th": {"align"},
    "td": {"align"},
    "img": {"src", "alt", "title"},
}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
_IMG_WITHOUT_SRC = re.compile(r"<img(?![^>]*\ssrc=)[^>]*>")


def image_source_allowed(src: str) -> bool:
    """This site (a path from the root, not ``//host``) or a listed origin."""
    src = src.strip()
    if src.startswith("/") and not src.startswith(("//", "/\\")):
        return True
    try:
        parts = urlsplit(src)
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    origin = f"{parts.scheme}://{parts.netloc}".lower()
    return origin in {o.rstrip("/").lower() for o in settings.MARKDOWN_IMAGE_ORIGINS}


class _ImagesToLinks(Treeprocessor):
    """A Markdown image from a source that is not allowed becomes a link to it."""

    def run(self, root: ET.Element) -> None:
        for parent in root.iter():
            for index, child in enumerate(list(parent)):
                if child.tag != "img" or image_source_allowed(child.get("src", "")):
                    continue
                link = ET.Element("a", {"href": child.get("src", "")})
                link.text = child.get("alt") or child.get("src", "")
                link.tail = child.tail
                parent.remove(child)
                parent.insert(index, link)


class _ImagePolicy(md.Extension):
    def extendMarkdown(self, markdown: md.Markdown) -> None:  # noqa: N802 - Markdown's name
        markdown.treeprocessors.register(_ImagesToLinks(markdown), "failsafe_images", 0)


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    if tag == "img" and attribute == "src" and not image_source_allowed(value):
        return None
    return value


def render_markdown(text: str) -> str:
    if not text:
        return ""
    html = md.markdown(
        text, extensions=["extra", "sane_lists", _ImagePolicy()], output_format="html"
    )
    cleaned = nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=set(URL_SCHEMES),
        link_rel="noopener noreferrer",
        strip_comments=True,
        attribute_filter=_attribute_filter,
    )
    # A raw <img> whose source was refused is left without one: drop it.
    return _IMG_WITHOUT_SRC.sub("", cleaned)
