"""The command line: parse arguments, call one function per verb.

Heavy imports (pandas, sklearn, jinja2) happen inside the verbs that need
them, so ``site-builder --help`` answers at once.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from site_builder import __version__
from site_builder.errors import SiteBuilderError

Verb = Callable[[argparse.Namespace], int]


def _now(text: str | None) -> datetime:
    """The injected clock: ``--now`` wins, then SITE_BUILDER_NOW, then the real time."""
    text = text or os.environ.get("SITE_BUILDER_NOW")
    if not text:
        return datetime.now(timezone.utc)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise SiteBuilderError(f"{text!r} is not an ISO 8601 time such as 2026-12-01T12:00:00Z", key="--now") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _results(args: argparse.Namespace) -> Path:
    return Path(args.results) if args.results else Path(args.root) / "results"


def _identity(args: argparse.Namespace) -> str:
    from site_builder.private import read_identity_text

    return read_identity_text(Path(args.key_file) if getattr(args, "key_file", None) else None)


# ---------------------------------------------------------------- verbs


def cmd_schema(args: argparse.Namespace) -> int:
    from site_builder.spec import json_schema

    text = json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def cmd_private_keygen(args: argparse.Namespace) -> int:
    from site_builder.private import generate_identity, write_identity

    identity, recipient = generate_identity()
    try:
        write_identity(Path(args.output), identity, recipient)
    except FileExistsError:
        raise SiteBuilderError("already exists; refusing to overwrite a key", path=args.output) from None
    print(f"wrote the secret identity to {args.output} (keep it out of git; store it as the SITE_BUILDER_AGE_KEY secret)", file=sys.stderr)
    print(recipient)
    return 0


def cmd_private_encrypt(args: argparse.Namespace) -> int:
    from site_builder.private import encrypt_bytes

    recipient = args.recipient or Path(args.recipient_file).read_text(encoding="utf-8")
    plaintext = Path(args.file).read_bytes()
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(encrypt_bytes(plaintext, recipient))
    print(f"encrypted {args.file} to {output}; you may now delete the plaintext", file=sys.stderr)
    return 0


def cmd_private_decrypt(args: argparse.Namespace) -> int:
    """Prove the key opens the file; write the plaintext only inside a temp dir."""
    import tempfile

    from site_builder.private import decrypt_file

    plaintext = decrypt_file(Path(args.file), _identity(args))
    if args.output:
        output = Path(args.output).resolve()
        allowed = [Path(tempfile.gettempdir()).resolve()]
        if os.environ.get("RUNNER_TEMP"):
            allowed.append(Path(os.environ["RUNNER_TEMP"]).resolve())
        if not any(base in output.parents for base in allowed):
            raise SiteBuilderError(
                f"decrypted data may only be written inside a temporary directory ({', '.join(map(str, allowed))})",
                path=args.output,
            )
        output.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(plaintext)
    lines = plaintext.count(b"\n")
    print(f"{args.file}: decrypted {len(plaintext)} bytes, {lines} lines (content not shown)")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from site_builder.run import run_submission
    from site_builder.spec import load_challenge

    challenge = load_challenge(Path(args.challenge_dir))
    result = run_submission(challenge, Path(args.submission_dir), Path(args.output))
    print(f"status: {result.status}; isolation: {', '.join(result.isolation) or 'none'}")
    if result.error:
        print(f"error: {result.error['class']}: {result.error['message']}")
        if result.error.get("traceback"):
            print(result.error["traceback"])
        return 1
    print(f"fit {result.fit_seconds:.2f} s, predict {result.predict_seconds:.2f} s, peak memory {result.peak_memory_mb:.0f} MiB")
    print(f"wrote {Path(args.output) / 'predictions.csv'} and {Path(args.output) / 'run.json'}")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from site_builder.evaluate import load_solution, score_and_record
    from site_builder.metrics import get_metric
    from site_builder.record import check_login, hash_files
    from site_builder.spec import load_challenge

    challenge = load_challenge(Path(args.challenge_dir))
    predictions = Path(args.predictions).read_bytes() if Path(args.predictions).is_file() else Path(args.predictions)
    run = _read_run_json(args.run_json)
    submission_id = args.submission_id or hash_files({"predictions.csv": predictions if isinstance(predictions, bytes) else b""}).removeprefix("sha256:")[:16]
    moment = _now(args.now)
    record, path, written = score_and_record(
        challenge,
        predictions,
        participant=check_login(args.participant),
        submission_id=submission_id,
        results=_results(args),
        solution=lambda: load_solution(challenge, _identity(args)),
        submitted_at=_now(args.submitted_at) if args.submitted_at else moment,
        scored_at=moment,
        run=run,
        commit=args.commit,
    )
    primary = challenge.primary_metric
    metric = get_metric(primary)
    public = record["scores"].get("public", {}).get(primary)
    print(f"{challenge.slug}/{record['participant']} {record['submission_id']}: public {primary} {metric.format(public)}")
    print(f"{'recorded' if written else 'already recorded, unchanged'}: {path}")
    return 0


def _read_run_json(path: str | None) -> dict | None:
    if not path:
        return None
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise SiteBuilderError(f"is not a readable run.json ({error})", path=path) from None
    if not isinstance(data, dict):
        raise SiteBuilderError("must hold a JSON object", path=path)
    return data


def cmd_evaluate(args: argparse.Namespace) -> int:
    from site_builder.evaluate import evaluate, summary_table

    outcomes = evaluate(
        Path(args.root),
        _results(args),
        lambda: _identity(args),
        lambda: _now(args.now),
        [Path(path) for path in args.paths],
        progress=not args.no_progress,
    )
    print(summary_table(outcomes))
    return 1 if any(outcome.status == "invalid" for outcome in outcomes) else 0


def cmd_rank(args: argparse.Namespace) -> int:
    from site_builder.evaluate import challenge_from_argument
    from site_builder.rank import rank_challenge, rankings_to_json
    from site_builder.record import load_records

    challenge = challenge_from_argument(Path(args.root), args.challenge)
    records = load_records(_results(args), challenge.slug)
    rankings = rank_challenge(
        records, challenge.spec.metrics, challenge.spec.schedule.end, _now(args.now), challenge.spec.schedule.start
    )
    if args.json:
        print(json.dumps(rankings_to_json(rankings), indent=2, sort_keys=True))
        return 0
    from site_builder.metrics import get_metric

    _print_board(challenge.spec.title + " — public board", rankings.public, get_metric)
    if rankings.private is not None:
        _print_board(challenge.spec.title + " — private board (final)", rankings.private, get_metric, move=True)
    else:
        print(f"\nThe private board appears after {challenge.spec.schedule.end:%Y-%m-%d %H:%M} UTC.")
    if rankings.failed:
        print(f"\nFailed submissions ({len(rankings.failed)}):")
        for record in rankings.failed:
            print(f"  {record['submitted_at']}  {record['participant']}  {(record.get('error') or {}).get('class', '?')}")
    return 0


def _print_board(title: str, board, get_metric, *, move: bool = False) -> None:  # type: ignore[no-untyped-def]
    print(f"\n{title}")
    header = ["rank", "participant", *[f"{name} {get_metric(name).arrow}" for name in board.metrics], "entries"]
    if move:
        header.append("move")
    rows = [header]
    for row in board.rows:
        cells = [str(row.rank), row.participant, *[get_metric(name).format(row.scores[name]) for name in board.metrics], str(row.submissions)]
        if move:
            cells.append(f"{row.move:+d}" if row.move else "=")
        rows.append(cells)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    for index, cells in enumerate(rows):
        print("  ".join(cell.ljust(width) for cell, width in zip(cells, widths)).rstrip())
        if index == 0:
            print("  ".join("-" * width for width in widths))
    if not board.rows:
        print("  (no scored submission yet)")


def cmd_check(args: argparse.Namespace) -> int:
    from site_builder.check import check_submission
    from site_builder.spec import load_challenge

    submission = Path(args.submission_dir)
    if args.challenge:
        challenge_dir = Path(args.challenge)
    else:
        # submissions/<slug>/<login> → challenges/<slug>, next to submissions/.
        resolved = submission.resolve()
        challenge_dir = resolved.parent.parent.parent / "challenges" / resolved.parent.name
        if not (challenge_dir / "challenge.yaml").is_file():
            raise SiteBuilderError(
                f"cannot find the challenge at {challenge_dir}; the folder should be submissions/<challenge>/<login>, or pass --challenge",
                path=submission,
            )
    ok = check_submission(load_challenge(challenge_dir), submission, folds=args.folds)
    return 0 if ok else 1


def _repository_url(args: argparse.Namespace) -> str | None:
    """Where commit and pull-request links point: the flag, else the Actions context."""
    if getattr(args, "repository_url", None):
        return str(args.repository_url).rstrip("/")
    server, repository = os.environ.get("GITHUB_SERVER_URL"), os.environ.get("GITHUB_REPOSITORY")
    return f"{server.rstrip('/')}/{repository}" if server and repository else None


def cmd_build(args: argparse.Namespace) -> int:
    from site_builder.render import build_site

    report = build_site(Path(args.root), _results(args), Path(args.out), now=_now(args.now), repository_url=_repository_url(args),
                        use_cache=not args.no_cache)  # fmt: skip
    print_build_report(report)
    global _nothing_left_to_clean
    _nothing_left_to_clean = True
    return 0


def print_build_report(report: Any) -> None:
    """The build's summary on stdout; each record or file it left out on stderr, with why."""
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(report.summary())


