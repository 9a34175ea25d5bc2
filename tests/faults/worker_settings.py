"""Settings of the workers that tests/faults/test_multi_worker_exactly_once.py starts: the test
settings, with Redis handing a killed worker's unacknowledged tasks (acks late) to the others
within seconds. By default kombu looks for them every 10 × 10 s and redelivers those older than
CELERY_VISIBILITY_TIMEOUT (an hour): in production the inbox sweeper comes first.
"""

from reviewapp.settings_test import *  # noqa: F403
from reviewapp.settings_test import CELERY_BROKER_TRANSPORT_OPTIONS

CELERY_BROKER_TRANSPORT_OPTIONS = {
    **CELERY_BROKER_TRANSPORT_OPTIONS,
    "visibility_timeout": 10,
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
}
