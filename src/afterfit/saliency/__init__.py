"""Saliency maps for PyTorch image classifiers, with faithfulness and sanity checks.

>>> from afterfit.saliency import compute_saliency, train_digits_cnn
>>> module, X_test, y_test = train_digits_cnn(random_state=0)  # doctest: +SKIP
>>> maps = compute_saliency(module, X_test[:32], methods=("gradcam", "ig"))  # doctest: +SKIP
>>> maps.plot(n=8); maps.faithfulness.frame(); maps.sanity.frame()  # doctest: +SKIP

Maps come from Captum (vanilla gradients, gradient x input, Integrated Gradients,
SmoothGrad, Grad-CAM, occlusion), batched (:mod:`afterfit.saliency.methods`). Their
faithfulness is measured by deletion and insertion curves against random pixel orders
(:mod:`afterfit.saliency.faithfulness`), and their dependence on the model by cascading
parameter randomisation (:mod:`afterfit.saliency.sanity`, Adebayo et al. 2018).

Importing this package does not import torch or captum; computing maps does, and raises
:class:`~afterfit.errors.MissingDependencyError` when they are missing
(``pip install 'afterfit[saliency]'``). The digits example (:func:`train_digits_cnn`,
:class:`DigitsCNN`) imports torch when first used.
"""

from typing import Any

from afterfit.saliency.core import DEFAULT_METHODS, compute_saliency
from afterfit.saliency.images import ImageSet, Preprocess, load_images
from afterfit.saliency.loading import load_torch_module
from afterfit.saliency.methods import METHODS
from afterfit.saliency.results import Faithfulness, SaliencyMaps, SanityCheck

__all__ = [
    "DEFAULT_METHODS",
    "METHODS",
    "DigitsCNN",
    "Faithfulness",
    "ImageSet",
    "Preprocess",
    "SaliencyMaps",
    "SanityCheck",
    "compute_saliency",
    "load_images",
    "load_torch_module",
    "train_digits_cnn",
    "write_digits_example",
]

_EXAMPLE = ("DigitsCNN", "train_digits_cnn", "write_digits_example")


def __getattr__(name: str) -> Any:
    # The example defines an nn.Module subclass, so it imports torch: load it on first use.
    if name in _EXAMPLE:
        from afterfit.saliency import example

        return getattr(example, name)
    raise AttributeError(f"module 'afterfit.saliency' has no attribute {name!r}")
