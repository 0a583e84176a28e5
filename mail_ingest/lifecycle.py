"""Worker processes (parsers, mailer) end with the ingest process that started them.

Each worker asks the kernel for SIGKILL when its parent dies (Linux ``PR_SET_PDEATHSIG``) and,
where that is not available or the parent died before the call, a watchdog thread notices the
parent is gone (``getppid`` changed) and ends the worker. SIGTERM ends a worker at once: its
work is stateless, and everything it did is committed by the parent or done again.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import threading

_PR_SET_PDEATHSIG = 1
#: Seconds between the watchdog's looks at the parent.
WATCH_INTERVAL = 1.0


def die_with_parent(parent_pid: int) -> None:
    """Called first thing in a worker process (a pool initializer)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    signal.signal(signal.SIGTERM, lambda signum, frame: os._exit(128 + signum))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the parent, which stops us
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)
    threading.Thread(target=_watch, args=(parent_pid,), name="parent-watch", daemon=True).start()


def _watch(parent_pid: int) -> None:
    stop = threading.Event()
    while not stop.wait(WATCH_INTERVAL):
        if os.getppid() != parent_pid:
            os._exit(1)


def init_parse_worker(parent_pid: int) -> None:
    """Pool initializer of the parse workers."""
    die_with_parent(parent_pid)
