"""Drift and performance of a deployed model, read from its prediction log.

Owns ``monitor`` and ``monitor_bundle`` (``core``), the windows (``windows``), reading the
log in batches (``logs``), the one-pass count (``scan``, per partition in ``streaming``),
``MonitorResult`` (``results``), and the estimates without labels: CBPE
(``cbpe``) and multivariate drift (``multivariate``), over the log and per window
(``estimates``).

May import layers 0-3, ``bundle`` and ``serving.predlog``; never the server app, the report
or the CLI.
"""

from afterfit.monitoring.core import monitor, monitor_bundle
from afterfit.monitoring.results import MonitorResult

__all__ = ["MonitorResult", "monitor", "monitor_bundle"]
