"""Publishing: the rendered site written into its folder, and what the next build keeps of it.

The new site is staged in a sibling folder and swapped into place, so a
build killed at any moment leaves the previous site or the new one (where
the system cannot exchange two folders in one step, a build killed between
its two renames leaves none, and the next build puts the previous one back
before anything else). One window is left: unchanged folders move from the
old site into the new one just before the swap, and a build killed then
leaves the old site without them until the next build renders them again.
Nothing unchanged is rewritten: folders of kept pages move over whole,
other unchanged files are hard links, so modification times stay. The
:class:`BuildManifest` remembers, per page, its key and the identity of
the file published for it, for the next build to keep instead of render.
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from site_builder.cache import ContentCache, digest_text, dump_data, load_data
from site_builder.errors import RenderError

if TYPE_CHECKING:
    from site_builder.render import PageKeys

# The file that marks a folder as a site this tool built, and may replace whole.
MARKER_FILE = ".site-builder"
MARKER_TEXT = b"Built by site-builder. This folder is replaced as a whole on every build.\n"

FileStat = tuple[int, int, int]  # inode, size, modification time in ns


@dataclass(frozen=True)
class PageState:
    """How a page was made: its key, the full objects it reached past its views, and both together."""

    key: str
    reach: tuple[str, ...]
    full_key: str


@dataclass
class Output:
    """The site as bytes per path, plus files copied as they are.

    ``kept`` pages were not rendered: their key and their published file are
    unchanged since the last build, so that file is kept as it is.
    """

    files: dict[str, bytes] = field(default_factory=dict)
    copies: dict[str, Path] = field(default_factory=dict)
    kept: dict[str, FileStat] = field(default_factory=dict)  # path -> the published file's identity
    states: dict[str, PageState] = field(default_factory=dict)

    @property
    def pages(self) -> int:
        return sum(1 for path in self.files if path.endswith(".html")) + len(self.kept)

    @property
    def rendered(self) -> int:
        return sum(1 for path in self.files if path.endswith(".html"))


@dataclass(frozen=True)
class Published:
    """What publishing did: files written or added, files removed, and the identity of every file of the site."""

    changed: int
    removed: int
    stats: dict[str, FileStat]


def publish(output: Output, out: Path) -> Published:
    """Fill a sibling staging folder, then swap it into place.

    Nothing unchanged is rewritten: a folder whose files are all kept pages
    moves over whole when the sites are swapped, and any other unchanged
    file, kept page or rendered page with the old bytes, becomes a hard link
    to the old file. Modification times stay, and a build killed before the
    swap leaves the previous site whole. When not one byte differs, nothing
    is swapped at all.
    """
    out = Path(os.path.abspath(out))
    _check_output_folder(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(out)
    old = _relative_files(out)
    new = set(output.files) | set(output.copies) | set(output.kept)
    moving = _folders_to_move(old, new, set(output.kept))
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.build-", dir=out.parent))
    try:
        os.chmod(staging, 0o755)
        stager = _Stager(staging, out, old)
        for path in sorted(output.kept):
            if not _inside_any(path, moving):
                stager.keep(path)
        for path, data in sorted(output.files.items()):
            stager.write(path, data)
        for path, source in sorted(output.copies.items()):
            stager.copy(path, source)
        if stager.changed == 0 and old == new:
            # The site in place already holds these very bytes: leave it untouched. A
            # warm build then never has a moment with a partial site, and costs no renames.
            shutil.rmtree(staging, ignore_errors=True)
            stats = {path: output.kept.get(path) or _file_stat(os.path.join(out, path)) for path in output.states}
            return Published(0, 0, stats)
        stats = {path: output.kept[path] if path in output.kept else stager.stat(path) for path in output.states}
        _swap(staging, out, moving)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Published(stager.changed, len(old - new), stats)


def _folders_to_move(old: set[str], new: set[str], kept: set[str]) -> list[str]:
    """The topmost folders that hold kept pages only, the very same files in both sites."""
    before, after, same = _files_per_folder(old), _files_per_folder(new), _files_per_folder(kept)
    movable = sorted(folder for folder, count in before.items() if after.get(folder) == count == same.get(folder))
    topmost: list[str] = []
    for folder in movable:
        if not topmost or not folder.startswith(topmost[-1] + "/"):
            topmost.append(folder)
    return topmost


def _files_per_folder(paths: Iterable[str]) -> dict[str, int]:
    """How many of ``paths`` each folder holds, at any depth; files at the top count for no folder."""
    import collections

    # Counted per direct folder first: a site has far fewer folders than files.
    direct = collections.Counter(path.rpartition("/")[0] for path in paths)
    counts: dict[str, int] = {}
    for folder, files in direct.items():
        while folder:
            counts[folder] = counts.get(folder, 0) + files
            folder = folder.rpartition("/")[0]
    return counts


def _inside_any(path: str, folders: Sequence[str]) -> bool:
    """Whether ``path`` lies in one of ``folders`` (sorted, none inside another)."""
    import bisect

    index = bisect.bisect_right(folders, path) - 1
    return index >= 0 and path.startswith(folders[index] + "/")


class _Stager:
    """Puts each file of the new site into the staging folder, reusing the old one's when equal.

    Paths are plain strings here: a large site has tens of thousands of
    files, and pathlib's per-call cost would show.
    """

    def __init__(self, staging: Path, out: Path, old: set[str]) -> None:
        self.staging = os.fspath(staging)
        self.out = os.fspath(out)
        self.old = old
        self.changed = 0
        self._folders: set[str] = set()

    def keep(self, path: str) -> None:
        """A page not rendered: its file in the previous site is right as it is."""
        _link_or_copy(f"{self.out}/{path}", self._target(path))

    def write(self, path: str, data: bytes) -> None:
        target = self._target(path)
        previous = f"{self.out}/{path}"
        if path in self.old and _file_holds(previous, data):
            _link_or_copy(previous, target)
        else:
            _write(Path(target), data)
            self.changed += 1

    def copy(self, path: str, source: Path) -> None:
        target = self._target(path)
        previous = f"{self.out}/{path}"
        if path in self.old and _same_bytes(Path(previous), source):
            _link_or_copy(previous, target)
        else:
            shutil.copyfile(source, target)
            self.changed += 1

    def stat(self, path: str) -> FileStat:
        return _file_stat(f"{self.staging}/{path}")

    def _target(self, path: str) -> str:
        target = os.path.join(self.staging, path)
        folder = os.path.dirname(target)
        if folder not in self._folders:
            os.makedirs(folder, exist_ok=True)
            self._folders.add(folder)
        return target


def _file_stat(path: str) -> FileStat:
    result = os.stat(path)
    return (result.st_ino, result.st_size, result.st_mtime_ns)


def _relative_files(folder: Path) -> set[str]:
    """Every file under ``folder``, as site paths; what ``os.walk`` lists as files, without its per-folder joins.

    As os.walk: a symlink to a folder is neither a file nor entered, and an
    unreadable folder is skipped.
    """
    found: set[str] = set()
    pending = [("", os.fspath(folder))]
    while pending:
        prefix, directory = pending.pop()
        try:
            entries = os.scandir(directory)
        except OSError:
            continue
        with entries:
            for entry in entries:
                try:
                    is_folder = entry.is_dir()
                except OSError:
                    is_folder = False
                if not is_folder:
                    found.add(prefix + entry.name)
                elif not entry.is_symlink():
                    pending.append((f"{prefix}{entry.name}/", entry.path))
    return found


def _link_or_copy(source: str, target: str) -> None:
    """A hard link, so the file keeps its bytes and times; a copy where links are not possible."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _file_holds(path: str, data: bytes) -> bool:
    try:
        if os.stat(path).st_size != len(data):
            return False
        with open(path, "rb") as handle:
            return handle.read() == data
    except OSError:
        return False


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _check_output_folder(out: Path) -> None:
    """Refuse to replace a folder that is not a site this tool built."""
    if out.exists() and not out.is_dir():
        raise RenderError("exists and is not a folder", path=out)
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER_FILE).is_file():
        raise RenderError(
            f"is not empty and holds no {MARKER_FILE} file from an earlier build; "
            "choose an empty or new folder for the site",
            path=out,
        )


