"""What each app tells core about itself, registered from its ``AppConfig.ready()``.

Core names no app: the top bar's sections, the user menu's tools, which permissions each role
gets, the request body limits and the hooks one app offers another are all declared by the app
that owns them. Registering the same thing again (``ready()`` may run twice in tests) replaces
the earlier entry instead of adding a second one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils.functional import Promise

from . import roles

logger = logging.getLogger(__name__)

Label = str | Promise


@dataclass(frozen=True)
class NavEntry:
    """A link an app offers: a section of the top bar, or a tool in the user menu (a page that
    is not a section of its own)."""

    key: str
    label: Label
    url_name: str
    # Roles that see the entry; None: every signed-in user (e.g. their own account page).
    roles: frozenset[str] | None
    order: int

    def visible_to(self, user_roles: set[str]) -> bool:
        return self.roles is None or bool(user_roles & self.roles)


@dataclass(frozen=True)
class BodyLimit:
    path: str
    # True: every path under ``path``; False: that path only (a trailing slash is ignored).
    prefix: bool
    # Read per request so settings (and tests overriding them) take effect.
    limit: Callable[[], int]


@dataclass(frozen=True)
class NavCounter:
    """A count beside the top bar's sections (the leads' escalations), linking to its list.

    ``count(user)`` must be cheap (cached or one indexed count): it runs on every page the
    role sees, and only if the page renders the top bar."""

    key: str
    label: Label
    url_name: str
    roles: frozenset[str]
    count: Callable[[Any], int]
    order: int
    # Shown only while its count is above zero (a personal to-do, not a place to go).
    quiet: bool = False

    def visible_to(self, user_roles: set[str]) -> bool:
        return bool(user_roles & self.roles)


_sections: dict[str, NavEntry] = {}
_counters: dict[str, NavCounter] = {}
_tools: dict[str, NavEntry] = {}
_role_permissions: dict[str, dict[str, tuple[str, ...]]] = {}
_body_limits: dict[tuple[str, bool], BodyLimit] = {}
_hooks: dict[str, list[Callable[..., Any]]] = {}


def _check_roles(allowed: Iterable[str]) -> frozenset[str]:
    allowed = frozenset(allowed)
    unknown = allowed - set(roles.ROLES)
    if unknown:
        raise ImproperlyConfigured(f"Unknown role(s): {', '.join(sorted(unknown))}.")
    return allowed


# --- navigation ---------------------------------------------------------------------------
def _entry(
    *, key: str, label: Label, url_name: str, roles: Iterable[str] | None, order: int
) -> NavEntry:
    allowed = None if roles is None else _check_roles(roles)
    return NavEntry(key=key, label=label, url_name=url_name, roles=allowed, order=order)


def register_nav_section(
    *, key: str, label: Label, url_name: str, roles: Iterable[str] | None, order: int
) -> None:
    """A top-bar section (``roles`` None: every signed-in user)."""
    _sections[key] = _entry(key=key, label=label, url_name=url_name, roles=roles, order=order)


def register_tool(
    *, key: str, label: Label, url_name: str, roles: Iterable[str] | None, order: int
) -> None:
    """A user-menu tool (``roles`` None: every signed-in user)."""
    _tools[key] = _entry(key=key, label=label, url_name=url_name, roles=roles, order=order)


def register_nav_counter(
    *,
    key: str,
    label: Label,
    url_name: str,
    roles: Iterable[str],
    count: Callable[[Any], int],
    order: int,
    quiet: bool = False,
) -> None:
    """A count in the top bar for ``roles`` (e.g. items escalated to the leads); ``quiet``:
    only while the count is above zero."""
    _counters[key] = NavCounter(
        key=key, label=label, url_name=url_name, roles=_check_roles(roles), count=count,
        order=order, quiet=quiet,
    )  # fmt: skip


def nav_counters() -> list[NavCounter]:
    return sorted(_counters.values(), key=lambda c: (c.order, c.key))


def nav_sections() -> list[NavEntry]:
    return sorted(_sections.values(), key=lambda s: (s.order, s.key))


def tools() -> list[NavEntry]:
    return sorted(_tools.values(), key=lambda t: (t.order, t.key))


# --- role permissions ---------------------------------------------------------------------
def register_role_permissions(app_label: str, grants: Mapping[str, Iterable[str]]) -> None:
    """Declare which of ``app_label``'s permissions (codenames) each role gets.

    Only the app's own permissions: the sync after migrate refuses one that does not exist.
    """
    _check_roles(grants)
    for codenames in grants.values():
        if isinstance(codenames, str):
            raise ImproperlyConfigured(f"{app_label}: list the codenames, not one string.")
    _role_permissions[app_label] = {
        role: tuple(dict.fromkeys(codenames)) for role, codenames in grants.items()
    }


def role_permissions() -> dict[str, list[str]]:
    """Every role with the permissions ("app_label.codename") the apps grant it."""
    out: dict[str, list[str]] = {role: [] for role in roles.ROLES}
    for app_label, grants in sorted(_role_permissions.items()):
        for role, codenames in grants.items():
            out[role].extend(f"{app_label}.{codename}" for codename in codenames)
    return out


# --- request body limits ------------------------------------------------------------------
def register_body_limit(*, path: str, limit: Callable[[], int], prefix: bool = False) -> None:
    """Refuse POST/PUT/PATCH bodies above ``limit()`` bytes on ``path`` (or under it)."""
    _body_limits[(path, prefix)] = BodyLimit(path=path, prefix=prefix, limit=limit)


def body_limit_for(path: str) -> int | None:
    """The limit of the most specific rule that matches: an exact path before any prefix,
    a longer prefix before a shorter one; None when no app limits the path."""
    exact = path.rstrip("/")
    for rule in _body_limits.values():
        if not rule.prefix and rule.path.rstrip("/") == exact:
            return rule.limit()
    prefixes = [r for r in _body_limits.values() if r.prefix and path.startswith(r.path)]
    if prefixes:
        return max(prefixes, key=lambda r: len(r.path)).limit()
    return None


# --- hooks --------------------------------------------------------------------------------
def register_hook(name: str, fn: Callable[..., Any]) -> None:
    """Offer ``fn`` under ``name`` (e.g. ``model_banner``: a banner on a model's pages, or a
    precondition on an action). Whoever runs the hook decides what the results mean."""
    registered = _hooks.setdefault(name, [])
    if fn not in registered:
        registered.append(fn)


def unregister_hook(name: str, fn: Callable[..., Any]) -> None:
    if fn in _hooks.get(name, []):
        _hooks[name].remove(fn)


def run_hooks_apart(name: str, **kwargs: Any) -> None:
    """Call every function registered under ``name``, each in a savepoint of its own: one that
    fails is logged and rolled back, and neither stops the others nor undoes the caller's
    work (a containment must stand even when telling people about it breaks)."""
    for fn in list(_hooks.get(name, [])):
        try:
            with transaction.atomic():
                fn(**kwargs)
        except Exception:
            logger.exception("hook %s: %r failed", name, fn)


def run_hooks(name: str, **kwargs: Any) -> list[Any]:
    """Call every function registered under ``name`` with ``kwargs``, in registration order;
    their results, leaving out None. No hook registered: an empty list."""
    results = (fn(**kwargs) for fn in list(_hooks.get(name, [])))
    return [result for result in results if result is not None]
