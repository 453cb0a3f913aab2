"""Example challenges built from data that scikit-learn ships, and a demo workspace.

Nothing is downloaded: the datasets are bundled with scikit-learn, the splits
use a fixed seed, so regenerating an example writes byte-identical CSVs. Only
the encrypted solution changes, since age encryption is randomized.

Regenerate the committed examples from the repository root::

    python -m site_builder.examples --root .            # keeps each recipient.txt
    python -m site_builder.examples --root . -r age1…   # re-encrypts to a new key

:func:`write_demo_workspace` builds a self-contained workspace (fresh key,
every example, several participants with successive versions) that
``site-builder demo`` evaluates step by step.
"""

from __future__ import annotations

import argparse
import functools
import json
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml

from site_builder.metrics import get_metric
from site_builder.private import encrypt_bytes, generate_identity, write_identity
from site_builder.record import utc_timestamp
from site_builder.spec import load_challenge

SEED = 20261201
TEST_SIZE = 0.3
ID_COLUMN = "id"
# Far enough ahead that the committed examples stay open; fixed so that
# regenerating them rewrites the same challenge.yaml.
DEFAULT_END = "2027-12-31T23:59:00Z"
TRAIN_FILE = "data/train.csv"
TEST_FILE = "data/test.csv"
SOLUTION_FILE = "private/solution.csv.age"


# ------------------------------------------------------------------ sources
#
# A participant's approach is an import line and one estimator expression,
# dropped into the template of its challenge. The same source is what the
# harness runs (kind code) or what made predictions.csv (kind predictions,
# shipped beside it as model.py), so the code a page shows is the code scored.


@dataclass(frozen=True)
class Version:
    """One approach: a title and note for its README, and the estimator to build."""

    title: str
    note: str
    imports: str
    model: str


SCALED_TEMPLATE = '''\
"""{title}: {note}"""

from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
{imports}


def get_estimator():
    # Scaling first: needed by linear and distance-based models, harmless for trees.
    return make_pipeline(StandardScaler(), {model})
'''

PREDICTIONS_TEMPLATE = '''\
"""{title}: {note}

How predictions.csv was made: fit get_estimator() on data/train.csv without
the {id_column} and {target} columns, predict data/test.csv without {id_column}.
"""

from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
{imports}


def get_estimator():
    return make_pipeline(StandardScaler(), {model})
'''

# The ramp-workflow shape: a ColumnTransformer over mixed columns with gaps,
# then a classifier. A RAMP kit's estimator.py looks exactly like this.
MIXED_TEMPLATE = '''\
"""{title}: {note}"""

from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
{imports}

CATEGORICAL = {categorical}
NUMERIC = {numeric}


def get_estimator():
    categorical = Pipeline([
        ("impute", SimpleImputer(strategy="most_frequent")),
        ("encode", OneHotEncoder(handle_unknown="ignore")),
    ])
    numeric = Pipeline([
        ("impute", SimpleImputer(strategy="median")),
        ("scale", StandardScaler()),
    ])
    preprocess = ColumnTransformer([
        ("categorical", categorical, CATEGORICAL),
        ("numeric", numeric, NUMERIC),
    ])
    return Pipeline([("preprocess", preprocess), ("classifier", {model})])
'''


# ------------------------------------------------------------------ examples


@dataclass(frozen=True)
class Example:
    """What makes an example challenge: its data, its spec and its words."""

    slug: str
    title: str
    summary: str
    kind: Literal["predictions", "code"]
    target: str
    prediction: Literal["label", "proba", "value"]
    metrics: tuple[str, ...]
    introduction: str
    target_meaning: str
    columns: tuple[tuple[str, str], ...]
    load: Callable[[], pd.DataFrame]
    template: str
    baseline: Version
    positive_class: str | None = None
    tags: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    test_size: float = TEST_SIZE


@dataclass(frozen=True)
class ExampleData:
    """The three tables of an example; ``solution`` is never written in clear."""

    train: pd.DataFrame
    test: pd.DataFrame
    solution: pd.DataFrame


