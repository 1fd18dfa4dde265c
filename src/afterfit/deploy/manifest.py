"""A bundle's ``manifest.json``: what is in the bundle, with the SHA-256 of every file, and
its verification.

Verification refuses, naming the file: a file listed but missing, a file present but not
listed, a file whose hash differs, a manifest edited by hand (the manifest records the hash
of its own content, ``manifest_sha256``), and paths that leave the bundle (absolute,
``..``). The hashes detect damage and tampering with single files; they are not a
signature: whoever can rewrite every file can rewrite the manifest too.

A bundle is a folder or a ``.zip`` of the same files (at the root of the archive, or in
one top-level folder).
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from afterfit.errors import InvalidInputError

__all__ = [
    "BUNDLE_FORMAT",
    "BUNDLE_FORMAT_VERSION",
    "MANIFEST",
    "BundleError",
    "BundleFiles",
    "file_sha256",
    "manifest_digest",
    "open_bundle_files",
    "verify_manifest",
]

BUNDLE_FORMAT = "afterfit-bundle"
BUNDLE_FORMAT_VERSION = 1
MANIFEST = "manifest.json"
_CHUNK = 1 << 20


class BundleError(InvalidInputError):
    """A bundle that cannot be used: missing, altered or unlisted files, a bad manifest."""


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def manifest_digest(manifest: Mapping[str, Any]) -> str:
    """SHA-256 of the manifest's canonical JSON, ``manifest_sha256`` left out."""
    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _safe_name(name: str, where: str) -> str:
    p = PurePosixPath(name)
    if not name or p.is_absolute() or ".." in p.parts or "\\" in name:
        raise BundleError(
            f"The bundle {where} lists the file {name!r}, whose path leaves the bundle.",
            fix="rebuild the bundle with afterfit bundle; do not use bundles from unknown sources.",
        )
    return p.as_posix()


class BundleFiles:
    """Read access to the files of a bundle folder or zip, by relative POSIX name."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._zip: zipfile.ZipFile | None = None
        self._prefix = ""
        if path.is_dir():
            return
        if not path.exists():
            raise BundleError(
                f"The bundle '{path}' does not exist.",
                fix="pass the folder (or .zip) written by afterfit bundle.",
            )
        if not zipfile.is_zipfile(path):
            raise BundleError(
                f"The bundle '{path}' is neither a folder nor a zip file.",
                fix="pass the folder (or .zip) written by afterfit bundle.",
            )
        try:
            self._zip = zipfile.ZipFile(path)
            names = [n for n in self._zip.namelist() if not n.endswith("/")]
        except (zipfile.BadZipFile, OSError) as exc:
            raise BundleError(
                f"The bundle '{path}' is a damaged zip file: {exc}.",
                fix="copy the bundle again, or rebuild it with afterfit bundle --zip.",
            ) from exc
        if MANIFEST not in names:
            tops = {n.split("/", 1)[0] for n in names}
            if len(tops) == 1 and f"{next(iter(tops))}/{MANIFEST}" in names:
                self._prefix = next(iter(tops)) + "/"
        self._names = names

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()

    def names(self) -> list[str]:
        """Every file in the bundle, relative POSIX names, sorted."""
        if self._zip is None:
            return sorted(
                p.relative_to(self.path).as_posix() for p in self.path.rglob("*") if p.is_file()
            )
        n = len(self._prefix)
        return sorted(name[n:] for name in self._names if name.startswith(self._prefix))

    def exists(self, name: str) -> bool:
        if self._zip is None:
            return (self.path / name).is_file()
        return (self._prefix + name) in self._names

    def open(self, name: str) -> Any:
        if self._zip is None:
            return open(self.path / name, "rb")
        return self._zip.open(self._prefix + name)

    def read(self, name: str) -> bytes:
        with self.open(name) as fh:
            return fh.read()

    def sha256(self, name: str) -> str:
        h = hashlib.sha256()
        with self.open(name) as fh:
            while chunk := fh.read(_CHUNK):
                h.update(chunk)
        return h.hexdigest()

    def iter_files(self) -> Iterator[str]:
        yield from self.names()


def open_bundle_files(path: str | Path) -> BundleFiles:
    """A :class:`BundleFiles` of a bundle folder or zip (raises :class:`BundleError`)."""
    return BundleFiles(Path(path))


def read_manifest(files: BundleFiles) -> dict[str, Any]:
    """Read and check the structure of ``manifest.json``."""
    where = f"'{files.path}'"
    if not files.exists(MANIFEST):
        raise BundleError(
            f"The bundle {where} has no {MANIFEST}, so its files cannot be verified.",
            fix="pass the folder (or .zip) written by afterfit bundle, whole.",
        )
    try:
        manifest = json.loads(files.read(MANIFEST).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(
            f"The file {MANIFEST} of the bundle {where} is not valid JSON: {exc}.",
            fix="restore the bundle from its source, or rebuild it with afterfit bundle.",
        ) from exc
    if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
        raise BundleError(
            f"The file {MANIFEST} of {where} is not an afterfit bundle manifest (its "
            f"'format' is not {BUNDLE_FORMAT!r}).",
            fix="pass a bundle written by afterfit bundle.",
        )
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > BUNDLE_FORMAT_VERSION:
        raise BundleError(
            f"The bundle {where} has format_version {version!r}; this afterfit reads "
            f"version {BUNDLE_FORMAT_VERSION} and older.",
            fix="upgrade afterfit (pip install -U afterfit) to load it.",
        )
    if not isinstance(manifest.get("files"), dict) or not manifest["files"]:
        raise BundleError(
            f"The file {MANIFEST} of {where} lists no files.",
            fix="rebuild the bundle with afterfit bundle.",
        )
    return manifest


def verify_manifest(files: BundleFiles, manifest: Mapping[str, Any]) -> None:
    """Check every hash in ``manifest`` against the bundle's files.

    Raises
    ------
    BundleError
        Naming the first file that is missing, unlisted or altered, or the manifest itself
        when its recorded digest does not match its content.
    """
    where = f"'{files.path}'"
    recorded = manifest.get("manifest_sha256")
    if recorded != manifest_digest(manifest):
        raise BundleError(
            f"The bundle {where} was altered: the content of {MANIFEST} does not match the "
            "digest it records (manifest_sha256); the manifest was edited after the bundle "
            "was built.",
            fix="restore the bundle from its source, or rebuild it with afterfit bundle.",
        )
    listed = {_safe_name(str(k), MANIFEST): v for k, v in manifest["files"].items()}
    present = set(files.names()) - {MANIFEST}
    for name in sorted(listed):
        if name not in present:
            raise BundleError(
                f"The bundle {where} is missing the file {name!r}, which its manifest lists.",
                fix="restore the bundle from its source (copy the whole folder), or rebuild "
                "it with afterfit bundle.",
            )
    extra = sorted(present - set(listed))
    if extra:
        raise BundleError(
            f"The bundle {where} holds the file {extra[0]!r}, which its manifest does not "
            f"list{f' (and {len(extra) - 1} more)' if len(extra) > 1 else ''}; a bundle "
            "holds only the files it was built with.",
            fix=f"remove {extra[0]!r} from the bundle, or rebuild it with afterfit bundle.",
        )
    for name in sorted(listed):
        if files.sha256(name) != listed[name]:
            raise BundleError(
                f"The bundle {where} was altered: the SHA-256 of the file {name!r} differs "
                f"from the one in {MANIFEST}.",
                fix="restore the bundle from its source, or rebuild it with afterfit bundle; "
                "do not edit files inside a bundle.",
            )
