"""Ranking on a fixture with a known right answer, typo tolerance, facets, API, query counts.

Runs on whichever database the suite uses: PostgreSQL full-text + trigram, or the SQLite path.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.http import QueryDict
from django.urls import reverse

from catalog import selectors, services
from tests.factories import signed_in_queries

pytestmark = pytest.mark.django_db


@pytest.fixture
def corpus(engineer, editor, editor2, make_fm):
    title_hit = make_fm(
        editor,
        "Tokenizer version mismatch between training and serving",
        summary="Serving applies a different preprocessing library release than training did.",
        category="training-serving-skew",
        severity="S2",
        tags={"model_family": ["transformer"], "data_domain": ["support tickets"]},
        publish_by=editor2,
    )
    body_hit = make_fm(
        engineer,
        "Gateway latency spikes under load",
        summary="The model gateway exceeds its latency budget during peaks.",
        category="infrastructure",
        severity="S3",
        cause="Autoscaling is slow; a tokenizer warm-up on cold start adds seconds.",
        tags={"model_family": ["transformer"], "deployment": ["online api"]},
    )
    other = make_fm(
        engineer,
        "Currency mix drift after a market launch",
        summary="A new currency shifts amount distributions.",
        category="data-drift",
        severity="S2",
        tags={"data_domain": ["payments"]},
    )
    return title_hit, body_hit, other


def _search(query: str):
    return selectors.catalog_search(params=QueryDict(query))


def _facets(query: str) -> dict[str, dict[str, int]]:
    """The search page's facet panel as facet -> value -> count."""
    facets = selectors.catalog_facets(params=QueryDict(query))
    return {name: {f.value: f.count for f in values} for name, values in facets.items()}


def test_title_match_ranks_above_body_match(corpus):
    title_hit, body_hit, _other = corpus
    result = _search("q=tokenizer")
    slugs = [fm.slug for fm in result.page.object_list]
    assert slugs == [title_hit.slug, body_hit.slug]


def test_title_beats_summary_beats_body(corpus, engineer, make_fm):
    title_hit, body_hit, _other = corpus
    summary_hit = make_fm(
        engineer, "Vocabulary gaps in support tickets", summary="New tokenizer splits slang."
    )
    slugs = [fm.slug for fm in _search("q=tokenizer").page.object_list]
    assert slugs == [title_hit.slug, summary_hit.slug, body_hit.slug]


def test_typo_is_corrected_and_the_correction_shown(corpus):
    assert _search("q=tokenzer").correction == "tokenizer"
    assert _search("q=tokenizer").correction == ""


def test_tag_changes_reach_filters_and_facets(corpus):
    title_hit, body_hit, _other = corpus
    assert _search("model_family=transformer").total == 2
    body_hit.tags.remove(*body_hit.tags.filter(dimension="model_family"))
    result = _search("model_family=transformer")
    assert [fm.slug for fm in result.page.object_list] == [title_hit.slug]
    assert _facets("q=tokenizer")["model_family"] == {"transformer": 1}


def test_a_word_the_catalog_never_spells_so_but_that_matches_is_not_corrected(corpus):
    """PostgreSQL: words all in the catalog's vocabulary are used as typed without asking
    each model; a word outside it that still matches (here by its stem) is used as typed
    too, and only a word that matches nothing is corrected."""
    if connection.vendor != "postgresql":
        pytest.skip("stemming is PostgreSQL's")
    title_hit, body_hit, _other = corpus
    result = _search("q=tokenizers")
    assert result.correction == "" and result.total == 2
    assert _search("q=tokenzer").correction == "tokenizer"


def test_typo_still_finds_the_entry(corpus):
    title_hit, _body, _other = corpus
    result = _search("q=tokenzer")
    assert [fm.slug for fm in result.page.object_list][0] == title_hit.slug
    result = _search("q=curency+drift")
    assert [fm.slug for fm in result.page.object_list] == [corpus[2].slug]


def test_no_match_is_empty(corpus):
    assert _search("q=xylophone").total == 0


def test_snippets_are_highlighted_and_escaped(corpus, engineer, make_fm):
    make_fm(engineer, "Escaping check", summary="The tokenizer <b>bold</b> claim.")
    result = _search("q=tokenizer")
    snippet = " ".join(str(s) for s in result.snippets.values())
    assert "<mark>" in snippet.lower() or "<mark>tokenizer</mark>" in snippet.lower()
    # Markup in the source never reaches the page: escaped (SQLite) or dropped by
    # ts_headline (PostgreSQL).
    assert "<b>" not in snippet and "bold" in snippet


