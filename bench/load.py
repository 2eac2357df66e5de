"""A realistic request mix against gunicorn on loopback, with the mock model provider.

    python -m bench.load [--threads 16] [--duration 60] [--workers 2] [--bcrypt-rounds 4]

gunicorn starts with the project's gunicorn.conf.py on a private database of an embedded
MongoDB, its models pointed at the mock OpenAI-compatible provider of tests/support (answering
at once). Each client thread is one user with one talk, and loops over the mix: log in, list
talks, send a message (the reply in the response), send a message with `stream: true` (SSE read
to the end). Rate limits are off: this measures the service, not the limiter. The mix lives in
tests/support/load_mix.py, which tests/quality/test_load.py runs for 20 s.

Printed: requests per second, p50/p95/p99 latency overall and per kind, errors by status, and
messages sent (acknowledged) against messages stored — the two must match.
"""
from __future__ import annotations

import argparse

from tests.support.load_mix import MIX, lost_messages, run_mix, service


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--bcrypt-rounds", type=int, default=4)
    args = parser.parse_args()
    with service(args.workers, args.bcrypt_rounds) as server:
        report, clients = run_mix(server.base, args.threads, duration_s=args.duration)
        lost = lost_messages(report, clients)
    print(f"{args.threads} clients, {args.workers} gunicorn workers, mix "
          + ", ".join(f"{kind} {int(weight * 100)}%" for kind, weight in MIX))
    for line in report.lines():
        print(line)
    print(f"errors: {report.failures} (5xx {report.server_errors}, connection "
          f"{report.statuses.get(0, 0)}); messages acknowledged {report.messages_sent}, "
          f"lost {lost}")


if __name__ == "__main__":
    main()