def _snake(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("/", "_")


def _load_breast_cancer() -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    frame = bunch.data.rename(columns=_snake)
    # sklearn codes malignant as 0; named labels make the positive class explicit.
    frame["diagnosis"] = bunch.target.map({0: "malignant", 1: "benign"}).astype(str)
    return frame


DIABETES_NAMES = {"s1": "tc", "s2": "ldl", "s3": "hdl", "s4": "tch", "s5": "ltg", "s6": "glu"}


def _load_diabetes() -> pd.DataFrame:
    from sklearn.datasets import load_diabetes

    bunch = load_diabetes(as_frame=True, scaled=False)
    frame = bunch.data.rename(columns=DIABETES_NAMES)
    frame["progression"] = bunch.target
    return frame


CULTIVARS = ("barolo", "grignolino", "barbera")
WINE_CATEGORIES = {"color_intensity": ("color", ("pale", "ruby", "deep")), "malic_acid": ("acidity", ("low", "medium", "high"))}
WINE_GAPS = ("alcalinity_of_ash", "magnesium", "proanthocyanins", "color", "acidity")
WINE_GAP_RATE = 0.1


def _load_wine() -> pd.DataFrame:
    """Wine with two measurements turned into tasting notes and seeded gaps.

    The raw data is all numeric and complete; the categories and missing cells
    make it the mixed, messy table a RAMP-style pipeline is built for.
    """
    from sklearn.datasets import load_wine

    bunch = load_wine(as_frame=True)
    frame = bunch.data.rename(columns={"od280/od315_of_diluted_wines": "od280_od315"})
    for source, (name, labels) in WINE_CATEGORIES.items():
        frame[name] = pd.qcut(frame.pop(source), len(labels), labels=list(labels)).astype(str)
    random = np.random.default_rng(SEED)
    for column in WINE_GAPS:
        frame.loc[random.random(len(frame)) < WINE_GAP_RATE, column] = np.nan
    frame["cultivar"] = bunch.target.map(dict(enumerate(CULTIVARS))).astype(str)
    return frame


BREAST_CANCER_MEASURES = (
    "radius, texture, perimeter, area, smoothness, compactness, concavity, "
    "concave_points, symmetry, fractal_dimension"
)

BREAST_CANCER = Example(
    slug="breast-cancer",
    title="Breast cancer diagnosis",
    summary="Tell malignant from benign breast masses from cell-nucleus measurements.",
    kind="code",
    target="diagnosis",
    prediction="proba",
    metrics=("roc_auc", "accuracy", "log_loss"),
    introduction=(
        "Each row describes the cell nuclei seen in a digitized image of a fine-needle aspirate "
        "of a breast mass (the Wisconsin Diagnostic Breast Cancer data, as shipped with scikit-learn). "
        "Submit code: the harness trains your model on the public training data and predicts the test rows."
    ),
    target_meaning="`malignant` or `benign`; the positive class is `malignant`",
    columns=(
        ("mean_*", f"mean over the nuclei of the image, for each of: {BREAST_CANCER_MEASURES}"),
        ("*_error", "standard error of the same ten measurements"),
        ("worst_*", "mean of the three largest values of the same ten measurements"),
    ),
    load=_load_breast_cancer,
    template=SCALED_TEMPLATE,
    baseline=Version(
        "Logistic regression",
        "standardized features and a logistic regression, the reference to beat.",
        "from sklearn.linear_model import LogisticRegression",
        "LogisticRegression(max_iter=1000)",
    ),
    positive_class="malignant",
    tags=("classification", "binary", "medical", "code"),
)

DIABETES = Example(
    slug="diabetes",
    title="Diabetes progression",
    summary="Predict disease progression one year after baseline from ten clinical measurements.",
    kind="predictions",
    target="progression",
    prediction="value",
    metrics=("rmse", "mae", "r2"),
    introduction=(
        "Ten baseline variables were measured for 442 diabetes patients, and a quantitative measure "
        "of disease progression one year later (the diabetes data of Efron et al., as shipped with "
        "scikit-learn). Submit predictions: one number per test row."
    ),
    target_meaning="a quantitative measure of disease progression one year after baseline",
    columns=(
        ("age", "age in years"),
        ("sex", "sex, coded 1 or 2"),
        ("bmi", "body mass index"),
        ("bp", "average blood pressure"),
        ("tc", "total serum cholesterol"),
        ("ldl", "low-density lipoproteins"),
        ("hdl", "high-density lipoproteins"),
        ("tch", "total cholesterol / HDL"),
        ("ltg", "log of serum triglycerides"),
        ("glu", "blood sugar level"),
    ),
    load=_load_diabetes,
    template=PREDICTIONS_TEMPLATE,
    baseline=Version(
        "Linear regression",
        "ordinary least squares on the standardized features, the reference to beat.",
        "from sklearn.linear_model import LinearRegression",
        "LinearRegression()",
    ),
    tags=("regression", "medical", "predictions"),
)

WINE = Example(
    slug="wine",
    title="Wine cultivars",
    summary="Name the grape cultivar of an Italian wine from its chemistry and tasting notes, gaps included.",
    kind="code",
    target="cultivar",
    prediction="label",
    metrics=("accuracy", "f1_macro"),
    introduction=(
        "Wines from three cultivars grown in the same region of Italy, analysed chemically (the UCI wine "
        "data, as shipped with scikit-learn). Two measurements were turned into tasting notes (`color`, "
        "`acidity`) and some cells were blanked, so a good submission handles categorical columns and "
        "missing values. Submit code: the harness trains your model and predicts the test rows."
    ),
    target_meaning="the cultivar: `barolo`, `grignolino` or `barbera`",
    columns=(
        ("alcohol", "alcohol content"),
        ("ash", "ash"),
        ("alcalinity_of_ash", "alcalinity of ash (some cells empty)"),
        ("magnesium", "magnesium (some cells empty)"),
        ("total_phenols", "total phenols"),
        ("flavanoids", "flavanoids"),
        ("nonflavanoid_phenols", "nonflavanoid phenols"),
        ("proanthocyanins", "proanthocyanins (some cells empty)"),
        ("hue", "hue"),
        ("od280_od315", "OD280/OD315 of diluted wines"),
        ("proline", "proline"),
        ("color", "`pale`, `ruby` or `deep`, from the colour intensity (some cells empty)"),
        ("acidity", "`low`, `medium` or `high`, from the malic acid content (some cells empty)"),
    ),
    load=_load_wine,
    template=MIXED_TEMPLATE,
    baseline=Version(
        "Logistic regression",
        "imputed, one-hot encoded and scaled columns into a logistic regression, the reference to beat.",
        "from sklearn.linear_model import LogisticRegression",
        "LogisticRegression(max_iter=1000)",
    ),
    tags=("classification", "multiclass", "missing values", "code"),
    categorical=("color", "acidity"),
    # Half the rows for testing: the data is small and easy, and a larger test
    # set keeps the public and private halves from being all ties.
    test_size=0.5,
)

_EXAMPLES = {example.slug: example for example in (BREAST_CANCER, DIABETES, WINE)}
EXAMPLES: tuple[str, ...] = tuple(_EXAMPLES)


def get_example(slug: str) -> Example:
    try:
        return _EXAMPLES[slug]
    except KeyError:
        raise KeyError(f"unknown example {slug!r}; choose from {', '.join(EXAMPLES)}") from None


# ------------------------------------------------------------------ data


@functools.lru_cache(maxsize=None)
def example_data(slug: str) -> ExampleData:
    """The deterministic train, test and solution tables of an example (do not mutate)."""
    example = get_example(slug)
    return _split(_integral_as_int(example.load()), example)


def _integral_as_int(frame: pd.DataFrame) -> pd.DataFrame:
    """Whole-number float columns become ints, so the CSV reads 59, not 59.0."""
    for column in frame.columns:
        values = frame[column]
        present = values.dropna()
        if values.dtype.kind == "f" and (present == present.round()).all():
            # Int64 keeps the gaps as empty cells instead of forcing floats back.
            frame[column] = values.astype("int64" if len(present) == len(values) else "Int64")
    return frame


def _split(frame: pd.DataFrame, example: Example) -> ExampleData:
    from sklearn.model_selection import train_test_split

    # Shuffle before numbering: some bundled datasets are sorted by class, and
    # ids in that order would leak the target.
    frame = frame.iloc[np.random.default_rng(SEED).permutation(len(frame))].reset_index(drop=True)
    frame.insert(0, ID_COLUMN, np.arange(1, len(frame) + 1))
    classification = example.prediction != "value"
    train, test = train_test_split(
        frame, test_size=example.test_size, random_state=SEED, stratify=frame[example.target] if classification else None
    )
    train, test = train.sort_values(ID_COLUMN), test.sort_values(ID_COLUMN)
    # Stratify the public/private halves too, so every class shows up in both.
    public, _ = train_test_split(
        test[ID_COLUMN], train_size=0.5, random_state=SEED, stratify=test[example.target] if classification else None
    )
    solution = test[[ID_COLUMN, example.target]].copy()
    solution["split"] = np.where(solution[ID_COLUMN].isin(set(public)), "public", "private")
    return ExampleData(
        train=train.reset_index(drop=True),
        test=test.drop(columns=example.target).reset_index(drop=True),
        solution=solution.reset_index(drop=True),
    )


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False, lineterminator="\n").encode("utf-8")


