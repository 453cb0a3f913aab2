"""Property-based tests: any input parses or raises the tool's own error, never another."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from site_builder.errors import PredictionsError, SpecError
from site_builder.predictions import read_predictions
from site_builder.spec import parse_spec

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

csv_cells = st.one_of(
    st.sampled_from(["1000", "1001", "1002", "nan", "inf", "-inf", "", "1e308", "1e309", "0.5", "\"", "a,b", "é", "\x00"]),
    st.text(max_size=8),
)
csv_text = st.lists(st.lists(csv_cells, min_size=0, max_size=4), max_size=6).map(
    lambda rows: "\n".join(",".join(row) for row in rows)
)


@SETTINGS
@given(body=st.one_of(csv_text, st.binary(max_size=200)), header=st.booleans())
def test_predictions_parser_never_crashes(regression_challenge, body, header: bool) -> None:
    data = body if isinstance(body, bytes) else (("id,progression\n" if header else "") + body).encode("utf-8")
    expected = ["1000", "1001", "1002"]
    try:
        predictions = read_predictions(data, regression_challenge.challenge, expected)
    except PredictionsError as error:
        assert str(error).startswith("predictions.csv: ")
    else:
        assert sorted(predictions.ids) == expected


yaml_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=10))
yaml_values = st.recursive(
    yaml_scalars,
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(st.text(max_size=8), children, max_size=3)),
    max_leaves=8,
)
KEYS = ["title", "kind", "id_column", "target", "metrics", "data", "schedule", "limits", "prediction", "classes", "tags", "summary"]


@SETTINGS
@given(document=st.dictionaries(st.sampled_from(KEYS), yaml_values, max_size=len(KEYS)))
def test_spec_loader_never_crashes(document) -> None:
    import yaml

    text = yaml.safe_dump(document)
    try:
        parse_spec(text, Path("challenge.yaml"))
    except SpecError as error:
        assert str(error).startswith("challenge.yaml")


@SETTINGS
@given(text=st.text(max_size=200))
def test_spec_loader_survives_arbitrary_text(text: str) -> None:
    try:
        parse_spec(text, Path("challenge.yaml"))
    except SpecError:
        pass


@SETTINGS
@given(data=st.one_of(csv_text.map(lambda text: text.encode("utf-8")), st.binary(max_size=200),
                      st.lists(st.sampled_from([b"a", b",", b"\n", b"\r", b'"', b"\xc3", b"\xff", b" "]), max_size=12).map(b"".join)))  # fmt: skip
@example(data=b"")
@example(data=b"a,b")
@example(data=b"a,b\n")
@example(data=b"a,b\n1,2")
@example(data=b"a,b\n1,2\n\n3,4\n")
@example(data=b"\na\n")
@example(data=b'a,"b\nc"\n1,2\n')
@example(data=b"a\r\nb\r\n")
@example(data=b"a\rb")
@example(data=b"a\n\xff\xfe,x\n")
@example(data="é,ü\n1,2\n".encode())
@example(data=b"a\n1\x002\n")
@example(data=b'"a""b",c\n"1\r\n2",3\n')
def test_data_file_shape_matches_the_csv_reader(data: bytes) -> None:
    """The row count a challenge page shows is the csv reader's, whichever way it is counted:
    from line ends where nothing is quoted, by the reader otherwise. A NUL byte, which the
    reader refuses, shows no count instead of failing the build."""
    import csv
    import io

    from site_builder.render import csv_shape

    reader = csv.reader(io.StringIO(data.decode("utf-8", errors="replace"), newline=""))
    try:
        expected: tuple[tuple[str, ...], int | None] = (tuple(next(reader, [])), sum(1 for _ in reader))
    except csv.Error:
        expected = ((), None)
    assert csv_shape(data) == expected