def test_facet_counts_ignore_own_selection_but_apply_others(corpus):
    assert _search("severity=S2").total == 2
    facets = _facets("severity=S2")
    severity = facets["severity"]
    assert severity["S2"] == 2 and severity["S3"] == 1  # own facet relaxed
    category = facets["category"]
    assert category["training-serving-skew"] == 1
    assert category["data-drift"] == 1
    assert category["infrastructure"] == 0  # S3 entry excluded by the severity filter
    assert category["operations"] == 1 and category["data"] == 1  # parents roll up
    assert facets["model_family"] == {"transformer": 1}
    status = facets["status"]
    assert status["published"] == 1 and status["draft"] == 1


def test_two_facets_in_use_each_counted_with_its_own_selection_lifted(corpus):
    title_hit, body_hit, _other = corpus
    result = _search("severity=S2&model_family=transformer")
    assert result.total == 1
    assert [fm.slug for fm in result.page.object_list] == [title_hit.slug]
    facets = _facets("severity=S2&model_family=transformer")
    severity = facets["severity"]
    assert (severity["S2"], severity["S3"]) == (1, 1)  # transformer entries, any severity
    # S2 entries (the currency one has no family)
    assert facets["model_family"] == {"transformer": 1}
    assert facets["data_domain"] == {"support tickets": 1}  # both selections applied
    query = "q=tokenizer&severity=S3&model_family=transformer"
    assert [fm.slug for fm in _search(query).page.object_list] == [body_hit.slug]
    severity = _facets(query)["severity"]
    assert (severity["S2"], severity["S3"]) == (1, 1)


def test_a_page_past_the_end_shows_the_last_page(corpus):
    result = selectors.catalog_search(params=QueryDict("q=tokenizer"), page_number=7, per_page=1)
    assert result.page.number == 2 and result.total == 2
    assert [fm.slug for fm in result.page.object_list] == [corpus[1].slug]
    result = selectors.catalog_search(params=QueryDict("q=tokenizer"), page_number="x")
    assert result.page.number == 1 and len(result.page.object_list) == 2


def test_tag_and_category_filters_and_sorts(corpus):
    title_hit, body_hit, other = corpus
    assert [f.slug for f in _search("model_family=transformer&sort=severity").page.object_list] == [
        title_hit.slug,
        body_hit.slug,
    ]
    assert [f.slug for f in _search("category=data").page.object_list] == [other.slug]
    assert _search("category=operations&q=tokenizer").total == 2
    services.occurrence_record(
        failure_mode_slug=body_hit.slug,
        source_type="manual",
        source_id="1",
        occurred_at=body_hit.created_at,
    )
    assert _search("sort=occurrences").page.object_list[0].slug == body_hit.slug


def test_api_search_same_as_page(client, corpus, engineer):
    title_hit, body_hit, _ = corpus
    client.force_login(engineer)
    data = client.get("/api/v1/failure-modes?q=tokenizer").json()
    assert [r["slug"] for r in data["results"]] == [title_hit.slug, body_hit.slug]
    assert data["results"][0]["score"] > data["results"][1]["score"]
    data = client.get("/api/v1/failure-modes?q=tokenizer&category=infrastructure").json()
    assert [r["slug"] for r in data["results"]] == [body_hit.slug]
    assert data["results"][0]["tags"]["deployment"] == ["online api"]


def test_api_pages_with_limit_and_offset(client, corpus, engineer):
    title_hit, body_hit, _ = corpus
    client.force_login(engineer)
    data = client.get("/api/v1/failure-modes?q=tokenizer&limit=1").json()
    assert data["count"] == 2 and [r["slug"] for r in data["results"]] == [title_hit.slug]
    assert "offset=1" in data["next"] and data["previous"] is None
    data = client.get(data["next"]).json()
    assert [r["slug"] for r in data["results"]] == [body_hit.slug]
    assert data["next"] is None and data["previous"]
    data = client.get("/api/v1/failure-modes?offset=50").json()
    assert data["count"] == 3 and data["results"] == []


