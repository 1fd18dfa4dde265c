"""A bundle's ``manifest.json``: what is in the bundle, with the SHA-256 of every file, and
its verification.

Verification refuses, naming the file: a file listed but missing, a file present but not
listed, a file whose hash differs, a manifest edited by hand (the manifest records the hash
of its own content, ``manifest_sha256``), and paths that leave the bundle (absolute,
``..``). The hashes detect damage and tampering with single files; they are not a
signature: whoever can rewrite every file can rewrite the manifest too.

A bundle is a folder or a ``.zip`` of the same files (at the root of the archive, or in
one top-level folder).

Reading a bundle trusts none of its bytes before they are checked, whether or not the
hashes are verified: members that are links or special files, zip entries that leave the
bundle (zip-slip) or are links, and oversized files are refused by name
(:class:`BundleFiles`); every JSON document goes through one strict reader
(:func:`afterfit.jsonsafe.loads`: UTF-8, a size cap, no NaN constants, a depth limit) and
a structural check of the fields afterfit reads (:func:`read_manifest`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from afterfit import jsonsafe
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
    "read_manifest",
    "verify_manifest",
]

BUNDLE_FORMAT = "afterfit-bundle"
BUNDLE_FORMAT_VERSION = 1
MANIFEST = "manifest.json"
_CHUNK = 1 << 20
#: Size caps of what a bundle's reader holds in memory: far above what afterfit writes (a
#: manifest lists a few files; a reference of 2,000 numeric features is about 100 MiB),
#: far below what would exhaust a server's memory.
MAX_MANIFEST_BYTES = 16 * 2**20
MAX_JSON_BYTES = 256 * 2**20
MAX_TEXT_BYTES = 16 * 2**20
#: A bundle's zip is refused above this many entries or unpacked bytes (a zip bomb).
MAX_MEMBERS = 100_000
MAX_UNZIPPED_BYTES = 64 * 2**30


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
    if (
        not name
        or p.is_absolute()
        or ".." in p.parts
        or "\\" in name
        or "\x00" in name
        or ":" in p.parts[0]  # a Windows drive ("C:") is absolute there
    ):
        raise BundleError(
            f"The bundle {where} lists the file {name!r}, whose path leaves the bundle.",
            fix="rebuild the bundle with afterfit bundle; do not use bundles from unknown sources.",
        )
    return p.as_posix()


_REBUILD = "rebuild the bundle with afterfit bundle; do not use bundles from unknown sources."


class BundleFiles:
    """Read access to the files of a bundle folder or zip, by relative POSIX name.

    Opening checks every member before anything is read, whatever ``verify`` says:

    - a folder holds plain files and folders only: a symbolic link (to a file or a
      folder, inside the bundle or out), a device, a FIFO or a socket is refused by name,
      so a model card cannot become ``/etc/passwd`` and a model file cannot live outside;
      each file is opened without following links and must be the very file seen here;
    - a zip holds plain entries only: an entry whose name leaves the bundle (absolute,
      ``..``, a drive, a backslash: zip-slip), a symbolic-link entry, an encrypted entry,
      a name twice, more than :data:`MAX_MEMBERS` entries, or more than
      :data:`MAX_UNZIPPED_BYTES` unpacked is refused by name.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._zip: zipfile.ZipFile | None = None
        self._prefix = ""
        self._where = f"'{path}'"
        if path.is_dir():
            self._files = _scan_folder(path)
            return
        if not path.exists():
            raise BundleError(
                f"The bundle '{path}' does not exist.",
                fix="pass the folder (or .zip) written by afterfit bundle.",
            )
        if not path.is_file() or not zipfile.is_zipfile(path):
            raise BundleError(
                f"The bundle '{path}' is neither a folder nor a zip file.",
                fix="pass the folder (or .zip) written by afterfit bundle.",
            )
        try:
            self._zip = zipfile.ZipFile(path)
            infos = self._zip.infolist()
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            raise BundleError(
                f"The bundle '{path}' is a damaged zip file: {exc}.",
                fix="copy the bundle again, or rebuild it with afterfit bundle --zip.",
            ) from exc
        try:
            _check_zip(path, infos)
        except BundleError:
            self._zip.close()
            raise
        names = [i.filename for i in infos if not i.is_dir()]
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
            return sorted(self._files)
        n = len(self._prefix)
        return sorted(name[n:] for name in self._names if name.startswith(self._prefix))

    def exists(self, name: str) -> bool:
        if self._zip is None:
            return name in self._files
        return (self._prefix + name) in self._names

    def open(self, name: str) -> Any:
        """A binary file object of the member ``name`` (checked, never through a link)."""
        name = _safe_name(name, self._where)
        if self._zip is not None:
            if not self.exists(name):
                raise FileNotFoundError(name)
            return self._zip.open(self._prefix + name)
        seen = self._files.get(name)
        if seen is None:
            raise FileNotFoundError(name)
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        try:
            fd = os.open(self.path / name, flags)
        except OSError as exc:
            raise BundleError(
                f"The file {name!r} of the bundle {self._where} cannot be opened ({exc.strerror}); "
                "it changed while the bundle was being read, or is a link.",
                fix=_REBUILD,
            ) from exc
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) != seen:
            os.close(fd)
            raise BundleError(
                f"The file {name!r} of the bundle {self._where} was replaced while the bundle "
                "was being read.",
                fix=_REBUILD,
            )
        return os.fdopen(fd, "rb")

    def chunks(self, name: str) -> Iterator[bytes]:
        """The bytes of ``name`` in 1 MiB chunks; a damaged zip entry is a BundleError."""
        try:
            with self.open(name) as fh:
                while chunk := fh.read(_CHUNK):
                    yield chunk
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
            raise BundleError(
                f"The file {name!r} of the bundle {self._where} cannot be unpacked: {exc}.",
                fix="copy the bundle again, or rebuild it with afterfit bundle --zip.",
            ) from exc

    def read(self, name: str, max_bytes: int | None = None) -> bytes:
        """The bytes of ``name``; with ``max_bytes``, never more than that plus one (the
        caller sees a file too large without reading it whole)."""
        out = bytearray()
        for chunk in self.chunks(name):
            out += chunk
            if max_bytes is not None and len(out) > max_bytes:
                break
        return bytes(out)

    def read_json(self, name: str, max_bytes: int | None = None) -> Any:
        """Parse the member ``name`` with :func:`afterfit.jsonsafe.loads` (strict UTF-8, a
        size cap, no NaN constants, a depth limit); errors name the file and the bundle."""
        what = f"The file {name} of the bundle {self._where}"
        max_bytes = MAX_JSON_BYTES if max_bytes is None else max_bytes
        try:
            return jsonsafe.loads(self.read(name, max_bytes), what=what, max_bytes=max_bytes)
        except BundleError:
            raise
        except InvalidInputError as exc:
            raise BundleError(exc.problem, fix=_REBUILD) from None

    def read_text(self, name: str, max_bytes: int | None = None) -> str:
        """The member ``name`` as strict UTF-8 text of at most ``max_bytes``."""
        max_bytes = MAX_TEXT_BYTES if max_bytes is None else max_bytes
        data = self.read(name, max_bytes)
        where = f"The file {name} of the bundle {self._where}"
        if len(data) > max_bytes:
            raise BundleError(
                f"{where} is larger than {max_bytes / 2**20:.0f} MiB, more than afterfit "
                "ever writes there.",
                fix=_REBUILD,
            )
        try:
            return data.decode("utf-8", errors="strict")
        except UnicodeDecodeError as exc:
            raise BundleError(
                f"{where} is not UTF-8 text (byte {exc.start}: {exc.reason}).", fix=_REBUILD
            ) from None

    def copy_to(self, name: str, target: Path) -> None:
        """Write the member ``name`` to the file ``target``, streaming."""
        with open(target, "wb") as out:
            for chunk in self.chunks(name):
                out.write(chunk)

    def sha256(self, name: str) -> str:
        h = hashlib.sha256()
        for chunk in self.chunks(name):
            h.update(chunk)
        return h.hexdigest()

    def iter_files(self) -> Iterator[str]:
        yield from self.names()