# ------------------------------------------------------------------ challenge folders


def write_example(
    slug: str, directory: Path, recipient: str, *, end: str | None = None, start: str | None = None
) -> Path:
    """Write the challenge folder ``directory/<slug>``, its solution encrypted to ``recipient``."""
    example = get_example(slug)
    data = example_data(slug)
    folder = Path(directory) / slug
    (folder / "data").mkdir(parents=True, exist_ok=True)
    (folder / "private").mkdir(parents=True, exist_ok=True)
    (folder / TRAIN_FILE).write_bytes(_csv(data.train))
    (folder / TEST_FILE).write_bytes(_csv(data.test))
    # Encrypted in memory: the answer key never touches the disk in clear.
    (folder / SOLUTION_FILE).write_bytes(encrypt_bytes(_csv(data.solution), recipient))
    (folder / "recipient.txt").write_text(recipient.strip() + "\n", encoding="utf-8")
    (folder / "challenge.yaml").write_text(_challenge_yaml(example, end or DEFAULT_END, start), encoding="utf-8")
    (folder / "README.md").write_text(_challenge_readme(example, data), encoding="utf-8")
    load_challenge(folder)  # what we generate must pass the same validation as an organizer's folder
    return folder


def _challenge_yaml(example: Example, end: str, start: str | None) -> str:
    spec: dict[str, Any] = {
        "title": example.title,
        "summary": example.summary,
        "kind": example.kind,
        "id_column": ID_COLUMN,
        "target": example.target,
        "prediction": example.prediction,
        "metrics": list(example.metrics),
    }
    if example.positive_class:
        spec["positive_class"] = example.positive_class
    spec["data"] = {"train": TRAIN_FILE, "test": TEST_FILE, "solution": SOLUTION_FILE}
    spec["schedule"] = {"start": start, "end": end} if start else {"end": end}
    spec["limits"] = {"per_day": 5, "time_seconds": 300}
    spec["tags"] = list(example.tags)
    header = "# Generated by `python -m site_builder.examples`; every key is described in docs/organizers.md.\n"
    return header + yaml.safe_dump(spec, sort_keys=False, allow_unicode=True, width=100)


