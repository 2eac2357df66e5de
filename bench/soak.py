"""Memory soak: the load mix (tests/support/load_mix.py) for many requests, the workers'
resident memory sampled.

    python -m bench.soak [--requests 100000] [--every 5000] [--threads 16] [--workers 2]

gunicorn runs without worker recycling (GUNICORN_MAX_REQUESTS=0), so growth is not hidden by
restarts. Every `--every` requests the RSS of each worker (from /proc) is printed with the
running totals; at the end, the growth of the last sample over the first sample taken after
warm-up (the first 10% of the requests). The aim is under 10%.
"""
from __future__ import annotations

import argparse
import threading
from pathlib import Path

from tests.support.load_mix import lost_messages, run_mix, service

WARM_UP_SHARE = 0.1


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Sampler:
    def __init__(self, server, every: int):
        self.server, self.every = server, every
        self.next_at = every
        self.samples: list[tuple[int, float, list[float]]] = []
        self.lock = threading.Lock()

    def __call__(self, report) -> None:
        with self.lock:
            if report.requests < self.next_at:
                return
            self.next_at += self.every
            workers = [rss_mb(pid) for pid in sorted(self.server.worker_pids())]
            self.samples.append((report.requests, sum(workers), workers))
            print(f"{report.requests:>8} requests  workers RSS {sum(workers):8.1f} MB  "
                  f"({', '.join(f'{mb:.1f}' for mb in workers)})  5xx {report.server_errors}",
                  flush=True)


def growth(samples: list[tuple[int, float, list[float]]], total: int) -> float | None:
    warm = [s for s in samples if s[0] >= total * WARM_UP_SHARE]
    if len(warm) < 2:
        return None
    return (warm[-1][1] - warm[0][1]) / warm[0][1] * 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--every", type=int, default=5000)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with service(args.workers, extra_env={"GUNICORN_MAX_REQUESTS": "0"}) as server:
        sampler = Sampler(server, args.every)
        report, clients = run_mix(server.base, args.threads, total_requests=args.requests,
                                  on_progress=sampler)
        lost = lost_messages(report, clients)
    for line in report.lines():
        print(line)
    change = growth(sampler.samples, args.requests)
    verdict = "n/a" if change is None else f"{change:+.1f}% ({'ok' if change < 10 else 'HIGH'})"
    print(f"RSS growth after warm-up: {verdict}; messages lost {lost}")


if __name__ == "__main__":
    main()
