"""Categories: the import's path to the taxonomy."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from reviewapp.core.audit import audit_record

from ..models import Category
from .common import MAX_TEXT, Errors, actor_for, is_slug

CATEGORY_FIELDS = ["slug", "name", "parent", "description", "position"]

MAX_POSITION = 2_147_483_647  # PositiveIntegerField's range on every database


def category_save(*, user: Any, data: dict[str, Any]) -> Category:
    """Create or edit a category by slug (the import's path; the admin edits the taxonomy
    through Django's forms, which check the same slug and range)."""
    errs = Errors()
    for field in sorted(set(data) - set(CATEGORY_FIELDS)):
        errs.add(field, _("Unknown field."))
    slug = data.get("slug")
    if not is_slug(slug) or len(slug) > 120:
        errs.add("slug", _("Not a slug: use lowercase letters, digits and hyphens."))
    name = data.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 120:
        errs.add("name", _("A name of 1 to 120 characters."))
    description = data.get("description", "")
    if not isinstance(description, str) or len(description) > MAX_TEXT:
        errs.add("description", _("Text of at most %d characters.") % MAX_TEXT)
    position = data.get("position", 0)
    if position in (None, ""):
        position = 0
    if (
        not isinstance(position, int)
        or isinstance(position, bool)
        or not (0 <= position <= MAX_POSITION)
    ):
        errs.add("position", _("A whole number from 0 to %d.") % MAX_POSITION)
    parent = None
    if data.get("parent"):
        parent = Category.objects.filter(slug=data["parent"]).first()
        if parent is None or parent.slug == slug:
            errs.add("parent", _("Unknown category “%s”.") % data["parent"])
    errs.raise_if_any()
    cat = Category.objects.select_for_update().filter(slug=slug).first()
    before = None
    if cat is None:
        cat = Category(slug=slug)
    else:
        before = {"name": cat.name, "parent": cat.parent.slug if cat.parent_id else "",
                  "description": cat.description, "position": cat.position}  # fmt: skip
    cat.name, cat.description, cat.position, cat.parent = (
        name.strip(),
        description,
        position,
        parent,
    )
    cat.save()
    after = {"name": cat.name, "parent": parent.slug if parent else "",
             "description": cat.description, "position": cat.position}  # fmt: skip
    if before is None:
        audit_record(
            actor=actor_for(user), verb="catalog.category.created", target=cat, after=after
        )
    elif before != after:
        changed = [k for k in after if before[k] != after[k]]
        audit_record(
            actor=actor_for(user),
            verb="catalog.category.updated",
            target=cat,
            before={k: before[k] for k in changed},
            after={k: after[k] for k in changed},
        )
    return cat
