"""Seeded order payloads for the merchant side: Create Order and Manhattan Request Driver (pure).

Embedded mode creates its orders through the sandbox's merchant API with these payloads, so the
orders travel the documented way (Create Order -> Delivery Created webhook -> the fleet).
Pickups are at the road network's depots; dropoffs at customers' doors: a random point on the
roads moved off them as buildings stand (`door_off_the_road`: most doors within 40 m of the
street, some behind a courtyard, a few deep in a campus or a park), so drivers park and walk.
With recorded routes (`sim.routebook`), the orders take them in turn instead: pickup at a route's
first point, dropoff at its last, all of them Create Orders (a Manhattan request carries
addresses, which the sandbox geocodes, and no coordinates).
"""

from __future__ import annotations

import datetime
import random
from collections.abc import Sequence

from driver_agent.fleetapi.wire import OrderRequest
from driver_agent.geo.geometry import destination
from driver_agent.geo.roads import Depot, RoadNetwork
from driver_agent.sim.routebook import RecordedRoute

STREETS = (
    "Mannerheimintie", "Aleksanterinkatu", "Esplanadi", "Bulevardi", "Fredrikinkatu",
    "Annankatu", "Lönnrotinkatu", "Kalevankatu", "Yrjönkatu", "Eerikinkatu", "Kasarmikatu",
    "Unioninkatu", "Pohjoisesplanadi", "Erottajankatu", "Iso Roobertinkatu",
)  # fmt: skip
FIRST = ("Aino", "Eero", "Helmi", "Juha", "Kaisa", "Lauri", "Maija", "Olli", "Saara", "Ville")
LAST = ("Virtanen", "Korhonen", "Mäkinen", "Nieminen", "Hämäläinen", "Laine", "Koskinen")


def order_id_prefix(seed: int, run_id: str) -> str:
    """`da-<seed>-<run id>`: the external ids of one run's orders start with it, so a second run
    against the same Bringg (or sandbox) creates new orders instead of "exists already"."""
    return f"da-{seed}-{run_id}" if run_id else f"da-{seed}"


def plan_orders(
    network: RoadNetwork,
    count: int,
    rng: random.Random,
    *,
    manhattan_share: float,
    now_s: float,
    id_prefix: str = "da",
    routes: Sequence[RecordedRoute] = (),
) -> list[OrderRequest]:
    """`count` orders: pickups at the depots, dropoffs on the roads, windows in the next hours;
    with `routes`, order i goes from the first to the last point of route i modulo their count.

    External ids are `<id_prefix>-00001`...; the prefix changes nothing else (the same `rng`
    gives the same orders)."""
    depots = network.depots
    requests: list[OrderRequest] = []
    for i in range(count):
        if routes:
            route = routes[i % len(routes)]
            depot = Depot(route.name, *route.pickup)
            lat, lng = route.dropoff
        else:
            depot = depots[rng.randrange(len(depots))]
            lat, lng = door_off_the_road(*network.random_point(rng), rng)
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        address = f"{rng.choice(STREETS)} {rng.randint(1, 60)}, Helsinki"
        phone = f"+3584{rng.randint(10_000_000, 99_999_999)}"
        external_id = f"{id_prefix}-{i + 1:05d}"
        if not routes and rng.random() < manhattan_share:
            body = _manhattan(external_id, depot, address, name, phone, rng)
            requests.append(OrderRequest("manhattan", external_id, body))
        else:
            body = _create_task(external_id, depot, lat, lng, address, name, phone, rng, now_s)
            requests.append(OrderRequest("create_task", external_id, body))
    return requests


def door_off_the_road(lat: float, lng: float, rng: random.Random) -> tuple[float, float]:
    """A customer's door near the road point (lat, lng): 5-40 m away for 70 % of them, 40-150 m
    for 25 % (a courtyard, a block of flats), 150-400 m for 5 % (a campus, an allotment)."""
    draw = rng.random()
    if draw < 0.70:
        distance_m = rng.uniform(5.0, 40.0)
    elif draw < 0.95:
        distance_m = rng.uniform(40.0, 150.0)
    else:
        distance_m = rng.uniform(150.0, 400.0)
    door_lat, door_lng = destination(lat, lng, rng.uniform(0.0, 360.0), distance_m)
    return round(door_lat, 7), round(door_lng, 7)


def _iso(t_s: float) -> str:
    moment = datetime.datetime.fromtimestamp(t_s, tz=datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _create_task(
    external_id: str,
    depot: Depot,
    lat: float,
    lng: float,
    address: str,
    name: str,
    phone: str,
    rng: random.Random,
    now_s: float,
) -> dict[str, object]:
    """A seed-001 style Create Order with a pickup at the depot and a customer dropoff."""
    window_start = now_s + rng.uniform(0, 1800)
    return {
        "external_id": external_id,
        "title": f"Order {external_id}",
        "customer": {"name": name, "phone": phone, "address": address},
        "way_points": [
            {
                "address": depot.name,
                "lat": depot.lat,
                "lng": depot.lng,
                "customer": {"name": depot.name, "address": depot.name},
            },
            {
                "address": address,
                "lat": lat,
                "lng": lng,
                "customer": {"name": name, "phone": phone, "address": address},
                "no_earlier_than": _iso(window_start),
                "no_later_than": _iso(window_start + 4 * 3600),
                "inventory": [
                    {
                        "name": rng.choice(("Groceries", "Parcel", "Flowers", "Pharmacy")),
                        "quantity": rng.randint(1, 4),
                        "price": rng.randint(5, 80),
                    }
                ],
                "note": "Leave at the door if nobody answers",
            },
        ],
    }


def _manhattan(
    external_id: str, depot: Depot, address: str, name: str, phone: str, rng: random.Random
) -> dict[str, object]:
    """A seed-003 Manhattan Request Driver; the sandbox geocodes its addresses."""
    street, _, city = address.partition(", ")
    return {
        "shipRequest": {
            "provider": "BRINGG",
            "carrierCode": "BRINGG",
            "shipment": {
                "orderId": external_id,
                "fulfillmentId": external_id,
                "description": f"Manhattan order {external_id}",
                "serviceLevel": "SAME_DAY",
                "currencyCode": "EUR",
                "shipper": {
                    "contact": {"personName": depot.name, "phoneNumber": "+358912345678"},
                    "address": {"streetLines": [depot.name], "city": "Helsinki"},
                },
                "recipient": {
                    "contact": {"personName": name, "phoneNumber": phone},
                    "address": {"streetLines": [street], "city": city, "postalCode": "00100"},
                },
                "packages": [
                    {
                        "contentDescription": "Parcel",
                        "weight": {"value": rng.randint(1, 12), "weightUnits": "KG"},
                    }
                ],
            },
        }
    }
