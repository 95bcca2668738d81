"""A real nginx (Debian's package) serving a folder on 127.0.0.1, over https with a trustme certificate, for tests.

``Nginx(root, tmp).start()`` writes a config into ``tmp``, runs ``nginx -g 'daemon off;'`` as a child
process (a pid file, temp folders and logs of its own: nothing of the system's nginx is touched) and
waits until it answers. ``requests()`` reads its access log: method, path, status, Range header and
bytes sent per request, for tests that count what crossed the wire.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

_CONFIG = """\
{user}worker_processes 2;
error_log {tmp}/error.log warn;
pid {tmp}/nginx.pid;
events {{ worker_connections 512; }}
http {{
  client_body_temp_path {tmp}/body;
  proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fastcgi;
  uwsgi_temp_path {tmp}/uwsgi;
  scgi_temp_path {tmp}/scgi;
  log_format zoo '$request_method $uri $status "$http_range" $body_bytes_sent';
  access_log {tmp}/access.log zoo;
  sendfile on;
  types {{ application/octet-stream bin; }}
  default_type application/octet-stream;
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {cert};
    ssl_certificate_key {cert};
    root {root};
    location / {{ autoindex off; }}
  }}
}}
"""


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    status: int
    range: str
    sent: int


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Nginx:
    """nginx serving ``root`` over https on a loopback port; ``ca`` is the PEM a client must trust."""

    def __init__(self, root: Path, tmp: Path):
        import trustme

        self.root, self.tmp = Path(root), Path(tmp)
        self.tmp.mkdir(parents=True, exist_ok=True)
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        self.cert = self.tmp / "server.pem"
        cert.private_key_and_cert_chain_pem.write_to_path(str(self.cert))
        self.ca = self.tmp / "ca.pem"
        ca.cert_pem.write_to_path(str(self.ca))
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self) -> Nginx:
        for _ in range(5):  # a port taken between picking and binding: pick another
            self.port = _free_port()
            conf = self.tmp / "nginx.conf"
            # As root, nginx's workers would drop to nobody, who cannot read pytest's private temp folders.
            user = "user root;\n" if os.geteuid() == 0 else ""
            conf.write_text(_CONFIG.format(user=user, tmp=self.tmp, port=self.port, cert=self.cert, root=self.root))
            (self.tmp / "access.log").write_text("")
            self.process = subprocess.Popen(
                [NGINX, "-c", str(conf), "-p", str(self.tmp), "-g", "daemon off;"],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            )
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self.process.poll() is None:
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                    return self
                except OSError:
                    time.sleep(0.05)
            self.stop()
        raise RuntimeError(f"nginx did not start: {(self.tmp / 'error.log').read_text() if (self.tmp / 'error.log').exists() else ''}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def requests(self) -> list[Request]:
        """Every request served so far (nginx writes its log line when a response is done)."""
        out = []
        for line in (self.tmp / "access.log").read_text().splitlines():
            method, path, status, rest = line.split(" ", 3)
            quoted, _, sent = rest.rpartition(" ")
            rng = quoted.strip('"')
            out.append(Request(method, path, int(status), "" if rng == "-" else rng, int(sent)))
        return out

    def env(self) -> dict[str, str]:
        """What a child process needs to trust this server."""
        return {"SSL_CERT_FILE": str(self.ca)}


def available() -> bool:
    return os.path.exists(NGINX)
