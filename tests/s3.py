"""A real moto S3 server (``moto_server`` from moto[server]) on 127.0.0.1, for tests.

``S3Server(tmp).start()`` runs ``moto_server`` as a child process on a free loopback port (its state in
memory, its log in ``tmp``) and waits until it answers. ``env()`` is what a child process needs so that
botocore / s3fs talk to this server and nothing else: the endpoint, credentials, a region, and config
and credential files that do not exist (no ``~/.aws`` of the machine's). ``client()``, ``make_bucket``,
``put`` and ``keys`` set up and inspect buckets from the test itself.

With ``enforce_auth=True`` the server checks every request's signature: ``start`` creates an IAM user
with an access key allowed everything (through the server's own IAM API, while it still accepts any
request), then switches authentication on (moto's ``/moto-api/reset-auth`` with a count of 0). From
then on ``env()`` and ``client()`` carry that key; ``env(key="wrong", secret="wrong")`` is refused
(403, ``InvalidAccessKeyId``), and so is the right key with a wrong secret (``SignatureDoesNotMatch``).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

REGION = "us-east-1"
# Any key will do while authentication is off.
OPEN_KEY, OPEN_SECRET = "testing", "testing"

_ALLOW_ALL = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})


def _moto_server() -> list[str]:
    script = Path(sys.executable).parent / "moto_server"
    return [str(script)] if script.exists() else [sys.executable, "-m", "moto.server"]


# Straight to the loopback port, whatever proxy the environment names.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class S3Server:
    """moto's S3 (and IAM) on a loopback port; ``endpoint`` is its URL."""

    def __init__(self, tmp: Path, *, enforce_auth: bool = False):
        self.tmp = Path(tmp)
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.enforce_auth = enforce_auth
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log = self.tmp / "moto.log"
        self.key, self.secret = OPEN_KEY, OPEN_SECRET

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> S3Server:
        # The server's own environment: no AWS_* of ours (it needs no credentials), state in memory.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_", "TEST_SERVER_MODE"))}
        env.pop("INITIAL_NO_AUTH_ACTION_COUNT", None)
        for _ in range(5):  # a port taken between picking and binding: pick another
            self.port = _free_port()
            with open(self.log, "ab") as log:
                # The log is a file, not a pipe: werkzeug writes a line per request and a full pipe would stall it.
                self.process = subprocess.Popen(
                    [*_moto_server(), "-H", "127.0.0.1", "-p", str(self.port)],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                )
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and self.process.poll() is None:
                try:
                    with _DIRECT.open(f"{self.endpoint}/moto-api/data.json", timeout=1) as r:
                        r.read()
                    break
                except OSError:
                    time.sleep(0.05)
            else:
                self.stop()
                continue
            if self.process.poll() is not None:  # it died (the port was taken): whoever answered is not ours
                self.stop()
                continue
            if self.enforce_auth:
                self._enable_auth()
            return self
        raise RuntimeError(f"moto_server did not start: {self.log.read_text(errors='replace')[-2000:]}")

    def _enable_auth(self) -> None:
        iam = self._boto("iam", OPEN_KEY, OPEN_SECRET)
        iam.create_user(UserName="zoo-test")
        iam.put_user_policy(UserName="zoo-test", PolicyName="all", PolicyDocument=_ALLOW_ALL)
        made = iam.create_access_key(UserName="zoo-test")["AccessKey"]
        self.key, self.secret = made["AccessKeyId"], made["SecretAccessKey"]
        # From now on every request is authenticated and authorized (0 requests left without).
        # text/plain: a form content type would leave moto an empty body to read the count from.
        req = urllib.request.Request(
            f"{self.endpoint}/moto-api/reset-auth", data=b"0", method="POST", headers={"Content-Type": "text/plain"},
        )
        with _DIRECT.open(req, timeout=5) as r:
            r.read()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def env(self, *, key: str | None = None, secret: str | None = None) -> dict[str, str]:
        """What a child process needs for botocore / s3fs to use this server (the good credentials unless told)."""
        missing = self.tmp / "no-aws"
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.key if key is None else key,
            "AWS_SECRET_ACCESS_KEY": self.secret if secret is None else secret,
            "AWS_SESSION_TOKEN": "",  # an inherited token would be signed in (and refused)
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_CONFIG_FILE": str(missing / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(missing / "credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "false",
            "NO_PROXY": "127.0.0.1,localhost",
        }

    def _boto(self, service: str, key: str, secret: str) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.session.Session().client(
            service, endpoint_url=self.endpoint, region_name=REGION,
            aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=None,
            config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=60),
        )

    def client(self) -> Any:
        """A boto3 S3 client on this server, with the good credentials."""
        return self._boto("s3", self.key, self.secret)

    def make_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)

    def put(self, bucket: str, key: str, data: bytes) -> None:
        """Write an object as is (a corrupted one, say), behind the back of the code under test."""
        self.client().put_object(Bucket=bucket, Key=key, Body=data)

    def keys(self, bucket: str, prefix: str = "") -> dict[str, int]:
        """Every key under ``prefix`` with its size."""
        out: dict[str, int] = {}
        for page in self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                out[obj["Key"]] = obj["Size"]
        return out


def available() -> bool:
    """moto[server] (moto, its flask server) and boto3 are installed."""
    from importlib.util import find_spec

    try:
        return all(find_spec(name) is not None for name in ("moto.server", "flask", "boto3"))
    except ImportError:  # no moto at all: find_spec of a submodule imports its package
        return False
