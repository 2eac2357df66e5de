"""The test process's ProcessSandbox: its workers start on first use and serve every test."""
from __future__ import annotations

import atexit

from adapters.sandbox import ProcessSandbox

SANDBOX = ProcessSandbox(workers=2, memory_mb=256, timeout_s=10.0)
atexit.register(SANDBOX.close)
