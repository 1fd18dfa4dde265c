"""Being emptied by issue 19: export, the bundle, serving and monitoring moved to
:mod:`afterfit.exporters`, :mod:`afterfit.bundle`, :mod:`afterfit.serving` and
:mod:`afterfit.monitoring`; ``multivariate`` follows to ``monitoring``.
"""
