"""The developer API client (seed 001): one typed call per service, for a customer's own drivers.

Each method builds the service's body (`devapi_bodies`), sends it with `DevApiSession.send`
(per-service URL, retries, statistics, reconciliation) and reads the answer (`devapi_views`).
A documented refusal (`"success": false` + `message`: `ActiveRecord::RecordNotFound`, "Can't
update a done order", "Driver already assigned to block"...) raises RejectedError carrying the
message; a malformed answer raises RejectedError naming the field. A `MOVE` reconciled after an
unknown outcome (its step was already taken) returns what the call would have returned when the
answer has no body to read: `None` for an order or a shift, `True` for the block calls.

`create_customer` is the partner API's signed call (`partner_signature`): it needs
`PartnerCredentials` (from `[own_fleet]`: `partner_url`, `company_id`, `access_token`,
`secret_key`) and posts to `<partner_url>/customers`.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict, TypeVar, Unpack

import httpx

from driver_agent.core.errors import RejectedError
from driver_agent.core.model import Secret
from driver_agent.fleetapi import devapi_bodies as b
from driver_agent.fleetapi import devapi_views as v
from driver_agent.fleetapi.devapi_services import CREATE_CUSTOMER, Service
from driver_agent.fleetapi.devapi_session import DevApiSession
from driver_agent.fleetapi.partner_signature import signed_body
from driver_agent.fleetapi.session import RECONCILED, OnResponse, OnRetry

if TYPE_CHECKING:
    from collections.abc import Callable

    from driver_agent.core.clock import Clock
    from driver_agent.core.config import ApiConfig, OwnFleetConfig

T = TypeVar("T")


class Step(TypedDict, total=False):
    """What a driver's step may add to the order `id` (`devapi_bodies.OrderStepBody`)."""

    user_id: int
    way_point_id: int
    lat: float
    lng: float


@dataclass(frozen=True, slots=True)
class PartnerCredentials:
    """The partner API's signing credentials; `secret_key` and `access_token` never shown."""

    url: str
    company_id: int
    access_token: Secret
    secret_key: Secret

    @classmethod
    def from_config(cls, own: OwnFleetConfig) -> PartnerCredentials | None:
        """The `[own_fleet]` partner settings, or None when they are not all set."""
        if not (own.partner_url and own.company_id and own.access_token and own.secret_key):
            return None
        return cls(own.partner_url, own.company_id, own.access_token, own.secret_key)


