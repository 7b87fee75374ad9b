"""A local stand-in for the parts of the Hugging Face Hub's HTTP API that huggingface_hub's
`create_repo`, `upload_folder` (card validation, preupload, commit; regular, non-LFS uploads),
`repo_info` and file downloads use;
the routes and payloads follow huggingface_hub 2.4's client (`hf_api.py`, `_commit_api.py`).

It stores what arrives in memory: repos (type, visibility) and their files. `fail(status, times)`
makes the next requests answer with that status, and `fail("drop", times)` closes the connection
without an answer, as a dropped network does. Every request's headers are kept so a test can
check what was sent (and that a token went only where it belongs).

Known simplification: preupload answers "regular" for every file (the Hub answers "lfs" for large
and binary files, which then travel through Xet or LFS), so the LFS and Xet transfers are not
exercised here.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler
from urllib.parse import unquote, urlparse

from standins.loopback import LoopbackServer

PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}


def git_blob_sha1(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def _tree(files: dict[str, bytes], prefix: str, recursive: bool) -> list[dict]:
    """The Hub's tree listing of `prefix`: its files and folders (all below it when recursive)."""
    entries, folders = [], set()
    base = f"{prefix}/" if prefix else ""
    for path in sorted(files):
        if not path.startswith(base):
            continue
        rest = path[len(base):].split("/")
        for depth in range(1, len(rest)):
            if depth == 1 or recursive:
                folders.add(base + "/".join(rest[:depth]))
        if len(rest) == 1 or recursive:
            entries.append({"type": "file", "path": path, "size": len(files[path]), "oid": git_blob_sha1(files[path])})
    entries += [{"type": "directory", "path": f, "oid": hashlib.sha1(f.encode()).hexdigest(), "size": 0}
                for f in sorted(folders)]
    return entries


