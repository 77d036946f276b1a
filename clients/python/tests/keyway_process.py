"""Test support: `keyway serve` as a user runs it (the compiled CLI, bin/keyway.js over dist/, as
the Go shard picker's end-to-end test runs it), a topology file the tests edit, and a small counting
HTTP proxy in front of keyway. 127.0.0.1 only; every wait is bounded."""

from __future__ import annotations

import http.client
import http.server
import json
import os
import queue
import shutil
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import pytest

REPO = Path(__file__).resolve().parents[3]
START_TIMEOUT_S = 60.0


def _required() -> bool:
    # Under CI (and scripts/test-clients.sh, which builds dist/ first) a missing keyway is a failure.
    return os.environ.get("CI") == "true" or os.environ.get("KEYWAY_REQUIRE_E2E") == "1"


def keyway_cli() -> Tuple[str, str]:
    """node and the compiled CLI: KEYWAY_BIN, else the repository's bin/keyway.js over dist/."""
    bin_path = Path(os.environ.get("KEYWAY_BIN") or REPO / "bin" / "keyway.js")
    node = shutil.which("node")
    missing = [
        what
        for what, ok in [
            ("node on PATH", node is not None),
            (str(bin_path), bin_path.is_file()),
            (str(bin_path.parent.parent / "dist" / "src" / "cli" / "main.js") + " (npm run build)", (bin_path.parent.parent / "dist" / "src" / "cli" / "main.js").is_file()),
        ]
        if not ok
    ]
    if missing:
        why = "keyway CLI not runnable, missing: " + ", ".join(missing)
        if _required():
            pytest.fail(why + " (CI=true or KEYWAY_REQUIRE_E2E=1: not skipped)")
        pytest.skip(why + " (CI=true makes this a failure)")
    assert node is not None
    return node, str(bin_path)


def topology_text(shards: int, endpoints: Sequence[Tuple[str, int, float]]) -> str:
    lines = [f"shards: {shards}", "replicas: 2", "spread: none", "service: keyway-cache", "endpoints:"]
    for i, (name, port, weight) in enumerate(endpoints):
        lines += [
            f"  - id: {name}",
            "    address: 127.0.0.1",
            f"    port: {port}",
            f"    locality: {{region: r, zone: z{i % 2}, subzone: nvl-{i}}}",
            f"    weight: {weight}",
        ]
    return "\n".join(lines) + "\n"


def write_topology(path: Path, text: str) -> None:
    # One change for keyway's watcher, never a half-written file.
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class Keyway:
    """One `keyway serve` process; `stop()` ends it with SIGTERM (as a replica that restarts)."""

    def __init__(self, config: Path, extra_args: Sequence[str] = ()) -> None:
        node, cli = keyway_cli()
        args = [node, cli, "serve", "--config", str(config), "--http-port", "0", "--xds-port", "0",
                "--ext-proc-port", "off", "--host", "127.0.0.1", "--log-level", "info", *extra_args]
        self.logs: List[str] = []
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        listening: "queue.Queue[Optional[Dict[str, Any]]]" = queue.Queue()

        def read() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                self.logs.append(line)
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if isinstance(rec, dict) and rec.get("msg") == "listening":
                    listening.put(rec)
            listening.put(None)  # output ended: keyway exited

        threading.Thread(target=read, daemon=True).start()
        try:
            rec = listening.get(timeout=START_TIMEOUT_S)
        except queue.Empty:
            self.stop()
            pytest.fail(f"keyway did not start in {START_TIMEOUT_S} s:\n{''.join(self.logs)}")
        if rec is None:
            self.stop()
            pytest.fail(f"keyway exited before it listened:\n{''.join(self.logs)}")
        self.http_port = int(rec["httpPort"])
        self.url = f"http://127.0.0.1:{self.http_port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


class CountingProxy:
    """A reverse proxy on 127.0.0.1 that forwards each GET to `upstream` (host, port; None: answers
    502 with no body as if keyway were gone) and records (path, If-None-Match, status)."""

    def __init__(self, upstream: Optional[Tuple[str, int]]) -> None:
        self.upstream = upstream
        self.seen: List[Tuple[str, Optional[str], int]] = []
        self.lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                target = proxy.upstream
                if target is None:
                    self.close_connection = True
                    self.connection.shutdown(2)  # like a keyway that is down: no answer
                    with proxy.lock:
                        proxy.seen.append((self.path, self.headers.get("If-None-Match"), 0))
                    return
                conn = http.client.HTTPConnection(*target, timeout=10)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                try:
                    conn.request("GET", self.path, headers=headers)
                    res = conn.getresponse()
                    body = res.read()
                except OSError:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    with proxy.lock:
                        proxy.seen.append((self.path, self.headers.get("If-None-Match"), 0))
                    return
                finally:
                    conn.close()
                with proxy.lock:
                    proxy.seen.append((self.path, self.headers.get("If-None-Match"), res.status))
                self.send_response(res.status)
                for k, v in res.getheaders():
                    if k.lower() not in ("connection", "keep-alive", "transfer-encoding", "content-length"):
                        self.send_header(k, v)
                if res.status != 304:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if res.status != 304:
                    self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def requests(self, path: str) -> List[Tuple[Optional[str], int]]:
        with self.lock:
            return [(inm, status) for p, inm, status in self.seen if p == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
