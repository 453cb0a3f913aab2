"""A small fake of the GitHub REST API on 127.0.0.1, backed by a bare git repository.

It implements only what ``site_builder.github`` calls through PyGithub: the
repository, pull requests and their files, git trees and blobs (read from the
bare repository, so modes like 120000 are real), workflow-run artifacts (a
302 to a download URL, as GitHub does), issue comments, commit statuses and the
settings ``gh doctor`` reads. Every request is recorded for assertions.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

BOT = {"login": "github-actions[bot]", "id": 41898282, "type": "Bot"}


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    authorization: str


@dataclass
class FakeGitHub:
    origin: Path
    full_name: str = "org/hack"
    token: str = "ghs_fake-token"
    default_branch: str = "main"
    pulls: dict[int, dict[str, Any]] = field(default_factory=dict)
    comments: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    artifacts: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # run id → artifacts
    requests: list[Request] = field(default_factory=list)
    pages: dict[str, Any] | None = None
    environments: dict[str, dict[str, Any]] = field(default_factory=dict)
    workflows: list[dict[str, Any]] = field(default_factory=list)
    fork_approval: str | None = "first_time_contributors"
    lock: threading.Lock = field(default_factory=threading.Lock)
    _next_id: int = 1000

    # ------------------------------------------------------------ set-up helpers

    def start(self) -> str:
        handler = type("Handler", (_Handler,), {"fake": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self.url

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def new_id(self) -> int:
        with self.lock:
            self._next_id += 1
            return self._next_id

    def add_pull(self, number: int, author: str, head_repo: str, head_ref: str, head_sha: str, base_sha: str) -> None:
        self.pulls[number] = {
            "number": number,
            "state": "open",
            "user": {"login": author, "type": "User", "id": hash(author) % 100000},
            "head": {"ref": head_ref, "sha": head_sha, "label": f"{head_repo.split('/')[0]}:{head_ref}", "repo": self._repo_json(head_repo)},
            "base": {"ref": self.default_branch, "sha": base_sha, "label": f"{self.full_name.split('/')[0]}:{self.default_branch}", "repo": self._repo_json(self.full_name)},
        }

    def add_artifact(self, run_id: int, name: str, data: bytes, *, expired: bool = False) -> None:
        artifact_id = self.new_id()
        self.artifacts.setdefault(run_id, []).append(
            {"id": artifact_id, "name": name, "size_in_bytes": len(data), "expired": expired, "data": data}
        )

    def issue_comments(self, number: int) -> list[dict[str, Any]]:
        return [comment for comment in self.comments if comment["issue"] == number]

    def requests_to(self, method: str, pattern: str) -> list[Request]:
        return [r for r in self.requests if r.method == method and re.search(pattern, r.path)]

    # ------------------------------------------------------------ JSON shapes

    def api(self, path: str) -> str:
        return f"{self.url}{path}"

    def _repo_json(self, full_name: str) -> dict[str, Any]:
        owner, name = full_name.split("/")
        return {
            "id": abs(hash(full_name)) % 10**6,
            "name": name,
            "full_name": full_name,
            "owner": {"login": owner, "type": "User"},
            "url": self.api(f"/repos/{full_name}"),
            "html_url": f"https://github.com/{full_name}",
            "default_branch": self.default_branch,
            "private": False,
            "fork": full_name != self.full_name,
        }

    def _pull_json(self, pull: dict[str, Any]) -> dict[str, Any]:
        return {**pull, "url": self.api(f"/repos/{self.full_name}/pulls/{pull['number']}"), "issue_url": self.api(f"/repos/{self.full_name}/issues/{pull['number']}")}

    def _comment_json(self, comment: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": comment["id"],
            "body": comment["body"],
            "user": comment["user"],
            "url": self.api(f"/repos/{self.full_name}/issues/comments/{comment['id']}"),
            "issue_url": self.api(f"/repos/{self.full_name}/issues/{comment['issue']}"),
        }

    # ------------------------------------------------------------ git-backed data

    def git(self, *args: str) -> str:
        return subprocess.run(["git", *args], cwd=self.origin, capture_output=True, text=True, check=True).stdout

    def pull_files(self, pull: dict[str, Any]) -> list[dict[str, Any]]:
        output = self.git("diff", "--name-status", "-M", pull["base"]["sha"], pull["head"]["sha"])
        codes = {"A": "added", "M": "modified", "D": "removed", "T": "changed", "C": "copied"}
        files = []
        for line in output.splitlines():
            parts = line.split("\t")
            code = parts[0][0]
            if code == "R":
                files.append({"filename": parts[2], "previous_filename": parts[1], "status": "renamed"})
            else:
                files.append({"filename": parts[1], "status": codes.get(code, "changed")})
        for entry in files:
            entry.update(sha="0" * 40, additions=1, deletions=0, changes=1)
        return files

    def tree(self, sha: str, recursive: bool) -> dict[str, Any] | None:
        args = ["ls-tree", "-l", "-z"] + (["-r", "-t"] if recursive else []) + [sha]
        try:
            output = self.git(*args)
        except subprocess.CalledProcessError:
            return None
        entries = []
        for item in filter(None, output.split("\0")):
            meta, path = item.split("\t", 1)
            mode, kind, object_sha, size = meta.split()
            entry = {"path": path, "mode": mode, "type": kind, "sha": object_sha, "url": self.api(f"/repos/{self.full_name}/git/{kind}s/{object_sha}")}
            if kind == "blob":
                entry["size"] = int(size)
            entries.append(entry)
        return {"sha": sha, "url": self.api(f"/repos/{self.full_name}/git/trees/{sha}"), "tree": entries, "truncated": False}

    def blob(self, sha: str) -> dict[str, Any] | None:
        try:
            content = subprocess.run(["git", "cat-file", "blob", sha], cwd=self.origin, capture_output=True, check=True).stdout
        except subprocess.CalledProcessError:
            return None
        return {"sha": sha, "size": len(content), "encoding": "base64", "content": base64.b64encode(content).decode(), "url": self.api(f"/repos/{self.full_name}/git/blobs/{sha}")}

    def branch_exists(self, name: str) -> bool:
        return subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"refs/heads/{name}"], cwd=self.origin, capture_output=True).returncode == 0


class _Handler(BaseHTTPRequestHandler):
    fake: FakeGitHub

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def _send(self, status: int, payload: Any = None, headers: dict[str, str] | None = None, raw: bytes | None = None) -> None:
        body = raw if raw is not None else (b"" if payload is None else json.dumps(payload).encode())
        self.send_response(status)
        self.send_header("Content-Type", "application/zip" if raw is not None else "application/json")
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _handle(self, method: str) -> None:
        parsed = urlparse(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        request = Request(method, parsed.path, parse_qs(parsed.query), body, self.headers.get("Authorization", ""))
        with self.fake.lock:
            self.fake.requests.append(request)
        if parsed.path.startswith("/_download/"):
            return self._download(parsed.path)
        if request.authorization not in (f"token {self.fake.token}", f"Bearer {self.fake.token}"):
            return self._send(401, {"message": "Bad credentials"})
        prefix = f"/repos/{self.fake.full_name}"
        if not parsed.path.startswith(prefix):
            return self._send(404, {"message": "Not Found"})
        route = parsed.path[len(prefix):]
        for pattern, handler_method in _ROUTES:
            match = re.fullmatch(pattern, f"{method} {route}")
            if match:
                return getattr(self, handler_method)(request, *match.groups())
        self._send(404, {"message": f"Not Found (fake has no {method} {route})"})

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    # ------------------------------------------------------------ routes

    def repo(self, request: Request) -> None:
        data = self.fake._repo_json(self.fake.full_name)
        data["has_pages"] = self.fake.pages is not None
        self._send(200, data)

    def list_pulls(self, request: Request) -> None:
        head = request.query.get("head", [None])[0]
        state = request.query.get("state", ["open"])[0]
        pulls = [
            self.fake._pull_json(pull)
            for pull in self.fake.pulls.values()
            if (state == "all" or pull["state"] == state) and (head is None or pull["head"]["label"] == head)
        ]
        self._send(200, pulls)

    def get_pull(self, request: Request, number: str) -> None:
        pull = self.fake.pulls.get(int(number))
        self._send(200, self.fake._pull_json(pull)) if pull else self._send(404, {"message": "Not Found"})

    def pull_files(self, request: Request, number: str) -> None:
        pull = self.fake.pulls.get(int(number))
        self._send(200, self.fake.pull_files(pull)) if pull else self._send(404, {"message": "Not Found"})

    def tree(self, request: Request, sha: str) -> None:
        tree = self.fake.tree(sha, recursive=bool(request.query.get("recursive")))
        self._send(200, tree) if tree else self._send(404, {"message": "Not Found"})

    def blob(self, request: Request, sha: str) -> None:
        blob = self.fake.blob(sha)
        self._send(200, blob) if blob else self._send(404, {"message": "Not Found"})

    def run(self, request: Request, run_id: str) -> None:
        base = self.fake.api(f"/repos/{self.fake.full_name}/actions/runs/{run_id}")
        self._send(200, {"id": int(run_id), "url": base, "artifacts_url": f"{base}/artifacts", "status": "completed"})

    def run_artifacts(self, request: Request, run_id: str) -> None:
        artifacts = [
            {
                "id": a["id"],
                "name": a["name"],
                "size_in_bytes": a["size_in_bytes"],
                "expired": a["expired"],
                "url": self.fake.api(f"/repos/{self.fake.full_name}/actions/artifacts/{a['id']}"),
                "archive_download_url": self.fake.api(f"/repos/{self.fake.full_name}/actions/artifacts/{a['id']}/zip"),
                "workflow_run": {"id": int(run_id)},
            }
            for a in self.fake.artifacts.get(int(run_id), [])
        ]
        self._send(200, {"total_count": len(artifacts), "artifacts": artifacts})

    def artifact_zip(self, request: Request, artifact_id: str) -> None:
        # GitHub answers with a short-lived URL on another host; here the same one.
        self._send(302, headers={"Location": self.fake.api(f"/_download/{artifact_id}")})

    def _download(self, path: str) -> None:
        artifact_id = int(path.rsplit("/", 1)[1])
        for artifacts in self.fake.artifacts.values():
            for artifact in artifacts:
                if artifact["id"] == artifact_id:
                    return self._send(200, raw=artifact["data"])
        self._send(404, {"message": "Not Found"})

    def list_comments(self, request: Request, number: str) -> None:
        self._send(200, [self.fake._comment_json(c) for c in self.fake.issue_comments(int(number))])

    def create_comment(self, request: Request, number: str) -> None:
        comment = {"id": self.fake.new_id(), "issue": int(number), "body": request.body["body"], "user": BOT}
        with self.fake.lock:
            self.fake.comments.append(comment)
        self._send(201, self.fake._comment_json(comment))

    def edit_comment(self, request: Request, comment_id: str) -> None:
        for comment in self.fake.comments:
            if comment["id"] == int(comment_id):
                comment["body"] = request.body["body"]
                return self._send(200, self.fake._comment_json(comment))
        self._send(404, {"message": "Not Found"})

    def commit(self, request: Request, sha: str) -> None:
        self._send(200, {"sha": sha, "url": self.fake.api(f"/repos/{self.fake.full_name}/commits/{sha}")})

    def create_status(self, request: Request, sha: str) -> None:
        status = {"sha": sha, **request.body, "id": self.fake.new_id()}
        with self.fake.lock:
            self.fake.statuses.append(status)
        self._send(201, {**status, "url": self.fake.api(f"/repos/{self.fake.full_name}/statuses/{sha}")})

    def pages(self, request: Request) -> None:
        self._send(200, self.fake.pages) if self.fake.pages else self._send(404, {"message": "Not Found"})

    def environment(self, request: Request, name: str) -> None:
        environment = self.fake.environments.get(name)
        if environment is None:
            return self._send(404, {"message": "Not Found"})
        self._send(200, {"id": 1, "name": name, "url": self.fake.api(f"/repos/{self.fake.full_name}/environments/{name}"), "deployment_branch_policy": environment.get("deployment_branch_policy"), "protection_rules": []})

    def branch_policies(self, request: Request, name: str) -> None:
        environment = self.fake.environments.get(name) or {}
        policies = [{"id": i, "name": branch, "type": "branch"} for i, branch in enumerate(environment.get("branches", []))]
        self._send(200, {"total_count": len(policies), "branch_policies": policies})

    def environment_secret(self, request: Request, name: str, secret: str) -> None:
        environment = self.fake.environments.get(name) or {}
        if secret in environment.get("secrets", []):
            return self._send(200, {"name": secret, "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"})
        self._send(404, {"message": "Not Found"})

    def branch(self, request: Request, name: str) -> None:
        if self.fake.branch_exists(name):
            return self._send(200, {"name": name, "commit": {"sha": "0" * 40}, "protected": False})
        self._send(404, {"message": "Branch not found"})

    def workflows(self, request: Request) -> None:
        self._send(200, {"total_count": len(self.fake.workflows), "workflows": self.fake.workflows})

    def fork_approval(self, request: Request) -> None:
        if self.fake.fork_approval is None:
            return self._send(404, {"message": "Not Found"})
        self._send(200, {"approval_policy": self.fake.fork_approval})


_ROUTES = [
    (r"GET ", "repo"),
    (r"GET /pulls", "list_pulls"),
    (r"GET /pulls/(\d+)", "get_pull"),
    (r"GET /pulls/(\d+)/files", "pull_files"),
    (r"GET /git/trees/([^/]+)", "tree"),
    (r"GET /git/blobs/([0-9a-f]{40})", "blob"),
    (r"GET /actions/runs/(\d+)", "run"),
    (r"GET /actions/runs/(\d+)/artifacts", "run_artifacts"),
    (r"GET /actions/artifacts/(\d+)/zip", "artifact_zip"),
    (r"GET /issues/(\d+)/comments", "list_comments"),
    (r"POST /issues/(\d+)/comments", "create_comment"),
    (r"PATCH /issues/comments/(\d+)", "edit_comment"),
    (r"GET /commits/([0-9a-f]{40})", "commit"),
    (r"POST /statuses/([0-9a-f]{40})", "create_status"),
    (r"GET /pages", "pages"),
    (r"GET /environments/([^/]+)", "environment"),
    (r"GET /environments/([^/]+)/deployment-branch-policies", "branch_policies"),
    (r"GET /environments/([^/]+)/secrets/([^/]+)", "environment_secret"),
    (r"GET /branches/([^/]+)", "branch"),
    (r"GET /actions/workflows", "workflows"),
    (r"GET /actions/permissions/fork-pr-contributor-approval", "fork_approval"),
]
