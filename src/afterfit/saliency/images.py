"""Images for saliency maps: loading (folders, ``.npz``, arrays) and one preprocessing.

Preprocessing is declared once, as a :class:`Preprocess`, and the same function applies it
to every image, whatever the source: scale the raw values (``uint8`` to ``[0, 1]``), set
the channel count, resize, then normalise with a mean and standard deviation per channel.
The result keeps both the model's inputs (normalised, ``(n, C, H, W)`` float32) and the
images to draw (before normalisation, ``(n, H, W, C)`` in ``[0, 1]`` where the source is).

Folders follow the usual class-per-subfolder layout (``images/<class>/<file>``, as
``torchvision.datasets.ImageFolder`` reads it); a folder of images without subfolders has
no labels. Class folders are sorted by name and numbered from 0, except that folders all
named by non-negative integers (``0``, ``1``, ..., ``10``) take their own number as label.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from afterfit.errors import DataError, InvalidInputError

__all__ = ["IMAGE_EXTENSIONS", "ImageSet", "Preprocess", "load_images"]

#: File extensions read from an image folder.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".npy")
_IMAGE_KEYS = ("images", "x", "X")
_LABEL_KEYS = ("labels", "y", "targets")


def _floats(value: Any, name: str) -> tuple[float, ...] | None:
    if value is None:
        return None
    if isinstance(value, int | float):
        value = (value,)
    try:
        out = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"The argument '{name}' must be a number or a sequence of numbers, one per "
            f"channel; received {value!r}.",
            fix=f"pass for example {name}=(0.5,) for grey images or three numbers for RGB.",
        ) from None
    if not out or not all(np.isfinite(out)):
        raise InvalidInputError(
            f"The argument '{name}' must hold finite numbers; received {value!r}.",
            fix=f"pass for example {name}=(0.5,).",
        )
    return out


@dataclass(frozen=True)
class Preprocess:
    """How raw images become the model's inputs; declared once, applied everywhere.

    The steps, in order: divide by ``scale``; convert to ``channels`` channels (grey to RGB
    by repetition, RGB to grey by the ITU-R 601 luma weights, an alpha channel dropped);
    resize to ``size`` (bilinear, PIL); subtract ``mean`` and divide by ``std`` per channel.

    Parameters
    ----------
    size : (int, int), optional
        ``(height, width)`` to resize to; by default the images keep their size.
    mean, std : float or sequence of float, optional
        Normalisation, one value per channel (or one for all); by default none.
    channels : int, optional
        1 (grey) or 3 (RGB); by default the images keep their channels.
    scale : float or "auto", default "auto"
        Raw values are divided by it. ``"auto"`` divides integer images (``uint8`` PNG and
        JPEG files) by 255 and leaves float images as they are.

    Examples
    --------
    >>> Preprocess(size=(32, 32), mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    Preprocess(size=(32, 32), mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), \
channels=None, scale='auto')
    """

    size: tuple[int, int] | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    channels: int | None = None
    scale: float | str = "auto"

    def __post_init__(self) -> None:
        if self.size is not None:
            size = tuple(self.size) if not isinstance(self.size, int) else (self.size,) * 2
            if len(size) != 2 or not all(isinstance(s, int | np.integer) and s > 0 for s in size):
                raise InvalidInputError(
                    f"The argument 'size' must be (height, width), two positive integers; "
                    f"received {self.size!r}.",
                    fix="pass for example size=(32, 32), or leave it out to keep the size.",
                )
            object.__setattr__(self, "size", (int(size[0]), int(size[1])))
        object.__setattr__(self, "mean", _floats(self.mean, "mean"))
        object.__setattr__(self, "std", _floats(self.std, "std"))
        if self.std is not None and any(s <= 0 for s in self.std):
            raise InvalidInputError(
                f"The argument 'std' must be positive; received {self.std}.",
                fix="pass the standard deviations the model was trained with.",
            )
        if (self.mean is None) != (self.std is None):
            raise InvalidInputError(
                "The arguments 'mean' and 'std' go together; only one was given.",
                fix="pass both (the normalisation the model was trained with), or neither.",
            )
        if self.channels not in (None, 1, 3):
            raise InvalidInputError(
                f"The argument 'channels' must be 1 or 3; received {self.channels!r}.",
                fix="pass channels=1 for grey images, 3 for RGB, or leave it out.",
            )
        if self.scale != "auto":
            ok = isinstance(self.scale, int | float) and np.isfinite(self.scale) and self.scale > 0
            if not ok:
                raise InvalidInputError(
                    f"The argument 'scale' must be 'auto' or a positive number; received "
                    f"{self.scale!r}.",
                    fix="pass scale=255 for 8-bit values, scale=1 to keep values as they are.",
                )
            object.__setattr__(self, "scale", float(self.scale))

    def to_dict(self) -> dict[str, Any]:
        """The settings, JSON-safe."""
        return {
            "size": list(self.size) if self.size else None,
            "mean": list(self.mean) if self.mean else None,
            "std": list(self.std) if self.std else None,
            "channels": self.channels,
            "scale": self.scale,
        }

    def display(self, images: np.ndarray) -> np.ndarray:
        """Scale, set the channels and resize ``(n, C, H, W)`` images (no normalisation).

        Returns ``(n, C, H', W')`` float32: what the overlays draw.
        """
        x = np.asarray(images)
        if x.ndim != 4:
            raise InvalidInputError(
                f"Preprocess.display takes (n, C, H, W) images; received shape {x.shape}.",
                fix="pass images through load_images, which puts them in that layout.",
            )
        scale = self.scale
        if scale == "auto":
            scale = float(np.iinfo(x.dtype).max) if np.issubdtype(x.dtype, np.integer) else 1.0
            if x.dtype == np.uint16 and x.max(initial=0) <= 255:  # 8-bit values in uint16
                scale = 255.0
        x = x.astype(np.float32) / np.float32(scale)
        x = _set_channels(x, self.channels)
        if self.size is not None and tuple(x.shape[2:]) != self.size:
            x = _resize(x, self.size)
        return x

    def normalise(self, images: np.ndarray) -> np.ndarray:
        """Apply ``mean`` and ``std`` to ``(n, C, H, W)`` display images."""
        x = np.asarray(images, dtype=np.float32)
        if self.mean is None:
            return x
        c = x.shape[1]
        mean, std = _per_channel(self.mean, c, "mean"), _per_channel(self.std, c, "std")
        return ((x - mean[None, :, None, None]) / std[None, :, None, None]).astype(np.float32)

    def apply(self, images: np.ndarray) -> np.ndarray:
        """Every step: ``(n, C, H, W)`` raw images to model inputs (float32)."""
        return self.normalise(self.display(images))


def _per_channel(values: tuple[float, ...] | None, c: int, name: str) -> np.ndarray:
    assert values is not None
    if len(values) == 1:
        return np.full(c, values[0], dtype=np.float32)
    if len(values) != c:
        raise InvalidInputError(
            f"The preprocessing's '{name}' has {len(values)} values but the images have "
            f"{c} channels.",
            fix=f"pass one {name} per channel (or one for all), or set channels={len(values)}.",
        )
    return np.asarray(values, dtype=np.float32)


def _set_channels(x: np.ndarray, channels: int | None) -> np.ndarray:
    c = x.shape[1]
    if c == 4:  # RGBA: the alpha channel is not part of the picture
        x, c = x[:, :3], 3
    if c == 2:  # grey + alpha
        x, c = x[:, :1], 1
    if channels is None or channels == c:
        return x
    if channels == 3 and c == 1:
        return np.repeat(x, 3, axis=1)
    if channels == 1 and c == 3:
        weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)
        return np.tensordot(x, weights, axes=([1], [0]))[:, None].astype(np.float32)
    raise InvalidInputError(
        f"Images with {c} channels cannot be converted to {channels}.",
        fix="pass channels=1 or 3, or images with 1, 3 or 4 channels.",
    )


def _resize(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    h, w = size
    out = np.empty((*x.shape[:2], h, w), dtype=np.float32)
    for i in range(x.shape[0]):
        for c in range(x.shape[1]):
            # Mode "F" resizes 32-bit floats without rounding to 8 bits.
            img = Image.fromarray(np.ascontiguousarray(x[i, c]), mode="F")
            out[i, c] = np.asarray(img.resize((w, h), Image.Resampling.BILINEAR))
    return out


@dataclass(frozen=True, eq=False)
class ImageSet:
    """Images ready for a model, with what is known about them.

    Attributes
    ----------
    inputs : numpy.ndarray
        ``(n, C, H, W)`` float32: the model's inputs (after every preprocessing step).
    display : numpy.ndarray
        ``(n, H, W, C)`` float32: the same images before normalisation, for drawing.
    labels : numpy.ndarray or None
        Integer class labels (class folders, an ``.npz``'s labels), if known.
    classes : list of str or None
        Class names by label (the folder names), if known.
    names : list of str
        One name per image: its path relative to the folder, or ``"#i"``.
    preprocess : Preprocess
        The preprocessing applied.
    source : str
        Where the images came from (a path, or ``"array"``).
    """

    inputs: np.ndarray
    display: np.ndarray
    labels: np.ndarray | None = None
    classes: list[str] | None = None
    names: list[str] = field(default_factory=list)
    preprocess: Preprocess = field(default_factory=Preprocess)
    source: str = "array"

    def __len__(self) -> int:
        return int(self.inputs.shape[0])

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one model input."""
        return tuple(int(s) for s in self.inputs.shape[1:])  # type: ignore[return-value]

    def subset(self, rows: Sequence[int] | np.ndarray) -> ImageSet:
        """The images at positions ``rows``."""
        rows = np.asarray(rows, dtype=np.int64)
        return ImageSet(
            inputs=self.inputs[rows],
            display=self.display[rows],
            labels=None if self.labels is None else self.labels[rows],
            classes=self.classes,
            names=[self.names[i] for i in rows],
            preprocess=self.preprocess,
            source=self.source,
        )

    def to_dict(self) -> dict[str, Any]:
        """What the set is (not the pixels), JSON-safe."""
        return {
            "source": self.source,
            "n_images": len(self),
            "shape": list(self.shape),
            "classes": self.classes,
            "preprocess": self.preprocess.to_dict(),
        }


def _channels_first(x: np.ndarray, what: str) -> np.ndarray:
    """``(n, H, W)``, ``(n, H, W, C)`` or ``(n, C, H, W)`` to ``(n, C, H, W)``."""
    if x.ndim == 3:
        return x[:, None]
    if x.ndim == 4:
        if x.shape[1] in (1, 2, 3, 4):
            return x
        if x.shape[3] in (1, 2, 3, 4):
            return np.moveaxis(x, 3, 1)
        raise DataError(
            f"{what} has shape {x.shape}: neither axis 1 nor axis 3 looks like a channel "
            "axis (1, 3 or 4 channels).",
            fix="pass images as (n, H, W), (n, H, W, C) or (n, C, H, W).",
        )
    raise DataError(
        f"{what} has {x.ndim} dimensions (shape {x.shape}); images need 3 or 4.",
        fix="pass images as (n, H, W), (n, H, W, C) or (n, C, H, W); one image as x[None].",
    )


def _check_pixels(x: np.ndarray, what: str) -> None:
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise DataError(
            f"{what} holds {x.dtype} values; images need numbers.",
            fix="pass numeric pixel arrays.",
        )
    if x.shape[0] == 0:
        raise DataError(f"{what} holds no images.", fix="pass at least one image.")
    if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
        raise DataError(
            f"{what} holds NaN or infinite pixel values.",
            fix="replace or drop the images with missing values.",
        )


def _from_array(
    x: np.ndarray,
    labels: Any,
    preprocess: Preprocess,
    *,
    what: str,
    classes: list[str] | None = None,
    names: list[str] | None = None,
    source: str = "array",
) -> ImageSet:
    x = np.asarray(x)
    if x.dtype == bool:
        x = x.astype(np.float32)
    _check_pixels(x, what)
    raw = _channels_first(x, what)
    shown = preprocess.display(raw)
    inputs = preprocess.normalise(shown)
    y = None
    if labels is not None:
        y = np.asarray(labels)
        if y.ndim != 1 or len(y) != len(x):
            raise DataError(
                f"The labels of {what} have shape {y.shape}; one label per image "
                f"({len(x)}) is needed.",
                fix="pass a 1-D array of integer class labels, one per image.",
            )
        if not np.issubdtype(y.dtype, np.integer):
            if np.issubdtype(y.dtype, np.floating) and np.all(y == np.round(y)):
                y = y.astype(np.int64)
            else:
                raise DataError(
                    f"The labels of {what} are {y.dtype}, not integer class indices.",
                    fix="pass labels as integers 0..k-1 in the order of the model's outputs.",
                )
        y = y.astype(np.int64)
    return ImageSet(
        inputs=np.ascontiguousarray(inputs, dtype=np.float32),
        display=np.ascontiguousarray(np.moveaxis(shown, 1, 3), dtype=np.float32),
        labels=y,
        classes=classes,
        names=names if names is not None else [f"#{i}" for i in range(len(x))],
        preprocess=preprocess,
        source=source,
    )


def _read_file(path: Path) -> np.ndarray:
    """One image file as ``(C, H, W)``."""
    try:
        if path.suffix.lower() == ".npy":
            a = np.load(path, allow_pickle=False)
        else:
            from PIL import Image

            with Image.open(path) as img:
                if img.mode not in ("L", "RGB", "RGBA", "LA", "I;16", "I", "F"):
                    img = img.convert("RGB")  # palette and CMYK images
                a = np.asarray(img)
    except (OSError, ValueError) as exc:
        raise DataError(
            f"The image file '{path}' cannot be read: {exc}.",
            fix="remove it from the folder or replace it with a readable PNG, JPEG or .npy.",
        ) from None
    if a.ndim == 2:
        return a[None]
    if a.ndim == 3:
        return _channels_first(a[None], f"The image file '{path}'")[0]
    raise DataError(
        f"The image file '{path}' has shape {a.shape}; an image needs 2 or 3 dimensions.",
        fix="save one image per file as (H, W), (H, W, C) or (C, H, W).",
    )


def _image_files(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
    )


def _from_folder(folder: Path, preprocess: Preprocess) -> ImageSet:
    subfolders = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    files: list[tuple[Path, int | None]] = []
    classes: list[str] | None = None
    if subfolders:
        names = [p.name for p in subfolders]
        if all(n.isdigit() for n in names):
            numbers = [int(n) for n in names]
            classes = [str(i) for i in range(max(numbers) + 1)]
            pairs = list(zip(subfolders, numbers, strict=True))
        else:
            classes = names
            pairs = [(p, i) for i, p in enumerate(subfolders)]
        for sub, label in pairs:
            files.extend((f, label) for f in _image_files(sub))
    else:
        files = [(f, None) for f in _image_files(folder)]
    if not files:
        raise DataError(
            f"The folder '{folder}' holds no images ({', '.join(IMAGE_EXTENSIONS)} files), "
            "directly or in class subfolders.",
            fix="pass a folder laid out as images/<class>/<file>.png, or an .npz file.",
        )
    arrays = [_read_file(f) for f, _ in files]
    for (f, _), a in zip(files, arrays, strict=True):
        _check_pixels(a[None], f"The image file '{f}'")
    # One by one: files may differ in bit depth (8-bit PNG, float .npy) or size.
    shown = [preprocess.display(a[None]) for a in arrays]
    sizes = sorted({s.shape[2:] for s in shown})
    if len(sizes) > 1:
        raise DataError(
            f"The images in '{folder}' differ in size ({', '.join(map(str, sizes))}).",
            fix="declare a size to resize them to (size=(H, W) or --resize HxW).",
        )
    channels = sorted({s.shape[1] for s in shown})
    if len(channels) > 1:
        raise DataError(
            f"The images in '{folder}' have different channel counts {channels}.",
            fix="declare the channels the model takes (channels=1 or 3, or --channels).",
        )
    display = np.concatenate(shown)
    labels = None
    if classes is not None:
        labels = np.array([label for _, label in files], dtype=np.int64)
    return ImageSet(
        inputs=np.ascontiguousarray(preprocess.normalise(display), dtype=np.float32),
        display=np.ascontiguousarray(np.moveaxis(display, 1, 3), dtype=np.float32),
        labels=labels,
        classes=classes,
        names=[str(f.relative_to(folder)) for f, _ in files],
        preprocess=preprocess,
        source=str(folder),
    )


def _from_npz(path: Path, preprocess: Preprocess) -> ImageSet:
    try:
        with np.load(path, allow_pickle=False) as data:
            keys = list(data.files)
            image_key = next((k for k in _IMAGE_KEYS if k in keys), None)
            if image_key is None:
                close = difflib.get_close_matches("images", keys, n=1)
                raise DataError(
                    f"The file '{path}' has no array named 'images' or 'x'; it holds "
                    f"{keys or 'no arrays'}.",
                    fix="save the images as np.savez(path, images=..., labels=...)"
                    + (f" (did you mean '{close[0]}'?)" if close else "."),
                )
            label_key = next((k for k in _LABEL_KEYS if k in keys), None)
            x = data[image_key]
            y = data[label_key] if label_key else None
    except (OSError, ValueError) as exc:
        raise DataError(
            f"The file '{path}' cannot be read as an .npz archive: {exc}.",
            fix="save the images with np.savez(path, images=..., labels=...).",
        ) from None
    return _from_array(x, y, preprocess, what=f"The file '{path}'", source=str(path))


def load_images(
    source: Any,
    labels: Any = None,
    *,
    preprocess: Preprocess | None = None,
) -> ImageSet:
    """Load and preprocess images for a saliency run.

    Parameters
    ----------
    source : path, numpy.ndarray, torch.Tensor or ImageSet
        A folder (class subfolders, or image files directly), an ``.npz`` file with arrays
        ``images`` (or ``x``) and ``labels`` (or ``y``), one ``.npy``/PNG/JPEG file, or an
        array of images shaped ``(n, H, W)``, ``(n, H, W, C)`` or ``(n, C, H, W)``. An
        :class:`ImageSet` is returned as it is.
    labels : array-like, optional
        Class labels of array images (folders and ``.npz`` files carry their own).
    preprocess : Preprocess, optional
        Scaling, channels, size and normalisation; by default integer images are divided
        by their maximum (255 for 8-bit) and nothing else changes.

    Returns
    -------
    ImageSet

    Raises
    ------
    DataError
        A missing or empty folder, an unreadable file, images of different sizes without
        a declared size, NaN pixels, labels that are not one integer per image.
    """
    if isinstance(source, ImageSet):
        return source
    preprocess = preprocess if preprocess is not None else Preprocess()
    if not isinstance(preprocess, Preprocess):
        raise InvalidInputError(
            f"The argument 'preprocess' must be a Preprocess; received "
            f"{type(preprocess).__name__}.",
            fix="pass Preprocess(size=..., mean=..., std=...).",
        )
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if not path.exists():
            raise DataError(
                f"The image path '{path}' does not exist.",
                fix=f"check the path (relative paths start from '{Path.cwd()}').",
            )
        if path.is_dir():
            return _from_folder(path, preprocess)
        if path.suffix.lower() == ".npz":
            return _from_npz(path, preprocess)
        if path.suffix.lower() in IMAGE_EXTENSIONS:
            one = _read_file(path)[None]
            return _from_array(
                one,
                labels,
                preprocess,
                what=f"The file '{path}'",
                names=[path.name],
                source=str(path),
            )
        raise DataError(
            f"The image path '{path}' is a {path.suffix or 'extensionless'} file; afterfit "
            f"reads folders, .npz files and {', '.join(IMAGE_EXTENSIONS)} files.",
            fix="pass a folder of images (class subfolders) or an .npz with 'images'/'labels'.",
        )
    if type(source).__module__.startswith("torch"):
        source = source.detach().cpu().numpy()
    if isinstance(source, np.ndarray | list):
        return _from_array(np.asarray(source), labels, preprocess, what="The images array")
    raise InvalidInputError(
        f"The argument 'images' must be a path, an array or a tensor; received "
        f"{type(source).__name__}.",
        fix="pass a folder, an .npz file, or an (n, C, H, W) array.",
    )