class FakeHub(LoopbackServer):
    def __init__(self):
        self.repos: dict[tuple[str, str], dict] = {}  # (type, id) -> {"private", "files": {path: bytes}, "commits"}
        self.requests: list[dict] = []
        self.validated: list[str] = []  # cards sent to /api/validate-yaml
        self._failures: list = []
        self._lock = threading.Lock()
        LoopbackServer.__init__(self, self._handler())
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def fail(self, status, times: int = 1, on: str = "") -> None:
        """Answer the next `times` requests whose path contains `on` with `status` (or "drop")."""
        with self._lock:
            self._failures.extend([(status, on)] * times)

    def _take_failure(self, path: str):
        with self._lock:
            for i, (status, on) in enumerate(self._failures):
                if on in path:
                    return self._failures.pop(i)[0]
        return None

    def _handler(hub):  # noqa: N805 - the handler class closes over the hub
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, status: int, body=None, headers: dict | None = None, raw: bytes | None = None):
                data = raw if raw is not None else json.dumps(body if body is not None else {}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/octet-stream" if raw is not None else "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def _body(self) -> bytes:
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else b""

            def _handle(self):
                path = unquote(urlparse(self.path).path)
                body = self._body()
                hub.requests.append({"method": self.command, "path": path, "headers": {k.lower(): v for k, v in self.headers.items()},
                                     "body": body})
                failure = hub._take_failure(path)
                if failure == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if failure is not None:
                    messages = {401: "Invalid credentials in Authorization header", 403: "You don't have the rights",
                                404: "Repository Not Found", 429: "You have been rate-limited"}
                    headers = {"X-Error-Message": messages.get(failure, "error")}
                    if failure == 404:
                        headers["X-Error-Code"] = "RepoNotFound"
                    return self._send(failure, {"error": messages.get(failure, "error")}, headers)
                if self.command == "POST" and path == "/api/repos/create":
                    payload = json.loads(body)
                    repo_type = payload.get("type") or "model"
                    repo_id = f"{payload['organization']}/{payload['name']}" if payload.get("organization") \
                        else payload["name"]
                    key = (repo_type, repo_id)
                    url = f"{hub.endpoint}/{PREFIX[repo_type]}{repo_id}"
                    if key in hub.repos:
                        return self._send(409, {"error": "You already created this repo", "url": url})
                    private = payload.get("visibility") == "private" or bool(payload.get("private"))
                    hub.repos[key] = {"private": private, "files": {}, "commits": 0}
                    return self._send(200, {"url": url, "name": repo_id})
                if self.command == "POST" and path == "/api/validate-yaml":
                    # the card's metadata block must be a YAML mapping; the Hub checks much more
                    import yaml

                    content = json.loads(body)["content"]
                    errors = []
                    try:
                        meta = yaml.safe_load(content.split("---")[1]) if content.startswith("---") else None
                        if not isinstance(meta, dict):
                            errors.append({"message": "the metadata block is not a mapping"})
                    except (yaml.YAMLError, IndexError) as exc:
                        errors.append({"message": f"invalid YAML: {exc}"})
                    hub.validated.append(content)
                    return self._send(400 if errors else 200, {"errors": errors, "warnings": []})
                m = re.fullmatch(r"/api/(model|dataset|space)s/(.+?)/(preupload|commit)/([^/]+)", path)
                if m and self.command == "POST":
                    key = (m.group(1), m.group(2))
                    if key not in hub.repos:
                        return self._send(404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
                    files = hub.repos[key]["files"]
                    if m.group(3) == "preupload":
                        asked = json.loads(body)["files"]
                        return self._send(200, {"files": [
                            {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False,
                             **({"oid": git_blob_sha1(files[f["path"]])} if f["path"] in files else {})}
                            for f in asked]})
                    lines = [json.loads(line) for line in body.splitlines() if line.strip()]
                    for item in lines:
                        if item["key"] == "file":
                            files[item["value"]["path"]] = base64.b64decode(item["value"]["content"])
                        elif item["key"] in ("deletedFile",):
                            files.pop(item["value"]["path"], None)
                    hub.repos[key]["commits"] += 1
                    oid = hashlib.sha1(str(sorted(files)).encode() + str(hub.repos[key]["commits"]).encode()).hexdigest()
                    return self._send(200, {"commitUrl": f"{hub.endpoint}/{PREFIX[key[0]]}{key[1]}/commit/{oid}",
                                            "commitOid": oid, "pullRequestUrl": None})
                m = re.fullmatch(r"/api/(model|dataset|space)s/(.+?)/tree/([^/]+)(?:/(.*))?", path)
                if m and self.command == "GET":
                    repo = hub.repos.get((m.group(1), m.group(2)))
                    if repo is None:
                        return self._send(404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
                    prefix = (m.group(4) or "").strip("/")
                    recursive = "recursive=true" in (urlparse(self.path).query or "").lower()
                    return self._send(200, _tree(repo["files"], prefix, recursive))
                m = re.fullmatch(r"/api/(model|dataset|space)s/(.+?)/paths-info/([^/]+)", path)
                if m and self.command == "POST":
                    repo = hub.repos.get((m.group(1), m.group(2)))
                    if repo is None:
                        return self._send(404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
                    from urllib.parse import parse_qs

                    form = parse_qs(body.decode()) if not body.startswith(b"{") else json.loads(body)
                    asked = form.get("paths", [])
                    entries = _tree(repo["files"], "", True)
                    return self._send(200, [e for e in entries if e["path"] in asked])
                m = re.fullmatch(r"/api/(model|dataset|space)s/(.+?)(?:/revision/(.+))?", path)
                if m and self.command == "GET":
                    key = (m.group(1), m.group(2))
                    if key not in hub.repos:
                        return self._send(404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
                    repo, revision = hub.repos[key], unquote(m.group(3) or "")
                    sha = revision if re.fullmatch(r"[0-9a-f]{40}", revision) else \
                        hashlib.sha1(f"{key}@{revision}".encode()).hexdigest() if revision else "0" * 40
                    return self._send(200, {"id": key[1], "private": repo["private"], "sha": sha,
                                            "siblings": [{"rfilename": p} for p in sorted(repo["files"])]})
                m = re.fullmatch(r"/(datasets/|spaces/)?(.+?)/resolve/([^/]+)/(.+)", path)
                if m and self.command in ("GET", "HEAD"):
                    repo_type = {"datasets/": "dataset", "spaces/": "space"}.get(m.group(1) or "", "model")
                    repo = hub.repos.get((repo_type, m.group(2)))
                    if repo is None or m.group(4) not in repo["files"]:
                        return self._send(404, {"error": "Entry not found"}, {"X-Error-Code": "EntryNotFound"})
                    content = repo["files"][m.group(4)]
                    return self._send(200, raw=content, headers={"X-Repo-Commit": "0" * 40,
                                                                  "ETag": f'"{git_blob_sha1(content)}"'})
                return self._send(404, {"error": f"no route for {self.command} {path}"})

            do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = _handle

        return Handler

    def files(self, repo_id: str, repo_type: str = "dataset") -> dict[str, bytes]:
        return self.repos[(repo_type, repo_id)]["files"]
