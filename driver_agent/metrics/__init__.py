"""What a run measured (pure): constant-memory histograms, statistics, thresholds.

`histogram` and `stats_snapshot` are values; `stats` collects latencies, errors and ping-gap
compliance into a `statistics()` snapshot; `thresholds` decides pass or fail.
"""

from __future__ import annotations
