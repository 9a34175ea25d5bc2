"""Paths of the governance pages that other parts of issue 13 build.

The request page (``governance:request``) and the propose form (``governance:propose``) are
made in another branch; until they are merged these literal paths are the one place that
names them. Replace each body with ``reverse(...)`` once the URL names exist.
"""

from __future__ import annotations


def request_path(change_request_id: int) -> str:
    return f"/governance/requests/{change_request_id}/"


def propose_path(model_slug: str) -> str:
    return f"/governance/propose/?model={model_slug}"
