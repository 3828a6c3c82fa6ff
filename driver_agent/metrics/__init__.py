"""What a run measured (pure): constant-memory histograms, statistics, thresholds.

`histogram` (and its summary) and `stats_snapshot` (msgspec structs, with their JSON form);
`stats` collects latencies, errors and ping-gap
compliance into a `statistics()` snapshot; `thresholds` decides pass or fail.
"""

from __future__ import annotations