class DevApiClient(DevApiSession):
    """The documented services of one developer API account; safe for many tasks."""

    # -- users, shifts, home ------------------------------------------------------------------

    async def create_user(self, user: b.CreateUserBody) -> v.UserView:
        """Create User (a driver: `driver=True`). The answer's authentication token is dropped."""
        answer = await self._post(Service.CREATE_USER, user)
        return self._read(Service.CREATE_USER, lambda: v.one(answer, "user", v.UserView))

    async def start_shift(self, user_id: int) -> v.ShiftView | None:
        answer = await self._post(Service.START_SHIFT, b.UserIdBody(user_id=user_id))
        return self._maybe(Service.START_SHIFT, answer, "shift", v.ShiftView)

    async def end_shift(self, user_id: int) -> v.ShiftView | None:
        answer = await self._post(Service.END_SHIFT, b.UserIdBody(user_id=user_id))
        return self._maybe(Service.END_SHIFT, answer, "shift", v.ShiftView)

    async def driver_home_event(self, user_id: int, *, at_home: bool) -> str:
        """Driver Home Events: left home (`at_home=False`) or got home; the server's message."""
        answer = await self._post(
            Service.DRIVER_HOME_EVENT, b.HomeEventBody(id=user_id, at_home=at_home)
        )
        return v.message(answer)

    async def get_shifts_schedule(self) -> list[v.ShiftScheduleView]:
        answer = await self._get(Service.GET_SHIFTS_SCHEDULE, None)
        return self._read(
            Service.GET_SHIFTS_SCHEDULE,
            lambda: v.many(answer, "shift_schedules", v.ShiftScheduleView),
        )

    async def driver_availability(self, team_ids: Sequence[int]) -> list[v.DriverView]:
        answer = await self._get(Service.DRIVER_AVAILABILITY, b.TeamIdsQuery(team_ids=[*team_ids]))
        return self._read(
            Service.DRIVER_AVAILABILITY, lambda: v.many(answer, "drivers", v.DriverView)
        )

    # -- orders -----------------------------------------------------------------------------

    async def create_order(self, order: b.CreateOrderBody) -> v.OrderView:
        """Create Order (Task); with `user_id` the order is assigned to that driver."""
        answer = await self._post(Service.CREATE_ORDER, order)
        return self._read(Service.CREATE_ORDER, lambda: v.order(answer))

    async def open_orders(self) -> list[v.OrderView]:
        answer = await self._post(Service.OPEN_ORDERS, b.NoParamsBody())
        return self._read(Service.OPEN_ORDERS, lambda: v.many(answer, "items", v.OrderView))

    async def get_order(self, order_id: int) -> v.OrderView:
        answer = await self._post(Service.GET_ORDER, b.OrderIdBody(id=order_id))
        return self._read(Service.GET_ORDER, lambda: v.order(answer))

    async def update_order(self, update: b.UpdateOrderBody) -> v.OrderView:
        """Update Order; `user_id` assigns the order to that driver (and its absence unassigns)."""
        answer = await self._post(Service.UPDATE_ORDER, update)
        return self._read(Service.UPDATE_ORDER, lambda: v.order(answer))

    async def start_order(self, order_id: int, **step: Unpack[Step]) -> v.OrderView | None:
        """Start Order (only its driver, on an open shift)."""
        return await self._order_step(Service.START_ORDER, order_id, step)

    async def checkin(self, order_id: int, **step: Unpack[Step]) -> v.OrderView | None:
        """Arrived to Location: at the order's next way point."""
        return await self._order_step(Service.CHECKIN, order_id, step)

    async def checkout(self, order_id: int, **step: Unpack[Step]) -> v.OrderView | None:
        """Left Location: the way point the driver is at (the last one ends the order)."""
        return await self._order_step(Service.CHECKOUT, order_id, step)

    async def end_order(self, order_id: int, **step: Unpack[Step]) -> v.OrderView | None:
        return await self._order_step(Service.END_ORDER, order_id, step)

    async def cancel_order(
        self,
        order_id: int | None = None,
        *,
        external_id: str | None = None,
        reason_id: int | None = None,
        reason: str | None = None,
    ) -> v.OrderView | None:
        body = b.CancelOrderBody(
            id=order_id, external_id=external_id, reason_id=reason_id, reason=reason
        )
        answer = await self._post(Service.CANCEL_ORDER, body)
        return self._maybe(Service.CANCEL_ORDER, answer, "task", v.OrderView)

    async def create_note(self, note: b.CreateNoteBody) -> v.NoteView:
        """Create Note (TaskNote, TaskPhoto, Signature, Form, HtmlTaskNote...)."""
        answer = await self._post(Service.CREATE_NOTE, note)
        return self._read(Service.CREATE_NOTE, lambda: v.one(answer, "task", v.NoteView))

    async def update_note(
        self, note_id: int, *, note: str | None = None, url: str | None = None
    ) -> v.NoteView:
        answer = await self._post(
            Service.UPDATE_NOTE, b.UpdateNoteBody(id=note_id, note=note, url=url)
        )
        return self._read(Service.UPDATE_NOTE, lambda: v.one(answer, "task_note", v.NoteView))

    # -- delivery blocks --------------------------------------------------------------------

    async def create_delivery_block(self, block: b.CreateBlockBody) -> v.DeliveryBlockView:
        answer = await self._post(Service.CREATE_DELIVERY_BLOCK, block)
        return self._block(Service.CREATE_DELIVERY_BLOCK, answer)

    async def get_delivery_block(self, block_id: int) -> v.DeliveryBlockView:
        answer = await self._get(Service.GET_DELIVERY_BLOCK, b.BlockIdBody(id=block_id))
        return self._block(Service.GET_DELIVERY_BLOCK, answer)

    async def update_delivery_block(self, update: b.UpdateBlockBody) -> v.DeliveryBlockView:
        answer = await self._post(Service.UPDATE_DELIVERY_BLOCK, update)
        return self._block(Service.UPDATE_DELIVERY_BLOCK, answer)

    async def delete_delivery_block(self, block_id: int, *, recurring: str | None = None) -> bool:
        body = b.BlockIdBody(id=block_id, recurring=recurring)
        await self._post(Service.DELETE_DELIVERY_BLOCK, body)
        return True

    async def assign_delivery_block(self, block_id: int, user_id: int) -> bool:
        """Assign a Driver to a Delivery Block."""
        body = b.BlockUserBody(delivery_block_id=block_id, user_id=user_id)
        await self._post(Service.ASSIGN_DELIVERY_BLOCK, body)
        return True

    async def unassign_delivery_block(self, block_id: int, user_id: int) -> bool:
        body = b.BlockUserBody(delivery_block_id=block_id, user_id=user_id)
        await self._post(Service.UNASSIGN_DELIVERY_BLOCK, body)
        return True

    async def delivery_blocks_by_driver(
        self, user_ids: Sequence[int], *, start_time: int, end_time: int
    ) -> list[v.DeliveryBlockView]:
        """Drivers Delivery Blocks between two epoch seconds."""
        body = b.DriverBlocksBody(user_ids=[*user_ids], start_time=start_time, end_time=end_time)
        answer = await self._post(Service.DELIVERY_BLOCKS_BY_DRIVER, body)
        return self._blocks(Service.DELIVERY_BLOCKS_BY_DRIVER, answer)

    async def delivery_blocks_by_team(
        self, team_id: int, *, start_time: int, end_time: int
    ) -> list[v.DeliveryBlockView]:
        """Team Delivery Blocks between two epoch seconds."""
        body = b.TeamBlocksBody(team_id=team_id, start_time=start_time, end_time=end_time)
        answer = await self._post(Service.DELIVERY_BLOCKS_BY_TEAM, body)
        return self._blocks(Service.DELIVERY_BLOCKS_BY_TEAM, answer)

    # -- the partner API --------------------------------------------------------------------

    async def create_customer(
        self, partner: PartnerCredentials, customer: b.CreateCustomerFields
    ) -> v.CustomerView:
        """Create Customer, signed: `access_token`, `timestamp` (epoch ms), `company_id`, the
        customer's fields and `signature` (HMAC-SHA1 with the secret key)."""
        token, key = partner.access_token.reveal(), partner.secret_key.reveal()
        fields = {
            **self._body(CREATE_CUSTOMER, lambda: b.body(customer)),
            "access_token": token,  # in the body, as the seed signs it
            "company_id": partner.company_id,
            "timestamp": str(self._clock.now_ms()),
        }
        body = signed_body(fields, key)  # type: ignore[arg-type]
        url = httpx.URL(partner.url.rstrip("/") + "/customers")
        answer = await self.send_to(CREATE_CUSTOMER, url, None, body, secrets=(token, key))
        return self._read(CREATE_CUSTOMER, lambda: v.one(answer, "customer", v.CustomerView))

    # -- plumbing ---------------------------------------------------------------------------

    async def _post(self, service: Service, body: b.Body) -> dict[str, object]:
        return await self.send(service, self._body(service, lambda: b.body(body)))

    async def _get(self, service: Service, query: b.Body | None) -> dict[str, object]:
        params = [] if query is None else self._body(service, lambda: b.query(query))
        return await self.send(service, {}, params)

    async def _order_step(self, service: Service, order_id: int, step: Step) -> v.OrderView | None:
        answer = await self._post(service, b.OrderStepBody(id=order_id, **step))
        return self._maybe(service, answer, "task", v.OrderView)

    def _maybe(
        self, service: Service, answer: Mapping[str, object], key: str, type_: type[T]
    ) -> T | None:
        if answer is RECONCILED:
            return None
        return self._read(service, lambda: v.one(answer, key, type_))

    def _block(self, service: Service, answer: Mapping[str, object]) -> v.DeliveryBlockView:
        return self._read(service, lambda: v.one(answer, "delivery_block", v.DeliveryBlockView))

    def _blocks(self, service: Service, answer: Mapping[str, object]) -> list[v.DeliveryBlockView]:
        return self._read(service, lambda: v.many(answer, "delivery_blocks", v.DeliveryBlockView))

    @staticmethod
    def _body(service: str, build: Callable[[], T]) -> T:
        try:
            return build()
        except ValueError as exc:
            raise ValueError(f"{service}: {exc}") from None

    @staticmethod
    def _read(service: str, parse: Callable[[], T]) -> T:
        try:
            return parse()
        except ValueError as exc:
            raise RejectedError(service, 200, f"unreadable answer: {exc}") from None


@asynccontextmanager
async def open_devapi_client(
    urls: Mapping[str, str],
    api: ApiConfig,
    clock: Clock,
    *,
    rng: random.Random | None = None,
    on_response: OnResponse | None = None,
    on_retry: OnRetry | None = None,
) -> AsyncIterator[DevApiClient]:
    """A DevApiClient over its own HTTP pool, closed on the way out. `urls`: service name ->
    URL (`own_fleet.services` revealed, or `service_urls` of the sandbox's listing)."""
    client = DevApiClient(urls, api, clock, rng=rng, on_response=on_response, on_retry=on_retry)
    try:
        yield client
    finally:
        await client.aclose()


def configured_urls(own: OwnFleetConfig) -> dict[str, str]:
    """`own_fleet.services` revealed, for `open_devapi_client` (never log the result)."""
    return {name: url.reveal() for name, url in own.services.items()}
