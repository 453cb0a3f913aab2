"""What a build remembers of its input files: their digests, and what was parsed from them.

A site of ten thousand submissions is built from ten thousand records and
more snapshot files. Reading, parsing and hashing all of them took longer
than rendering the few pages one new submission changes. So, as git's index
does, a :class:`FolderIndex` keeps per file its digest and parsed value
together with the file's identity: device, inode, size, and modification and
change times in nanoseconds. A file whose identity is unchanged is not read
again.

Why this stays exact although the content cache never trusts mtimes: the
identity only ever stands for a file this very index read, never for content
made elsewhere. Every write to a file moves its change time, which no user
call can set back; a file replaced by another has another inode. The one
hole is a file written again within the same clock tick as the read, with
the same size: such "racily clean" entries, changed less than
:data:`RACY_SECONDS` before the build began, are not remembered, so they are
read again next time. On a fresh checkout every identity is new and every
file is read again, but one whose bytes have the digest remembered for its
name is not parsed again.

Entries are stored as JSON (never unpickled: a cache restored from elsewhere
is data, not code), one table per folder, holding only what the last build
used, so removed files do not linger.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from typing import Any

from site_builder.cache import ContentCache, digest_text, dump_data, load_data

# Identity: device, inode, size, modification time and change time (ns).
Identity = tuple[int, int, int, int, int]
# A file changed this little before the build began may change again unseen.
RACY_SECONDS = 2


def identity_of(result: os.stat_result) -> Identity:
    return (result.st_dev, result.st_ino, result.st_size, result.st_mtime_ns, result.st_ctime_ns)


def file_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FolderIndex:
    """Digests and parsed values of the files of one folder, by name relative to it.

    ``salt`` names the code that parsed the values: another version of it
    starts from an empty table. Without a cache the index remembers nothing
    and every file is read.
    """

    NAMESPACE = "index"
    FORMAT = 1

    def __init__(self, cache: ContentCache | None, folder: str, salt: str, began_ns: int | None = None) -> None:
        self.cache = cache
        self.folder = folder
        self.key = digest_text(f"format {self.FORMAT}", salt, folder)
        began = time.time_ns() if began_ns is None else began_ns
        self.trusted_before = began - RACY_SECONDS * 1_000_000_000
        self.previous = self._load()
        self.used: dict[str, list[Any]] = {}
        self.changed = False

    def _load(self) -> dict[str, list[Any]]:
        data = self.cache.get(self.NAMESPACE, self.key) if self.cache is not None else None
        if data is None:
            return {}
        try:
            document = load_data(data)
        except ValueError:
            return {}
        if not isinstance(document, dict) or document.get("folder") != self.folder:
            return {}
        entries = document.get("entries")
        return entries if isinstance(entries, dict) else {}

    def _entry(self, name: str) -> list[Any] | None:
        """The remembered entry of ``name``: identity (5 numbers), digest, value; None if none or malformed."""
        entry = self.previous.get(name)
        return entry if isinstance(entry, list) and len(entry) == 7 else None

    def lookup(self, name: str, identity: Identity) -> tuple[str, Any] | None:
        """The digest and value remembered for ``name`` if the file still has this identity."""
        entry = self._entry(name)
        if entry is None or tuple(entry[:5]) != identity:
            return None
        self.used[name] = entry
        return entry[5], entry[6]

    def remember(self, name: str, identity: Identity, digest: str, value: Any) -> None:
        """Keep what was read, unless the file changed too recently for its identity to be trusted."""
        self.changed = True
        if max(identity[3], identity[4]) < self.trusted_before:
            self.used[name] = [*identity, digest, value]

    def read(self, name: str, parse: Callable[[bytes], Any]) -> tuple[str, Any]:
        """The digest of the file ``name`` and ``parse`` of its bytes; OSError if it cannot be read.

        Symlinks are followed, as ``open`` does.
        """
        path = f"{self.folder}/{name}"  # name is one file name: join costs more over thousands
        known = self.lookup(name, identity_of(os.stat(path)))
        if known is not None:
            return known
        with open(path, "rb") as handle:
            # The identity of the bytes read, should the file have been replaced since the stat.
            identity = identity_of(os.fstat(handle.fileno()))
            data = handle.read()
        digest = file_digest(data)
        entry = self._entry(name)
        if entry is not None and entry[5] == digest:
            value = entry[6]  # a new file with the same bytes (a fresh checkout): parsed already
        else:
            value = parse(data)
        self.remember(name, identity, digest, value)
        return digest, value

    def save(self) -> None:
        """Store the entries this build used, if anything differs from what was loaded."""
        if self.cache is None or not (self.changed or len(self.used) != len(self.previous)):
            return
        document = {"folder": self.folder, "entries": self.used}
        self.cache.put(self.NAMESPACE, self.key, dump_data(document))


class InputIndexes:
    """The folder indexes of one build, all trusting files changed before the build began."""

    def __init__(self, cache: ContentCache | None, salt: str) -> None:
        self.cache = cache
        self.salt = salt
        self.began_ns = time.time_ns()
        self.folders: dict[str, FolderIndex] = {}

    def folder(self, path: str) -> FolderIndex:
        index = self.folders.get(path)
        if index is None:
            index = self.folders[path] = FolderIndex(self.cache, path, self.salt, self.began_ns)
        return index

    def save(self) -> None:
        for index in self.folders.values():
            index.save()