def _challenge_readme(example: Example, data: ExampleData) -> str:
    sections = [
        f"# {example.title}\n\n{example.introduction}\n",
        _task_section(example),
        _data_section(example, data),
        _metric_section(example),
        _submit_section(example),
        _check_section(example),
    ]
    return "\n".join(sections)


def _task_section(example: Example) -> str:
    what = {
        "proba": f"the probability that `{example.target}` is `{example.positive_class}`",
        "label": f"the `{example.target}` label",
        "value": f"the value of `{example.target}`",
    }[example.prediction]
    return f"## Task\n\nFor every row of `{TEST_FILE}`, predict {what}.\n"


def _data_section(example: Example, data: ExampleData) -> str:
    rows = [
        "| Column | Meaning |",
        "| --- | --- |",
        f"| `{ID_COLUMN}` | row identifier; carry it through, do not learn from it |",
        *(f"| `{name}` | {meaning} |" for name, meaning in example.columns),
        f"| `{example.target}` | **target**: {example.target_meaning} (train only) |",
    ]
    return (
        "## Data\n\n"
        f"- `{TRAIN_FILE}`: {len(data.train)} rows with every column, the target included.\n"
        f"- `{TEST_FILE}`: {len(data.test)} rows without the target; these are the rows you predict.\n"
        f"- `{SOLUTION_FILE}`: the answers, encrypted; only the scoring job can read them.\n\n"
        + "\n".join(rows)
        + "\n"
    )


def _metric_section(example: Example) -> str:
    primary = get_metric(example.metrics[0])
    others = ", ".join(f"{get_metric(name).title} ({get_metric(name).direction})" for name in example.metrics[1:])
    return (
        "## Metric\n\n"
        f"Ranked by **{primary.title}** ({primary.direction}). Also shown: {others}.\n\n"
        "The test rows are split in two halves you cannot tell apart. While the challenge runs, the board "
        "shows scores on the public half; after the end, the private half decides the final ranking.\n"
    )


