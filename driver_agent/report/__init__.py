"""What the user sees of a run: report.json and the summary, report.html, the live views.

Pure: `run` (the typed run report and its summary figures), `document` (report.json, and
report.html's entry), `summary` (the terminal table), `page` (report.html) with `chart` and
`fmt`, and `recorder` (what the report's map draws). Edges that watch a running fleet: `progress`
(the live status line, or periodic log lines) and `livemap` (a page polling the drivers'
positions).
`assets/` holds the HTML, CSS and Leaflet inlined into the pages.
"""

from __future__ import annotations
