"""``livejobs serve`` on a host whose clock is off.

``python -m tests.skewed_serve SECONDS serve ...``:

Python's ``time.time`` is moved by SECONDS for the whole process, as a host with a wrong clock
would see it; SQLite computes its own ``now`` in C and stays on the true time, as a store on
another host would.
"""

from __future__ import annotations

import sys
import time

skew = float(sys.argv.pop(1))
true_time, true_time_ns = time.time, time.time_ns
time.time = lambda: true_time() + skew
time.time_ns = lambda: true_time_ns() + int(skew * 1e9)

from livejobs.cli import main  # noqa: E402  (the clock is moved before the server is imported)

if __name__ == "__main__":
    main()