def _scan_folder(root: Path) -> dict[str, tuple[int, int]]:
    """Every plain file under ``root``: relative POSIX name to (device, inode).

    Links and special files are refused by name; links are never followed.
    """
    where = f"'{root}'"
    files: dict[str, tuple[int, int]] = {}
    todo: list[tuple[Path, str]] = [(root, "")]
    while todo:
        folder, rel = todo.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError as exc:
            raise BundleError(
                f"The folder {rel or '.'!r} of the bundle {where} cannot be listed "
                f"({exc.strerror}).",
                fix="check the bundle's permissions, or copy it again.",
            ) from exc
        for entry in entries:
            name = f"{rel}{entry.name}"
            if entry.is_symlink():
                try:
                    target = os.readlink(entry.path)
                except OSError:
                    target = "?"
                raise BundleError(
                    f"The bundle {where} holds {name!r}, a symbolic link (to {target!r}); a "
                    "bundle holds plain files only, so that nothing outside it is read.",
                    fix=f"replace {name!r} by the file itself (cp -L), or rebuild the bundle "
                    "with afterfit bundle.",
                )
            if entry.is_dir(follow_symlinks=False):
                todo.append((Path(entry.path), name + "/"))
            elif entry.is_file(follow_symlinks=False):
                st = entry.stat(follow_symlinks=False)
                files[name] = (st.st_dev, st.st_ino)
            else:
                raise BundleError(
                    f"The bundle {where} holds {name!r}, which is not a plain file (a device, "
                    "FIFO or socket); a bundle holds plain files only.",
                    fix=f"remove {name!r}, or rebuild the bundle with afterfit bundle.",
                )
            if len(files) > MAX_MEMBERS:
                raise BundleError(
                    f"The bundle {where} holds more than {MAX_MEMBERS:,} files.",
                    fix=_REBUILD,
                )
    return files