def restore_site(out: Path) -> None:
    """Put back the site a build killed mid-swap left aside (``.<out>.old-<pid>``) with no site in its place."""
    if os.path.lexists(out):
        return
    aside = [path for path in out.parent.glob(f".{out.name}.old-*") if not path.is_symlink() and (path / MARKER_FILE).is_file()]
    if aside:
        os.rename(max(aside, key=lambda path: path.stat().st_mtime_ns), out)


def _remove_stale(out: Path) -> None:
    """Leftovers of a build killed midway; a site it had moved aside goes back in place first."""
    restore_site(out)
    for pattern in (f".{out.name}.build-*", f".{out.name}.old-*"):
        for stale in sorted(out.parent.glob(pattern)):
            if stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale, ignore_errors=True)


def _same_bytes(first: Path, second: Path) -> bool:
    if first.stat().st_size != second.stat().st_size:
        return False
    with open(first, "rb") as one, open(second, "rb") as two:
        while True:
            block = one.read(1 << 20)
            if block != two.read(1 << 20):
                return False
            if not block:
                return True


def _swap(staging: Path, out: Path, moving: Sequence[str] = ()) -> None:
    """Put the staged site in place of the old one, moving the unchanged folders across.

    The unchanged folders move from the old site into the staged one as
    whole renames, then the two folders trade places in one step (Linux
    renameat2 with RENAME_EXCHANGE): a build killed at any moment leaves a
    site at ``out``, the old or the new one. Only while the unchanged folders
    move does the old site lack some of them (a few renames; the next build
    renders their pages again). On any error the folders move back.

    Where the system cannot exchange two folders, the old site is renamed
    aside, the new one in, and the unchanged folders follow; a build killed
    between the two renames leaves no site, and the next build puts the old
    one back before anything else (``restore_site``).
    """
    if not out.exists():
        os.rename(staging, out)
        return
    moved: list[str] = []
    try:
        for folder in moving:
            (staging / folder).parent.mkdir(parents=True, exist_ok=True)
            os.rename(out / folder, staging / folder)
            moved.append(folder)
        exchanged = _exchange(staging, out)
    except BaseException:
        for folder in reversed(moved):
            os.rename(staging / folder, out / folder)
        raise
    if exchanged:
        shutil.rmtree(staging, ignore_errors=True)  # the old site now
        return
    for folder in reversed(moved):  # the old site whole again while it is renamed aside
        os.rename(staging / folder, out / folder)
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    os.rename(out, old)
    try:
        os.rename(staging, out)
    except BaseException:
        os.rename(old, out)
        raise
    for folder in moving:
        os.rename(old / folder, out / folder)
    shutil.rmtree(old, ignore_errors=True)


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(first: Path, second: Path) -> bool:
    """Swap two paths atomically (renameat2 RENAME_EXCHANGE, Linux 3.15+); False where the system cannot."""
    import ctypes
    import errno

    renameat2 = _renameat2()
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):  # a kernel or filesystem without it
        return False
    raise OSError(code, os.strerror(code), os.fspath(first), None, os.fspath(second))


