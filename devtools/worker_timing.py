"""The job-queue worker (`app.run_job_tasks`) with its time counted, for the in-process
benchmarks: wall and CPU seconds spent in it, and how many tasks it ran."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Optional


class TimedWorker:
    def __init__(self, app_module: Any, on_call: Optional[Callable[[bool], None]] = None):
        self.app_module = app_module
        self.worker = app_module.run_job_tasks
        self.on_call = on_call  # told True before each task and False after (request counting)
        self.seconds = 0.0
        self.cpu_seconds = 0.0
        self.tasks = 0

    def __call__(self, event, context):
        if self.on_call:
            self.on_call(True)
        began, began_cpu = time.perf_counter(), time.process_time()
        try:
            return self.worker(event, context)
        finally:
            self.seconds += time.perf_counter() - began
            self.cpu_seconds += time.process_time() - began_cpu
            self.tasks += 1
            if self.on_call:
                self.on_call(False)

    def __enter__(self) -> TimedWorker:
        self.app_module.run_job_tasks = self
        return self

    def __exit__(self, *exc) -> None:
        self.app_module.run_job_tasks = self.worker