def cmd_serve(args: argparse.Namespace) -> int:
    from site_builder.render import build_site
    from site_builder.serve import serve

    build_site(Path(args.root), _results(args), Path(args.out), now=_now(args.now), repository_url=_repository_url(args))
    serve(Path(args.out), port=args.port)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from site_builder.demo import run_demo

    return run_demo(Path(args.dir), serve_site=not args.no_serve, port=args.port, now=_now(args.now))


# ---------------------------------------------------------------- parser


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", default=".", help="repository root holding challenges/, submissions/ and results/ (default: .)")
    parser.add_argument("--results", default=None, help="results store (default: ROOT/results)")
    parser.add_argument("--now", default=None, help="the current time, ISO 8601 UTC (default: the clock; for repeatable runs)")


def _key(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--key-file", default=None, help="age identity file (default: the SITE_BUILDER_AGE_KEY variable)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="site-builder",
        description="Serverless data challenges on GitHub: run, score, rank and publish submissions.",
    )
    parser.add_argument("--version", action="version", version=f"site-builder {__version__}")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)

    schema = verbs.add_parser("schema", help="write the JSON Schema of challenge.yaml")
    schema.add_argument("-o", "--output", help="file to write (default: standard output)")
    schema.set_defaults(func=cmd_schema)

    private = verbs.add_parser("private", help="age keys and encrypted private data")
    private_verbs = private.add_subparsers(dest="private_verb", metavar="ACTION", required=True)
    keygen = private_verbs.add_parser("keygen", help="write a new identity to a file and print its recipient")
    keygen.add_argument("-o", "--output", default="private.key", help="identity file to create (default: private.key)")
    keygen.set_defaults(func=cmd_private_keygen)
    encrypt = private_verbs.add_parser("encrypt", help="encrypt a file to a recipient")
    encrypt.add_argument("file")
    recipient = encrypt.add_mutually_exclusive_group(required=True)
    recipient.add_argument("-r", "--recipient", help="age public key (age1…)")
    recipient.add_argument("-R", "--recipient-file", help="file holding the public key, e.g. recipient.txt")
    encrypt.add_argument("-o", "--output", required=True)
    encrypt.set_defaults(func=cmd_private_encrypt)
    decrypt = private_verbs.add_parser("decrypt", help="check a key opens a file; never prints the content")
    decrypt.add_argument("file")
    decrypt.add_argument("-o", "--output", help="write the plaintext here; only inside a temporary directory")
    _key(decrypt)
    decrypt.set_defaults(func=cmd_private_decrypt)

    run = verbs.add_parser("run", help="run a code submission in the sandbox")
    run.add_argument("challenge_dir")
    run.add_argument("submission_dir")
    run.add_argument("-o", "--output", required=True, help="folder for predictions.csv and run.json")
    run.set_defaults(func=cmd_run)

    score = verbs.add_parser("score", help="check a predictions file strictly, score it and record the result")
    score.add_argument("challenge_dir")
    score.add_argument("predictions")
    score.add_argument("--participant", required=True, help="GitHub login of the participant")
    score.add_argument("--submission-id", default=None, help="default: a hash of the predictions file")
    score.add_argument("--run-json", default=None, help="run.json written by `site-builder run`")
    score.add_argument("--submitted-at", default=None, help="ISO 8601 time of the submission (default: now)")
    score.add_argument("--commit", default=None, help="head commit of the submission")
    _common(score)
    _key(score)
    score.set_defaults(func=cmd_score)

    evaluate = verbs.add_parser("evaluate", help="run, score and record every submission not yet recorded")
    evaluate.add_argument("paths", nargs="*", help="submission or challenge folders (default: all)")
    evaluate.add_argument("--no-progress", action="store_true", help="no progress bar")
    _common(evaluate)
    _key(evaluate)
    evaluate.set_defaults(func=cmd_evaluate)

    rank = verbs.add_parser("rank", help="print a challenge's boards")
    rank.add_argument("challenge", help="challenge slug or folder")
    rank.add_argument("--json", action="store_true", help="machine-readable output")
    _common(rank)
    rank.set_defaults(func=cmd_rank)

    check = verbs.add_parser("check", help="check a submission offline, with cross-validation on the public data")
    check.add_argument("submission_dir")
    check.add_argument("--challenge", default=None, help="challenge folder (default: found from the submission path)")
    check.add_argument("--folds", type=int, default=5, help="cross-validation folds (default: 5)")
    check.set_defaults(func=cmd_check)

    build = verbs.add_parser("build", help="build the static site")
    build.add_argument("--out", default="_site", help="output folder, empty or a previous site (default: _site)")
    build.add_argument("--repository-url", default=None, help="https://github.com/OWNER/REPO for commit and PR links (default: from GITHUB_SERVER_URL and GITHUB_REPOSITORY)")
    build.add_argument("--no-cache", action="store_true", help="neither read nor write the build cache (ROOT/.cache/site-builder): for a build whose cache is thrown away, as on GitHub; same output, from scratch")
    _common(build)
    build.set_defaults(func=cmd_build)

    serve = verbs.add_parser("serve", help="build the site and serve it on 127.0.0.1")
    serve.add_argument("--out", default="_site")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--repository-url", default=None, help="https://github.com/OWNER/REPO for commit and PR links")
    _common(serve)
    serve.set_defaults(func=cmd_serve)

    demo = verbs.add_parser("demo", help="make a demo workspace, evaluate it, build and serve the site")
    demo.add_argument("--dir", default="demo", help="workspace folder (default: ./demo)")
    demo.add_argument("--no-serve", action="store_true", help="stop after building")
    demo.add_argument("--port", type=int, default=8000)
    demo.add_argument("--now", default=None, help="the demo's current time (default: the clock)")
    demo.set_defaults(func=cmd_demo)

    _add_github_verbs(verbs)
    return parser


def _add_github_verbs(verbs: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """The pipeline's verbs live with the GitHub module, registered if present."""
    try:
        from site_builder.github_cli import add_verbs
    except ImportError:
        return
    add_verbs(verbs)


# Set by a command that has written and closed everything it made, so the
# process may end without freeing its objects one by one (see run()).
_nothing_left_to_clean = False


def run() -> None:
    """The ``site-builder`` program: :func:`main`, then the process ends.

    A build holds millions of small objects when it is done; freeing them
    one by one at interpreter exit took half a second at 10,000
    submissions, for memory the operating system takes back anyway. After a
    command that has closed all it opened, the process ends at once;
    other commands exit normally, so temporary folders are still removed.
    """
    code = main()
    if _nothing_left_to_clean:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    raise SystemExit(code)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except SiteBuilderError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