def test_api_bad_filter_names_the_field(client, corpus, engineer):
    client.force_login(engineer)
    response = client.get("/api/v1/failure-modes?severity=S9")
    assert response.status_code == 400
    assert "severity" in response.json()["errors"]
    response = client.get("/api/v1/failure-modes?sort=random")
    assert response.status_code == 400 and "sort" in response.json()["errors"]


def test_api_is_in_openapi_schema(client, engineer):
    client.force_login(engineer)
    schema = client.get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/failure-modes"]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert {"q", "category", "severity", "status", "owner", "sort", "data_domain"} <= names


def test_search_page_query_count_is_pinned(client, corpus, engineer, django_assert_num_queries):
    client.force_login(engineer)
    url = reverse("catalog:search") + "?q=tokenizer&severity=S2"
    # Permissions (2), snippets, mitigations and case studies. PostgreSQL: the index-scan
    # block (savepoint, settings, release); one vocabulary lookup (are all the words used
    # somewhere in the catalog, or is a spelling correction needed?); one statement for the
    # slice and the total; the 20 rows with their category and owner, and their tags.
    # SQLite: the rows, their category, owner and tags; the count, and a probe for each word
    # per searched model.
    # Plus the top bar's count of open incidents for an engineer (cached; cold in a test).
    expected = signed_in_queries(13 if connection.vendor == "postgresql" else 16)
    with django_assert_num_queries(expected):
        response = client.get(url)
    assert response.status_code == 200
    body = response.content.decode()
    assert "Tokenizer version mismatch" in body
    # The facet panel asks for its counts once the results are shown.
    facets_url = reverse("catalog:search-facets") + "?q=tokenizer&amp;severity=S2"
    assert f'hx-get="{facets_url}"' in body and 'hx-trigger="load"' in body


def test_facet_panel_counts_and_links_back_to_the_search(
    client, corpus, engineer, django_assert_num_queries
):
    client.force_login(engineer)
    url = reverse("catalog:search-facets") + "?q=tokenizer&severity=S2&page=3"
    # Permissions (2), the category tree. PostgreSQL: the vocabulary lookup, the index-scan
    # block (savepoint, settings, release), one statement for every facet. SQLite: grouped
    # facets, the relaxed severity, tag facets, the probe for the word.
    expected = signed_in_queries(8 if connection.vendor == "postgresql" else 7)
    with django_assert_num_queries(expected):
        response = client.get(url, headers={"HX-Request": "true"})
    assert response.status_code == 200
    body = response.content.decode()
    assert body.startswith('<div id="facet-groups">')
    # Toggling the selected value off goes back to the search without it (and page 1).
    assert (
        '<a class="facet selected" href="/catalog/?q=tokenizer" aria-pressed="true" '
        'data-facet="severity:S2">'
    ) in body
    assert 'data-facet="severity:S3"' in body  # the alternative, counted with S2 lifted
    assert "<html" not in body


def test_api_facets_match_the_page(client, corpus, engineer):
    client.force_login(engineer)
    data = client.get("/api/v1/failure-mode-facets?severity=S2").json()
    severity = {f["value"]: f["count"] for f in data["severity"]}
    assert severity["S2"] == 2 and severity["S3"] == 1
    assert {f["value"]: f["selected"] for f in data["severity"]}["S2"] is True
    assert _facets("severity=S2")["category"] == {f["value"]: f["count"] for f in data["category"]}
    response = client.get("/api/v1/failure-mode-facets?severity=S9")
    assert response.status_code == 400 and "severity" in response.json()["errors"]


def test_api_search_query_count_is_pinned(client, corpus, engineer, django_assert_num_queries):
    client.force_login(engineer)
    url = "/api/v1/failure-modes?q=tokenizer&severity=S2"
    # Permissions (2). PostgreSQL: the index-scan block (savepoint, settings, release), the
    # vocabulary lookup, one statement for the slice and the total, the rows with their category
    # and owner, their tags. SQLite: the rows, their category, owner and tags, the count, the
    # probe. Whatever a result shows is loaded with it (no query per row).
    own = 9 if connection.vendor == "postgresql" else 7
    with django_assert_num_queries(signed_in_queries(own)):
        data = client.get(url).json()
    assert [r["slug"] for r in data["results"]]
    assert all(r["category"] and r["owner"] and r["url"] for r in data["results"])
