"""Answering predictions from a bundle, online (HTTP) or offline (a file in chunks).

Owns the FastAPI app and its routes (``app``), the ASGI outer layer (``middleware``),
bounded request bodies (``request_body``), deadlines and a connection limit
(``connection_guard``), micro-batching (``microbatch``), the Prometheus registry
(``prometheus``), the access log (``access_log``), the prediction log (``predlog``) and
``predict_file`` (``batch``).

May import layers 0-3 and ``bundle``; never monitoring, the report or the CLI. This
``__init__`` imports nothing of FastAPI, and neither does ``predlog``: monitoring reads the
prediction log without pulling the server in.
"""

from afterfit.serving.batch import BatchSummary, predict_file

__all__ = ["BatchSummary", "predict_file"]
