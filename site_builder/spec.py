"""Stage 1, spec: load ``challenge.yaml`` into typed, validated models.

Every error names the file, the key and the expected form, so an organizer can
fix a typo without reading this code. ``site-builder schema`` exports the same
models as JSON Schema for editors.
"""

from __future__ import annotations

import functools
import re
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from site_builder.errors import SpecError
from site_builder.metrics import REGISTRY, PredictionKind, get_metric

SPEC_FILENAME = "challenge.yaml"
SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def _relative_path(value: str) -> str:
    """A path inside the challenge folder: relative, no ``..``, forward slashes."""
    path = PurePosixPath(value)
    if not value or path.is_absolute() or ".." in path.parts or "\\" in value:
        raise ValueError("must be a relative path inside the challenge folder, like data/train.csv")
    return value


def _as_utc(value: datetime) -> datetime:
    """Dates without a zone are read as UTC, the zone of the contract."""
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataFiles(_Strict):
    """Where the challenge's data lives, relative to its folder."""

    train: str = Field(description="Public CSV with the features, the id column and the target.")
    test: str = Field(description="Public CSV of test inputs: the id column and the features, no target.")
    solution: str = Field(
        description="age-encrypted CSV with the id column, the target and a `split` column (public or private)."
    )

    _check_paths = field_validator("train", "test", "solution")(classmethod(lambda cls, v: _relative_path(v)))


class Schedule(_Strict):
    """When submissions open and when the private board is revealed (UTC)."""

    start: datetime | None = Field(default=None, description="ISO 8601 opening time, e.g. 2026-11-01T00:00:00Z.")
    end: datetime = Field(description="ISO 8601 closing time, e.g. 2026-12-31T23:59:00Z; the private board shows after it.")

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else _as_utc(value)

    @model_validator(mode="after")
    def _start_before_end(self) -> "Schedule":
        if self.start is not None and self.start >= self.end:
            raise ValueError("schedule.start must come before schedule.end")
        return self


class Limits(_Strict):
    """Quota and sandbox limits for one submission."""

    per_day: int = Field(default=5, ge=1, le=1000, description="Scored submissions per participant per rolling 24 hours.")
    time_seconds: int = Field(default=600, ge=1, le=21600, description="Wall-time limit for fitting and predicting.")
    memory_mb: int = Field(default=4096, ge=64, le=65536, description="Address-space limit of the sandbox in MiB.")
    predictions_mb: int = Field(default=50, ge=1, le=2048, description="Largest predictions file accepted, in MiB.")
    output_kb: int = Field(default=64, ge=1, le=10240, description="Console output kept from a run, in KiB.")


class ChallengeSpec(_Strict):
    """The content of ``challenge.yaml``."""

    title: str = Field(min_length=1, max_length=200, description="Name shown on the site.")
    kind: Literal["predictions", "code"] = Field(
        description="`predictions`: participants upload predictions.csv; `code`: estimator.py run by the harness."
    )
    id_column: str = Field(min_length=1, description="Column that identifies a row in every CSV.")
    target: str = Field(min_length=1, description="Column to predict.")
    metrics: list[str] = Field(min_length=1, description="Metric names from the registry; the first is primary.")
    data: DataFiles
    schedule: Schedule
    summary: str = Field(default="", max_length=500, description="One-line description for the index page.")
    prediction: PredictionKind | None = Field(
        default=None,
        description="What a participant outputs: label, proba (binary: positive-class probability; "
        "multiclass: one column per class) or value. Defaults to what the primary metric needs.",
    )
    classes: list[str] | None = Field(
        default=None, description="Class labels in order; defaults to the sorted labels of the train target."
    )
    positive_class: str | None = Field(
        default=None, description="The positive class of a binary task; defaults to the last class."
    )
    limits: Limits = Field(default_factory=Limits)
    tags: list[str] = Field(default_factory=list, description="Free keywords shown on the site.")

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, names: list[str]) -> list[str]:
        unknown = [name for name in names if name not in REGISTRY]
        if unknown:
            raise ValueError(f"unknown metric {unknown[0]!r}; choose from {', '.join(sorted(REGISTRY))}")
        if len(set(names)) != len(names):
            raise ValueError("each metric may be listed once")
        return names

    @property
    def prediction_kind(self) -> PredictionKind:
        return self.prediction or get_metric(self.metrics[0]).needs

    @property
    def is_classification(self) -> bool:
        return self.prediction_kind in ("label", "proba")


def _check_consistency(spec: ChallengeSpec, path: Path) -> None:
    """Cross-key rules, reported against the key an organizer would change."""
    kind = spec.prediction_kind
    for name in spec.metrics:
        needs = get_metric(name).needs
        if not _can_derive(kind, needs):
            raise SpecError(
                f"is {kind!r} but metric {name!r} needs {needs} predictions; "
                f"set prediction: {needs} or drop the metric",
                path=path,
                key="prediction",
            )
    if spec.id_column == spec.target:
        raise SpecError("must differ from id_column", path=path, key="target")


def _can_derive(have: PredictionKind, needs: PredictionKind) -> bool:
    """Labels can be derived from probabilities (argmax); nothing else converts."""
    return have == needs or (have == "proba" and needs == "label")


