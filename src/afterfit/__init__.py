"""afterfit: everything after ``model.fit()``."""

from afterfit.errors import AfterfitError, AfterfitWarning

__version__ = "0.1.0"
__all__ = ["AfterfitError", "AfterfitWarning", "__version__"]
