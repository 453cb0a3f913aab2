"""private keygen / encrypt / decrypt: a round trip that never shows the data."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from site_builder.cli import main
from site_builder.private import decrypt_file


def test_keygen_encrypt_decrypt_round_trip(tmp_path: Path, capsys, monkeypatch) -> None:
    key = tmp_path / "org.key"
    assert main(["private", "keygen", "-o", str(key)]) == 0
    recipient = capsys.readouterr().out.strip()
    assert recipient.startswith("age1")
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    secret = tmp_path / "solution.csv"
    secret.write_text("id,y,split\n1,CANARY-LABEL,public\n")
    encrypted = tmp_path / "solution.csv.age"
    assert main(["private", "encrypt", str(secret), "-r", recipient, "-o", str(encrypted)]) == 0
    assert b"CANARY-LABEL" not in encrypted.read_bytes()
    assert decrypt_file(encrypted, key.read_text()) == secret.read_bytes()

    capsys.readouterr()
    assert main(["private", "decrypt", str(encrypted), "--key-file", str(key)]) == 0
    assert "CANARY-LABEL" not in capsys.readouterr().out

    monkeypatch.setenv("SITE_BUILDER_AGE_KEY", key.read_text())
    inside = Path(tempfile.mkdtemp()) / "plain.csv"
    assert main(["private", "decrypt", str(encrypted), "-o", str(inside)]) == 0
    assert inside.read_bytes() == secret.read_bytes()
    os.unlink(inside)


def test_decrypt_refuses_to_write_outside_a_temporary_directory(tmp_path: Path, capsys, monkeypatch) -> None:
    # The system temp dir is narrowed to a scratch folder, so tmp_path itself counts as "outside".
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    monkeypatch.delenv("RUNNER_TEMP", raising=False)
    key = tmp_path / "org.key"
    main(["private", "keygen", "-o", str(key)])
    recipient = capsys.readouterr().out.strip()
    (tmp_path / "s.csv").write_text("x\n")
    main(["private", "encrypt", str(tmp_path / "s.csv"), "-r", recipient, "-o", str(tmp_path / "s.age")])
    target = tmp_path / "leaked.csv"
    assert main(["private", "decrypt", str(tmp_path / "s.age"), "--key-file", str(key), "-o", str(target)]) == 1
    assert "temporary directory" in capsys.readouterr().err
    assert not target.exists()


def test_keygen_never_overwrites_a_key(tmp_path: Path, capsys) -> None:
    key = tmp_path / "org.key"
    key.write_text("precious")
    assert main(["private", "keygen", "-o", str(key)]) == 1
    assert key.read_text() == "precious"
    assert "refusing to overwrite" in capsys.readouterr().err


def test_bad_recipient_is_explained(tmp_path: Path, capsys) -> None:
    (tmp_path / "s.csv").write_text("x\n")
    assert main(["private", "encrypt", str(tmp_path / "s.csv"), "-r", "not-a-key", "-o", str(tmp_path / "s.age")]) == 1
    assert "age1" in capsys.readouterr().err
