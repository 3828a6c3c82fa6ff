"""Where one driver is and what it does next, in simulated time (pure).

The glue between the lifecycle's `DriveTo` / `Dwell` / `AddNote` and the motion model: the leg
being driven (`Leg`, from the `Navigator`) and the distance covered, the true position and what
the phone reports (with correlated GPS noise), the dwell at a stop (longer when early for the
delivery window) and the notes sent during it. Its timers (`arrive_at`, `dwell_until`, `notes`)
are simulated epoch seconds, `inf` when not set; the driver sleeps until the earliest and fires
it. Nothing here waits or calls the API.

Both draw streams (`draws.Draws`, ~100 bytes each) are built on first use (an idle driver never
draws): legs and notes draw from `{seed}:{driver_id}`, the GPS error from `{seed}:{driver_id}:gps`.
"""

from __future__ import annotations

import math

from driver_agent.core.config import DriverConfig
from driver_agent.core.model import NoteKind, Order, Stop, StopKind
from driver_agent.sim.draws import Draws
from driver_agent.sim.gpsnoise import GpsNoise
from driver_agent.sim.lifecycle_messages import AddNote, PlannedNote
from driver_agent.sim.navigator import Navigator
from driver_agent.sim.stopplan import Leg

DEFAULT_DWELL_S = 60.0  # a dwell without a leg (never driven to the stop)
MAX_WINDOW_DWELL_S = 120.0  # once an early driver's window opens, at most this long


class Itinerary:
    """One driver's leg, position, dwell and notes; `lat`, `lng` is where it stands."""

    __slots__ = (
        "_config",
        "_driver_id",
        "_navigator",
        "_noise_made",
        "_rng_made",
        "_seed",
        "arrive_at",
        "distance_m",
        "dwell_kind",
        "dwell_until",
        "lat",
        "leg",
        "leg_started",
        "leg_target",
        "lng",
        "notes",
        "pending_notes",
        "van",
        "walked_s",
    )

    def __init__(
        self,
        driver_id: str,
        lat: float,
        lng: float,
        navigator: Navigator,
        config: DriverConfig,
        seed: int,
    ) -> None:
        self._driver_id = driver_id
        self._navigator = navigator
        self._config = config
        self._seed = seed
        self._rng_made: Draws | None = None
        self._noise_made: GpsNoise | None = None
        self.lat, self.lng = lat, lng
        self.leg: Leg | None = None
        self.leg_started = 0.0
        self.leg_target: StopKind | None = None  # the stop the current leg leads to
        self.distance_m = 0.0  # driven for the current order
        self.walked_s = 0.0  # on foot for the current order (to and from the van)
        self.van: tuple[float, float] | None = None  # where the van stands while on foot
        self.arrive_at = math.inf
        self.dwell_until = math.inf
        self.dwell_kind = StopKind.PICKUP
        self.notes: list[tuple[float, AddNote]] = []  # (when, note) during the dwell
        self.pending_notes: list[AddNote] = []  # planned at check-in, timed when the dwell starts

    @property
    def rng(self) -> Draws:
        rng = self._rng_made
        if rng is None:
            rng = self._rng_made = Draws(f"{self._seed}:{self._driver_id}")
        return rng

    @property
    def _noise(self) -> GpsNoise:
        noise = self._noise_made
        if noise is None:
            rng = Draws(f"{self._seed}:{self._driver_id}:gps")
            noise = self._noise_made = self._navigator.noise(rng)
        return noise

    # ---- position ---------------------------------------------------------------------------

    def position(self, t: float) -> tuple[float, float]:
        """True position at simulated time t (on the leg, or parked)."""
        if self.leg is not None:
            return self.leg.lat_lng_at(t - self.leg_started)
        return self.lat, self.lng

    def reported(self, t: float) -> tuple[float, float]:
        """What the phone reports at t: the position plus correlated GPS noise."""
        lat, lng = self.position(t)
        return self._noise.fix(lat, lng, t)

    # ---- driving ----------------------------------------------------------------------------

    def close_leg(self, at: float) -> None:
        """Stand where the current leg has brought the driver by `at`; count what was driven."""
        if self.leg is not None:
            t = at - self.leg_started
            self.lat, self.lng = self.position(at)
            self.distance_m += self.leg.driven_m_at(t)
            self.walked_s += self.leg.walked_s_at(t)
            self.van = self.leg.van_at(t)
            self.leg = None
        self.arrive_at = math.inf

    def drive_to(self, stop: Stop, at: float) -> bool:
        """Start a leg to `stop` from where the driver is at `at`; True when it re-routes a
        leg that led to the same stop (Bringg then hears the new ETA)."""
        rerouted = self.leg is not None and self.leg_target is stop.kind
        self.close_leg(at)
        self.leg = self._navigator.leg(self.lat, self.lng, stop, self.rng, van_at=self.van)
        self.leg_started = at
        self.leg_target = stop.kind
        self.arrive_at = at + self.leg.arrive_s
        return rerouted

    def take_distance_m(self) -> float:
        """What was driven for the order that ends now; the next one counts from zero."""
        distance, self.distance_m = self.distance_m, 0.0
        return distance

    def take_walked_s(self) -> float:
        """Seconds on foot for the order that ends now; the next one counts from zero."""
        walked, self.walked_s = self.walked_s, 0.0
        return walked

    # ---- at a stop --------------------------------------------------------------------------

    def plan_notes(self, kind: StopKind) -> tuple[PlannedNote, ...]:
        """The notes / proof of delivery to send at this stop (drawn at check-in)."""
        config, rng = self._config, self.rng
        notes: list[PlannedNote] = []
        if rng.random() < config.note_text_ratio:
            text = "Picked up, sealed" if kind is StopKind.PICKUP else "Left with customer"
            notes.append(PlannedNote(NoteKind.TEXT, text))
        if rng.random() < config.note_photo_ratio:
            notes.append(PlannedNote(NoteKind.PHOTO))
        if kind is StopKind.DROPOFF and rng.random() < config.note_signature_ratio:
            notes.append(PlannedNote(NoteKind.SIGNATURE))
        return tuple(notes)

    def start_dwell(self, kind: StopKind, order: Order, at: float) -> None:
        """Stay at the stop (until its window opens, if early); time the planned notes."""
        dwell_s = self.leg.dwell_s if self.leg is not None else DEFAULT_DWELL_S
        end = at + dwell_s
        opens = order.stop(kind).no_earlier_than_ms
        if opens is not None and opens / 1000.0 > at:  # early: wait for the window to open
            end = max(end, opens / 1000.0 + min(dwell_s, MAX_WINDOW_DWELL_S))
        self.dwell_until = end
        self.dwell_kind = kind
        # proof of delivery is taken at the handover, in the second half of the dwell
        pending, self.pending_notes = self.pending_notes, []
        for i, command in enumerate(pending):
            self.notes.append((at + dwell_s * (0.5 + 0.4 * i / len(pending)), command))

    def stop_work(self) -> None:
        """No more dwell and no more notes for this order."""
        self.dwell_until = math.inf
        self.notes.clear()
        self.pending_notes.clear()
