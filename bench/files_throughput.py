"""Upload and download throughput of big files, and the server's memory while it moves them.

    python -m bench.files_throughput [--sizes 5,50] [--repeat 2] [--storages gridfs,s3]

For each storage and size (MiB) a fresh gunicorn (the project's gunicorn.conf.py, one gthread worker,
MAX_FILE_SIZE raised above the largest size) serves a private database on an embedded MongoDB.
A file of random bytes (a PDF header, so content sniffing passes) is uploaded with an honest
Content-Length, streamed from disk, then downloaded through its signed link and checked against
its sha256. RSS of the server (master + worker, from /proc) is sampled every 10 ms; the table
shows the peak during each phase above the idle server's RSS. If memory does not grow with the
file, the 50 MiB rows show about the same growth as the 5 MiB rows.

Storage `s3` (FILE_STORAGE=s3) is moto's S3 server (`python -m moto.server`, its own process on
loopback, objects in its memory): its speed, not a real S3's, bounds those rows; the RSS is the
API server's only, which holds at most one S3 part (S3_PART_SIZE, 8 MiB) per upload.
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import requests

from adapters.embedded_mongo import EmbeddedMongo, free_port
from adapters.s3_storage import s3_client
from bench.common import PIECE_BYTES, start_gunicorn, stream_upload, wait_healthy
from bench.ws_capacity import register, rss_kb

MIB = 1024 * 1024


class PeakRss:
    """Samples a process tree's RSS in a thread; `peak_kb` is the highest seen."""

    def __init__(self, pid: int, interval_s: float = 0.01):
        self.pid = pid
        self.interval_s = interval_s
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakRss:
        self.peak_kb = rss_kb(self.pid)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_kb = max(self.peak_kb, rss_kb(self.pid))
            time.sleep(self.interval_s)


def make_file(path: Path, size: int) -> str:
    """A 'PDF' of `size` random bytes; returns its sha256."""
    digest = hashlib.sha256()
    with path.open("wb") as out:
        written = 0
        while written < size:
            piece = os.urandom(min(PIECE_BYTES, size - written))
            if written == 0:
                piece = b"%PDF-1.7\n" + piece[9:]
            out.write(piece)
            digest.update(piece)
            written += len(piece)
    return digest.hexdigest()


def upload(port: int, token: str, path: Path) -> dict:
    """POST /files/upload with a known Content-Length, the file streamed from disk."""
    return stream_upload(port, token, "/api/v1/files/upload", path, path.name, "application/pdf",
                         201)


def download(base: str, token: str, file_id: str) -> str:
    """Follows the signed link and returns the sha256 of what came back."""
    link = requests.get(f"{base}/api/v1/files/{file_id}/download", timeout=30,
                        headers={"Authorization": f"Bearer {token}"})
    link.raise_for_status()
    digest = hashlib.sha256()
    with requests.get(link.json()["url"], stream=True, timeout=600) as response:
        response.raise_for_status()
        for piece in response.iter_content(PIECE_BYTES):
            digest.update(piece)
    return digest.hexdigest()


def timed(action: Callable[[], object], server_pid: int) -> tuple[float, int, object]:
    """Seconds taken, peak RSS (KiB) of the server meanwhile, and the action's result."""
    with PeakRss(server_pid) as rss:
        started = time.perf_counter()
        result = action()
        elapsed = time.perf_counter() - started
    return elapsed, rss.peak_kb, result


MOTO_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}