class Challenge:
    """A loaded challenge: its folder, its slug and its validated spec."""

    def __init__(self, directory: Path, spec: ChallengeSpec) -> None:
        self.directory = directory
        self.slug = directory.name
        self.spec = spec
        # The target's labels in the training data, when the caller already knows them
        # (the site build keeps them by the file's digest); else they are read when needed.
        self.train_labels: list[str] | None = None

    def __repr__(self) -> str:
        return f"Challenge({self.slug!r})"

    @property
    def spec_path(self) -> Path:
        return self.directory / SPEC_FILENAME

    @property
    def train_path(self) -> Path:
        return self.directory / self.spec.data.train

    @property
    def test_path(self) -> Path:
        return self.directory / self.spec.data.test

    @property
    def solution_path(self) -> Path:
        return self.directory / self.spec.data.solution

    @property
    def readme_path(self) -> Path:
        return self.directory / "README.md"

    @property
    def recipient_path(self) -> Path:
        return self.directory / "recipient.txt"

    @property
    def primary_metric(self) -> str:
        return self.spec.metrics[0]

    @functools.cached_property
    def classes(self) -> tuple[str, ...]:
        """Ordered class labels; for a binary task the positive class comes last."""
        if not self.spec.is_classification:
            return ()
        if self.spec.classes:
            labels = list(self.spec.classes)
        else:
            labels = list(self.train_labels) if self.train_labels is not None else train_labels(self.train_path, self.spec.target)
        positive = self.spec.positive_class
        if positive is not None:
            if positive not in labels:
                raise SpecError(
                    f"{positive!r} is not one of the classes {labels}",
                    path=self.spec_path,
                    key="positive_class",
                )
            if len(labels) == 2:
                labels = [label for label in labels if label != positive] + [positive]
        return tuple(labels)

    def prediction_columns(self) -> list[str]:
        """The exact header a predictions file must have, id column first."""
        if self.spec.prediction_kind == "proba" and len(self.classes) > 2:
            return [self.spec.id_column, *self.classes]
        return [self.spec.id_column, self.spec.target]


def train_labels(path: Path, target: str) -> list[str]:
    """The sorted labels of ``target`` in the training data at ``path``, missing values left out."""
    import pandas as pd

    try:
        column = pd.read_csv(path, usecols=[target], dtype=str)[target]
    except ValueError as error:
        raise SpecError(f"the train data has no column {target!r} ({error})", path=path, key="target") from None
    # unique() first: a set of a million pandas strings is made one Python call at a time.
    labels = sorted(set(column.dropna().unique()))
    if len(labels) < 2:
        raise SpecError("a classification target needs at least two classes", path=path, key="target")
    return labels


def _format_validation_error(error: ValidationError) -> tuple[str, str]:
    """The first problem as (dotted key, message with the expected form)."""
    first = error.errors()[0]
    key = ".".join(str(part) for part in first["loc"]) or "(top level)"
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "missing":
        message = f"is required ({_expected_form(first['loc'])})"
    elif first["type"] == "extra_forbidden":
        message = "is not a known key; check its spelling (`site-builder schema` lists the keys)"
    elif "input" in first and first["type"] not in ("value_error",):
        message = f"{message}; got {first['input']!r} ({_expected_form(first['loc'])})"
    return key, message


def _expected_form(location: tuple[Any, ...]) -> str:
    """The field's own description, the best statement of its expected form."""
    model: type[BaseModel] | None = ChallengeSpec
    description = ""
    for part in location:
        if model is None or not isinstance(part, str) or part not in model.model_fields:
            break
        field = model.model_fields[part]
        description = field.description or ""
        annotation = field.annotation
        model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    return description or "see `site-builder schema`"


def parse_spec(text: str, path: Path) -> ChallengeSpec:
    """Validate YAML text into a spec; raise :class:`SpecError` naming the key."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise SpecError(f"is not valid YAML: {error}", path=path) from None
    if not isinstance(raw, dict):
        raise SpecError("must be a mapping of keys such as title, kind and metrics", path=path)
    try:
        spec = ChallengeSpec.model_validate(raw)
    except ValidationError as error:
        key, message = _format_validation_error(error)
        raise SpecError(message, path=path, key=key) from None
    _check_consistency(spec, path)
    return spec


def load_challenge(directory: Path) -> Challenge:
    """Load and validate the challenge in ``directory``, checking its data files exist."""
    directory = Path(directory)
    path = directory / SPEC_FILENAME
    if not SLUG_PATTERN.match(directory.name):
        raise SpecError(
            "the folder name is the challenge's slug: lowercase letters, digits, - and _ only",
            path=directory,
        )
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"no {SPEC_FILENAME} here; every challenge folder needs one", path=directory) from None
    except UnicodeDecodeError:
        raise SpecError("must be UTF-8 text", path=path) from None
    spec = parse_spec(text, path)
    for key in ("train", "test", "solution"):
        relative = getattr(spec.data, key)
        if not (directory / relative).is_file():
            raise SpecError(f"file {relative!r} does not exist in {directory}", path=path, key=f"data.{key}")
    return Challenge(directory, spec)


def find_challenges(root: Path) -> list[Challenge]:
    """Every challenge under ``root/challenges``, sorted by slug."""
    base = Path(root) / "challenges"
    if not base.is_dir():
        return []
    return [load_challenge(child) for child in sorted(base.iterdir()) if (child / SPEC_FILENAME).is_file()]


def json_schema() -> dict[str, Any]:
    """The JSON Schema of ``challenge.yaml``, for editors and other tools."""
    schema = ChallengeSpec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "site-builder challenge.yaml"
    return schema
