"""The API of the events that leave the shop: the feed (``GET /events``) and webhook endpoints.

Routes on the API blueprint, apart from ``views`` because they answer with the outbox's rows.
"""

from __future__ import annotations

import json
import re
from functools import partial

from flask import Response, current_app, request

from ..database import commit_unit_of_work
from ..errors import InvalidWebhookEndpoint
from ..extensions import db
from ..models import EventType
from ..outbox import WebhookEndpoint, feed, webhooks
from .answers import json_response
from .auth import require_scope
from .inputs import read_json, validate
from .models import READ, WEBHOOKS_WRITE
from .problems import ApiError, problem_item
from .schemas import (
    EventOut,
    EventPage,
    WebhookEndpointCreate,
    WebhookEndpointCreated,
    WebhookEndpointList,
    WebhookEndpointOut,
    utc,
)
from .views import bp

EVENT_ID = re.compile(r"evt_[0-9A-Z]{26}")
POINTERS = {
    "invalid_url": "/url",
    "invalid_event_type": "/event_types",
    "invalid_description": "/description",
}


# -- the feed --------------------------------------------------------------------------------


def _feed_args() -> tuple[str | None, str | None, int]:
    """``after``, ``type`` and ``limit`` from the query string, or a 400 problem."""
    after, event_type, limit = request.args.get("after"), request.args.get("type"), request.args.get("limit")
    if after is not None and not EVENT_ID.fullmatch(after):
        raise ApiError(400, "after must be an event id (evt_ and 26 characters).", code="invalid_parameter")
    if event_type is not None and event_type not in set(EventType):
        raise ApiError(400, f"type must be one of {', '.join(EventType)}.", code="invalid_parameter")
    if limit is not None and not (re.fullmatch(r"[0-9]{1,3}", limit) and 1 <= int(limit) <= feed.MAX_LIMIT):
        raise ApiError(
            400, f"limit must be a whole number from 1 to {feed.MAX_LIMIT}.", code="invalid_parameter"
        )
    return after, event_type, int(limit) if limit is not None else feed.DEFAULT_LIMIT


@bp.get("/events")
def list_events():
    """The events after ``after`` (from the oldest kept), in the order they committed."""
    require_scope(READ)
    after, event_type, limit = _feed_args()
    commit_unit_of_work(partial(feed.sequence, db.session), actor="api")  # events committed just now join
    try:
        page = feed.read(db.session, after=after, event_type=event_type, limit=limit)
    except feed.UnknownEvent:
        raise ApiError(
            404,
            f"There is no event {after} in the feed (events are kept "
            f"{current_app.config['SHOP_EVENTS_RETENTION_DAYS']} days): read it again from the start.",
            code="unknown_event",
        ) from None
    events = [
        EventOut(id=row.id, type=row.type, timestamp=utc(row.created_at), data=json.loads(row.payload))
        for row in page.events
    ]
    return json_response(EventPage(data=events, has_more=page.has_more))


# -- webhook endpoints -----------------------------------------------------------------------


def endpoint_out(endpoint: WebhookEndpoint) -> WebhookEndpointOut:
    return WebhookEndpointOut(
        id=endpoint.id,
        url=endpoint.url,
        description=endpoint.description,
        event_types=endpoint.types,
        enabled=endpoint.enabled,
        disabled_reason=endpoint.disabled_reason,
        created_at=utc(endpoint.created_at),
    )


@bp.get("/webhook-endpoints")
def list_webhook_endpoints():
    require_scope(WEBHOOKS_WRITE)
    endpoints = [endpoint_out(e) for e in webhooks.list_endpoints(db.session)]
    return json_response(WebhookEndpointList(data=endpoints))


@bp.post("/webhook-endpoints")
def create_webhook_endpoint():
    """A new endpoint, answered with its secret: the only time the secret is shown."""
    caller = require_scope(WEBHOOKS_WRITE)
    body = validate(WebhookEndpointCreate, read_json())
    allow_private = current_app.config["SHOP_WEBHOOKS_ALLOW_PRIVATE"]

    def work() -> WebhookEndpointCreated:
        endpoint, secret = webhooks.add_endpoint(
            db.session, body.url, body.event_types, body.description, allow_private=allow_private
        )
        db.session.flush()
        return WebhookEndpointCreated(**endpoint_out(endpoint).model_dump(), secret=secret)

    try:
        created = commit_unit_of_work(work, actor=caller.actor)
    except InvalidWebhookEndpoint as exc:
        raise ApiError(
            422,
            f"The endpoint was not saved: {' '.join(p.message for p in exc.problems)}",
            code="invalid_webhook_endpoint",
            problems=[problem_item(p, POINTERS.get(p.code)) for p in exc.problems],
        ) from None
    return json_response(created, 201)


@bp.delete("/webhook-endpoints/<int:endpoint_id>")
def delete_webhook_endpoint(endpoint_id: int):
    """Remove an endpoint and its deliveries."""
    caller = require_scope(WEBHOOKS_WRITE)

    def work() -> bool:
        endpoint = webhooks.find_endpoint(db.session, endpoint_id)
        if endpoint is not None:
            db.session.delete(endpoint)
        return endpoint is not None

    if not commit_unit_of_work(work, actor=caller.actor):
        raise ApiError(404, f"There is no webhook endpoint {endpoint_id}.", code="webhook_endpoint_not_found")
    gone = Response(status=204)
    del gone.headers["Content-Type"]  # no body, so no type
    return gone
