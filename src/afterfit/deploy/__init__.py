"""Getting a model into production and watching it: ONNX export with parity checks, a
verified bundle, the model server and drift monitoring.

Modules: ``schema`` (the input schema learned from training data, record validation),
``export`` (ONNX with parity, skops fallback), ``bundle`` (build, verify, load),
``server`` (FastAPI app), ``predlog`` (the prediction log in SQLite or PostgreSQL),
``reference`` and ``drift`` (reference statistics and drift measures), ``monitor``.
"""
