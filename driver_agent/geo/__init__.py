"""Where things are: geometry in local metres, GPX and GeoJSON tracks, the road graph (pure).

`geometry` is the one place (lat, lng) meets (x, y); `gpx` and `tracks` read inputs, naming file
and line on error; `roads` routes over the bundled road graph; `roadclass` gives cruise speeds.
"""

from __future__ import annotations
