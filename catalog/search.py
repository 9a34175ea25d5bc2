"""Ranked, typo-tolerant search over the catalog, on PostgreSQL and (more simply) on SQLite.

PostgreSQL: a weighted tsvector per row over every field (title A, summary and keywords B,
body C; kept by a trigger, GIN-indexed) decides which entries match ``websearch_to_tsquery``;
a small vector of just title and summary ranks them (``ts_rank``), so a title hit outranks a
summary hit, which outranks a body-only hit. When the words as typed match nothing, each word
the catalog does not contain is replaced by the closest word it does (trigram similarity over
the trigger-kept ``catalog_searchword`` vocabulary) and the corrected query runs instead.

SQLite: every query word must appear (icontains) in some field; a word that appears nowhere is
replaced by its closest vocabulary words (difflib). Score = 10 per word in the title, 4 in the
summary or keywords, 1 in the body.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import reduce
from operator import or_
from typing import Any

from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db import connection, transaction
from django.db.models import (
    Case,
    ExpressionWrapper,
    F,
    FloatField,
    Q,
    QuerySet,
    Value,
    When,
)
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
_HEADLINE_OPTIONS = (
    f'StartSel="{_MARK_OPEN}", StopSel="{_MARK_CLOSE}", MaxWords=28, MinWords=12, '
    'MaxFragments=2, FragmentDelimiter=" … "'
)


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


# A correction must share this much of its trigrams with the word typed (0.54 for
# "tokeniser" / "tokenizer", 0.58 for "tokenzer", 0.7 for "curency" / "currency").
CORRECTION_MIN_SIMILARITY = 0.45


def _pg_match(qs: QuerySet, q: str) -> QuerySet:
    return qs.filter(search_vector=_pg_query(q))


def _pg_exact_exists(model: Any, q: str) -> bool:
    return model.objects.filter(search_vector=_pg_query(q)).exists()


@contextmanager
def index_scans(search: TextSearch | None = None, *models: Any) -> Iterator[None]:
    """Run a text search's statements with sequential scans discouraged (PostgreSQL).

    The full ``search_vector`` lives out of line (migration 0004) so that scans of the
    matches stay narrow; the planner does not count the cost of fetching such values, so
    for a common word it may pick a sequential scan that decompresses every entry's vector
    (50,000 entries: 190 ms) over the GIN index (12 ms). Inside this block it won't. JIT
    is off too: the cost penalty of a disabled scan type would otherwise push small queries
    past the JIT threshold (20-80 ms compiling a query that runs in 0.1 ms).

    For each of ``models``, the query's spelling is settled inside the block (see
    ``TextSearch.effective``), so that a probe of the model, when one is needed, runs on the
    index too: a plain scan looking for the first match reads and decompresses vectors until
    it finds one (46 ms for a word in 3 % of 50,000 entries), the index answers in 0.1 - 3 ms."""
    if not (search and is_postgres()):
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('enable_seqscan', 'off', true), set_config('jit', 'off', true)"
            )
        for model in models:
            search.effective(model)
        yield


def _pg_rank(qs: QuerySet, q: str) -> QuerySet:
    return qs.annotate(score=_pg_score(q))


def _pg_score(q: str) -> SearchRank:
    return SearchRank(F("rank_vector"), _pg_query(q))


def _pg_corrections(terms: list[str]) -> dict[str, str]:
    """For each term the catalog never uses, its closest catalog word (if one is close)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT t.term,
                   (SELECT w.word FROM catalog_searchword AS w
                     WHERE w.word %% t.term AND similarity(w.word, t.term) >= %s
                     ORDER BY similarity(w.word, t.term) DESC, w.word LIMIT 1)
              FROM unnest(%s::text[]) AS t(term)
             WHERE NOT EXISTS (SELECT 1 FROM catalog_searchword AS w WHERE w.word = t.term)
            """,
            [CORRECTION_MIN_SIMILARITY, terms],
        )
        return {term: word for term, word in cursor.fetchall() if word}


def _pg_all_known(terms: list[str]) -> bool:
    """Does the catalog use every one of ``terms`` somewhere? (Then no word needs correcting.)"""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM catalog_searchword WHERE word = ANY(%s)", [terms])
        return cursor.fetchone()[0] == len(terms)


def _replace_words(q: str, replacements: dict[str, str]) -> str:
    for term, word in replacements.items():
        q = re.sub(rf"(?<![\w-]){re.escape(term)}(?![\w-])", word, q, flags=re.IGNORECASE)
    return q


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
        self._effective: dict[str, str] = {}
        self._corrected: str | None = None
        self._all_known: bool | None = None

    def __bool__(self) -> bool:
        return bool(words(self.q))

    def expanded(self, qs: QuerySet) -> list[list[str]]:
        key = qs.model._meta.model_name
        if key not in self._expanded:
            self._expanded[key] = _expand(qs, self.q)
        return self._expanded[key]

    def effective(self, model: Any) -> str:
        """PostgreSQL: the query as run against ``model``: as typed when its words match
        something, else with misspelt words corrected. (Widening every query with fuzzy
        matches would make PostgreSQL compare every title, and a query whose words exist is
        better answered by exactly those entries.)"""
        key = model._meta.model_name
        if key not in self._effective:
            # Every word in the catalog's vocabulary: nothing to correct, whichever model (one
            # primary-key lookup, where asking a model's index for a match of a common word
            # costs milliseconds). Else ask the model.
            if self._all_known is None:
                self._all_known = _pg_all_known(list(dict.fromkeys(words(self.q))))
            self._effective[key] = (
                self.q
                if self._all_known or _pg_exact_exists(model, self.q)
                else self.corrected_pg()
            )
        return self._effective[key]

    def corrected_pg(self) -> str:
        if self._corrected is None:
            terms = [t for t in dict.fromkeys(words(self.q)) if len(t) >= 4]
            fixes = _pg_corrections(terms) if terms else {}
            self._corrected = _replace_words(self.q, fixes)
        return self._corrected

    def correction(self, qs: QuerySet) -> str:
        """The corrected query shown to the user ("" when the words were used as typed)."""
        if not self:
            return ""
        if is_postgres():
            q = self.effective(qs.model)
            return q if q != self.q else ""
        expanded = self.expanded(qs)
        if all(alts == [w] for alts, w in zip(expanded, words(self.q), strict=False)):
            return ""
        return " ".join(alts[0] for alts in expanded)

    def match(self, qs: QuerySet) -> QuerySet:
        if not self:
            return qs
        if is_postgres():
            return _pg_match(qs, self.effective(qs.model))
        return _simple_match(qs, self.q, self.expanded(qs))

    def rank(self, qs: QuerySet) -> QuerySet:
        if not self:
            return qs.annotate(score=Value(0.0, output_field=FloatField()))
        if is_postgres():
            return _pg_rank(qs, self.effective(qs.model))
        return _simple_rank(qs, self.expanded(qs))

    def pg_score(self, model: Any) -> SearchRank:
        """PostgreSQL: the relevance expression ``rank`` annotates as ``score``."""
        return _pg_score(self.effective(model))

    def snippets(self, model: Any, ids: list[int]) -> dict[int, str]:
        """Highlighted, HTML-escaped snippets (``<mark>``) for the given rows."""
        if not ids:
            return {}
        qs = model.objects.filter(pk__in=ids)
        _title, summary_fields, body_fields = FIELDS[model._meta.model_name]
        text_fields = [f for f in [*summary_fields, *body_fields] if f != "keywords"]
        if is_postgres() and self:
            # One plain statement: the ORM's nested Concat costs more to compile than to run.
            table = connection.ops.quote_name(model._meta.db_table)
            doc = ", ".join(connection.ops.quote_name(f) for f in text_fields)
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT id, ts_headline('english', concat_ws(' \n ', {doc}), "
                    "websearch_to_tsquery('english', %s), %s) "
                    f"FROM {table} WHERE id = ANY(%s)",
                    [self.effective(model), _HEADLINE_OPTIONS, ids],
                )
                return {pk: _finish(text) for pk, text in cursor.fetchall()}
        # The simple path (SQLite, or no query): highlight the words and their alternatives.
        terms = [alt for alts in self.expanded(qs) for alt in alts] if self else []
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
