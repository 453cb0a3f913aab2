"""score: strict checks on hostile predictions, and scores equal to sklearn's."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from site_builder.cli import main

pytestmark = pytest.mark.usefixtures("monkeypatch")


def _good_regression_predictions(fixture) -> pd.DataFrame:
    test = pd.read_csv(fixture.challenge.test_path)
    return pd.DataFrame({"id": test["id"], "progression": 150.0 + 10 * test["bmi"] * 100})


def _score(fixture, path: Path, monkeypatch, *extra: str) -> int:
    monkeypatch.setenv("SITE_BUILDER_AGE_KEY", fixture.identity)
    return main(
        [
            "score", str(fixture.directory), str(path), "--participant", "alice",
            "--results", str(fixture.root / "results"), "--now", "2026-11-20T12:00:00Z", *extra,
        ]
    )


def _records(fixture) -> list[Path]:
    return sorted((fixture.root / "results").glob("*/*.json"))


def test_scores_equal_sklearn_on_public_and_private_rows(regression_challenge, tmp_path, monkeypatch) -> None:
    predictions = _good_regression_predictions(regression_challenge)
    path = tmp_path / "predictions.csv"
    predictions.to_csv(path, index=False)
    assert _score(regression_challenge, path, monkeypatch) == 0
    [record_file] = _records(regression_challenge)
    record = json.loads(record_file.read_text())
    assert record["status"] == "scored" and record["participant"] == "alice"
    merged = regression_challenge.solution.merge(predictions, on="id", suffixes=("", "_pred"))
    for split in ("public", "private"):
        rows = merged[merged["split"] == split]
        expected_rmse = float(np.sqrt(skm.mean_squared_error(rows["progression"], rows["progression_pred"])))
        assert record["scores"][split]["rmse"] == pytest.approx(expected_rmse, abs=1e-9)
        assert record["scores"][split]["r2"] == pytest.approx(skm.r2_score(rows["progression"], rows["progression_pred"]), abs=1e-9)


def test_recording_twice_leaves_one_unchanged_record(regression_challenge, tmp_path, monkeypatch, capsys) -> None:
    path = tmp_path / "predictions.csv"
    _good_regression_predictions(regression_challenge).to_csv(path, index=False)
    assert _score(regression_challenge, path, monkeypatch) == 0
    [record_file] = _records(regression_challenge)
    before = record_file.read_bytes()
    monkeypatch.setenv("SITE_BUILDER_NOW", "2026-11-21T00:00:00Z")
    assert _score(regression_challenge, path, monkeypatch) == 0
    assert _records(regression_challenge) == [record_file]
    assert record_file.read_bytes() == before
    assert "already recorded" in capsys.readouterr().out


def _mutations(frame: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """Malformed files as bytes, each with the phrase its error must contain."""
    csv = frame.to_csv(index=False)
    lines = csv.splitlines(keepends=True)
    header, rows = lines[0], lines[1:]
    first_id = rows[0].split(",")[0]
    return {
        "missing id": ("".join([header, *rows[1:]]), "have no prediction"),
        "duplicate id": ("".join([header, *rows, rows[0]]), "duplicate id"),
        "NaN": ("".join([header, f"{first_id},nan\n", *rows[1:]]), "not finite numbers"),
        "inf": ("".join([header, f"{first_id},inf\n", *rows[1:]]), "not finite numbers"),
        "empty cell": ("".join([header, f"{first_id},\n", *rows[1:]]), "not finite numbers"),
        "wrong header": ("".join(["id,prediction\n", *rows]), "header is"),
        "extra rows": ("".join([header, *rows, "99999,1.0\n"]), "not test ids"),
        "text value": ("".join([header, f"{first_id},high\n", *rows[1:]]), "not finite numbers"),
        "ragged row": ("".join([header, f"{first_id},1.0,2.0\n", *rows[1:]]), "well-formed CSV"),
        "utf-8 BOM": ("\ufeff" + csv, "byte-order mark"),
        "empty file": ("", "is empty"),
    }


@pytest.mark.parametrize(
    "case",
    ["missing id", "duplicate id", "NaN", "inf", "empty cell", "wrong header", "extra rows", "text value", "ragged row", "utf-8 BOM", "empty file"],
)
def test_malformed_predictions_exit_1_name_the_problem_and_record_nothing(
    case: str, regression_challenge, tmp_path, monkeypatch, capsys
) -> None:
    text, phrase = _mutations(_good_regression_predictions(regression_challenge))[case]
    path = tmp_path / "predictions.csv"
    path.write_text(text, encoding="utf-8")
    assert _score(regression_challenge, path, monkeypatch) == 1
    error = capsys.readouterr().err
    assert phrase in error
    assert "predictions.csv" in error
    assert _records(regression_challenge) == []


def test_error_names_the_first_offending_lines(regression_challenge, tmp_path, monkeypatch, capsys) -> None:
    frame = _good_regression_predictions(regression_challenge)
    frame["progression"] = frame["progression"].astype(object)
    frame.loc[[3, 7], "progression"] = "nan"
    path = tmp_path / "predictions.csv"
    frame.to_csv(path, index=False)
    assert _score(regression_challenge, path, monkeypatch) == 1
    assert "lines 5, 9" in capsys.readouterr().err


def test_not_utf8_and_oversized(regression_challenge, tmp_path, monkeypatch, capsys) -> None:
    path = tmp_path / "predictions.csv"
    path.write_bytes(b"id,progression\n1000,\xff\xfe\n")
    assert _score(regression_challenge, path, monkeypatch) == 1
    assert "not UTF-8" in capsys.readouterr().err
    path.write_bytes(b"id,progression\n" + b"1," * (51 * 2**19))
    assert _score(regression_challenge, path, monkeypatch) == 1
    assert "the limit is 50 MiB" in capsys.readouterr().err
    assert _records(regression_challenge) == []


def test_label_outside_the_set_is_rejected(binary_challenge, tmp_path, monkeypatch, capsys) -> None:
    # Turn the fixture into a label challenge to exercise the label checks.
    spec_path = binary_challenge.directory / "challenge.yaml"
    spec_path.write_text(
        spec_path.read_text().replace("prediction: proba", "prediction: label").replace("[roc_auc, accuracy, log_loss]", "[accuracy, f1]")
    )
    test = pd.read_csv(binary_challenge.challenge.test_path)
    labels = np.where(test["radius"] > 15, "malignant", "benign").astype(object)
    labels[2] = "maybe"
    path = tmp_path / "predictions.csv"
    pd.DataFrame({"id": test["id"], "diagnosis": labels}).to_csv(path, index=False)
    assert _score(binary_challenge, path, monkeypatch) == 1
    assert "outside the labels" in capsys.readouterr().err
    labels[2] = "benign"
    pd.DataFrame({"id": test["id"], "diagnosis": labels}).to_csv(path, index=False)
    assert _score(binary_challenge, path, monkeypatch) == 0
    record = json.loads(_records(binary_challenge)[0].read_text())
    truth = binary_challenge.solution.set_index("id").loc[test["id"]]
    public = (truth["split"] == "public").to_numpy()
    assert record["scores"]["public"]["accuracy"] == pytest.approx(
        skm.accuracy_score(truth["diagnosis"][public], labels[public]), abs=1e-12
    )


def test_probabilities_out_of_range_are_rejected(binary_challenge, tmp_path, monkeypatch, capsys) -> None:
    test = pd.read_csv(binary_challenge.challenge.test_path)
    path = tmp_path / "predictions.csv"
    pd.DataFrame({"id": test["id"], "diagnosis": 1.5}).to_csv(path, index=False)
    assert _score(binary_challenge, path, monkeypatch) == 1
    assert "[0, 1]" in capsys.readouterr().err


def test_wrong_key_is_a_clear_error(regression_challenge, tmp_path, monkeypatch, capsys) -> None:
    from site_builder.private import generate_identity

    path = tmp_path / "predictions.csv"
    _good_regression_predictions(regression_challenge).to_csv(path, index=False)
    monkeypatch.setenv("SITE_BUILDER_AGE_KEY", generate_identity()[0])
    code = main(["score", str(regression_challenge.directory), str(path), "--participant", "alice", "--results", str(regression_challenge.root / "results")])
    assert code == 1
    assert "cannot decrypt" in capsys.readouterr().err
    assert _records(regression_challenge) == []


def test_missing_key_says_how_to_provide_it(regression_challenge, tmp_path, monkeypatch, capsys) -> None:
    path = tmp_path / "predictions.csv"
    _good_regression_predictions(regression_challenge).to_csv(path, index=False)
    monkeypatch.delenv("SITE_BUILDER_AGE_KEY", raising=False)
    code = main(["score", str(regression_challenge.directory), str(path), "--participant", "alice", "--results", str(regression_challenge.root / "results")])
    assert code == 1
    assert "SITE_BUILDER_AGE_KEY" in capsys.readouterr().err


@pytest.mark.parametrize("damage", ["flipped byte", "truncated"])
def test_a_damaged_solution_is_a_clear_error(damage: str, regression_challenge, tmp_path, monkeypatch, capsys) -> None:
    solution = regression_challenge.challenge.solution_path
    ciphertext = bytearray(solution.read_bytes())
    if damage == "flipped byte":
        ciphertext[-20] ^= 1  # in the payload, past the header
    else:
        del ciphertext[-40:]
    solution.write_bytes(bytes(ciphertext))
    path = tmp_path / "predictions.csv"
    _good_regression_predictions(regression_challenge).to_csv(path, index=False)
    assert _score(regression_challenge, path, monkeypatch) == 1
    error = capsys.readouterr().err
    assert "cannot decrypt" in error and "damaged" in error
    assert _records(regression_challenge) == []
