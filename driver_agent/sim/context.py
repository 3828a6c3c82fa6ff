"""What a fleet's drivers share, read-only: one client, one clock, one stats collector, the map.

Whoever builds the context builds its parts: the `FleetClient` comes with its own `on_retry`
(the run's stats), and the context is frozen, so no one writes into what every driver reads.
What a driver tells its fleet (an order ended) goes through the callback the fleet hands each
driver it spawns (`OrderEnded`), not through the context.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, cast

from driver_agent.core.clock import Clock
from driver_agent.core.config import DriverConfig
from driver_agent.core.model import Order
from driver_agent.fleetapi.client import FleetClient
from driver_agent.fleetapi.devapi import DevApiClient
from driver_agent.fleetapi.wire import Note
from driver_agent.metrics.stats import StatsCollector
from driver_agent.sim.navigator import Navigator
from driver_agent.sim.pacing import RatePacer

if TYPE_CHECKING:
    from driver_agent.sim.api_calls import ApiCommand, Fix, Request
    from driver_agent.sim.driver import Driver
    from driver_agent.sim.lifecycle_messages import AddNote


class Recorder(Protocol):
    """Receives what the report's map shows: positions and stop events."""

    def position(self, driver_id: str, lat: float, lng: float, t_ms: int) -> None: ...

    def event(
        self, kind: str, driver_id: str, task_id: int, lat: float, lng: float, t_ms: int
    ) -> None: ...


OrderEnded = Callable[["Driver", Order, str], None]
"""Told once per order when it has ended, with its outcome (after its calls went out)."""


class ApiProfile(Protocol):
    """Which API the drivers' commands go to, when not the fleet API (`own_fleet.py`)."""

    name: str
    sends_locations: bool

    def start_day(self, spec: DriverSpec, at: float) -> list[Request]: ...

    def shift_over(self, spec: DriverSpec, now: float) -> bool: ...

    def end_day(self, spec: DriverSpec) -> list[Request]: ...

    def request_for(
        self, command: ApiCommand, spec: DriverSpec, *, at: float, reported: Fix
    ) -> Request | None: ...

    def note_request(
        self, command: AddNote, spec: DriverSpec, proof: ProofAssets, *, at: float, reported: Fix
    ) -> Request: ...


@dataclass(frozen=True)
class ProofAssets:
    """Real small images sent as proof of delivery."""

    photo: Note
    signature: Note


@dataclass(frozen=True, slots=True)
class DriverContext:
    """What every driver of a fleet shares: one client, one clock, one stats collector.
    `profile`: None for the fleet API (the delivery provider's calls through `client`), else the
    profile whose calls the drivers make (`client` is then that profile's client)."""

    client: FleetClient | DevApiClient
    clock: Clock
    stats: StatsCollector
    navigator: Navigator
    config: DriverConfig
    proof: ProofAssets
    seed: int = 1
    run_started_real: float = 0.0
    recorder: Recorder | None = None
    pacer: RatePacer | None = None
    budget_reserve_ratio: float = 0.1
    profile: ApiProfile | None = None

    def fleet_client(self) -> FleetClient:
        """The fleet API's client: `client` when `profile` is None (only then is it called)."""
        return cast("FleetClient", self.client)


@dataclass(frozen=True, slots=True)
class DriverSpec:
    driver_id: str
    name: str
    lat: float
    lng: float
    phone: str | None = None
