"""A build cache keyed by content, never by modification time.

A fresh CI checkout gives every file a new mtime, so a cache keyed by mtimes
would miss every time there, and one that trusted them could serve stale
bytes. Here every entry is named by the SHA-256 of everything that produced
it, and stored with the SHA-256 of its own bytes: an entry that was damaged
on disk reads as a miss. Whether the cache is empty, warm or damaged, a build
produces the same bytes; only its speed differs.

:class:`Fingerprints` digests model objects (dataclasses, records, paths,
validated specs) through :mod:`pickle`, whose encoding is exact (a float
keeps every bit, a tuple differs from a list), so equal digests mean equal
values; with its memo off, equal values also mean equal digests, however
their objects are shared.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import operator
import os
import pickle
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

DEFAULT_FOLDER = Path(".cache") / "site-builder"
_CHECKSUM_BYTES = 32


def dump_data(value: Any) -> bytes:
    """Compact JSON bytes of plain data for the cache.

    The standard library's: orjson writes four to ten times faster but turns
    NaN into null and reads integers past 64 bits back as floats, so a
    cached record could differ from its file.
    """
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


def load_data(data: bytes) -> Any:
    """What :func:`dump_data` wrote; ValueError if it is not JSON."""
    return json.loads(data)


def write_whole(path: Path, data: bytes) -> None:
    """Write ``path`` so that a reader sees the old file or all of ``data``, never part: a
    temporary file beside it, renamed over it. OSError if it cannot be written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def default_cache_folder(root: Path) -> Path:
    """``<root>/.cache/site-builder``: beside the inputs, never inside the site."""
    return Path(root) / DEFAULT_FOLDER


def digest_bytes(*parts: bytes) -> str:
    """One hex SHA-256 over the parts, each length-prefixed so no two splits collide."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "little"))
        digest.update(part)
    return digest.hexdigest()


def digest_text(*parts: str) -> str:
    return digest_bytes(*(part.encode("utf-8") for part in parts))


def digest_files(paths: Iterable[Path], base: Path | None = None) -> str:
    """A digest over the names and contents of files, in the order given."""
    parts: list[bytes] = []
    for path in paths:
        name = path.relative_to(base).as_posix() if base is not None else path.as_posix()
        parts += [name.encode("utf-8"), path.read_bytes()]
    return digest_bytes(*parts)


class ContentCache:
    """Values stored under ``<folder>/<namespace>/<key[:2]>/<key>``.

    Writes go to a temporary file renamed into place, so a reader (another
    worker, a later build) sees a whole entry or none. A folder that cannot
    be written turns the cache off rather than failing the build.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.writable = True

    def _path(self, namespace: str, key: str) -> Path:
        return self.folder / namespace / key[:2] / key

    def get(self, namespace: str, key: str) -> bytes | None:
        try:
            data = self._path(namespace, key).read_bytes()
        except OSError:
            return None
        checksum, value = data[:_CHECKSUM_BYTES], data[_CHECKSUM_BYTES:]
        if len(checksum) != _CHECKSUM_BYTES or hashlib.sha256(value).digest() != checksum:
            return None  # damaged: recompute, and the put that follows repairs it
        return value

    def put(self, namespace: str, key: str, value: bytes) -> None:
        if not self.writable:
            return
        try:
            write_whole(self._path(namespace, key), hashlib.sha256(value).digest() + value)
        except OSError:
            self.writable = False

    def get_text(self, namespace: str, key: str) -> str | None:
        value = self.get(namespace, key)
        return None if value is None else value.decode("utf-8")

    def put_text(self, namespace: str, key: str, value: str) -> None:
        self.put(namespace, key, value.encode("utf-8"))

    def memoize_text(self, namespace: str, key: str, compute: Callable[[], str]) -> str:
        """The cached text for ``key``, computing and storing it on a miss."""
        cached = self.get_text(namespace, key)
        if cached is None:
            cached = compute()
            self.put_text(namespace, key, cached)
        return cached


def _node(*parts: Any) -> None:
    """Stands for a custom object inside a fingerprint pickle; never called."""


