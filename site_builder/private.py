"""Private data: age encryption of the solution through pyrage.

Organizers encrypt with the public recipient (``recipient.txt``); only the
trusted scoring job holds the identity, read from ``SITE_BUILDER_AGE_KEY`` or a
key file. Decrypted bytes stay in memory or in a private temporary directory;
they are never printed.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from site_builder.errors import PrivateDataError

KEY_ENVIRONMENT_VARIABLE = "SITE_BUILDER_AGE_KEY"


def generate_identity() -> tuple[str, str]:
    """A new (identity, recipient) pair as age text."""
    from pyrage import x25519

    identity = x25519.Identity.generate()
    return str(identity), str(identity.to_public())


def write_identity(path: Path, identity: str, recipient: str) -> None:
    """Write the identity to ``path``, readable by its owner only; refuse to overwrite."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(f"# public key: {recipient}\n{identity}\n")


def read_identity_text(key_file: Path | None = None) -> str:
    """The identity from ``key_file``, else from the environment."""
    if key_file is not None:
        try:
            return Path(key_file).read_text(encoding="utf-8")
        except OSError as error:
            raise PrivateDataError(f"cannot read the key file ({error.strerror})", path=key_file) from None
    text = os.environ.get(KEY_ENVIRONMENT_VARIABLE, "")
    if not text.strip():
        raise PrivateDataError(
            f"no age identity: set {KEY_ENVIRONMENT_VARIABLE} to the secret key "
            "(the AGE-SECRET-KEY-1… line) or pass --key-file"
        )
    return text


def _parse_identities(text: str):  # -> list[x25519.Identity]
    from pyrage import IdentityError, x25519

    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise PrivateDataError("the age identity is empty; expected a line starting with AGE-SECRET-KEY-1")
    try:
        return [x25519.Identity.from_str(line) for line in lines]
    except IdentityError:
        raise PrivateDataError("the age identity is malformed; expected a line starting with AGE-SECRET-KEY-1") from None


def parse_recipient(text: str):  # -> x25519.Recipient
    from pyrage import RecipientError, x25519

    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    try:
        return x25519.Recipient.from_str(lines[0] if lines else "")
    except RecipientError:
        raise PrivateDataError("the recipient is malformed; expected an age public key starting with age1") from None


def encrypt_bytes(plaintext: bytes, recipient_text: str) -> bytes:
    import pyrage

    return pyrage.encrypt(plaintext, [parse_recipient(recipient_text)])


def decrypt_bytes(ciphertext: bytes, identity_text: str, *, source: Path | None = None) -> bytes:
    import pyrage

    identities = _parse_identities(identity_text)
    try:
        return pyrage.decrypt(ciphertext, identities)
    except pyrage.DecryptError:
        raise PrivateDataError(
            "cannot decrypt: the identity does not match this file's recipient, or the file is damaged",
            path=source,
        ) from None


def decrypt_file(path: Path, identity_text: str) -> bytes:
    """The decrypted content of ``path``, in memory.

    The file is decrypted as it is read, into one growing buffer: the
    ciphertext is never held whole, nor the plaintext twice. Reading the
    file, then ``pyrage.decrypt``, peaked at three times the file's size.
    """
    try:
        handle = open(path, "rb")  # opened before the identity is parsed: a missing file is the first error
    except OSError as error:
        raise PrivateDataError(f"cannot read the encrypted file ({error.strerror})", path=path) from None
    with handle:
        return _decrypt_stream(handle, identity_text, source=path)


def _decrypt_stream(reader: BinaryIO, identity_text: str, *, source: Path) -> bytes:
    import pyrage

    if not hasattr(pyrage, "decrypt_io"):  # an older pyrage: all at once
        return decrypt_bytes(reader.read(), identity_text, source=source)
    identities = _parse_identities(identity_text)
    plaintext = io.BytesIO()
    try:
        pyrage.decrypt_io(reader, plaintext, identities)
    except pyrage.DecryptError:
        raise PrivateDataError(
            "cannot decrypt: the identity does not match this file's recipient, or the file is damaged",
            path=source,
        ) from None
    except OSError:
        # A damaged or truncated payload is found mid-stream, and reported as an I/O error.
        raise PrivateDataError(
            "cannot decrypt: the file is damaged or truncated, or could not be read to the end", path=source
        ) from None
    return plaintext.getvalue()  # BytesIO hands over its own buffer, trimmed: no copy


@contextlib.contextmanager
def decrypted_copy(path: Path, identity_text: str) -> Iterator[Path]:
    """Decrypt into a private temporary directory, removed on exit.

    ``RUNNER_TEMP`` is preferred on GitHub so the plaintext never touches the
    workspace that later steps might upload.
    """
    plaintext = decrypt_file(path, identity_text)
    base = os.environ.get("RUNNER_TEMP") or None
    with tempfile.TemporaryDirectory(prefix="site-builder-private-", dir=base) as directory:
        os.chmod(directory, 0o700)
        target = Path(directory) / Path(path).name.removesuffix(".age")
        descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(plaintext)
        yield target
