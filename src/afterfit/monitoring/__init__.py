"""Drift and performance of a deployed model, read from its prediction log.

Owns ``monitor`` and ``monitor_bundle`` (``core``), ``MonitorResult`` and the windows, the
streaming scan of partitioned logs (``streaming``), and the estimates without labels: CBPE
(``cbpe``) and multivariate drift, over the log and per window (``estimates``).

May import layers 0-3, ``bundle`` and ``serving.predlog``; never the server app, the report
or the CLI.
"""

from afterfit.monitoring.core import MonitorResult, monitor, monitor_bundle

__all__ = ["MonitorResult", "monitor", "monitor_bundle"]
