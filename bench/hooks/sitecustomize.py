"""Counts the SQL statements of the Townsquare processes that ``make bench-cpu`` starts.

``bench/cpu.py`` puts this directory first on the server's and worker's ``PYTHONPATH`` with
``BENCH_CPU_STATEMENTS_DIR`` set; Python imports ``sitecustomize`` at start-up, so every such
process (a spawned child too) counts the statements SQLAlchemy sends (``before_cursor_execute``:
one per ``execute``/``executemany``, pre-pings not included) into an 8-byte counter in
``<dir>/<pid>.count``, memory-mapped, so the bench reads it without asking the process and
the count costs about a microsecond per statement. Without the variable it does nothing.
"""

from __future__ import annotations

import os


def _install(directory: str) -> None:
    import mmap
    from typing import Any

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    path = os.path.join(directory, f"{os.getpid()}.count")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    os.ftruncate(fd, 8)
    counter = mmap.mmap(fd, 8)
    total = [0]

    def count(*_: Any) -> None:
        total[0] += 1
        counter[0:8] = total[0].to_bytes(8, "little")

    event.listen(Engine, "before_cursor_execute", count)


_directory = os.environ.get("BENCH_CPU_STATEMENTS_DIR")
if _directory:
    _install(_directory)