def _submit_section(example: Example) -> str:
    folder = f"submissions/{example.slug}/<your-login>/"
    intro = (
        "## How to submit\n\n"
        f"Fork this repository, add the folder `{folder}` (your GitHub login, exactly), "
        "and open a pull request. Only files in that folder may change.\n\n"
    )
    if example.kind == "predictions":
        return intro + _predictions_contract(example)
    return intro + _code_contract(example)


def _predictions_contract(example: Example) -> str:
    first_ids = example_data(example.slug).test[ID_COLUMN].head(2).tolist()
    return (
        f"Put a `predictions.csv` in it: the header exactly `{ID_COLUMN},{example.target}`, then one row "
        f"per id of `{TEST_FILE}`, each id once, finite numbers only, in any order.\n\n"
        f"```csv\n{ID_COLUMN},{example.target}\n{first_ids[0]},152.3\n{first_ids[1]},87.0\n...\n```\n\n"
        f"The baseline in `submissions/{example.slug}/baseline/` shows one, with the `model.py` that made it.\n"
    )


def _code_contract(example: Example) -> str:
    method = "predict_proba" if example.prediction == "proba" else "predict"
    output = {
        "proba": f"the probability of `{example.positive_class}` is your prediction",
        "label": "the labels are your predictions",
    }[example.prediction]
    return (
        "Put an `estimator.py` in it with a function `get_estimator()` returning a scikit-learn estimator "
        "(the ramp-workflow contract: a RAMP kit's `estimator.py` runs unchanged). The harness fits it on "
        f"`{TRAIN_FILE}` without the `{ID_COLUMN}` and `{example.target}` columns, then calls `{method}` on "
        f"`{TEST_FILE}` without `{ID_COLUMN}`; {output}. Cells left empty in the CSV arrive as NaN.\n\n"
        f"The baseline, `submissions/{example.slug}/baseline/estimator.py`:\n\n"
        f"```python\n{estimator_source(example, example.baseline)}```\n"
    )


def _check_section(example: Example) -> str:
    return (
        "## Check locally\n\n"
        "Before opening the pull request, run the same harness on your machine, with cross-validation "
        "on the training data (no private data needed):\n\n"
        f"```sh\nsite-builder check submissions/{example.slug}/<your-login>\n```\n\n"
        "Optional: a `submission.yaml` (`name`, `team`, `description`) and a `README.md` describing your "
        "approach; both show on the site.\n"
    )


# ------------------------------------------------------------------ submissions


def estimator_source(example: Example, version: Version) -> str:
    """The Python file of one approach, as a participant would write it."""
    numeric = [c for c in example_data(example.slug).test.columns if c != ID_COLUMN and c not in example.categorical]
    return example.template.format(
        title=version.title,
        note=version.note,
        imports=version.imports,
        model=version.model,
        id_column=ID_COLUMN,
        target=example.target,
        categorical=json.dumps(list(example.categorical)),
        numeric=_python_list(numeric),
    )


def _python_list(names: Sequence[str]) -> str:
    """A list literal wrapped one name per line, as a person would format it."""
    return "[\n" + "".join(f'    "{name}",\n' for name in names) + "]"


def _module(source: str, name: str) -> ModuleType:
    """Execute one of our own estimator sources, to make a predictions file from it."""
    module = ModuleType(name)
    exec(compile(source, name, "exec"), module.__dict__)  # noqa: S102 - our constant templates, never user input
    return module


def fit_predict(example: Example, source: str) -> np.ndarray:
    """What the harness does: fit on train minus id and target, predict test minus id."""
    data = example_data(example.slug)
    estimator = _module(source, "estimator.py").get_estimator()
    estimator.fit(data.train.drop(columns=[ID_COLUMN, example.target]), data.train[example.target])
    features = data.test.drop(columns=[ID_COLUMN])
    if example.prediction == "proba":
        return estimator.predict_proba(features)[:, list(estimator.classes_).index(example.positive_class)]
    return np.asarray(estimator.predict(features))


def _predictions_csv(example: Example, source: str) -> bytes:
    data = example_data(example.slug)
    frame = pd.DataFrame({ID_COLUMN: data.test[ID_COLUMN], example.target: fit_predict(example, source)})
    return frame.to_csv(index=False, lineterminator="\n", float_format="%.4f").encode("utf-8")


