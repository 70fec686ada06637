"""A process and its descendants, read from /proc (Linux): who they are, their memory and CPU.

Used by the benchmarks that measure `vigil serve` with its model worker processes
(``scripts/bench_serve.py``) and by the tests that check a stopped server leaves none behind.
Standard library only.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

PROC = Path("/proc")


def stat_fields(pid: int) -> list[str]:
    """The fields of ``/proc/<pid>/stat`` after the command name: state, ppid, ... (``fields[0]``
    is the state, ``fields[11]`` and ``fields[12]`` utime and stime). OSError once it is gone."""
    return (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()


def _parents(zombies: bool) -> dict[int, int]:
    parents: dict[int, int] = {}
    for stat in PROC.glob("[0-9]*/stat"):
        try:
            fields = stat_fields(int(stat.parent.name))
            if zombies or fields[0] != "Z":
                parents[int(stat.parent.name)] = int(fields[1])
        except (OSError, ValueError, IndexError):
            continue  # ended while listing
    return parents


def descendants(pid: int, *, zombies: bool = True) -> list[int]:
    """Every descendant of ``pid`` (children, their children, ...); ``zombies=False`` leaves out
    processes that have ended but are not yet reaped (and what descends from them)."""
    parents = _parents(zombies)
    found: list[int] = []
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        kids = [p for p, pp in parents.items() if pp == parent]
        found += kids
        frontier += kids
    return found


def tree_usage(pid: int) -> tuple[float, float]:
    """(RSS MiB, CPU seconds: user + system) of ``pid`` and its descendants, summed (pages they
    share are counted in each)."""
    ticks, page = os.sysconf("SC_CLK_TCK"), os.sysconf("SC_PAGE_SIZE")
    rss_total, cpu_total = 0.0, 0.0
    for member in [pid, *descendants(pid)]:
        try:
            fields = stat_fields(member)
            rss_pages = int((PROC / str(member) / "statm").read_text().split()[1])
        except OSError:
            continue  # ended between the listing and the read
        cpu_total += (int(fields[11]) + int(fields[12])) / ticks
        rss_total += rss_pages * page / 2**20
    return rss_total, cpu_total


def alive(pids: Iterable[int]) -> list[int]:
    """The processes of ``pids`` that still run (neither gone nor zombies)."""
    running = []
    for pid in pids:
        try:
            if stat_fields(pid)[0] != "Z":
                running.append(pid)
        except OSError:
            pass
    return running


def cmdline(pid: int) -> str:
    """The command line of ``pid``, arguments separated by spaces ("" once it is gone)."""
    try:
        return (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""
