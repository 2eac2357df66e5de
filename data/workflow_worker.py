"""`flask --app app worker`: a process that only runs workflow executions.

Run as many as you like, on as many hosts as you like: they share nothing but MongoDB. Set
`WORKFLOW_RUNNER_THREADS=0` on the API processes to leave every run to the workers. SIGTERM or
Ctrl-C stops claiming and hands runs in progress back at once for another worker to resume.
"""
from __future__ import annotations

import signal
from collections.abc import Callable

import click
from flask import Flask


def register_worker_command(app: Flask, shutdown: Callable) -> None:
    @app.cli.command("worker")
    @click.option("--threads", type=click.IntRange(1, 256), default=None,
                  help="Runs executed at once (default: WORKFLOW_RUNNER_THREADS, or 8 if 0).")
    def worker(threads: int | None) -> None:
        """Run workflow executions (queued ones, and those whose worker died)."""
        container = app.extensions["synapscale"]
        runner = container.workflow_runner
        threads = threads or container.settings.workflow_runner_threads or 8

        def stop(*_args) -> None:
            runner.stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        runner.start(threads)
        click.echo(f"workflow worker {runner.worker_id}: {threads} threads; Ctrl-C to stop")
        runner.serve_forever()
        shutdown(container)
        click.echo("workflow worker stopped")
