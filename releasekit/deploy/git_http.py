"""The sandbox's GitOps repository over smart HTTP: ``git http-backend`` behind a small server.

Flux fetches git over http, https or ssh, never ``file://``; this server serves one bare
repository, ``.sandbox/gitops.git``, at ``http://127.0.0.1:PORT/gitops.git`` to git and to
source-controller, pushes included (the repository sets ``http.receivepack``). Each request
is handed to git's own CGI program through ``releasekit.core.run.pipe``. The server runs as
``python -m releasekit.deploy.git_http REPOSITORY PORT`` in a session of its own, records its
pid and port in ``.sandbox/gitops.json``, and stops itself once its repository is gone
(``sandbox.down --purge``) or on SIGTERM (``sandbox.down``).
"""

from __future__ import annotations

import contextlib
import gzip
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from releasekit.core import http
from releasekit.core.errors import HttpError, PreflightError
from releasekit.core.files import write_json
from releasekit.core.net import free_port, port_free
from releasekit.core.run import pipe, run, spawn
from releasekit.core.workspace import TESTBED_DIR
from releasekit.deploy.testbed_servers import Service, owns, stop, wait_http

__all__ = ["REPOSITORY", "alive", "main", "running", "state", "stop_server", "up", "url"]

REPOSITORY = "gitops.git"
_BACKEND = "/usr/lib/git-core/git-http-backend"
_CHECK_EVERY = 2.0


def _state_file(root: Path) -> Path:
    return root / TESTBED_DIR / "gitops.json"


def state(root: Path) -> Service | None:
    """The recorded server of ``root``'s sandbox (None when never started)."""
    path = _state_file(root)
    if not path.is_file():
        return None
    return Service(**json.loads(path.read_text(encoding="utf-8")))


def url(service: Service) -> str:
    """The repository's clone URL on the server."""
    return f"{service.url}/{REPOSITORY}"


def alive(service: Service) -> bool:
    """True while the server of ``service`` runs and answers git."""
    if not owns(service):
        return False
    try:
        http.get(f"{url(service)}/info/refs?service=git-upload-pack", timeout=2, retries=0)
    except HttpError:
        return False
    return True


def up(root: Path, branch: str = "main") -> Service:
    """Create the bare repository (once) and start its server (or keep the running one)."""
    home = root / TESTBED_DIR
    repo = home / REPOSITORY
    if not (repo / "HEAD").is_file():
        run(["git", "init", "--quiet", "--bare", f"--initial-branch={branch}", str(repo)])
        run(["git", "-C", str(repo), "config", "http.receivepack", "true"], quiet=True)
    old = state(root)
    if old is not None and alive(old):
        return old
    port = old.port if old is not None and port_free(old.port) else free_port()
    log = home / "gitops.log"
    package_root = str(Path(__file__).resolve().parents[2])
    argv = [sys.executable, "-m", "releasekit.deploy.git_http", str(repo), str(port)]
    proc = spawn(argv, log=log, cwd=home, env={"PYTHONPATH": package_root})
    service = Service("gitops", proc.pid, f"http://127.0.0.1:{port}", str(repo), str(log))
    write_json(_state_file(root), service.to_json(), redacted=False, mode=0o644)
    wait_http(f"{url(service)}/info/refs?service=git-upload-pack", log=log)
    return service


def running(root: Path) -> Service:
    """The server when it answers; PreflightError telling how to start it otherwise."""
    service = state(root)
    if service is None or not alive(service):
        raise PreflightError(
            f"The sandbox's GitOps repository server ({root / TESTBED_DIR / REPOSITORY}) is not "
            "running: start it with `invoke sandbox.up --cluster`."
        )
    return service


def stop_server(root: Path) -> None:
    """Stop the server of ``root``'s sandbox when it runs."""
    service = state(root)
    if service is not None and owns(service):
        stop(service)


# -- the server program ---------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    repo: Path

    def log_message(self, format: str, *args: object) -> None:
        sys.stderr.write(f"{self.address_string()} {format % args}\n")

    def do_GET(self) -> None:
        self._serve(b"")

    def do_POST(self) -> None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = self._chunked()
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.headers.get("Content-Encoding", "").lower() == "gzip":
            body = gzip.decompress(body)
        self._serve(body)

    def _chunked(self) -> bytes:
        parts: list[bytes] = []
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                self.rfile.readline()
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline()

    def _serve(self, body: bytes) -> None:
        path, _, query = self.path.partition("?")
        prefix = f"/{REPOSITORY}"
        if path != prefix and not path.startswith(prefix + "/"):
            self.send_error(404, f"only {prefix} is served here")
            return
        env = {
            "GIT_PROJECT_ROOT": str(self.repo.parent),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "REQUEST_METHOD": self.command,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": self.client_address[0],
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
        }
        code, out, err = pipe([_BACKEND], body, env=env)
        if err:
            sys.stderr.write(err.decode(errors="replace"))
        head, _, payload = out.partition(b"\r\n\r\n")
        if not payload and b"\n\n" in out:
            head, _, payload = out.partition(b"\n\n")
        status, headers = 200, []
        for line in head.decode(errors="replace").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            elif name:
                headers.append((name.strip(), value.strip()))
        if code != 0 and status == 200:
            status = 500
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def _watch(server: ThreadingHTTPServer, repo: Path) -> None:
    """Stop the server once its repository is gone."""
    while (repo / "HEAD").is_file():
        threading.Event().wait(_CHECK_EVERY)
    server.shutdown()


def main(argv: list[str]) -> int:
    """``git_http REPOSITORY PORT``: serve the bare repository on 127.0.0.1:PORT."""
    repo, port = Path(argv[0]).resolve(), int(argv[1])
    handler = type("Handler", (_Handler,), {"repo": repo})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=_watch, args=(server, repo), daemon=True).start()
    print(f"serving {repo} at http://127.0.0.1:{port}/{REPOSITORY}", file=sys.stderr, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