def _check_zip(path: Path, infos: list[zipfile.ZipInfo]) -> None:
    """Refuse, by name, zip entries that a bundle never holds (see :class:`BundleFiles`)."""
    where = f"'{path}'"
    if len(infos) > MAX_MEMBERS:
        raise BundleError(
            f"The bundle {where} holds more than {MAX_MEMBERS:,} entries.", fix=_REBUILD
        )
    seen: set[str] = set()
    total = 0
    for info in infos:
        name = info.filename
        if name in seen:
            raise BundleError(
                f"The zip bundle {where} holds the entry {name!r} twice; which one would be "
                "read is ambiguous.",
                fix=_REBUILD,
            )
        seen.add(name)
        _safe_name(name.rstrip("/") or name, f"zip {where} (zip-slip)")
        mode = info.external_attr >> 16
        kind = stat.S_IFMT(mode)
        if kind == stat.S_IFLNK:
            raise BundleError(
                f"The zip bundle {where} holds {name!r}, a symbolic link; a bundle holds plain "
                "files only, so that nothing outside it is read.",
                fix=_REBUILD,
            )
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise BundleError(
                f"The zip bundle {where} holds {name!r}, which is not a plain file.",
                fix=_REBUILD,
            )
        if info.flag_bits & 0x1:
            raise BundleError(
                f"The zip bundle {where} holds {name!r} encrypted; afterfit writes bundles "
                "unencrypted.",
                fix=_REBUILD,
            )
        total += info.file_size
        if total > MAX_UNZIPPED_BYTES:
            raise BundleError(
                f"The zip bundle {where} unpacks to more than "
                f"{MAX_UNZIPPED_BYTES / 2**30:.0f} GiB.",
                fix=_REBUILD,
            )


def open_bundle_files(path: str | Path) -> BundleFiles:
    """A :class:`BundleFiles` of a bundle folder or zip (raises :class:`BundleError`)."""
    return BundleFiles(Path(path))


_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def read_manifest(files: BundleFiles) -> dict[str, Any]:
    """Read ``manifest.json`` and check its structure: every field afterfit reads has its
    type, the listed paths stay inside the bundle, the hashes are SHA-256 hex digests."""
    where = f"'{files.path}'"
    if not files.exists(MANIFEST):
        raise BundleError(
            f"The bundle {where} has no {MANIFEST}, so its files cannot be verified.",
            fix="pass the folder (or .zip) written by afterfit bundle, whole.",
        )
    manifest = files.read_json(MANIFEST, max_bytes=MAX_MANIFEST_BYTES)
    what = f"The file {MANIFEST} of the bundle {where}"
    if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
        raise BundleError(
            f"{what} is not an afterfit bundle manifest (its 'format' is not {BUNDLE_FORMAT!r}).",
            fix="pass a bundle written by afterfit bundle.",
        )
    version = manifest.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise BundleError(
            f"{what}: the field 'format_version' must be a positive integer; got "
            f"{jsonsafe.describe(version)}.",
            fix=_REBUILD,
        )
    if version > BUNDLE_FORMAT_VERSION:
        raise BundleError(
            f"The bundle {where} has format_version {version!r}; this afterfit reads "
            f"version {BUNDLE_FORMAT_VERSION} and older.",
            fix="upgrade afterfit (pip install -U afterfit) to load it.",
        )
    try:
        for key in ("name", "version", "model_file"):
            jsonsafe.field(manifest, key, "text", what=what)
        for key in ("created", "afterfit_version", "model_format", "model_type", "task"):
            jsonsafe.field(manifest, key, "text", what=what, required=False)
        jsonsafe.field(manifest, "manifest_sha256", "text", what=what, required=False)
        for key in ("libraries", "export", "bundle_parity"):
            jsonsafe.field(manifest, key, "object", what=what, required=False, nullable=True)
        for key in ("classes", "trusted_types"):
            jsonsafe.field(manifest, key, "list", what=what, required=False, nullable=True)
        for key in ("n_train_rows", "n_features"):
            jsonsafe.field(manifest, key, "integer", what=what, required=False)
        jsonsafe.field(manifest, "threshold", "number", what=what, required=False, nullable=True)
        jsonsafe.field(manifest, "positive_class", "scalar", what=what, required=False)
        listed = jsonsafe.field(manifest, "files", "object", what=what)
    except BundleError:
        raise
    except InvalidInputError as exc:
        raise BundleError(exc.problem, fix=_REBUILD) from None
    if not listed:
        raise BundleError(f"{what} lists no files.", fix=_REBUILD)
    for name, digest in listed.items():
        _safe_name(name, MANIFEST)
        if not isinstance(digest, str) or not _HEX64.match(digest):
            raise BundleError(
                f"{what} lists the file {name!r} with the hash {jsonsafe.describe(digest)}, "
                "which is not a SHA-256 hex digest.",
                fix=_REBUILD,
            )
    _safe_name(manifest["model_file"], MANIFEST)
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