@contextlib.contextmanager
def moto_s3(workdir: Path) -> Iterator[dict[str, str]]:
    """moto's S3 server with a bucket; the settings that point an app at it."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    with (workdir / "moto.log").open("ab") as log:
        server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p",
                                   str(port)], stdout=log, stderr=subprocess.STDOUT)
    try:
        os.environ.update(MOTO_CREDENTIALS)
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"{endpoint}/moto-api/", timeout=1)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("moto's S3 server did not start") from None
                time.sleep(0.2)
        s3_client(endpoint, "us-east-1").create_bucket(Bucket="bench-files")
        yield {"FILE_STORAGE": "s3", "S3_BUCKET": "bench-files", "S3_ENDPOINT_URL": endpoint,
               "S3_REGION": "us-east-1", **MOTO_CREDENTIALS}
    finally:
        server.terminate()
        server.wait(30)


def measure(size_mib: int, repeat: int, mongo_uri: str, workdir: Path,
            storage: dict[str, str]) -> dict:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # links start with PUBLIC_BASE_URL (never the Host header): this server's address
    env = {**storage, "MONGODB_URI": mongo_uri, "PUBLIC_BASE_URL": base,
           "MONGODB_DATABASE": f"bench_files_{uuid.uuid4().hex[:8]}",
           "MAX_FILE_SIZE": str(max(size_mib + 8, 16) * MIB),
           "WORKSPACE_STORAGE_QUOTA": str(100 * 1024 * MIB), "WEB_CONCURRENCY": "1",
           "RATELIMIT_ENABLED": "false", "LOG_LEVEL": "WARNING", "BCRYPT_ROUNDS": "4",
           "LOCAL_MODEL_ENABLED": "false"}  # no model server: files only
    server = start_gunicorn(port, env, workdir / f"gunicorn-{size_mib}.log", "-k", "gthread")
    try:
        wait_healthy(base, server)
        _, token = register(base)
        warm = workdir / "warm.pdf"
        make_file(warm, 64 * 1024)
        download(base, token, upload(port, token, warm)["id"])  # every code path loaded once
        idle_kb = rss_kb(server.pid)
        path = workdir / f"file-{size_mib}.pdf"
        expected = make_file(path, size_mib * MIB)
        rows = []
        for _ in range(repeat):
            up_s, up_kb, stored = timed(lambda: upload(port, token, path), server.pid)
            assert stored["sha256"] == expected, "the server hashed something else"
            down_s, down_kb, got = timed(lambda s=stored: download(base, token, s["id"]),
                                         server.pid)
            assert got == expected, "the download differs from the upload"
            rows.append((up_s, up_kb, down_s, down_kb))
        path.unlink()
        return {
            "storage": storage.get("FILE_STORAGE", "gridfs"), "size_mib": size_mib,
            "idle_mib": idle_kb / 1024,
            "up_mib_s": size_mib / statistics.median(r[0] for r in rows),
            "down_mib_s": size_mib / statistics.median(r[2] for r in rows),
            "up_growth_mib": (max(r[1] for r in rows) - idle_kb) / 1024,
            "down_growth_mib": (max(r[3] for r in rows) - idle_kb) / 1024,
        }
    finally:
        server.terminate()
        server.wait(30)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="5,50", help="file sizes in MiB (default 5,50)")
    parser.add_argument("--repeat", type=int, default=2, help="transfers per size (median)")
    parser.add_argument("--storages", default="gridfs,s3",
                        help="FILE_STORAGE values to compare (default gridfs,s3)")
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",")]
    storages = [name.strip() for name in args.storages.split(",") if name.strip()]

    with tempfile.TemporaryDirectory(prefix="bench-files-") as tmp:
        workdir = Path(tmp)
        mongo = EmbeddedMongo(workdir / "mongo", free_port())
        mongo_uri = mongo.ensure_running()
        results = []
        try:
            for name in storages:
                with contextlib.ExitStack() as stack:
                    storage = stack.enter_context(moto_s3(workdir)) if name == "s3" else {}
                    results += [measure(size, args.repeat, mongo_uri, workdir, storage)
                                for size in sizes]
        finally:
            mongo.stop()

    print(f"\nOne gunicorn gthread worker, embedded MongoDB, median of {args.repeat} transfers; "
          "RSS = master + worker, peak during the transfer minus the idle server's.")
    print("| storage | file | upload MiB/s | download MiB/s | idle RSS MiB "
          "| RSS growth upload MiB | RSS growth download MiB |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['storage']} | {r['size_mib']} MiB | {r['up_mib_s']:.1f} | {r['down_mib_s']:.1f} "
              f"| {r['idle_mib']:.0f} | {r['up_growth_mib']:+.1f} | {r['down_growth_mib']:+.1f} |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
