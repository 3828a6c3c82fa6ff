"""The Manhattan Active Omni "Request Driver" flow of seed 003: create, get, cancel (pure).

Paths live under `/partner-integrations-service/v1/integrations/manhattan/orders`. Answers use the
`severityType` / `notifications` / `completedShipments` shapes of the seed; the shipment id is the
Bringg task id, and the order's external id is the fulfillment id.
"""

from __future__ import annotations

from driver_agent.sandbox.fleet import cancel_order
from driver_agent.sandbox.merchant_orders import _Draft, cancelled_job, new_order, store_order
from driver_agent.sandbox.records import Order
from driver_agent.sandbox.world import JsonDict, Reply, Violation, World

MANHATTAN_ORDERS = "/partner-integrations-service/v1/integrations/manhattan/orders"
CARRIER_NAME = "Sandbox Fleet"


def _notification(severity: str, message: str | None) -> JsonDict:
    return {"code": "0000", "message": message, "severity": severity, "source": "Bringg"}


def manhattan_error(status: int, message: str, *, shipments: object = ()) -> Violation:
    body: JsonDict = {
        "severityType": "ERROR",
        "notifications": [_notification("ERROR", message)],
        "provider": None,
        "completedShipments": [] if shipments == () else shipments,
    }
    return Violation(status, message, body=body)


def _address(party: object, where: str) -> tuple[str, JsonDict]:
    if not isinstance(party, dict) or not isinstance(party.get("address"), dict):
        raise manhattan_error(400, f"{where}.address is required")
    address: JsonDict = party["address"]
    lines = address.get("streetLines") or []
    if not isinstance(lines, list) or not all(isinstance(x, str) for x in lines):
        raise manhattan_error(400, f"{where}.address.streetLines must be a list of strings")
    parts = [*lines, address.get("city"), address.get("stateOrProvinceCode")]
    text = ", ".join(str(p) for p in parts if p)
    if address.get("postalCode"):
        text = f"{text} {address['postalCode']}"
    if not text:
        raise manhattan_error(400, f"{where}.address.streetLines is required")
    contact = party.get("contact") if isinstance(party.get("contact"), dict) else {}
    customer: JsonDict = {
        "name": contact.get("personName"),  # type: ignore[union-attr]
        "phone": contact.get("phoneNumber"),  # type: ignore[union-attr]
        "email": contact.get("email"),  # type: ignore[union-attr]
        "address": text,
    }
    extra = {"city": address.get("city"), "zipcode": address.get("postalCode")}
    return text, {"customer": customer, **extra, "address": text}


def _weight(packages: list[JsonDict]) -> JsonDict:
    total, unit = 0.0, "KG"
    for package in packages:
        weight = package.get("weight")
        if isinstance(weight, dict) and isinstance(weight.get("value"), int | float):
            total += float(weight["value"])
            unit = str(weight.get("weightUnits") or unit)
    return {"value": int(total) if total.is_integer() else total, "weightUnits": unit}


def _shipment(order: Order) -> JsonDict:
    partner = order.partner
    packages: list[JsonDict] = partner.get("packages") or []  # type: ignore[assignment]
    weight = _weight(packages)
    charge = {
        "accessorialCharge": None,
        "baseCharge": None,
        "otherCharge": None,
        "totalCharge": {"amount": 90, "currency": partner.get("currencyCode") or "USD"},
    }
    ship_date = partner.get("shipDate")
    return {
        "serviceType": None,
        "serviceTypeName": None,
        "shipmentId": str(order.id),
        "commitmentLevel": None,
        "shipDate": ship_date.rstrip("Z") if isinstance(ship_date, str) else None,
        "documents": [
            {
                "documentType": "LABEL",
                "formatType": "ZPLII",
                "documentId": str(order.id),
                "image": None,
                "image_url": None,
            }
        ],
        "carrierName": CARRIER_NAME,
        "carrierCode": partner.get("carrierCode"),
        "billingWeight": weight,
        "completedPackages": [
            {
                "packageType": "CUSTOM_PACKAGE",
                "shipperReference": None,
                "estimatedDeliveryDate": None,
                "billingWeight": weight,
                "trackingNumber": str(order.id),
                "shippingCharge": charge,
                "shipToHoldState": None,
                "codtrackingNumber": None,
                "packageId": str(i + 1),
            }
            for i in range(max(len(packages), 1))
        ],
        "shippingCharge": charge,
        "status": order.status.name.lower(),
    }