class Fingerprints:
    """Digests of model objects, each object's computed once.

    ``entities`` are the types worth memoizing (objects shared by many pages,
    like a submission that is also the next one's ``previous``): inside
    another digest they appear as their own digest. ``custom`` maps a type to
    a function returning the plain data that fully describes an instance.
    Dataclass fields whose metadata holds ``{"content": False}`` are skipped:
    they hold services or back-references, never something a page shows. A
    field whose metadata holds ``{"digest": "<other field>"}`` is described by
    that other field when it is set: the digest of the bytes the field's value
    was parsed from, cheaper to pickle than the value and as exact.

    ``flat`` maps a type (exactly) to a function returning a tuple that fully
    describes an instance with only text, numbers, booleans, None and
    tuples of them, nested objects given by their :meth:`digest`: its
    ``repr`` is digested, without pickle. For the most numerous objects.
    """

    def __init__(
        self,
        entities: tuple[type, ...] = (),
        custom: dict[type, Callable[[Any], Any]] | None = None,
        flat: dict[type, Callable[[Any, Fingerprints], tuple[Any, ...]]] | None = None,
    ) -> None:
        self.entities = entities
        self.custom = dict(custom or {})
        self.flat = dict(flat or {})
        self._memo: dict[int, tuple[Any, str]] = {}
        self._plans: dict[type, Callable[[Any, Any], Any]] = {}

    def digest(self, value: Any) -> str:
        """The hex digest of ``value``, memoized for entities."""
        if isinstance(value, self.entities):
            known = self._memo.get(id(value))
            if known is not None and known[0] is value:
                return known[1]
            result = self._digest(value, top=value)
            self._memo[id(value)] = (value, result)  # keeps value alive, so its id is not reused
            return result
        return self._digest(value, top=None)

    def _digest(self, value: Any, top: Any) -> str:
        flat = self.flat.get(type(value))
        if flat is not None:
            # repr is exact and unambiguous for these types: quoted text, floats that read back the same.
            described = repr((type(value).__qualname__, flat(value, self)))
            return hashlib.sha256(described.encode("utf-8")).hexdigest()
        buffer = io.BytesIO()
        _FingerprintPickler(buffer, self, top).dump(value)
        return hashlib.sha256(buffer.getvalue()).hexdigest()

    def describe(self, value: Any, top: Any) -> Any:
        """The reduction of one object inside a fingerprint, or NotImplemented for pickle's own."""
        kind = type(value)
        plan = self._plans.get(kind)
        if plan is None:
            plan = self._plans[kind] = self._plan(kind)
        return plan(value, top)

    def _plan(self, kind: type) -> Callable[[Any, Any], Any]:
        """How to describe instances of ``kind``, worked out once per type."""
        name = f"{kind.__module__}.{kind.__qualname__}"
        own = self._own_plan(kind, name)
        if issubclass(kind, self.entities):
            return lambda value, top: own(value, top) if value is top else (_node, ("ref", self.digest(value)))
        return own

    def _own_plan(self, kind: type, name: str) -> Callable[[Any, Any], Any]:
        for custom_kind, describe in self.custom.items():
            if issubclass(kind, custom_kind):
                return lambda value, top: (_node, (name, describe(value)))
        if dataclasses.is_dataclass(kind):
            fields = [field for field in dataclasses.fields(kind) if field.metadata.get("content", True)]
            values = _values_of([field.name for field in fields])
            by_digest = [(index, field.metadata["digest"]) for index, field in enumerate(fields) if "digest" in field.metadata]
            if not by_digest:
                return lambda value, top: (_node, (name, values(value)))

            def described(value: Any, top: Any) -> Any:
                found = list(values(value))
                for index, source in by_digest:
                    digest = getattr(value, source)
                    if digest:
                        found[index] = "digest " + digest
                return (_node, (name, tuple(found)))

            return described
        if callable(getattr(kind, "model_dump_json", None)) and not issubclass(kind, type):
            return lambda value, top: (_node, (name, value.model_dump_json()))  # a pydantic model: its validated content
        return lambda value, top: NotImplemented


def _values_of(names: list[str]) -> Callable[[Any], tuple[Any, ...]]:
    """The tuple of an object's values of ``names``; for two or more, attrgetter makes it in one C call."""
    if len(names) > 1:
        return operator.attrgetter(*names)
    return lambda value: tuple(getattr(value, name) for name in names)


class _FingerprintPickler(pickle.Pickler):
    def __init__(self, buffer: io.BytesIO, owner: Fingerprints, top: Any) -> None:
        super().__init__(buffer, protocol=5)
        # No memo: with it, an object met twice is written the second time as a
        # reference, so equal values shared differently (one string object in
        # two places, or two equal strings) would get different digests.
        self.fast = True
        self.owner = owner
        self.top = top

    def reducer_override(self, obj: Any) -> Any:
        if obj is _node:  # in every reduction: pickle's own way, without a call
            return NotImplemented
        return self.owner.describe(obj, self.top)
