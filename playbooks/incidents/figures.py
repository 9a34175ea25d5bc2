"""Figures about an incident, in words, for its communication drafts.

``impact_so_far``: the time since impact, the models' mode, the predictions that passed
unreviewed meanwhile and their re-review (the ledger's figures, ledger.py).
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from reviewapp.core import clock
from reviewapp.core.time import human_duration

from ..models import Incident
from . import ledger


def modes_in_words(incident: Incident, *, named: bool = True) -> str:
    """Each model and its mode: "card-fraud contained", "card-fraud normal, churn halted" (no
    mode row: normal); with ``named=False`` and a single model, just its mode ("contained")."""
    links = list(incident.model_links.select_related("model__mode_row").order_by("model__slug"))
    parts = []
    for link in links:
        row = getattr(link.model, "mode_row", None)
        mode = row.mode if row else "normal"
        parts.append(f"{link.model.slug} {mode}" if named or len(links) > 1 else mode)
    return ", ".join(parts)


def impact_so_far(incident: Incident) -> str:
    """In words: "2 h 5 min since impact started; card-fraud contained; 312 predictions passed
    unreviewed". The window runs from the impact start (else the detection) to the
    containment (else now); passed predictions are counted in one query."""
    start = incident.impact_started_at or incident.detected_at
    end = incident.contained_at or clock.now()
    since = _("since impact started") if incident.impact_started_at else _("since detection")
    passed = ledger.affected_predictions(incident).count()
    progress = ledger.recheck_progress(incident)
    window = human_duration((end - start).total_seconds())
    if incident.contained_at:
        window = _("%(d)s from impact to containment") % {"d": window}
    else:
        window = f"{window} {since}"
    passed_words = ngettext(
        "%(n)d prediction passed unreviewed", "%(n)d predictions passed unreviewed", passed
    ) % {"n": passed}
    if progress["queued"]:
        passed_words += _(" (%(r)d of %(q)d re-reviewed, %(o)d overturned)") % {
            "r": progress["rereviewed"],
            "q": progress["queued"],
            "o": progress["overturned"],
        }
    return _("%(window)s; %(modes)s; %(passed)s") % {
        "window": window,
        "modes": modes_in_words(incident) or _("no model"),
        "passed": passed_words,
    }
