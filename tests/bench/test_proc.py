"""The /proc process-tree helpers shared by scripts/bench_serve.py and the serve tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from vigil.bench.proc import alive, cmdline, descendants, tree_usage
from waiting import wait_for

# A child that starts a grandchild and waits for it: a tree two levels deep.
SLEEPER = "import time; time.sleep(120)"
TREE = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {SLEEPER!r}])"


def test_descendants_usage_and_liveness_of_a_process_tree() -> None:
    child = subprocess.Popen([sys.executable, "-c", TREE])
    kids: list[int] = []
    try:
        wait_for(lambda: descendants(child.pid), "the grandchild to start")
        kids = descendants(child.pid)
        assert len(kids) == 1
        wait_for(lambda: SLEEPER in cmdline(kids[0]), "the grandchild's command line")
        assert {child.pid, kids[0]} <= set(descendants(os.getpid()))  # grandchildren too
        rss, cpu = tree_usage(child.pid)
        assert rss > tree_usage(kids[0])[0] > 0 and cpu >= 0  # the tree counts both
        assert alive([child.pid, *kids]) == [child.pid, *kids]
    finally:
        for pid in kids:
            os.kill(pid, signal.SIGKILL)
        child.kill()
        child.wait(30)
    assert alive([child.pid]) == [] and cmdline(child.pid) == ""
