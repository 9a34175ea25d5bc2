"""Every write to the catalog: one function per use case, transactional, audited.

Content is handled as a *snapshot* dict (plain JSON: slugs and usernames instead of ids).
The same shape is what a revision stores, what restore copies back, and what export and
import exchange, so "restore version 3" and "import this catalog" share one code path.

One module per area; this package re-exports their public names, so callers keep writing
``from catalog import services`` and ``services.failure_mode_update(...)``:

- ``common``: permissions, snapshots, the acting party, validation helpers
- ``revisions``: the REVISION machine; an edit of a published entry opens a pending revision
- ``failure_modes``: validating, drafting and editing an entry
- ``workflow``: the FAILURE_MODE machine, transitions, restore, deciding pending revisions
- ``mitigations``: mitigation templates, their links to failure modes, their uses
- ``case_studies``, ``categories``, ``occurrences``, ``stewardship``

Imports run one way: ``common`` <- ``revisions`` <- ``failure_modes`` <- ``workflow``;
``case_studies`` uses ``occurrences``; every other module uses only ``common``.
"""

from __future__ import annotations

from .case_studies import (
    CASE_STUDY_FIELDS,
    case_study_create,
    case_study_create_unchecked,
    case_study_update,
    case_study_update_unchecked,
)
from .categories import CATEGORY_FIELDS, MAX_POSITION, category_save
from .common import (
    MAX_TEXT,
    SLUG_MAX,
    Status,
    actor_for,
    can_create,
    can_edit,
    failure_mode_snapshot,
    is_slug,
    mitigation_snapshot,
)
from .failure_modes import (
    FM_CHOICE_FIELDS,
    FM_CONTENT_FIELDS,
    FM_LIST_FIELDS,
    FM_TEXT_FIELDS,
    failure_mode_clean,
    failure_mode_create,
    failure_mode_create_unchecked,
    failure_mode_store,
    failure_mode_update,
    failure_mode_update_unchecked,
)
from .mitigations import (
    MAX_TTR_MINUTES,
    MIT_FIELDS,
    failure_mode_link_mitigation,
    failure_mode_link_unchecked,
    failure_mode_unlink_mitigation,
    failure_mode_unlink_unchecked,
    mitigation_clean,
    mitigation_create,
    mitigation_create_unchecked,
    mitigation_update,
    mitigation_update_unchecked,
    mitigation_use_record,
)
from .occurrences import occurrence_record
from .revisions import REVISION, REVISION_EXEMPT, RevisionStatus
from .stewardship import REMIND_EVERY, failure_mode_mark_reviewed, stewardship_remind
from .workflow import (
    ACTION_TARGETS,
    FAILURE_MODE,
    WHO_MAY,
    allowed_actions,
    failure_mode_restore,
    failure_mode_restore_status,
    failure_mode_revision_publish,
    failure_mode_revision_reject,
    failure_mode_transition,
)

__all__ = [
    "ACTION_TARGETS",
    "CASE_STUDY_FIELDS",
    "CATEGORY_FIELDS",
    "FAILURE_MODE",
    "FM_CHOICE_FIELDS",
    "FM_CONTENT_FIELDS",
    "FM_LIST_FIELDS",
    "FM_TEXT_FIELDS",
    "MAX_POSITION",
    "MAX_TEXT",
    "MAX_TTR_MINUTES",
    "MIT_FIELDS",
    "REMIND_EVERY",
    "REVISION",
    "REVISION_EXEMPT",
    "RevisionStatus",
    "SLUG_MAX",
    "Status",
    "WHO_MAY",
    "actor_for",
    "allowed_actions",
    "can_create",
    "can_edit",
    "case_study_create",
    "case_study_create_unchecked",
    "case_study_update",
    "case_study_update_unchecked",
    "category_save",
    "failure_mode_clean",
    "failure_mode_create",
    "failure_mode_create_unchecked",
    "failure_mode_link_mitigation",
    "failure_mode_link_unchecked",
    "failure_mode_mark_reviewed",
    "failure_mode_restore",
    "failure_mode_restore_status",
    "failure_mode_revision_publish",
    "failure_mode_revision_reject",
    "failure_mode_snapshot",
    "failure_mode_store",
    "failure_mode_transition",
    "failure_mode_unlink_mitigation",
    "failure_mode_unlink_unchecked",
    "failure_mode_update",
    "failure_mode_update_unchecked",
    "is_slug",
    "mitigation_clean",
    "mitigation_create",
    "mitigation_create_unchecked",
    "mitigation_snapshot",
    "mitigation_update",
    "mitigation_update_unchecked",
    "mitigation_use_record",
    "occurrence_record",
    "stewardship_remind",
]
