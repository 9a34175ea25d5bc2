"""Ranked, typo-tolerant search over the catalog, on PostgreSQL and (more simply) on SQLite.

PostgreSQL: a weighted tsvector per row (title A, summary and keywords B, body C; kept by a
trigger, GIN-indexed) matched with ``websearch_to_tsquery``, OR a pg_trgm word similarity on
the title (GIN trigram index) so a misspelt word still finds the entry. Score = ts_rank + half
the title's trigram word similarity, so a title hit outranks a body hit.

SQLite: every query word must appear (icontains) in some field; a word that appears nowhere is
replaced by its closest vocabulary words (difflib). Score = 10 per word in the title, 4 in the
summary or keywords, 1 in the body.
"""

from __future__ import annotations

import difflib
import re
from functools import reduce
from operator import or_
from typing import Any

from django.contrib.postgres.search import (
    SearchHeadline,
    SearchQuery,
    SearchRank,
    TrigramWordSimilarity,
)
from django.db import connection
from django.db.models import (
    Case,
    ExpressionWrapper,
    F,
    FloatField,
    Q,
    QuerySet,
    TextField,
    Value,
    When,
)
from django.db.models.functions import Concat
from django.utils.html import escape

WORD_RE = re.compile(r"[\w][\w\-']*", re.UNICODE)
MAX_QUERY = 200
# Fields per model: (title, [summary-like], [body])
FIELDS: dict[str, tuple[str, list[str], list[str]]] = {
    "failuremode": (
        "title",
        ["summary", "keywords"],
        ["cause", "effect", "latent_conditions", "trigger_steps", "detection_signals",
         "business_impact"],
    ),
    "mitigationtemplate": (
        "title",
        ["summary"],
        ["detector_signals", "alert_thresholds", "rollback_procedure", "fallback_plan",
         "trade_offs"],
    ),
    "casestudy": ("title", ["summary"], ["narrative"]),
}  # fmt: skip
_MARK_OPEN, _MARK_CLOSE = "\x02", "\x03"


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def clean_query(q: str | None) -> str:
    return " ".join((q or "").split())[:MAX_QUERY]


def words(q: str) -> list[str]:
    return [w.lower() for w in WORD_RE.findall(q) if len(w) > 1]


def _fields(qs: QuerySet) -> tuple[str, list[str], list[str]]:
    return FIELDS[qs.model._meta.model_name]


# --- PostgreSQL -----------------------------------------------------------------------------
def _pg_query(q: str) -> SearchQuery:
    return SearchQuery(q, config="english", search_type="websearch")


def _pg_match(qs: QuerySet, q: str, *, fuzzy: bool) -> QuerySet:
    condition = Q(search_vector=_pg_query(q))
    if fuzzy:
        for term in words(q):
            if len(term) >= 4:
                condition |= Q(title__trigram_word_similar=term)
    return qs.filter(condition)


def _pg_exact_exists(model: Any, q: str) -> bool:
    return model.objects.filter(search_vector=_pg_query(q)).exists()


def _pg_rank(qs: QuerySet, q: str) -> QuerySet:
    return qs.annotate(
        rank=SearchRank(F("search_vector"), _pg_query(q)),
        title_sim=TrigramWordSimilarity(Value(q), "title"),
    ).annotate(score=F("rank") + 0.5 * F("title_sim"))


# --- SQLite (and any other database) --------------------------------------------------------
def _all_text_q(fields: list[str], term: str) -> Q:
    return reduce(or_, (Q(**{f"{f}__icontains": term}) for f in fields))


def _vocabulary(qs: QuerySet) -> set[str]:
    title, summary_fields, _body = _fields(qs)
    vocab: set[str] = set()
    for row in qs.model.objects.values_list(title, *summary_fields):
        for text in row:
            vocab.update(words(text or ""))
    return vocab


def _expand(qs: QuerySet, q: str) -> list[list[str]]:
    """Each query word with its alternatives: itself if present somewhere, else close words."""
    title, summary_fields, body_fields = _fields(qs)
    every = [title, *summary_fields, *body_fields]
    out: list[list[str]] = []
    vocab: set[str] | None = None
    for term in words(q):
        if qs.model.objects.filter(_all_text_q(every, term)).exists():
            out.append([term])
            continue
        if vocab is None:
            vocab = _vocabulary(qs)
        close = difflib.get_close_matches(term, vocab, n=3, cutoff=0.75)
        out.append(close or [term])
    return out


def _simple_match(qs: QuerySet, q: str, expanded: list[list[str]]) -> QuerySet:
    title, summary_fields, body_fields = _fields(qs)
    every = [title, *summary_fields, *body_fields]
    for alternatives in expanded:
        qs = qs.filter(reduce(or_, (_all_text_q(every, alt) for alt in alternatives)))
    return qs


