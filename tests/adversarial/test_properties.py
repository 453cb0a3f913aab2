"""Property tests of the hostile-input readers: parse, or raise the tool's own error with a message.

``tests/test_properties.py`` covers the predictions parser and the spec
loader; these cover what else reads participant data: ``submission.yaml``,
the run.json and the zip of the artifact, submission folders, the names that
become paths, and the records a site is built from.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import warnings
import zipfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from site_builder.errors import SiteBuilderError, SubmissionError
from site_builder.record import check_login, check_submission_id, load_records, record_path, safe_relative_name
from site_builder.submission import SubmissionMeta, parse_meta, read_files

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=90))
documents = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(st.text(max_size=12), children, max_size=4)),
    max_leaves=12,
)
meta_documents = st.one_of(
    documents,
    st.fixed_dictionaries({}, optional={"name": scalars, "team": scalars, "description": scalars, "extra": scalars}),
)


@SETTINGS
@given(document=meta_documents)
@example(document={"name": "\t=1"})
@example(document={"name": "x" * 81})
def test_submission_yaml_documents_parse_or_are_refused_with_a_reason(document: object) -> None:
    text = yaml.safe_dump(document, allow_unicode=True).encode("utf-8")
    try:
        meta = parse_meta({"submission.yaml": text}, Path("submissions/c/alice"))
    except SubmissionError as error:
        assert "submission.yaml" in str(error) and len(str(error)) > 30
    else:
        assert isinstance(meta, SubmissionMeta)
        for value in meta.display().values():
            assert isinstance(value, str) and len(value) <= 2000


@SETTINGS
@given(raw=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(lambda text: text.encode("utf-8"))))
@example(raw=b"name: " + b"[" * 3000)
@example(raw=b"a: &a [x]\nb: &b [*a, *a, *a, *a]\nc: &c [*b, *b, *b, *b]\nname: *c\n")
@example(raw=b"name: !!python/object/apply:os.system [id]\n")
def test_submission_yaml_bytes_parse_or_are_refused_with_a_reason(raw: bytes) -> None:
    try:
        parse_meta({"submission.yaml": raw}, Path("submissions/c/alice"))
    except SubmissionError as error:
        assert "submission.yaml" in str(error)


@SETTINGS
@given(raw=st.one_of(st.binary(max_size=200), documents.map(lambda value: json.dumps(value).encode())))
@example(raw=b'{"status": "failed", "error": {"class": "<script>", "message": 5, "traceback": null}}')
@example(raw=b'{"status": "ok", "isolation": "none", "peak_memory_mb": 1e999}')
def test_run_json_from_the_artifact_parses_or_is_rejected(raw: bytes) -> None:
    from site_builder.github import Rejection, parse_run_json

    try:
        run = parse_run_json(raw)
    except Rejection as error:
        assert "run.json" in str(error)
    else:
        assert run["status"] in ("ok", "failed")
        assert all(isinstance(value, float) for key, value in run.items() if key.endswith(("seconds", "_mb")))


def _valid_artifact() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("predictions.csv", "id,y\n" + "".join(f"r{index},1.5\n" for index in range(40)))
        archive.writestr("run.json", json.dumps({"status": "ok", "fit_seconds": 0.1}))
    return buffer.getvalue()


VALID_ARTIFACT = _valid_artifact()


def _artifact_with_a_wrong_crc() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("predictions.csv", "id,y\nr0,1.5\n")
        archive.writestr("run.json", json.dumps({"status": "ok"}))
    return buffer.getvalue().replace(b"r0,1.5", b"r0,9.5")  # stored bytes changed, CRC kept


@st.composite
def mutated_artifacts(draw: st.DrawFn) -> bytes:
    data = bytearray(VALID_ARTIFACT)
    for _ in range(draw(st.integers(1, 4))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data)


@SETTINGS
@given(artifact=st.one_of(mutated_artifacts(), st.binary(max_size=400)))
@example(artifact=VALID_ARTIFACT[:-30])
@example(artifact=_artifact_with_a_wrong_crc())
def test_the_artifact_reader_accepts_or_rejects_never_crashes(artifact: bytes) -> None:
    from site_builder.github import Rejection, read_artifact_zip

    try:
        members = read_artifact_zip(artifact, 2**20)
    except Rejection as error:
        assert "artifact" in str(error)
    else:
        assert set(members) <= {"predictions.csv", "run.json"}


@SETTINGS
@given(name=st.text(max_size=60))
@example(name="../../etc")
@example(name="a--b")
@example(name="-rf")
def test_a_login_is_refused_or_a_plain_file_name(name: str) -> None:
    try:
        login = check_login(name)
    except SubmissionError as error:
        assert "login" in str(error)
    else:
        assert login == name and "/" not in name and not name.startswith(("-", ".")) and name.isascii()


@SETTINGS
@given(login=st.from_regex(r"[A-Za-z0-9]{1,8}", fullmatch=True), submission=st.text(max_size=90))
@example(login="alice", submission="..")
@example(login="alice", submission="../../x")
@example(login="alice", submission="a/../../b")
def test_every_accepted_record_path_stays_inside_the_store(login: str, submission: str) -> None:
    results = Path("/srv/results")
    try:
        check_submission_id(submission)
    except SubmissionError:
        return
    path = record_path(results, "vault", login, submission)
    assert Path(os.path.normpath(path)).parent == results / "vault"


@SETTINGS
@given(name=st.text(max_size=40))
@example(name="../x")
@example(name="a/../../x")
@example(name="/etc/passwd")
def test_a_snapshot_name_is_refused_or_stays_below_its_folder(name: str) -> None:
    try:
        relative = safe_relative_name(name)
    except SubmissionError:
        return
    folder = Path("/srv/results/vault/files/alice/s1")
    assert folder in Path(os.path.normpath(folder / relative)).parents


@settings(max_examples=60, deadline=None)
@given(
    names=st.lists(
        st.binary(min_size=1, max_size=12).filter(lambda raw: b"/" not in raw and b"\0" not in raw and raw not in (b".", b"..")),
        min_size=1,
        max_size=5,
        unique=True,
    )
)
@example(names=[b"\xff\xfe.py"])
@example(names=[b"ok.py", b"\xc3\x28.txt"])
def test_a_folder_with_any_file_names_reads_or_is_refused(names: list[bytes]) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        folder = os.fsencode(scratch)
        for raw in names:
            with open(os.path.join(folder, raw), "wb") as handle:
                handle.write(b"x")
        try:
            files = read_files(Path(scratch))
        except SubmissionError as error:
            assert "UTF-8" in str(error) or "regular file" in str(error)
        else:
            for name in files:
                name.encode("utf-8")  # every name can go into a record and a page


@settings(max_examples=100, deadline=None)
@given(contents=st.lists(st.one_of(st.binary(max_size=200), documents.map(lambda value: json.dumps(value).encode())), max_size=4))
@example(contents=[b'{"challenge": "vault", "participant": "a", "submission_id": "s", "status": "scored", "scores": {}, "submitted_at": 5}'])
def test_records_that_are_not_records_are_skipped_never_fatal(contents: list[bytes]) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "vault"
        folder.mkdir()
        for index, content in enumerate(contents):
            (folder / f"p{index}--s{index}.json").write_bytes(content)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                records = load_records(Path(scratch))
            except SiteBuilderError:
                return
        assert all(isinstance(record, dict) for record in records)
