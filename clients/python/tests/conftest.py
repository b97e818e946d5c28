"""A real `topten serve` for the tests: a small implicit model trained on generated ratings
(three taste groups over 60 items with genres), published with its catalogue to a fresh
embedded store, served on a free 127.0.0.1 port. The binary is $TOPTEN_BIN, else the
workspace's target/release/topten (scripts/test.sh builds it)."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[3]
TOPTEN = os.environ.get("TOPTEN_BIN", str(REPO / "target/release/topten"))
GENRES = ["Comedy", "Drama", "Horror"]
KEY = "client-test-key-0123456789"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, store: str, env: dict | None = None, healthy: bool = True):
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [TOPTEN, "serve", "--store", store, "--bind", "127.0.0.1", "--port", str(self.port)],
            env={**os.environ, "TOPTEN_LOG": "warn", **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"topten serve exited: {self.proc.stderr.read().decode()}")
            try:
                if httpx.get(f"{self.base_url}/api/health").is_success or not healthy:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("topten serve did not become healthy")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture(scope="session")
def sample(tmp_path_factory):
    if not Path(TOPTEN).is_file():
        pytest.fail(f"no topten binary at {TOPTEN}: build it (cargo build --release --bin topten) or set TOPTEN_BIN")
    d = tmp_path_factory.mktemp("topten")
    rows = []
    # User u<n> likes the items of genre n % 3 (items i0..i59, genre = index % 3).
    for u in range(90):
        for i in range(60):
            if i % 3 == u % 3 and (i * 7 + u * 13) % 5 < 3:
                rows.append(f"u{u}\ti{i}\t{4 + (i + u) % 2}\t{1_700_000_000 + u * 100 + i}")
    (d / "ratings.tsv").write_text("\n".join(rows) + "\n")
    catalogue = ["itemId\ttitle\tcategories"] + [f"i{i}\tItem {i} ({GENRES[i % 3]})\t{GENRES[i % 3]}" for i in range(60)]
    (d / "catalogue.tsv").write_text("\n".join(catalogue) + "\n")
    env = {**os.environ, "TOPTEN_LOG": "warn"}
    run = lambda *args: subprocess.run([TOPTEN, *args], env=env, check=True, stdout=subprocess.DEVNULL)
    run("train", "--ratings", str(d / "ratings.tsv"), "--model", "implicit", "--factors", "8", "--iterations", "10", "--out", str(d / "model"))
    store = f"embedded:{d / 'store.db'}"
    run("publish", "--model", str(d / "model"), "--store", store, "--items", str(d / "catalogue.tsv"))
    histories: dict[str, set[str]] = {}
    for row in rows:
        u, i, *_ = row.split("\t")
        histories.setdefault(u, set()).add(i)
    return {"dir": d, "store": store, "histories": histories}


@pytest.fixture(scope="session")
def server(sample):
    s = Server(sample["store"])
    yield s
    s.stop()


@pytest.fixture(scope="session")
def keyed_server(sample):
    s = Server(sample["store"], env={"TOPTEN_API_KEY": KEY})
    yield s
    s.stop()


@pytest.fixture
def anyio_backend():
    return "asyncio"
