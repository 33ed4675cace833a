"""Listing a day's landing folder: one ``find`` gives every file with its size and version, from
which a run takes the files it reads (``landing_files``) and the ones it reports
(``core.landing.fileset``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from fsspec import AbstractFileSystem
from fsspec.core import url_to_fs

from trade_platform.core.lake_layout import PARTITION_COLUMN, day_folder
from trade_platform.core.landing.files import TRADES, LandingFile, is_landing_file


def file_version(info: Mapping) -> str:
    """The ETag on S3; ``mtime:inode:ctime`` on disk (fsspec's ``created`` is ``st_ctime``).

    Not the age alone: ``cp -p``, ``mv`` from a staging folder, ``rsync -a`` and ``tar x`` keep
    the source's mtime, but a new or rewritten file always gets a new change time (and a file
    moved in another inode)."""
    etag = info.get("ETag") or info.get("etag")
    if etag:
        return str(etag).strip('"')
    stamps = (info.get("mtime") or info.get("LastModified"), info.get("ino"), info.get("created"))
    return ":".join("" if s is None else str(s) for s in stamps)


@dataclass(frozen=True)
class ListedFile:
    """A file of a day's folder as listed, whatever it is (``list_day``)."""

    path: str
    """Relative to the landing root, e.g. ``trades/date=2026-11-20/a.csv``."""
    size: int
    version: str
    folder: bool = False
    """A symbolic link to a folder: listed (the completeness check names it), never read."""

    def as_json(self) -> dict:
        return {"path": self.path, "size": self.size, "version": self.version}


def listed(fs: AbstractFileSystem, root: str, path: str, info: Mapping) -> ListedFile:
    """A file of a ``find(detail=True)`` listing under the landing root ``root`` (no protocol).
    A symbolic link is judged by its target (a listing gives the link's own times)."""
    if info.get("islink"):
        info = fs.info(path)
    return ListedFile(
        path[len(root.rstrip("/")) + 1 :],
        int(info.get("size") or 0),
        file_version(info),
        folder=info.get("type") == "directory",
    )


def is_file(path: str, info: Mapping) -> bool:
    """Not a folder: S3's 0-byte folder marker (``date=D/``, as the S3 console's "Create folder"
    writes) and folders are not files (a symbolic link to a folder is, as ``ListedFile.folder``)."""
    return not path.endswith("/") and info.get("type") != "directory"


def below_day(path: str) -> str:
    """The part of a landing path below its ``date=D/`` folder."""
    return path.split(f"/{PARTITION_COLUMN}=", 1)[-1].split("/", 1)[-1]


def list_day(landing_url: str, day: str, dataset: str = TRADES) -> list[ListedFile]:
    """Every file under ``<dataset>/date=D/`` in path order, hidden and unsupported ones included:
    one listing, from which a run takes what it reads and what it reports."""
    fs, root = url_to_fs(landing_url)
    prefix = f"{root.rstrip('/')}/{dataset}/{day_folder(day)}"
    fs.invalidate_cache(prefix)  # a long-lived process must not judge a cached listing
    if not fs.exists(prefix):
        return []
    found = sorted(fs.find(prefix, detail=True).items())
    return [listed(fs, root, path, info) for path, info in found if is_file(path, info)]


def landing_files(landing_url: str, listing: Iterable[ListedFile]) -> list[LandingFile]:
    """The files of a ``list_day`` listing that are read; hidden and unsupported paths are not."""
    root = landing_url.rstrip("/")
    return [
        LandingFile(url=f"{root}/{f.path}", relative_path=f.path, size=f.size, version=f.version)
        for f in listing
        if is_landing_file(below_day(f.path)) and not f.folder
    ]


def list_landing_files(landing_url: str, day: str, dataset: str = TRADES) -> list[LandingFile]:
    """The day's landing files in name order; hidden and unsupported paths are skipped."""
    return landing_files(landing_url, list_day(landing_url, day, dataset))
