"""The child side of the sandbox: fit a participant's estimator and predict.

``run.py`` starts this file *by path* inside the sandbox, with a clean
environment and a private working directory::

    python -s -P -B harness.py harness-config.json

It must not import ``site_builder`` (the package is not on the child's path
and its modules have no business running next to participant code), so it
only uses the standard library, numpy and pandas, and everything it needs
comes from the small JSON file written by the parent.

The harness, not participant code, writes the predictions: the estimator
only returns arrays, which are shaped into ``<output>/<name>.csv`` with the
id column first. A small ``harness.json`` reports fit and predict times and,
on failure, the error class, a plain message and the traceback. The parent
treats both files as hostile data anyway (participant code runs in this same
process and could overwrite them), so nothing here is trusted for security;
this file exists to produce good results and good error messages.

This is the ramp-workflow ``Estimator`` contract: ``estimator.py`` defines
``get_estimator()`` returning a scikit-learn estimator; X is a DataFrame of
every column but the id and the target, y the target column.
"""

from __future__ import annotations

import sys

# The script's own folder is the site_builder package: keep it off the path so
# neither the harness nor participant code can import the tool's modules.
_HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
sys.path[:] = [entry for entry in sys.path if entry not in ("", ".", _HERE)]

import importlib.util  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from typing import Any  # noqa: E402

REPORT_NAME = "harness.json"


class InvalidOutput(Exception):
    """The estimator returned something that cannot become a predictions file."""


class HarnessFailure(Exception):
    """Carries an error class and a message for ``harness.json``."""

    def __init__(self, error_class: str, message: str, trace: str) -> None:
        super().__init__(message)
        self.error_class = error_class
        self.message = message
        self.trace = trace


def _participant_traceback(error: BaseException) -> str:
    """The traceback without the harness's own outer frames, so it starts at the participant's code.

    If every frame is the harness's (say, it rejected the output), keep them all.
    """
    here = os.path.abspath(__file__)
    frames = error.__traceback__
    while frames is not None and os.path.abspath(frames.tb_frame.f_code.co_filename) == here:
        frames = frames.tb_next
    return "".join(traceback.format_exception(type(error), error, frames or error.__traceback__))


def _fail(stage: str, error: BaseException) -> HarnessFailure:
    """Classify an exception raised while ``stage`` was running."""
    trace = _participant_traceback(error)
    if isinstance(error, MemoryError):  # numpy's _ArrayMemoryError is a subclass
        detail = f": {error}" if str(error) else ""
        return HarnessFailure("memory", f"{stage} could not allocate memory ({type(error).__name__}{detail})", trace)
    if isinstance(error, InvalidOutput):
        return HarnessFailure("invalid-output", str(error), trace)
    detail = str(error)
    if isinstance(error, SystemExit):
        detail = f"exit code {error.code!r}"
    message = f"{stage} raised {type(error).__name__}"
    return HarnessFailure("exception", f"{message}: {detail}" if detail else message, trace)


