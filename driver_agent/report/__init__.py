"""What the user sees of a run: report.json and the summary, report.html, the live views.

Pure: `document` (report.json, the summary table), `page` (report.html) with `chart`, and
`recorder` (what the report's map draws). Edges that watch a running fleet: `progress` (the live
status line, or periodic log lines) and `livemap` (a page polling the drivers' positions).
`assets/` holds the HTML, CSS and Leaflet inlined into the pages.
"""

from __future__ import annotations
