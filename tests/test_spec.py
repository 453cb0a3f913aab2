"""challenge.yaml: defaults, and errors that name the file, the key and the fix."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from site_builder.cli import main
from site_builder.errors import SpecError
from site_builder.spec import json_schema, load_challenge, parse_spec

VALID = """\
title: Demo
kind: code
id_column: id
target: y
metrics: [roc_auc, accuracy]
data:
  train: data/train.csv
  test: data/test.csv
  solution: private/solution.csv.age
schedule:
  end: 2026-12-31T00:00:00Z
"""


def _spec(text: str = VALID, **replace: str):
    for old, new in replace.items():
        text = text.replace(old, new)
    return parse_spec(textwrap.dedent(text), Path("challenges/demo/challenge.yaml"))


def test_defaults_are_filled_in() -> None:
    spec = _spec()
    assert spec.prediction_kind == "proba"  # what roc_auc needs
    assert spec.limits.per_day == 5 and spec.limits.time_seconds > 0 and spec.limits.memory_mb > 0
    assert spec.tags == [] and spec.summary == "" and spec.schedule.start is None
    assert spec.schedule.end.utcoffset().total_seconds() == 0


@pytest.mark.parametrize(
    ("change", "key", "phrase"),
    [
        ({"kind: code": "kind: notebook"}, "kind", "predictions"),
        ({"metrics: [roc_auc, accuracy]": "metrics: [auc]"}, "metrics", "choose from"),
        ({"metrics: [roc_auc, accuracy]": "metrics: []"}, "metrics", "at least 1"),
        ({"end: 2026-12-31T00:00:00Z": "end: next friday"}, "schedule.end", "ISO 8601"),
        ({"title: Demo\n": ""}, "title", "is required"),
        ({"train: data/train.csv": "train: ../../etc/passwd"}, "data.train", "relative path inside"),
        ({"train: data/train.csv": "train: /etc/passwd"}, "data.train", "relative path inside"),
        ({"kind: code": "kind: code\ncolour: blue"}, "colour", "not a known key"),
        ({"metrics: [roc_auc, accuracy]": "metrics: [rmse]\nprediction: label"}, "prediction", "needs value"),
        ({"target: y": "target: id"}, "target", "differ"),
        ({"kind: code": "kind: code\nlimits: {per_day: 0}"}, "limits.per_day", "greater than or equal to 1"),
    ],
)
def test_error_names_file_key_and_expected_form(change: dict[str, str], key: str, phrase: str) -> None:
    with pytest.raises(SpecError) as caught:
        _spec(**change)
    message = str(caught.value)
    assert message.startswith("challenges/demo/challenge.yaml: ")
    assert caught.value.key == key
    assert phrase in message


def test_not_yaml_and_not_a_mapping() -> None:
    with pytest.raises(SpecError, match="not valid YAML"):
        parse_spec("title: [unclosed", Path("c.yaml"))
    with pytest.raises(SpecError, match="must be a mapping"):
        parse_spec("- a list", Path("c.yaml"))


def test_missing_data_file_is_named(binary_challenge) -> None:
    (binary_challenge.directory / "data" / "test.csv").unlink()
    with pytest.raises(SpecError) as caught:
        load_challenge(binary_challenge.directory)
    assert caught.value.key == "data.test" and "data/test.csv" in str(caught.value)


def test_classes_come_from_train_with_positive_last(binary_challenge) -> None:
    assert binary_challenge.challenge.classes == ("benign", "malignant")
    assert binary_challenge.challenge.prediction_columns() == ["id", "diagnosis"]


def test_schema_command_writes_a_json_schema(tmp_path: Path, capsys) -> None:
    out = tmp_path / "schema.json"
    assert main(["schema", "-o", str(out)]) == 0
    schema = json.loads(out.read_text())
    assert set(schema["required"]) >= {"title", "kind", "id_column", "target", "metrics", "data", "schedule"}
    assert schema == json.loads(json.dumps(json_schema()))


def test_schema_validates_the_example_specs() -> None:
    import jsonschema
    import yaml

    specs = sorted(Path(__file__).resolve().parent.parent.glob("challenges/*/challenge.yaml"))
    assert specs, "the repository ships example challenges"
    schema = json_schema()
    for path in specs:
        # An editor sees the dates as text, as JSON Schema does.
        document = json.loads(json.dumps(yaml.safe_load(path.read_text()), default=str))
        jsonschema.validate(document, schema)