def _success(order: Order) -> Reply:
    return Reply(
        200,
        {
            "severityType": "SUCCESS",
            "notifications": [_notification("SUCCESS", None)],
            "provider": order.partner.get("provider"),
            "completedShipments": [_shipment(order)],
        },
    )


def manhattan_create(world: World, body: JsonDict, now_s: float) -> Reply:
    request = body.get("shipRequest")
    if not isinstance(request, dict):
        raise manhattan_error(400, "shipRequest is required")
    shipment = request.get("shipment")
    if not isinstance(shipment, dict):
        raise manhattan_error(400, "shipRequest.shipment is required")
    _, pickup = _address(shipment.get("shipper"), "shipRequest.shipment.shipper")
    _, dropoff = _address(shipment.get("recipient"), "shipRequest.shipment.recipient")
    if shipment.get("shipDate") is not None:
        pickup["scheduled_at"] = shipment["shipDate"]
    if shipment.get("deliveryDate") is not None:
        dropoff["scheduled_at"] = shipment["deliveryDate"]
    packages = shipment.get("packages") or []
    if not isinstance(packages, list):
        raise manhattan_error(400, "shipRequest.shipment.packages must be an array")
    fields: JsonDict = {
        "external_id": shipment.get("fulfillmentId") or shipment.get("orderId"),
        "title": shipment.get("description") or f"Manhattan order {shipment.get('orderId')}",
    }
    draft = _Draft(world)
    try:
        order = new_order(world, draft, [pickup, dropoff], fields, now_s)
    except Violation as e:
        raise manhattan_error(400, e.message) from None
    order.source = "manhattan"
    order.partner = {
        "provider": request.get("provider"),
        "carrierCode": request.get("carrierCode"),
        "orderId": shipment.get("orderId"),
        "serviceLevel": shipment.get("serviceLevel"),
        "currencyCode": shipment.get("currencyCode"),
        "shipDate": shipment.get("shipDate"),
        "packages": packages,
    }
    order.packages = [
        {"id": i + 1, "name": p.get("contentDescription"), "extras": p}
        for i, p in enumerate(packages)
        if isinstance(p, dict)
    ]
    store_order(world, draft, order)
    return _success(order)


def find_order(world: World, order_id: str) -> Order | None:
    order_id = order_id.lstrip(":")
    if order_id.isdigit() and int(order_id) in world.orders:
        return world.orders[int(order_id)]
    task_id = world.by_external_id.get(order_id)
    return None if task_id is None else world.orders[task_id]


def manhattan_get(world: World, order_id: str) -> Reply:
    order = find_order(world, order_id)
    if order is None:
        raise manhattan_error(404, "general error")
    return _success(order)


def _cancel_candidates(body: JsonDict) -> list[str]:
    found: list[object] = [body.get(k) for k in ("orderId", "id", "task_id", "shipmentId")]
    for key in ("CurrentObject", "ChangeSet"):
        part = body.get(key)
        if isinstance(part, dict):
            found += [part.get("FulfillmentId"), part.get("OrderId")]
            for package in part.get("Packages") or []:
                if isinstance(package, dict):
                    found += [package.get("TaskId"), package.get("FulfillmentId")]
    return [str(x) for x in found if isinstance(x, str | int) and not isinstance(x, bool)]


def manhattan_cancel(world: World, body: JsonDict, now_s: float) -> Reply:
    order = next(
        (o for c in _cancel_candidates(body) if (o := find_order(world, c)) is not None), None
    )
    if order is None:
        raise manhattan_error(404, "Failed to cancel the order", shipments=None)
    if order.finished:
        raise manhattan_error(400, "Failed to cancel the order", shipments=None)
    reason = None
    current = body.get("CurrentObject")
    if isinstance(current, dict) and isinstance(current.get("CancelReasonId"), dict):
        reason = current["CancelReasonId"].get("FulfillmentReasonId")
    cancel_order(order, world, now_s, by=4)
    order.cancel_reason = reason if isinstance(reason, str) else None
    world.outbox.append(cancelled_job(world, order, None, order.cancel_reason))
    return Reply(
        200,
        {
            "severityType": "SUCCESS",
            "notifications": [
                {
                    "severity": "SUCCESS",
                    "source": "Bringg",
                    "code": "0000",
                    "message": "Cancelled successfully",
                }
            ],
            "provider": None,
            "completedShipments": None,
        },
    )
