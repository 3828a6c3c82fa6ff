"""A distributed run's workers as report.json, the terminal summary and report.html show them
(pure): one row per worker, beside the merged figures of the whole run."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from driver_agent.report.fmt import fmt_num
from driver_agent.report.run import WorkerRow


def workers_dicts(rows: Sequence[WorkerRow]) -> list[dict[str, Any]]:
    """report.json's `workers`: one object per worker."""
    return [
        {
            "index": row.index,
            "node": row.node,
            "pid": row.pid,
            "state": row.state,
            "cause": row.cause,
            "drivers": row.drivers,
            "orders": dict(sorted(row.outcomes.items())),
            "orders_interrupted": row.interrupted,
            "requests": row.requests,
            "errors": row.errors,
            "pings": row.pings,
            "gaps_over_limit": row.gaps_over_limit,
            "ping_lateness_p99_ms": row.lateness_p99_ms,
            "cpu_s": row.cpu_s,
            "cpu_ms_per_10k_pings": row.cpu_ms_per_10k_pings,
        }
        for row in rows
    ]


def worker_lines(rows: Sequence[WorkerRow]) -> list[str]:
    """The summary's lines: one per worker."""
    lines = []
    for row in rows:
        done = row.outcomes.get("completed", 0)
        ended = sum(row.outcomes.values())
        state = row.state if not row.cause else f"{row.state}: {row.cause}"
        lines.append(
            f"worker {row.index} ({row.node} pid {row.pid}) {state}; drivers {row.drivers:,}, "
            f"orders {done}/{ended} done"
            + (f", {row.interrupted} interrupted" if row.interrupted else "")
            + f"; requests {row.requests:,}, errors {row.errors:,}; pings {row.pings:,}, "
            f"lateness p99 {fmt_num(row.lateness_p99_ms)} ms; CPU {fmt_num(row.cpu_s)} s "
            f"({fmt_num(row.cpu_ms_per_10k_pings)} ms per 10k pings)"
        )
    return lines


def workers_table(rows: Sequence[WorkerRow]) -> str:
    """report.html's workers section ('' for a single-process run)."""
    if not rows:
        return ""
    body = []
    for row in rows:
        done = row.outcomes.get("completed", 0)
        ended = sum(row.outcomes.values())
        bad = ' class="bad"' if row.state == "died" else ""
        cause = f"<br><small>{html.escape(row.cause)}</small>" if row.cause else ""
        body.append(
            f"<tr><td>{row.index}</td><td>{html.escape(row.node)} · {row.pid}</td>"
            f"<td{bad}>{html.escape(row.state)}{cause}</td>"
            f'<td class="num">{row.drivers:,}</td>'
            f'<td class="num">{done:,} / {ended:,}</td>'
            f'<td class="num">{row.interrupted:,}</td>'
            f'<td class="num">{row.requests:,}</td><td class="num">{row.errors:,}</td>'
            f'<td class="num">{row.pings:,}</td><td class="num">{row.gaps_over_limit:,}</td>'
            f'<td class="num">{fmt_num(row.lateness_p99_ms)}</td>'
            f'<td class="num">{fmt_num(row.cpu_s)}</td>'
            f'<td class="num">{fmt_num(row.cpu_ms_per_10k_pings)}</td></tr>'
        )
    return (
        '<section id="workers"><h2>Workers</h2>'
        '<p class="muted small">The run was split across Ray workers; every figure above is '
        "the whole run's, merged exactly (histograms add bucket by bucket).</p>"
        "<table><thead><tr><th>worker</th><th>node · pid</th><th>state</th>"
        '<th class="num">drivers</th><th class="num">orders done / ended</th>'
        '<th class="num">interrupted</th><th class="num">requests</th>'
        '<th class="num">errors</th><th class="num">pings</th>'
        '<th class="num">gaps &gt; 30 s</th><th class="num">lateness p99 ms</th>'
        '<th class="num">CPU s</th><th class="num">CPU ms per 10k pings</th></tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></section>"
    )
