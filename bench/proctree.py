"""The CPU of a process and all its descendants, from /proc (a bridge split across Ray workers
is its head process, Ray's gcs_server and raylet and agents, and the worker processes).

`proc_table()` reads every process's /proc/PID/stat, `proc_tree()` keeps one process and its
descendants (parent pid chains), `tree_cpu()` tells the CPU seconds between two such samples:
the head's own, the workers' own, and the rest of the tree by process name.
`processes_mentioning()` finds the processes of a Ray session, in the tree or not;
`thread_cpu()` tells where a process's CPU goes, by thread name.
"""

from __future__ import annotations

import contextlib
import os
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable

CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ProcSample:
    """One process's /proc/PID/stat: its parent, its CPU (user + sys, all threads), the CPU of
    its ended children it waited for (cutime + cstime, theirs included), its name."""

    ppid: int
    cpu_s: float
    reaped_s: float
    name: str


def proc_table() -> dict[int, ProcSample]:
    """Every process on the machine (one that ends while read is left out)."""
    table: dict[int, ProcSample] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="utf-8", errors="replace") as stat:
                text = stat.read()
        except OSError:
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text.rsplit(")", 1)[1].split()
        table[int(entry.name)] = ProcSample(
            int(fields[1]),
            (int(fields[11]) + int(fields[12])) / CLK_TCK,
            (int(fields[13]) + int(fields[14])) / CLK_TCK,
            name,
        )
    return table


def proc_tree(root: int, table: dict[int, ProcSample]) -> dict[int, ProcSample]:
    """`root` and its descendants (by parent pid chains) in `table`."""
    children: dict[int, list[int]] = defaultdict(list)
    for pid, sample in table.items():
        children[sample.ppid].append(pid)
    tree: dict[int, ProcSample] = {}
    todo = [root]
    while todo:
        pid = todo.pop()
        if pid in table and pid not in tree:
            tree[pid] = table[pid]
            todo.extend(children[pid])
    return tree


def tree_cpu(
    before: dict[int, ProcSample], after: dict[int, ProcSample], head: int, workers: set[int]
) -> dict[str, Any]:
    """CPU seconds of a process tree between two `proc_tree()` samples: the head's own, the
    `workers`' own, and the rest (every other descendant, new ones counted whole).

    A process that ended in between is in neither sample's own CPU: what its parent (in the
    tree) waited for comes back through the parent's cutime/cstime ("reaped"), minus what the
    ended ones had already used at the start; `ended` says how many there were (0: exact)."""
    own = {pid: s.cpu_s - (before[pid].cpu_s if pid in before else 0.0) for pid, s in after.items()}
    reaped = sum(
        s.reaped_s - (before[pid].reaped_s if pid in before else 0.0) for pid, s in after.items()
    )
    ended = [before[pid] for pid in before if pid not in after]
    ended_before = sum(s.cpu_s + s.reaped_s for s in ended)
    head_s = own.get(head, 0.0)
    workers_s = sum((own.get(pid, 0.0) for pid in workers), 0.0)
    rest_by_name: dict[str, float] = defaultdict(float)
    for pid, cpu_s in own.items():
        if pid != head and pid not in workers:
            rest_by_name[after[pid].name] += cpu_s
    rest_s = sum(rest_by_name.values()) + max(0.0, reaped - ended_before)
    return {
        "total_s": round(head_s + workers_s + rest_s, 3),
        "head_s": round(head_s, 3),
        "workers_s": round(workers_s, 3),
        "rest_s": round(rest_s, 3),
        "rest_by_name": {
            name: round(cpu_s, 3)
            for name, cpu_s in sorted(rest_by_name.items(), key=lambda x: -x[1])
            if cpu_s > 0
        },
        "processes": len(after),
        "started": sum(pid not in before for pid in after),
        "ended": len(ended),
        "reaped_s": round(reaped, 3),
        "workers_missing": sorted(workers - after.keys()),
    }


def processes_mentioning(text: str) -> set[int]:
    """The processes whose command line contains `text` (a check that a tree misses none: Ray's
    processes name their session dir)."""
    found: set[int] = set()
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/cmdline", "rb") as cmdline:
                    if text.encode() in cmdline.read():
                        found.add(int(entry.name))
            except OSError:
                continue
    return found


def thread_cpu(pids: Iterable[int]) -> dict[str, float]:
    """CPU seconds so far of these processes' threads, added up by thread name (Ray's C++
    threads have names; a Python thread shows as its process's name)."""
    by_name: dict[str, float] = defaultdict(float)
    for pid in pids:
        with contextlib.suppress(OSError):
            for task in os.scandir(f"/proc/{pid}/task"):
                with contextlib.suppress(OSError):
                    with open(f"{task.path}/stat", encoding="utf-8", errors="replace") as stat:
                        text = stat.read()
                    fields = text.rsplit(")", 1)[1].split()
                    name = text[text.index("(") + 1 : text.rindex(")")]
                    by_name[name] += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return by_name


def thread_cpu_between(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """`thread_cpu()` deltas, the busiest first (the ones that used none left out)."""
    delta = {name: after[name] - before.get(name, 0.0) for name in after}
    return {name: round(s, 3) for name, s in sorted(delta.items(), key=lambda x: -x[1]) if s > 0}


def context_switches(pids: Iterable[int]) -> int:
    """Context switches so far (voluntary and not) of every thread of these processes."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for task in os.scandir(f"/proc/{pid}/task"):
                with contextlib.suppress(OSError), open(f"{task.path}/status") as status:
                    total += sum(
                        int(line.split()[1]) for line in status if "ctxt_switches:" in line
                    )
    return total
