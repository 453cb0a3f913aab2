"""Serve a built site on 127.0.0.1 with the standard library, quietly.

Only the loopback address is bound: this is a preview for the person at the
keyboard, not a server for the network.
"""

from __future__ import annotations

import functools
import http.server
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Static files without a log line per request; errors still reach stderr."""

    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".csv": "text/csv; charset=utf-8",
        ".css": "text/css; charset=utf-8",
        ".html": "text/html; charset=utf-8",
        ".js": "text/javascript; charset=utf-8",
        ".json": "application/json",
        ".py": "text/plain; charset=utf-8",
    }

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass

    def end_headers(self) -> None:
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()


def make_server(directory: Path, port: int = 8000) -> http.server.ThreadingHTTPServer:
    """A threaded server for ``directory`` on 127.0.0.1; port 0 picks a free one."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory}: no site here; build it first")
    handler = functools.partial(QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer((HOST, port), handler)
    server.daemon_threads = True
    return server


def serve(directory: Path, port: int = 8000) -> None:
    """Serve ``directory`` at http://127.0.0.1:PORT/ until interrupted (Ctrl-C)."""
    with make_server(directory, port) as server:
        host, bound_port = server.server_address[:2]
        print(f"Serving {directory} at http://{host}:{bound_port}/ (Ctrl-C to stop)", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            print("Stopped.", flush=True)