def write_submission(
    example: Example, folder: Path, version: Version, meta: dict[str, str] | None = None, *, readme: str = ""
) -> Path:
    """Write one submission folder: its code or predictions, README.md, submission.yaml."""
    folder.mkdir(parents=True, exist_ok=True)
    source = estimator_source(example, version)
    if example.kind == "code":
        (folder / "estimator.py").write_text(source, encoding="utf-8")
    else:
        (folder / "model.py").write_text(source, encoding="utf-8")
        (folder / "predictions.csv").write_bytes(_predictions_csv(example, source))
    text = f"# {version.title}\n\n{version.note[:1].upper()}{version.note[1:]}\n"
    (folder / "README.md").write_text(text + (f"\n{readme}\n" if readme else ""), encoding="utf-8")
    if meta:
        content = {**meta, "description": f"{version.title}: {version.note}"}
        (folder / "submission.yaml").write_text(yaml.safe_dump(content, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return folder


BASELINE_META = {"name": "Baseline", "team": "Organizers"}


def write_baseline(slug: str, directory: Path, login: str = "baseline") -> Path:
    """Write the organizers' baseline as ``directory/<login>/``."""
    example = get_example(slug)
    hint = f"Copy this folder to `submissions/{slug}/<your-login>/` and improve on it."
    return write_submission(example, Path(directory) / login, example.baseline, BASELINE_META, readme=hint)


# ------------------------------------------------------------------ demo workspace


@dataclass(frozen=True)
class Participant:
    """A demo participant: successive versions, and a display name or team for some."""

    login: str
    versions: tuple[Version, ...]
    meta: dict[str, str] = field(default_factory=dict)


_TREE = "from sklearn.tree import DecisionTreeClassifier"
_FOREST = "from sklearn.ensemble import RandomForestClassifier"
_LOGISTIC = "from sklearn.linear_model import LogisticRegression"
_NEIGHBORS = "from sklearn.neighbors import KNeighborsClassifier"

DEMO_PARTICIPANTS: dict[str, tuple[Participant, ...]] = {
    "breast-cancer": (
        Participant("ada-l", (
            Version("Shallow tree", "a depth-2 decision tree, to see which measurements matter.", _TREE,
                    "DecisionTreeClassifier(max_depth=2, random_state=0)"),
            Version("Random forest", "200 deep trees, averaged.", _FOREST,
                    "RandomForestClassifier(n_estimators=200, random_state=0)"),
            Version("Tuned forest", "more trees, fewer features per split, larger leaves.", _FOREST,
                    "RandomForestClassifier(n_estimators=500, max_features=0.3, min_samples_leaf=2, random_state=0)"),
        ), {"name": "Ada L.", "team": "Analytical Engines"}),
        Participant("grace-h", (
            Version("Naive Bayes", "one Gaussian per class and feature.", "from sklearn.naive_bayes import GaussianNB",
                    "GaussianNB()"),
            Version("Nearest neighbours", "vote of the 15 nearest standardized neighbours.", _NEIGHBORS,
                    "KNeighborsClassifier(n_neighbors=15)"),
        ), {"name": "Grace H."}),
        Participant("linus-t", (
            Version("Strongly regularized logistic regression", "C=0.01 against overfitting.", _LOGISTIC,
                    "LogisticRegression(C=0.01, max_iter=1000)"),
            # The failing version: a keyword sklearn does not know, so get_estimator() raises.
            Version("Regularization strength", "set the regularization by name.", _LOGISTIC,
                    "LogisticRegression(regularization=0.1, max_iter=1000)"),
            Version("Fixed regularization", "scikit-learn calls it C, the inverse strength; C=0.3.", _LOGISTIC,
                    "LogisticRegression(C=0.3, max_iter=1000)"),
        )),
        Participant("mei-w", (
            Version("Gradient boosting", "50 boosted trees of depth 3.",
                    "from sklearn.ensemble import GradientBoostingClassifier",
                    "GradientBoostingClassifier(n_estimators=50, random_state=0)"),
            Version("Slower boosting", "smaller steps, more and shallower trees, each on 80% of the rows.",
                    "from sklearn.ensemble import GradientBoostingClassifier",
                    "GradientBoostingClassifier(n_estimators=300, learning_rate=0.05, max_depth=2, subsample=0.8,"
                    " random_state=0)"),
        ), {"name": "Mei", "team": "Orchid"}),
    ),
    "diabetes": (
        Participant("ada-l", (
            Version("Mean", "predict the training mean for everyone.", "from sklearn.dummy import DummyRegressor",
                    "DummyRegressor()"),
            Version("Ridge", "a linear model with an L2 penalty.", "from sklearn.linear_model import Ridge",
                    "Ridge(alpha=10.0)"),
            Version("Huber regression", "a linear model that gives less weight to outlying patients.",
                    "from sklearn.linear_model import HuberRegressor", "HuberRegressor(epsilon=1.5, max_iter=1000)"),
        ), {"name": "Ada L.", "team": "Analytical Engines"}),
        Participant("grace-h", (
            Version("Nearest neighbours", "mean of the 5 nearest patients.", "from sklearn.neighbors import KNeighborsRegressor",
                    "KNeighborsRegressor(n_neighbors=5)"),
            Version("More neighbours", "25 neighbours, weighted by distance.",
                    "from sklearn.neighbors import KNeighborsRegressor",
                    'KNeighborsRegressor(n_neighbors=25, weights="distance")'),
        ), {"name": "Grace H."}),
        Participant("linus-t", (
            Version("Random forest", "300 trees with leaves of at least 5 patients.",
                    "from sklearn.ensemble import RandomForestRegressor",
                    "RandomForestRegressor(n_estimators=300, min_samples_leaf=5, random_state=0)"),
            Version("Gradient boosting", "150 shallow trees, small steps.",
                    "from sklearn.ensemble import GradientBoostingRegressor",
                    "GradientBoostingRegressor(n_estimators=150, learning_rate=0.05, max_depth=2, random_state=0)"),
        )),
        Participant("mei-w", (
            Version("Lasso", "an L1 penalty chosen by cross-validation drops weak features.",
                    "from sklearn.linear_model import LassoCV", "LassoCV()"),
        ), {"name": "Mei", "team": "Orchid"}),
    ),
    "wine": (
        Participant("ada-l", (
            Version("Shallow tree", "a depth-2 decision tree.", _TREE, "DecisionTreeClassifier(max_depth=2, random_state=0)"),
            Version("Random forest", "300 trees, averaged.", _FOREST,
                    "RandomForestClassifier(n_estimators=300, random_state=0)"),
        ), {"name": "Ada L.", "team": "Analytical Engines"}),
        Participant("grace-h", (
            Version("Nearest neighbour", "the label of the single nearest wine.", _NEIGHBORS,
                    "KNeighborsClassifier(n_neighbors=1)"),
            Version("Nine neighbours", "a vote of the 9 nearest wines.", _NEIGHBORS, "KNeighborsClassifier(n_neighbors=9)"),
        ), {"name": "Grace H."}),
        Participant("linus-t", (
            Version("Support vector machine", "RBF kernel, strong regularization.", "from sklearn.svm import SVC", "SVC(C=0.1)"),
            Version("Support vector machine, C=3", "RBF kernel, looser fit.", "from sklearn.svm import SVC", "SVC(C=3.0)"),
        )),
        Participant("mei-w", (
            Version("Small neural network", "one hidden layer of 16 units.",
                    "from sklearn.neural_network import MLPClassifier",
                    "MLPClassifier(hidden_layer_sizes=(16,), max_iter=2000, random_state=0)"),
            Version("Ridge classifier", "a linear model, one-vs-rest.", "from sklearn.linear_model import RidgeClassifier",
                    "RidgeClassifier(alpha=1.0)"),
        ), {"name": "Mei", "team": "Orchid"}),
    ),
}

# One example has ended, so the demo shows a private board with moves.
DEMO_ENDED = "breast-cancer"
DEMO_KEY_FILE = "private.key"


@dataclass(frozen=True)
class DemoStep:
    """Copy ``version`` into ``submissions/<challenge>/<participant>/`` and evaluate it at ``submitted_at``."""

    challenge: str
    participant: str
    version: Path
    submitted_at: datetime


@dataclass(frozen=True)
class DemoWorkspace:
    root: Path
    key_file: Path
    recipient: str
    ended: str
    steps: tuple[DemoStep, ...]


def _schedule(slug: str, now: datetime) -> tuple[datetime, datetime]:
    if slug == DEMO_ENDED:
        return now - timedelta(days=21), now - timedelta(days=2)
    return now - timedelta(days=14), now + timedelta(days=21)


def _version_times(start: datetime, cutoff: datetime, index: int, count: int) -> list[datetime]:
    """Spread a participant's versions from just after the start to just before the cutoff.

    Each participant is offset by a few hours so the history chart has
    distinct points, and versions stay days apart so no daily quota bites.
    """
    first = start + timedelta(days=1, hours=7 * index)
    last = cutoff - timedelta(days=1, hours=5 * index)
    if count == 1:
        return [first]
    return [first + (last - first) * step / (count - 1) for step in range(count)]


def _participants(slug: str) -> tuple[Participant, ...]:
    baseline = Participant("baseline", (get_example(slug).baseline,), BASELINE_META)
    return (baseline, *DEMO_PARTICIPANTS[slug])


def _write_demo_challenge(root: Path, slug: str, recipient: str, now: datetime) -> list[DemoStep]:
    start, end = _schedule(slug, now)
    write_example(slug, root / "challenges", recipient, start=utc_timestamp(start), end=utc_timestamp(end))
    example = get_example(slug)
    steps: list[DemoStep] = []
    for index, participant in enumerate(_participants(slug)):
        times = _version_times(start, min(end, now), index, len(participant.versions))
        for number, (version, moment) in enumerate(zip(participant.versions, times), start=1):
            folder = root / "versions" / slug / participant.login / f"v{number}"
            write_submission(example, folder, version, participant.meta)
            steps.append(DemoStep(slug, participant.login, folder, moment.replace(second=0, microsecond=0)))
    return steps


def write_demo_workspace(directory: Path, *, now: datetime) -> DemoWorkspace:
    """A self-contained workspace: a fresh key, every example, and participants' versions to replay.

    ``submissions/`` starts empty: the demo copies each step's version folder
    into ``submissions/<challenge>/<login>/`` and evaluates it at its date.
    The key is never overwritten: a folder that already holds one raises
    ``FileExistsError``, so start from a new or emptied folder.
    """
    root = Path(directory)
    now = now.astimezone(timezone.utc)
    for name in ("challenges", "submissions", "results"):
        (root / name).mkdir(parents=True, exist_ok=True)
    identity, recipient = generate_identity()
    key_file = root / DEMO_KEY_FILE
    write_identity(key_file, identity, recipient)
    steps = [step for slug in EXAMPLES for step in _write_demo_challenge(root, slug, recipient, now)]
    steps.sort(key=lambda step: (step.submitted_at, step.challenge, step.participant))
    return DemoWorkspace(root=root, key_file=key_file, recipient=recipient, ended=DEMO_ENDED, steps=tuple(steps))


# ------------------------------------------------------------------ command line


def _recipient(root: Path, slug: str, given: str | None) -> str:
    """The recipient to encrypt to: the one given, else the challenge's current one."""
    if given:
        return given
    existing = root / "challenges" / slug / "recipient.txt"
    if not existing.is_file():
        raise SystemExit(f"{existing} does not exist; pass --recipient age1… (from `site-builder private keygen`)")
    return existing.read_text(encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m site_builder.examples",
        description="Write the example challenges to ROOT/challenges/ and their baselines to ROOT/submissions/.",
    )
    parser.add_argument("slugs", nargs="*", metavar="SLUG", help=f"examples to write (default: all of {', '.join(EXAMPLES)})")
    parser.add_argument("--root", default=".", help="repository root (default: .)")
    parser.add_argument("-r", "--recipient", default=None, help="age public key (default: each challenge's recipient.txt)")
    parser.add_argument("--end", default=DEFAULT_END, help=f"schedule.end, ISO 8601 UTC (default: {DEFAULT_END})")
    parser.add_argument("--start", default=None, help="schedule.start, ISO 8601 UTC (default: none)")
    args = parser.parse_args(argv)
    unknown = [slug for slug in args.slugs if slug not in EXAMPLES]
    if unknown:
        parser.error(f"unknown example {unknown[0]!r}; choose from {', '.join(EXAMPLES)}")
    root = Path(args.root)
    for slug in args.slugs or EXAMPLES:
        recipient = _recipient(root, slug, args.recipient)
        folder = write_example(slug, root / "challenges", recipient, end=args.end, start=args.start)
        baseline = root / "submissions" / slug / "baseline"
        shutil.rmtree(baseline, ignore_errors=True)  # a stale file from an older baseline would be scored too
        write_baseline(slug, root / "submissions" / slug)
        print(f"wrote {folder} and {baseline}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