@functools.lru_cache(maxsize=1)
def _renameat2() -> Any:
    """libc's ``renameat2`` (glibc 2.28+, musl), or None (another system, an older libc)."""
    import ctypes

    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError, TypeError):
        return None
    function.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint)
    function.restype = ctypes.c_int
    return function


# --------------------------------------------------------------------------
# Incremental builds: what the last build into a site folder published.


@dataclass
class BuildManifest:
    """Per page of the last build into ``out``: how it was made and which file holds it.

    It lives in the cache, not in the site. A page is kept only if its key is
    unchanged and its file is still the very file that build published (same
    inode, size and modification time): a page edited or replaced since then
    is rendered again. Modification times only recognize our own output
    here; they never stand for the content of an input.
    """

    out: Path
    pages: dict[str, tuple[PageState, FileStat]]

    NAMESPACE = "sites"
    FORMAT = 1

    @classmethod
    def load(cls, cache: ContentCache, out: Path) -> BuildManifest | None:
        out = Path(os.path.abspath(out))
        data = cache.get(cls.NAMESPACE, digest_text(str(out)))
        try:
            document = load_data(data) if data is not None else None
            if not document or document.get("format") != cls.FORMAT or document.get("out") != str(out):
                return None
            pages = {
                path: (PageState(key, tuple(reach), full_key), (inode, size, mtime))
                for path, (key, reach, full_key, inode, size, mtime) in document["pages"].items()
            }
        except (ValueError, TypeError, KeyError):
            return None
        return cls(out, pages)

    def save(self, cache: ContentCache) -> None:
        pages = {
            path: [state.key, list(state.reach), state.full_key, *stat] for path, (state, stat) in sorted(self.pages.items())
        }
        document = {"format": self.FORMAT, "out": str(self.out), "pages": pages}
        cache.put(self.NAMESPACE, digest_text(str(self.out)), dump_data(document))

    def unchanged(self, path: str, key: str, keys: PageKeys) -> tuple[PageState, FileStat] | None:
        """The page's state and file if the last build's file can stand for it, else None."""
        entry = self.pages.get(path)
        if not key or entry is None or entry[0].key != key:
            return None
        state, stat = entry
        if keys.full_key(key, state.reach) != state.full_key:
            return None
        try:
            current = _file_stat(f"{self.out}/{path}")  # site paths are relative, with /
        except OSError:
            return None
        return entry if current == stat else None
