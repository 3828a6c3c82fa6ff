"""`python -m driver_agent` runs the command line."""

from __future__ import annotations

from driver_agent.cli import main

raise SystemExit(main())
