"""The bundled example: a small CNN trained in seconds on scikit-learn's digits images.

scikit-learn ships 1,797 grey-level images of hand-written digits, 8x8 pixels with values
0-16 (:func:`sklearn.datasets.load_digits`). :func:`train_digits_cnn` trains
:class:`DigitsCNN` on three quarters of them (stratified, seeded) and returns the network
with the held-out quarter, scaled to ``[0, 1]``; it reaches about 98% test accuracy in a
few seconds on one CPU core. It is the example of the documentation and the fixture of
the tests.

:class:`DigitsCNN` is importable, so a state dict of it can be loaded from the command line
with ``--module-class afterfit.saliency.example:DigitsCNN``; :func:`write_digits_example`
writes such files (a TorchScript file, a state dict and an image folder)::

    python -m afterfit.saliency.example build/digits
    afterfit saliency --model build/digits/cnn.pt --images build/digits/images --out sal/

This module imports torch when it is imported (the network is a ``torch.nn.Module``
subclass); ``import afterfit`` does not import it.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np

from afterfit.errors import MissingDependencyError

try:
    import torch
    from torch import nn
except ImportError as exc:  # pragma: no cover - exercised without torch only
    raise MissingDependencyError("torch", "saliency", purpose="The digits example network") from exc

__all__ = ["DigitsCNN", "load_digits_images", "train_digits_cnn", "write_digits_example"]


class DigitsCNN(nn.Module):
    """Two 3x3 convolutions, a 2x2 max-pool and two linear layers, for 8x8 grey images.

    Parameters
    ----------
    channels : int, default 16
        Filters of the first convolution; the second has twice as many.
    n_classes : int, default 10
        Output logits.
    in_channels : int, default 1
        Input channels.
    size : int, default 8
        Height and width of the input images (even).
    """

    def __init__(
        self, channels: int = 16, n_classes: int = 10, in_channels: int = 1, size: int = 8
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, 2 * channels, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(2 * channels * (size // 2) ** 2, 64)
        self.fc2 = nn.Linear(64, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv1(x))
        x = self.pool(torch.relu(self.conv2(x)))
        x = torch.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc2(x)


def load_digits_images(random_state: int = 0) -> tuple[np.ndarray, ...]:
    """scikit-learn's digits as ``(n, 1, 8, 8)`` float32 images in ``[0, 1]``, split 3:1.

    Returns
    -------
    X_train, X_test, y_train, y_test : numpy.ndarray
        Images (float32) and labels (int64), split with stratification and ``random_state``.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    X = (digits.images / 16.0).astype(np.float32)[:, None, :, :]
    y = digits.target.astype(np.int64)
    return tuple(train_test_split(X, y, test_size=0.25, stratify=y, random_state=random_state))


def train_digits_cnn(
    random_state: int = 0, *, epochs: int = 12, channels: int = 16
) -> tuple[DigitsCNN, np.ndarray, np.ndarray]:
    """Train :class:`DigitsCNN` on scikit-learn's digits in a few seconds on the CPU.

    Adam (learning rate 0.005), mini-batches of 32, ``epochs`` passes over 1,347 training
    images, on one CPU thread (the network is too small to gain from more, and on a busy
    machine extra threads slow it down many times; the caller's setting is restored).
    ``torch.manual_seed(random_state)`` seeds the weights and the batch order, so the same
    seed gives the same network on the same torch build.

    Parameters
    ----------
    random_state : int, default 0
        Seed of the split, the initial weights and the batch order.
    epochs : int, default 12
        Passes over the training images.
    channels : int, default 16
        Filters of the first convolution.

    Returns
    -------
    module : DigitsCNN
        The trained network, in eval mode; it maps ``(n, 1, 8, 8)`` images in ``[0, 1]`` to
        10 logits.
    X_test : numpy.ndarray
        ``(450, 1, 8, 8)`` float32 held-out images in ``[0, 1]``.
    y_test : numpy.ndarray
        Their labels (int64).

    Examples
    --------
    >>> module, X_test, y_test = train_digits_cnn(random_state=0)  # doctest: +SKIP
    >>> maps = afterfit.compute_saliency(module, X_test[:16], methods=("ig",))  # doctest: +SKIP
    """
    X_train, X_test, y_train, y_test = load_digits_images(random_state)
    generator = torch.Generator().manual_seed(random_state)
    torch.manual_seed(random_state)
    module = DigitsCNN(channels=channels)
    optimiser = torch.optim.Adam(module.parameters(), lr=5e-3)
    loss_fn = nn.CrossEntropyLoss()
    xs, ys = torch.from_numpy(X_train), torch.from_numpy(y_train)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        module.train()
        for _ in range(epochs):
            order = torch.randperm(len(xs), generator=generator)
            for start in range(0, len(xs), 32):
                idx = order[start : start + 32]
                optimiser.zero_grad()
                loss_fn(module(xs[idx]), ys[idx]).backward()
                optimiser.step()
    finally:
        torch.set_num_threads(threads)
    module.eval()
    return module, X_test, y_test


def write_digits_example(folder: str | Path, random_state: int = 0) -> dict[str, Path]:
    """Train the digits CNN and write what ``afterfit saliency`` reads.

    Writes ``cnn.pt`` (TorchScript), ``cnn_state.pt`` (a state dict of :class:`DigitsCNN`),
    ``images/<digit>/<i>.png`` (the 450 test images, grey PNGs, in class folders) and
    ``digits_test.npz`` (``images`` and ``labels``).

    Returns
    -------
    dict of str to pathlib.Path
        The paths written, by name.
    """
    from PIL import Image

    from afterfit.io import atomic_write

    folder = Path(folder)
    module, X_test, y_test = train_digits_cnn(random_state)
    with warnings.catch_warnings():
        # torch 2.13 deprecates TorchScript; it is still the format that loads without pickle.
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = torch.jit.script(module)
        atomic_write(folder / "cnn.pt", lambda tmp: torch.jit.save(scripted, str(tmp)))
    atomic_write(folder / "cnn_state.pt", lambda tmp: torch.save(module.state_dict(), tmp))
    atomic_write(folder / "digits_test.npz", lambda tmp: _savez(tmp, X_test, y_test))
    pixels = np.rint(X_test[:, 0] * 255).astype(np.uint8)
    for i, (img, label) in enumerate(zip(pixels, y_test, strict=True)):
        atomic_write(
            folder / "images" / str(label) / f"{i:03d}.png",
            lambda tmp, a=img: Image.fromarray(a, mode="L").save(tmp, format="PNG"),
        )
    return {
        "torchscript": folder / "cnn.pt",
        "state_dict": folder / "cnn_state.pt",
        "images": folder / "images",
        "npz": folder / "digits_test.npz",
    }


def _savez(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    # An open file: np.savez would append ".npz" to the temporary file's name.
    with open(path, "wb") as f:
        np.savez(f, images=images, labels=labels)


def _main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m afterfit.saliency.example OUT_FOLDER", file=sys.stderr)
        return 2
    written = write_digits_example(argv[0])
    for name, path in written.items():
        print(f"{name}: {path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(_main(sys.argv[1:]))