def _simple_rank(qs: QuerySet, expanded: list[list[str]]) -> QuerySet:
    title, summary_fields, body_fields = _fields(qs)
    parts = []
    for alternatives in expanded:
        for alt in alternatives:
            parts.append(Case(When(**{f"{title}__icontains": alt}, then=10), default=0))
            parts.append(Case(When(_all_text_q(summary_fields, alt), then=4), default=0))
            parts.append(Case(When(_all_text_q(body_fields, alt), then=1), default=0))
    score = reduce(lambda a, b: a + b, parts, Value(0))
    return qs.annotate(score=ExpressionWrapper(score, output_field=FloatField()))


# --- Public ---------------------------------------------------------------------------------
class TextSearch:
    """One query's matching and ranking, prepared once and applied to any queryset of a model."""

    def __init__(self, q: str) -> None:
        self.q = clean_query(q)
        self._expanded: dict[str, list[list[str]]] = {}
        self._fuzzy: dict[str, bool] = {}

    def __bool__(self) -> bool:
        return bool(words(self.q))

    def expanded(self, qs: QuerySet) -> list[list[str]]:
        key = qs.model._meta.model_name
        if key not in self._expanded:
            self._expanded[key] = _expand(qs, self.q)
        return self._expanded[key]

    def match(self, qs: QuerySet) -> QuerySet:
        if not self:
            return qs
        if is_postgres():
            return _pg_match(qs, self.q, fuzzy=self.needs_fuzzy(qs))
        return _simple_match(qs, self.q, self.expanded(qs))

    def needs_fuzzy(self, qs: QuerySet) -> bool:
        """Typo tolerance (trigram similarity on titles) only when the words as typed match
        nothing: OR-ing it into every query makes PostgreSQL scan every title, and a query
        whose words exist is better answered by exactly those entries."""
        key = qs.model._meta.model_name
        if key not in self._fuzzy:
            self._fuzzy[key] = not _pg_exact_exists(qs.model, self.q)
        return self._fuzzy[key]

    def rank(self, qs: QuerySet) -> QuerySet:
        if not self:
            return qs.annotate(score=Value(0.0, output_field=FloatField()))
        if is_postgres():
            return _pg_rank(qs, self.q)
        return _simple_rank(qs, self.expanded(qs))

    def terms(self, qs: QuerySet) -> list[str]:
        if is_postgres():
            return words(self.q)
        return [alt for alts in self.expanded(qs) for alt in alts]

    def snippets(self, model: Any, ids: list[int]) -> dict[int, str]:
        """Highlighted, HTML-escaped snippets (``<mark>``) for the given rows."""
        if not ids:
            return {}
        qs = model.objects.filter(pk__in=ids)
        _title, summary_fields, body_fields = FIELDS[model._meta.model_name]
        text_fields = [f for f in [*summary_fields, *body_fields] if f != "keywords"]
        if is_postgres() and self:
            doc = Concat(
                *[p for f in text_fields for p in (F(f), Value(" \n "))], output_field=TextField()
            )
            rows = qs.annotate(
                snippet=SearchHeadline(
                    doc,
                    _pg_query(self.q),
                    config="english",
                    start_sel=_MARK_OPEN,
                    stop_sel=_MARK_CLOSE,
                    max_words=28,
                    min_words=12,
                    max_fragments=2,
                    fragment_delimiter=" … ",
                )
            ).values_list("pk", "snippet")
            return {pk: _finish(text) for pk, text in rows}
        terms = self.terms(qs) if self else []
        out = {}
        for row in qs.values("pk", *text_fields):
            out[row["pk"]] = _simple_snippet([row[f] or "" for f in text_fields], terms)
        return out


_MD_NOISE = re.compile(r"[*`#]+|\[(.*?)\]\([^)]*\)")


def _plain(text: str) -> str:
    return " ".join(_MD_NOISE.sub(lambda m: m.group(1) or "", text).split())


def _finish(raw: str) -> str:
    """Escape a headline and turn our private markers into <mark> tags."""
    text = escape(_plain(raw or ""))
    return text.replace(_MARK_OPEN, "<mark>").replace(_MARK_CLOSE, "</mark>")


def _simple_snippet(texts: list[str], terms: list[str], width: int = 180) -> str:
    plain = [_plain(t) for t in texts if t]
    chosen, at = (plain[0] if plain else ""), 0
    for text in plain:
        lower = text.lower()
        hits = [lower.find(t) for t in terms if lower.find(t) >= 0]
        if hits:
            chosen, at = text, min(hits)
            break
    start = max(0, at - 60)
    piece = chosen[start : start + width]
    prefix = "… " if start else ""
    suffix = " …" if start + width < len(chosen) else ""
    html = escape(piece)
    for term in sorted(set(terms), key=len, reverse=True):
        html = re.sub(
            f"({re.escape(escape(term))})", _MARK_OPEN + r"\1" + _MARK_CLOSE, html, flags=re.I
        )
    html = html.replace(_MARK_OPEN, "<mark>").replace(_MARK_CLOSE, "</mark>")
    return prefix + html + suffix
