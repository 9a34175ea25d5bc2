"""Chart geometry for inline SVG: figures in, shapes out; one template draws any chart.

Every chart has labelled axes with units, its threshold or limit as a line, and a hover title
on each data mark; the page shows the same numbers in a table under "show data".

By chart kind: ``rate`` (the uncertain rate), ``ttd`` (time to disposition), ``calibration``,
``sparkline``; ``base`` holds what they share (the Chart and its SVG markup, the plotting frame,
number and time formats). This package re-exports their public names.
"""

from .base import BOTTOM, HEIGHT, LEFT, RIGHT, TOP, WIDTH, Chart, duration, nice_ceiling, pct
from .calibration import calibration_chart
from .rate import uncertain_rate_chart
from .sparkline import sparkline
from .ttd import ttd_chart

__all__ = [
    "BOTTOM",
    "Chart",
    "HEIGHT",
    "LEFT",
    "RIGHT",
    "TOP",
    "WIDTH",
    "calibration_chart",
    "duration",
    "nice_ceiling",
    "pct",
    "sparkline",
    "ttd_chart",
    "uncertain_rate_chart",
]