def _load_estimator_module(path: str) -> Any:
    """Import ``estimator.py`` under the module name ``estimator``.

    Its folder goes first on ``sys.path`` so a submission may split its code
    into sibling modules, as RAMP kits sometimes do.
    """
    folder = os.path.dirname(os.path.abspath(path))
    sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location("estimator", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["estimator"] = module
    spec.loader.exec_module(module)
    return module


def _read_ids(path: str, id_column: str) -> list[str]:
    """Ids exactly as written in the file, so they match the parent's check."""
    import pandas as pd

    return pd.read_csv(path, usecols=[id_column], dtype=str, keep_default_na=False)[id_column].tolist()


def _read_inputs(path: str, id_column: str, target: str) -> Any:
    """Feature columns of a CSV: everything but the id and (if present) the target."""
    import pandas as pd

    frame = pd.read_csv(path, dtype={id_column: str})
    return frame.drop(columns=[column for column in (id_column, target) if column in frame.columns])


def _one_dimensional(values: Any, rows: int, what: str) -> Any:
    import numpy as np

    array = np.asarray(values)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise InvalidOutput(f"{what} returned an array of shape {array.shape}; expected ({rows},)")
    if array.shape[0] != rows:
        raise InvalidOutput(f"{what} returned {array.shape[0]} predictions for {rows} input rows")
    return array


def _probability_columns(estimator: Any, proba: Any, rows: int, config: dict[str, Any]) -> dict[str, Any]:
    """Map ``predict_proba`` columns onto the challenge's ordered classes.

    ``estimator.classes_`` (as strings) names the columns; a class the
    estimator never saw (a small fold, say) gets probability 0.
    """
    import numpy as np

    classes: list[str] = config["classes"]
    matrix = np.asarray(proba, dtype=float)
    if matrix.ndim != 2 or matrix.shape[0] != rows:
        raise InvalidOutput(
            f"predict_proba returned an array of shape {matrix.shape}; expected ({rows}, {len(classes)})"
        )
    known = getattr(estimator, "classes_", None)
    if known is None:
        raise InvalidOutput(
            "the fitted estimator has no classes_ attribute, so its probability columns cannot be named"
        )
    names = [str(label) for label in np.asarray(known).ravel()]
    if len(names) != matrix.shape[1]:
        raise InvalidOutput(
            f"predict_proba returned {matrix.shape[1]} columns but the estimator has {len(names)} classes_"
        )
    unknown = sorted(set(names) - set(classes))
    if unknown:
        raise InvalidOutput(
            f"the estimator predicts classes {unknown} that are not among the challenge's classes {classes}"
        )
    position = {name: index for index, name in enumerate(names)}
    ordered = np.column_stack(
        [matrix[:, position[label]] if label in position else np.zeros(rows) for label in classes]
    )
    if len(classes) == 2:
        # Binary: one column named after the target, the positive (last) class.
        return {config["target"]: ordered[:, 1]}
    return {label: ordered[:, index] for index, label in enumerate(classes)}


def _prediction_columns(estimator: Any, inputs: Any, config: dict[str, Any]) -> dict[str, Any]:
    rows = len(inputs)
    kind = config["prediction_kind"]
    if kind == "proba":
        return _probability_columns(estimator, estimator.predict_proba(inputs), rows, config)
    values = _one_dimensional(estimator.predict(inputs), rows, "predict")
    if kind == "value":
        import numpy as np

        try:
            values = values.astype(float)
        except (TypeError, ValueError):
            raise InvalidOutput("predict returned values that are not numbers") from None
        return {config["target"]: np.asarray(values, dtype=float)}
    return {config["target"]: [str(value) for value in values.tolist()]}


def _write_predictions(path: str, ids: list[str], columns: dict[str, Any], id_column: str) -> None:
    """Id column first; default float formatting, which round-trips exactly."""
    import pandas as pd

    frame = pd.DataFrame({id_column: ids, **columns})
    frame.to_csv(path, index=False)


def _run(config: dict[str, Any], report: dict[str, Any]) -> None:
    """Fit once, then predict every requested input, timing both."""
    id_column, target = config["id_column"], config["target"]
    stage = "reading the train data"
    try:
        train = _read_inputs_with_target(config["train"], id_column, target)
        stage = "importing estimator.py"
        module = _load_estimator_module(config["estimator"])
        stage = "get_estimator()"
        if not hasattr(module, "get_estimator"):
            raise AttributeError("estimator.py defines no get_estimator() function")
        estimator = module.get_estimator()
        stage = "fit"
        X, y = train
        started = time.perf_counter()
        estimator.fit(X, y)
        report["fit_seconds"] = time.perf_counter() - started
        total = 0.0
        for task in config["predict"]:
            stage = f"reading {task['input']}"
            inputs = _read_inputs(task["input"], id_column, target)
            ids = _read_ids(task["input"], id_column)
            if list(inputs.columns) != list(X.columns) and set(inputs.columns) == set(X.columns):
                inputs = inputs[list(X.columns)]  # same features, train order
            stage = "predict_proba" if config["prediction_kind"] == "proba" else "predict"
            started = time.perf_counter()
            columns = _prediction_columns(estimator, inputs, config)
            seconds = time.perf_counter() - started
            total += seconds
            report["predict_seconds_by_input"][task["name"]] = seconds
            report["predict_seconds"] = total
            stage = "writing the predictions"
            _write_predictions(task["output"], ids, columns, id_column)
    except BaseException as error:  # participant code may raise anything, SystemExit included
        raise _fail(stage, error) from None


def _read_inputs_with_target(path: str, id_column: str, target: str) -> tuple[Any, Any]:
    import pandas as pd

    frame = pd.read_csv(path, dtype={id_column: str})
    if target not in frame.columns:
        raise KeyError(f"the train data has no target column {target!r}")
    X = frame.drop(columns=[column for column in (id_column, target) if column in frame.columns])
    return X, frame[target]


def _write_report(path: str, report: dict[str, Any]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(report, handle)


def main(argv: list[str]) -> int:
    with open(argv[1], encoding="utf-8") as handle:
        config = json.load(handle)
    report: dict[str, Any] = {
        "status": "failed",
        "fit_seconds": None,
        "predict_seconds": None,
        "predict_seconds_by_input": {},
        "error": None,
    }
    report_path = os.path.abspath(config["report"])
    try:
        _run(config, report)
        report["status"] = "ok"
    except HarnessFailure as failure:
        report["error"] = {"class": failure.error_class, "message": failure.message, "traceback": failure.trace}
    # Flush participant prints before the report so the log reads in order.
    sys.stdout.flush()
    sys.stderr.flush()
    _write_report(report_path, report)
    return 0 if report["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
