"""The audit log's vocabulary: every verb any app may write, its label, and its older names.

Each app declares its verbs in its own ``verbs.py`` (verb -> human label, plus legacy aliases
old -> new) and calls :func:`register` from ``AppConfig.ready()``; core names no app. Verbs read
``<app>.<entity>.<past participle>``. A legacy alias is a name that events already in the log
carry (sealed events are never rewritten), so reads accept both: :func:`label` names either,
:func:`canonical` maps an old name to the current one, :func:`verbs_for` lists a verb with its
aliases for a ``verb__in`` filter.

Writing is checked by :func:`check_writable` (called by ``audit.build_event``): an unregistered
verb raises ``UnknownVerb`` when ``settings.AUDIT_STRICT_VERBS`` is on (tests) and logs a
warning otherwise (production keeps the event rather than lose a state change's record).
A legacy name is only ever read: writing one is treated like a typo.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

logger = logging.getLogger(__name__)

VERB_FORM = re.compile(r"^[a-z][a-z_]*\.[a-z][a-z_]*\.[a-z][a-z_]*$")


class UnknownVerb(ValueError):
    """An audit event named a verb no app registered."""


@dataclass
class _Registry:
    labels: dict[str, str] = field(default_factory=dict)  # current verb -> label
    owner: dict[str, str] = field(default_factory=dict)  # current or legacy verb -> prefix
    legacy: dict[str, tuple[str, ...]] = field(default_factory=dict)  # old -> current verb(s)
    aliases: dict[str, list[str]] = field(default_factory=dict)  # current -> old names


_registry = _Registry()


def register(
    *,
    prefix: str,
    verbs: Mapping[str, str],
    legacy: Mapping[str, str | tuple[str, ...]] | None = None,
) -> None:
    """Declare one app's verbs (all starting with ``prefix``) and its legacy aliases.

    An old name usually maps to one current verb; it may map to several when one old verb
    was split (``delivery.pending`` is now either ``rescheduled`` or ``requeued``).
    Registering the same declaration again is harmless; claiming another app's verb is not.
    """
    for verb, text in verbs.items():
        if not verb.startswith(prefix) or not VERB_FORM.match(verb):
            raise ImproperlyConfigured(
                f"Audit verb {verb!r} must read {prefix}<entity>.<past participle>."
            )
        _claim(verb, prefix)
        _registry.labels[verb] = text
    for old, new in (legacy or {}).items():
        targets = (new,) if isinstance(new, str) else tuple(new)
        unknown = [t for t in targets if _registry.owner.get(t) != prefix]
        if unknown:
            raise ImproperlyConfigured(
                f"Legacy audit verb {old!r} points at {unknown}, not verbs of {prefix!r}."
            )
        _claim(old, prefix)
        _registry.legacy[old] = targets
        for target in targets:
            names = _registry.aliases.setdefault(target, [])
            if old not in names:
                names.append(old)


def _claim(verb: str, prefix: str) -> None:
    holder = _registry.owner.setdefault(verb, prefix)
    if holder != prefix:
        raise ImproperlyConfigured(f"Audit verb {verb!r} is already declared by {holder!r}.")


def is_current(verb: str) -> bool:
    return verb in _registry.labels


def is_legacy(verb: str) -> bool:
    return verb in _registry.legacy


def canonical(verb: str) -> str:
    """The current name of ``verb``; a split legacy verb (several current ones) and an
    unknown verb are returned unchanged."""
    targets = _registry.legacy.get(verb)
    return targets[0] if targets and len(targets) == 1 else verb


def label(verb: str) -> str:
    """The human label of a current or legacy verb; an unknown verb is shown as written."""
    if verb in _registry.labels:
        return str(_registry.labels[verb])
    targets = _registry.legacy.get(verb)
    if targets:
        return " / ".join(str(_registry.labels[t]) for t in targets)
    return verb


def verbs_for(verb: str) -> list[str]:
    """``verb`` and every legacy name of it: the values for a ``verb__in`` filter."""
    current = canonical(verb)
    return [current, *_registry.aliases.get(current, [])]


def all_verbs() -> dict[str, str]:
    """Every current verb and its label (for filters and documentation)."""
    return {verb: str(text) for verb, text in sorted(_registry.labels.items())}


def legacy_verbs() -> list[str]:
    """Every legacy (read-only) verb name."""
    return sorted(_registry.legacy)


def check_writable(verb: str) -> None:
    if is_current(verb):
        return
    problem = (
        f"Audit verb {verb!r} is a legacy name; write {', '.join(_registry.legacy[verb])}."
        if is_legacy(verb)
        else f"Audit verb {verb!r} is not registered by any app (see core.verbs.register)."
    )
    if settings.AUDIT_STRICT_VERBS:
        raise UnknownVerb(problem)
    logger.warning(problem)


# Core's own verbs: changes to people, roles and permissions (recorded by core.signals,
# whichever tool made them). Registered from CoreConfig.ready() like any app's.
CORE_PREFIX = "core."
CORE_VERBS = {
    "core.user.created": _("User created"),
    "core.user.deleted": _("User deleted"),
    "core.user.deactivated": _("User deactivated"),
    "core.user.reactivated": _("User reactivated"),
    "core.user.superuser_granted": _("Made superuser"),
    "core.user.superuser_revoked": _("Superuser status removed"),
    "core.user.staff_granted": _("Given admin site access"),
    "core.user.staff_revoked": _("Admin site access removed"),
    "core.user.group_added": _("Added to a role group"),
    "core.user.group_removed": _("Removed from a role group"),
    "core.user.permission_added": _("Permission given to a user"),
    "core.user.permission_removed": _("Permission taken from a user"),
    "core.group.created": _("Group created"),
    "core.group.deleted": _("Group deleted"),
    "core.group.permission_added": _("Permission given to a group"),
    "core.group.permission_removed": _("Permission taken from a group"),
}
