"""The recovery decision of an incident: gather the facts of each of its models from the
database, build the candidate paths, rank them with the pure ``scoring.rank``, simulate a
policy path with governance's impact replay, and choose one.

Choosing acts only through the existing mechanisms: a governance change request (a rollback
draft, or a raised threshold), the lead's audited emergency rollback, or the fail-safe switch
(contain, halt). Nothing here writes a policy version or a mode. The simulated figures live in
the Django cache (keyed by incident, model, path, parameters and the active policy version) until
a decision stores them in ``RecoveryDecision.simulation``.

The package: ``facts`` (reads: the inputs, the candidates, the ranking) and ``actions`` (the
use cases: simulate, choose).
"""

from .actions import cached_simulation, recovery_choose, recovery_simulate
from .facts import (
    PATH_LABELS,
    ModelRecovery,
    build_candidates,
    decisions_of,
    incident_models,
    incident_recovery,
    model_recovery,
    raised_rules,
)

__all__ = [
    "PATH_LABELS",
    "ModelRecovery",
    "build_candidates",
    "cached_simulation",
    "decisions_of",
    "incident_models",
    "incident_recovery",
    "model_recovery",
    "raised_rules",
    "recovery_choose",
    "recovery_simulate",
]
