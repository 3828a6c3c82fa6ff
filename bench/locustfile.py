"""Locust FastHttpUser posting the same location update as workload (a), for the peer figure.

Also usable on its own: `taskset -c 0 locust -f bench/locustfile.py --headless -u 500 -r 500
--run-time 20s --host http://127.0.0.1:PORT --csv out` (start `python -m bench.responder` first).
"""

from __future__ import annotations

from locust import constant, task
from locust.contrib.fasthttp import FastHttpUser

PAYLOAD = {"user_external_id": "d-17", "lat": 40.77, "lng": -73.97, "reported_time": 1595592696000}
PATH = "/open_fleet_services/update_driver_location"
HEADERS = {"Authorization": "Bearer bench-token"}


class LocationUser(FastHttpUser):
    """One simulated driver posting its location back to back (wait_time = constant(0))."""

    wait_time = constant(0)

    @task
    def update_driver_location(self) -> None:
        self.client.post(PATH, json=PAYLOAD, headers=HEADERS)
