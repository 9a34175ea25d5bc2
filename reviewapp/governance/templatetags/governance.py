"""Governance's template tags, for its own pages and for any app's (templates may load tags
from any app; the queue and dashboards never import governance for this).

``{% load governance %}{% emergency_flag model.slug %}``: the banner every page of a model
shows while an emergency rollback of its routing policy awaits the committee's ratification.
``{{ cr.pk|request_path }}``: the request page's path.
"""

from __future__ import annotations

from typing import Any

from django import template

from reviewapp.core import clock, roles

from .. import history, links

register = template.Library()


@register.inclusion_tag("governance/_emergency_flag.html", takes_context=True)
def emergency_flag(context: template.Context, model_slug: str) -> dict[str, Any]:
    """One query: the model's newest emergency rollback that no one has ratified yet."""
    return {
        "rollback": history.emergency_awaiting(model_slug) if model_slug else None,
        "model_slug": model_slug,
        "now": clock.now(),
        # Reviewers read the flag but not the request page (committee, leads, engineers do).
        "can_open": roles.has_role(
            context.get("user"), roles.LEAD, roles.COMMITTEE, roles.ENGINEER
        ),
    }


@register.filter
def request_path(change_request_id: Any) -> str:
    return links.request_path(int(change_request_id))
