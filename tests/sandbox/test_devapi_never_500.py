"""Every developer-API service answers mutated and edge-value bodies with 200, 400 or 404 and a
body in its own vocabulary (`success`, and a `message` when false), never a 5xx; over loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from json_mutations import every_edge_mutation, mutated

from driver_agent.sandbox import SandboxSettings, serve_sandbox_in_thread
from driver_agent.sandbox.devapi_routes import GET_SERVICES, SERVICE_NAMES

START_S = 1_767_225_600.0
ALLOWED = {200, 400, 404}
PROPERTY = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
SWEEP_EDGES: list[Any] = [0, -1, 2**63, 1e308, -0.0, "", " 12 ", "²", "nan", "2024-13-45",
                          "1714564800", True, None, [], {}, "a" * 300, [1]]  # fmt: skip


class Services:
    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url)
        self.urls: dict[str, str] = self.http.get("/_sandbox/services").json()["services"]
        self.ids: dict[str, int] = {}

    def send(self, name: str, body: Any, method: str = "POST") -> httpx.Response:
        reply = self.http.request(method, self.urls[name], json=body)
        assert reply.status_code in ALLOWED, (name, body, reply.status_code, reply.text[:300])
        data = reply.json()
        if isinstance(data, dict):
            assert isinstance(data.get("success"), bool), (name, data)
            if data["success"] is False:
                assert isinstance(data.get("message"), str), (name, data)
                assert data["message"], (name, data)
        else:
            assert name == "open_orders"
            assert isinstance(data, list)
        return reply

    def setup(self) -> None:
        """A driver on shift, another user, an order assigned and started, a note, a block."""
        user = self.send("create_user", {"name": "Dave", "team_ids": [7]}).json()["user"]["id"]
        other = self.send("create_user", {"name": "Tom"}).json()["user"]["id"]
        self.send("start_shift", {"user_id": user})
        body = {"title": "T", "customer": {"name": "C", "address": "A"}, "teams": [7],
                "way_points": [{"address": "P"}, {"address": "D"}], "user_id": user}  # fmt: skip
        task = self.send("create_order", body).json()["task"]["id"]
        self.send("start_order", {"id": task})
        note = self.send("create_note", {"task_id": task, "note": "n"}).json()["task"]["id"]
        block = self.send(
            "create_delivery_block",
            {"team_id": 7, "original_capacity": 5, "start_time": "2026-01-01 00:00:00",
             "end_time": "2026-01-01 08:00:00", "user_ids": [user]},
        ).json()["delivery_block"]["id"]  # fmt: skip
        self.ids = {"user": user, "other": other, "task": task, "note": note, "block": block}

    def seeds(self) -> dict[str, dict[str, Any]]:
        i = self.ids
        order = {"title": "Generic Title", "external_id": "ABC15D", "scheduled_at":
                 "2026-01-02T12:00:00-5", "customer": {"name": "Mr. Customer", "address":
                 "1900 Wall st"}, "teams": [7], "user_id": i["user"], "way_points": [
                 {"address": "4196 Water St.", "customer": {"name": "restaurant"}},
                 {"address": "416 Water St.", "note": "Knock", "inventory": [{"name": "temp",
                  "price": 10.4, "original_quantity": 5}]}]}  # fmt: skip
        block = {"team_id": 7, "name": "Morning", "description": "d", "original_capacity": 10,
                 "start_time": "2026-01-02 08:00:00", "end_time": "2026-01-02 13:00:00",
                 "user_ids": [i["user"]]}  # fmt: skip
        return {
            "create_order": order,
            "create_user": {
                "company_id": 1,
                "team_ids": [7],
                "name": "U",
                "email": "e@x.y",
                "password": "p",
                "external_id": "1",
                "driver": True,
                "home_lat": 60.1,
                "home_lng": 24.9,
            },
            "start_shift": {"user_id": i["other"]},
            "end_shift": {"user_id": i["other"]},
            "driver_home_event": {"id": i["user"], "at_home": False},
            "open_orders": {},
            "get_order": {"id": i["task"]},
            "update_order": {
                "id": i["task"],
                "delivery_price": "250",
                "title": "Daily",
                "user_id": str(i["user"]),
                "team_ids": [7],
                "note": "dock 3",
                "status": 2,
            },
            "start_order": {"id": i["task"], "user_id": i["user"]},
            "checkin": {"id": i["task"], "lat": 60.1, "lng": 24.9},
            "create_note": {
                "task_id": i["task"],
                "note": "Google",
                "type": "HtmlTaskNote",
                "url": "https://www.google.com",
                "user_id": i["user"],
            },
            "update_note": {"id": i["note"], "note": "Changed", "url": "https://b.example"},
            "checkout": {"id": i["task"]},
            "end_order": {"id": i["task"]},
            "cancel_order": {"id": i["task"], "reason_id": 163, "reason": "Other"},
            "get_shifts_schedule": {},
            "driver_availability": {"team_ids": [7, 8]},
            "create_delivery_block": block,
            "get_delivery_block": {"id": i["block"]},
            "update_delivery_block": {**block, "id": i["block"], "recurring": "all"},
            "delete_delivery_block": {"id": i["block"] + 1},
            "assign_delivery_block": {"delivery_block_id": i["block"], "user_id": i["other"]},
            "unassign_delivery_block": {"delivery_block_id": i["block"], "user_id": i["other"]},
            "delivery_blocks_by_driver": {
                "user_ids": [i["user"]],
                "start_time": 1767225600,
                "end_time": 1767312000,
            },
            "delivery_blocks_by_team": {
                "team_id": 7,
                "start_time": "1767225600",
                "end_time": "1767312000",
            },
        }


@pytest.fixture(scope="module")
def services() -> Iterator[Services]:
    settings_ = SandboxSettings(start_s=START_S, webhook_retry_delay_s=0)
    with serve_sandbox_in_thread(settings_) as url:
        client = Services(url)
        client.setup()
        yield client
        client.http.close()


def test_every_seed_body_is_answered_in_the_services_own_words(services: Services) -> None:
    seeds = services.seeds()
    assert set(seeds) == set(SERVICE_NAMES)
    for name, body in seeds.items():
        services.send(name, body)
        if name in GET_SERVICES:
            services.send(name, body, "GET")


@PROPERTY
@given(data=st.data())
def test_mutated_bodies_never_get_a_5xx(services: Services, data: st.DataObject) -> None:
    seeds = services.seeds()
    name = data.draw(st.sampled_from(SERVICE_NAMES))
    body = data.draw(mutated([seeds[name]], changes=4, rewrap=True))
    method = data.draw(st.sampled_from(["GET", "POST"])) if name in GET_SERVICES else "POST"
    if isinstance(body, dict) or method == "POST":
        reply = services.http.request(method, services.urls[name], json=body)
        assert reply.status_code in ALLOWED, (name, body, reply.status_code, reply.text[:300])
        if not isinstance(body, dict):
            assert reply.json() == {"success": False, "message": "the JSON body must be an object"}
        else:
            services.send(name, body, method)
    if method == "GET" and isinstance(body, dict):  # the same fields as query parameters
        params = {k: v if isinstance(v, str) else json.dumps(v) for k, v in body.items()}
        reply = services.http.get(services.urls[name], params=params)
        assert reply.status_code in ALLOWED, (name, params, reply.status_code, reply.text[:300])


def test_every_field_at_each_edge_value_gets_200_400_or_404(services: Services) -> None:
    sent = 0
    for name, seed in services.seeds().items():
        for doc in every_edge_mutation(seed, SWEEP_EDGES):
            services.send(name, doc)
            sent += 1
    assert sent > 1500
