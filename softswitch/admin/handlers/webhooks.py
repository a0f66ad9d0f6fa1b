"""/v1/webhooks/deliveries: the call-event webhooks the switch sends and their state
(services.webhooks, in memory: the latest ones, newest first; docs/webhooks.md)."""

from softswitch.admin.errors import not_found
from softswitch.admin.handlers.common import page
from softswitch.admin.router import Route
from softswitch.admin.schemas.common import IdListQuery, Page
from softswitch.admin.schemas.webhooks import DeliveryOut


def list_deliveries(ctx, call):
    query = call.query
    rows = ctx.webhooks.deliveries()  # newest first
    if query.after is not None:
        rows = [row for row in rows if row["id"] < query.after]
    return page(rows[:query.limit + 1], query.limit, lambda row: row["id"], lambda row: row)


def get_delivery(ctx, call):
    delivery_id = call.params["id"]  # (the router checked it: a positive integer)
    found = ctx.webhooks.delivery(delivery_id)
    if found is None:
        raise not_found("webhook delivery", str(delivery_id))
    return found


def routes() -> list[Route]:
    tag = "webhooks"
    return [
        Route("GET", "/v1/webhooks/deliveries", list_deliveries, query_model=IdListQuery,
              response_model=Page[DeliveryOut],
              summary="List the latest webhook deliveries, newest first", tag=tag),
        Route("GET", "/v1/webhooks/deliveries/{id}", get_delivery, response_model=DeliveryOut,
              summary="Get a webhook delivery", tag=tag),
    ]
