"""The OpenAPI 3.1 document of ``/api/v1``, served at ``/api/v1/openapi.json``.

Its bodies are the JSON Schemas of the pydantic models that validate requests and shape responses
(``shop.api.schemas``), rules on text and numbers included, so bodies and document cannot disagree.
Paths, parameters, status codes and scopes are written here by hand, and tests hold them to the code:
``tests/api/test_openapi.py`` compares the paths and methods with the routes, ``test_api_docs.py`` each
operation's scope with the one its view enforces, and Schemathesis (``test_fuzz_api.py``) every answer of
every operation, with every check it has, with what the document allows.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from .. import products, stock
from ..models import EventType
from ..outbox.feed import DEFAULT_LIMIT, MAX_LIMIT
from . import schemas
from .auth import TOKEN_PREFIX
from .contract import API_PREFIX as PREFIX
from .contract import DEFAULT_PER_PAGE, MAX_BODY_BYTES, MAX_PAGE, MAX_PER_PAGE
from .models import ORDERS_WRITE, READ, STOCK_WRITE, WEBHOOKS_WRITE

REF = "#/components/schemas/{model}"

REQUEST_MODELS: list[type[BaseModel]] = [
    schemas.OrderCreate,
    schemas.StatusChange,
    schemas.AdjustmentCreate,
    schemas.TransferCreate,
    schemas.ProductPut,
    schemas.PaymentNotification,
    schemas.WebhookEndpointCreate,
]
RESPONSE_MODELS: list[type[BaseModel]] = [
    schemas.OrderOut,
    schemas.ProductOut,
    schemas.ProductPage,
    schemas.MovementPage,
    schemas.AdjustmentOut,
    schemas.TransferOut,
    schemas.PaymentOut,
    schemas.ProblemOut,
    schemas.EventPage,
    schemas.WebhookEndpointList,
    schemas.WebhookEndpointCreated,
    *dict.fromkeys(schemas.EVENT_DATA.values()),
]

DESCRIPTION = f"""\
The shop's JSON API.

* **Customers** create orders without a token and look them up by their (unguessable) number.
* **Staff** send `Authorization: Bearer <token>` (tokens come from `flask staff token EMAIL`); they create and
  edit products with `PUT /products/{{sku}}`, change stock with adjustments and move it between locations
  with transfers.
* **Stock is kept per location.** A product's `stock` (and every shortage's `available`) counts the active
  locations that fulfil orders; staff also see it per location (`locations`). An order takes its units
  under the row locks from the first such location (by priority, then code) that has the whole order,
  else line by line by `SHOP_ALLOCATION`; staff see each line's `allocations`. A request that carries
  a token must carry a valid one on every operation that takes one (all but `POST /payments`, signed by
  the payment provider, and this document): a wrong, malformed, revoked or expired token, or one of a
  disabled account, is 401; a token of an account that is no longer staff is 403.
  Tokens expire (90 days unless `--expires-in DAYS` says otherwise) and carry scopes (`--scope`, all of
  them unless told): `read` (exact stock, ledgers, the event feed), `orders:write` (create orders with a
  token, change their status), `stock:write` (products, stock adjustments and transfers), `webhooks:write`
  (webhook endpoints). Each staff operation lists the scope it needs under
  `security`; a token without it is 403 `insufficient_scope`. A token without `read` sees products as
  strangers do (availability, no stock).
* Idempotency keys belong to their caller (the token, or without one the client's address, IPv6 by /64)
  and are forgotten 24 hours after the order they created.
* Customers' orders (no token) are held to the shop's hoarding limits: at most `SHOP_DEFAULT_MAX_PER_ORDER`
  (10) units of a product that sets no `max_per_order` (`over_limit`), and at most `SHOP_MAX_HELD_UNITS` (20)
  units held at once by one client (its address, and its e-mail) across its unpaid holds (`hold_limit`). A
  refusal tells a customer how many units are left (`available`) only when the product is at or below its
  low-stock threshold.
* Creating an order needs an `Idempotency-Key` header. The same key with the same body answers the
  original response again (same status and body, header `Idempotent-Replayed: true`); the same key with
  another body is 409 `idempotency_key_reused`. Only created orders are stored under a key: a refused
  order writes nothing, so the request can be retried with the same key.
* Every error is `application/problem+json` (RFC 9457) with a machine-readable `code`. Refusals list
  every problem in `problems` (`sku`, `code`, `message`, `requested`, `available`; validation errors add a
  JSON `pointer`). 400: malformed JSON, bad headers or query parameters; 413: body over
  {MAX_BODY_BYTES // 1024} KiB; 415: not JSON; 422: the body does not match its schema; 409: the shop
  refused (stock, availability, unknown SKU, status transition) or the idempotency key was reused.
* The document and the shop accept the same bodies: a whole number may be written `2` or `2.0`; text
  holds no control characters (each rule is a `pattern`, with explicit character classes).
"""


def _ref(name: str) -> dict:
    return {"$ref": REF.format(model=name)}


def _json(schema: dict, description: str, headers: dict | None = None) -> dict:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": schema}},
    }
    if headers:
        response["headers"] = headers
    return response


def _problem(description: str, headers: dict | None = None) -> dict:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/problem+json": {"schema": _ref("ProblemOut")}},
    }
    if headers:
        response["headers"] = headers
    return response


def _responses(*names: str) -> dict:
    return {
        code: {"$ref": f"#/components/responses/{name}"}
        for code, name in (name.split(":", 1) for name in names)
    }


def _body(model: str, example: dict) -> dict:
    return {"required": True, "content": {"application/json": {"schema": _ref(model), "example": example}}}


PUBLIC: list[dict[str, list[str]]] = [
    {},
    {"bearerAuth": []},
]  # no token needed; a token, if sent, must be valid


def staff(scope: str) -> list[dict[str, list[str]]]:
    """A staff token with ``scope`` (OpenAPI 3.1 lists the roles a bearer token needs)."""
    return [{"bearerAuth": [scope]}]


ORDER_NUMBER_EXAMPLE = "K7QM-2XPA-9RTD-F3HW"
ORDER_EXAMPLE = {
    "status": "confirmed",
    "customer": {"name": "Ada Lovelace", "email": "ada@example.com"},
    "lines": [{"sku": "TEA-SENCHA", "quantity": 2}],
}


def _paths() -> dict:
    order_number = {"$ref": "#/components/parameters/OrderNumber"}
    sku = {"$ref": "#/components/parameters/Sku"}
    paging = [{"$ref": "#/components/parameters/Page"}, {"$ref": "#/components/parameters/PerPage"}]
    return {
        f"{PREFIX}/orders": {
            "post": {
                "operationId": "createOrder",
                "summary": "Create an order",
                "description": "Creates an order for SKU lines. `confirmed` and `paid` orders take stock in the "
                "same transaction, or nothing is written. `paid` needs a staff token. A `confirmed` order "
                "created without a staff token is a hold: it keeps its stock until `hold_expires_at` "
                "(`SHOP_HOLD_MINUTES`), then it is cancelled and its stock released unless it was paid "
                "(`POST /payments`). Without a staff token, creating orders is rate-limited per client "
                "address (429 `rate_limited`) and held to the hoarding limits (`over_limit`, `hold_limit`). "
                "A token must have the `orders:write` scope. The `Idempotency-Key` belongs to the caller "
                "(its token, or without one the client's address, IPv6 by /64) and is forgotten 24 hours "
                "later.",
                "tags": ["orders"],
                "security": [{}, *staff(ORDERS_WRITE)],
                "parameters": [{"$ref": "#/components/parameters/IdempotencyKey"}],
                "requestBody": _body("OrderCreate", ORDER_EXAMPLE),
                "responses": {
                    "201": _json(
                        _ref("OrderOut"),
                        "The order was created (or this is the replay of the response that created it).",
                        {
                            "Location": {"description": "The order's address.", "schema": {"type": "string"}},
                            "Idempotent-Replayed": {
                                "description": "true when this answer is the "
                                "stored response of an earlier request.",
                                "schema": {"type": "string", "enum": ["true", "false"]},
                            },
                        },
                    ),
                    **_responses("400:BadRequest", "401:Unauthorized", "403:Forbidden"),
                    "409": _problem(
                        "The order was refused (`order_refused`, every problem listed) or the "
                        "Idempotency-Key was used with another body (`idempotency_key_reused`)."
                    ),
                    **_responses(
                        "413:TooLarge", "415:UnsupportedMediaType", "422:Invalid", "429:RateLimited"
                    ),
                },
            },
        },
        f"{PREFIX}/orders/{{number}}": {
            "get": {
                "operationId": "getOrder",
                "summary": "Look up an order by its number",
                "tags": ["orders"],
                "security": PUBLIC,
                "parameters": [order_number],
                "responses": {
                    "200": _json(_ref("OrderOut"), "The order."),
                    **_responses("401:Unauthorized", "403:Forbidden", "404:NotFound"),
                },
            },
        },
        f"{PREFIX}/orders/{{number}}/status": {
            "post": {
                "operationId": "setOrderStatus",
                "summary": "Change an order's status (staff)",
                "description": "Moving a draft to confirmed or paid takes stock; cancelling an order that took "
                "stock returns it.",
                "tags": ["orders"],
                "security": staff(ORDERS_WRITE),
                "parameters": [order_number],
                "requestBody": _body("StatusChange", {"status": "paid"}),
                "responses": {
                    "200": _json(_ref("OrderOut"), "The order in its new status."),
                    **_responses("400:BadRequest", "401:Unauthorized", "403:Forbidden", "404:NotFound"),
                    "409": _problem(
                        "The transition is not allowed (`invalid_transition`) or the stock cannot "
                        "be taken (`order_refused`, every problem listed)."
                    ),
                    **_responses("413:TooLarge", "415:UnsupportedMediaType", "422:Invalid"),
                },
            },
        },
        f"{PREFIX}/products": {
            "get": {
                "operationId": "listProducts",
                "summary": "The catalog with availability (and stock, for staff tokens), by SKU",
                "tags": ["products"],
                "security": PUBLIC,
                "parameters": paging,
                "responses": {
                    "200": _json(_ref("ProductPage"), "One page of products."),
                    **_responses("400:BadRequest", "401:Unauthorized", "403:Forbidden"),
                },
            },
        },
        f"{PREFIX}/products/{{sku}}": {
            "get": {
                "operationId": "getProduct",
                "summary": "One product with its availability (and stock, for staff tokens)",
                "tags": ["products"],
                "security": PUBLIC,
                "parameters": [sku],
                "responses": {
                    "200": _json(_ref("ProductOut"), "The product."),
                    **_responses("401:Unauthorized", "403:Forbidden", "404:NotFound"),
                },
            },
            "put": {
                "operationId": "putProduct",
                "summary": "Create a product, or replace its details (staff)",
                "description": "Creates the product when no product has this SKU (201, `Location`), with "
                "`initial_stock` units written to the ledger as one `initial_stock` row; otherwise replaces "
                "its name, price, status, threshold and limit (200), members left out taking their "
                "defaults. The stock of an existing product never changes here (`initial_stock` is then "
                "ignored): use `POST /products/{sku}/adjustments`. Repeating a request is safe. The SKU "
                "must be 1-64 letters, digits, `.`, `_` or `-`, starting with a letter or digit (the rules of "
                "`flask inventory import` and the staff dashboard), also for a product that already has "
                "another kind of SKU.",
                "tags": ["products"],
                "security": staff(STOCK_WRITE),
                "parameters": [{"$ref": "#/components/parameters/NewSku"}],
                "requestBody": _body(
                    "ProductPut",
                    {
                        "name": "Sencha green tea, 100 g",
                        "price_cents": 1250,
                        "status": "active",
                        "low_stock_threshold": 5,
                        "max_per_order": None,
                        "initial_stock": 40,
                    },
                ),
                "responses": {
                    "200": _json(_ref("ProductOut"), "The product existed: its details are replaced."),
                    "201": _json(
                        _ref("ProductOut"),
                        "The product was created with its initial stock.",
                        {"Location": {"description": "The product's address.", "schema": {"type": "string"}}},
                    ),
                    **_responses("400:BadRequest", "401:Unauthorized", "403:Forbidden"),
                    "404": _problem("The path holds more than a SKU, e.g. a `/` (`not_found`)."),
                    **_responses("413:TooLarge", "415:UnsupportedMediaType"),
                    "422": _problem(
                        "The body does not match the schema (`invalid_request`), or the product breaks a rule "
                        "(`invalid_product`: `invalid_sku`, `invalid_name`, `invalid_price`, "
                        "`invalid_threshold`, `invalid_limit`, `invalid_status`, `invalid_stock`, each "
                        "listed with a `pointer` into the body, none for the SKU in the path)."
                    ),
                },
            },
        },
        f"{PREFIX}/products/{{sku}}/adjustments": {
            "post": {
                "operationId": "adjustStock",
                "summary": "Change a product's stock, with a ledger row (staff)",
                "tags": ["products"],
                "security": staff(STOCK_WRITE),
                "parameters": [sku],
                "description": "Changes the stock at one location (`location`, default `main`), with a ledger row.",
                "requestBody": _body(
                    "AdjustmentCreate", {"delta": 12, "reason": "restock", "note": "Delivery 2026-11-24"}
                ),
                "responses": {
                    "201": _json(
                        _ref("AdjustmentOut"),
                        "The change was applied.",
                        {"Location": {"description": "The product's ledger.", "schema": {"type": "string"}}},
                    ),
                    **_responses("400:BadRequest", "401:Unauthorized", "403:Forbidden", "404:NotFound"),
                    "409": _problem("Not enough stock to remove at the location (`adjustment_refused`)."),
                    **_responses("413:TooLarge", "415:UnsupportedMediaType"),
                    "422": _problem(
                        "The body does not match the schema (`invalid_request`) or the change is "
                        "not valid, e.g. a negative restock or an unknown location (`invalid_adjustment`)."
                    ),
                },
            },
        },
        f"{PREFIX}/products/{{sku}}/movements": {
            "get": {
                "operationId": "listMovements",
                "summary": "A product's stock ledger, newest first (staff)",
                "tags": ["products"],
                "security": staff(READ),
                "parameters": [sku, *paging],
                "responses": {
                    "200": _json(_ref("MovementPage"), "One page of ledger rows."),
                    **_responses("400:BadRequest", "401:Unauthorized", "403:Forbidden", "404:NotFound"),
                },
            },
        },
        f"{PREFIX}/transfers": {
            "post": {
                "operationId": "createTransfer",
                "summary": "Move units of a product from one location to another (staff)",
                "description": "One transaction: a `transfer_out` ledger row at `from` and a `transfer_in` row at "
                "`to`, sharing the `transfer_id`. Refused, with nothing written, when the product or a location "
                "is unknown, the locations are the same, or `from` has fewer units than `quantity`.",
                "tags": ["products"],
                "security": staff(STOCK_WRITE),
                "requestBody": _body(
                    "TransferCreate",
                    {
                        "sku": "TEA-SENCHA",
                        "quantity": 6,
                        "from": "main",
                        "to": "floor",
                        "note": "Shelf refill",
                    },
                ),
                "responses": {
                    "201": _json(
                        _ref("TransferOut"),
                        "The units were moved.",
                        {"Location": {"description": "The product's ledger.", "schema": {"type": "string"}}},
                    ),
                    **_responses("400:BadRequest", "401:Unauthorized", "403:Forbidden"),
                    **_responses("413:TooLarge", "415:UnsupportedMediaType"),
                    "422": _problem(
                        "The body does not match the schema (`invalid_request`), or the transfer was refused "
                        "(`transfer_refused`, every problem listed: `unknown_product`, `unknown_location`, "
                        "`same_location`, `insufficient_stock` with the units `available` at `from`)."
                    ),
                },
            },
        },
        f"{PREFIX}/payments": {
            "post": {
                "operationId": "receivePayment",
                "summary": "A payment provider's signed notification",
                "description": "Pays a confirmed order (a live hold) for exactly its total. The raw body must "
                'be signed: header `Shop-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" '
                "with SHOP_PAYMENT_SECRET>`, `t` within 300 s. The same `payment_id` again answers the same "
                "200 and changes nothing; with another order, amount or currency it is 409 `payment_id_reused`. "
                "See docs/api.md for a signing example.",
                "tags": ["payments"],
                "security": [{"paymentSignature": []}],
                "requestBody": _body(
                    "PaymentNotification",
                    {
                        "payment_id": "pay_3MtwBwLkdIwHu7ix",
                        "order_number": ORDER_NUMBER_EXAMPLE,
                        "amount_cents": 2500,
                        "currency": "EUR",
                    },
                ),
                "responses": {
                    "200": _json(
                        _ref("PaymentOut"),
                        "The order is paid (by this notification, or by an earlier one with the same "
                        "payment_id: `Idempotent-Replayed: true`).",
                        {
                            "Idempotent-Replayed": {
                                "description": "true when the payment_id was acted on before.",
                                "schema": {"type": "string", "enum": ["true", "false"]},
                            }
                        },
                    ),
                    **_responses("400:BadRequest"),
                    "401": _problem(
                        "Missing, malformed, forged or stale signature (`invalid_signature`); nothing written."
                    ),
                    "404": _problem("No such order (`order_not_found`); nothing written."),
                    "409": _problem(
                        "The hold expired before the payment (`hold_expired`: the order is cancelled and "
                        "its stock released; refund the payment), the order is not payable "
                        "(`not_payable`: a draft, a cancelled or an already paid order), or the `payment_id` "
                        "already paid another order, amount or currency (`payment_id_reused`); nothing written."
                    ),
                    **_responses("413:TooLarge", "415:UnsupportedMediaType"),
                    "422": _problem(
                        "The body does not match its schema (`invalid_request`), or the amount or currency "
                        "is not the order's (`amount_mismatch`, `currency_mismatch`); nothing written."
                    ),
                },
            },
        },
        f"{PREFIX}/events": {
            "get": {
                "operationId": "listEvents",
                "summary": "The feed of events, in the order they committed (staff)",
                "description": "Every event the shop recorded, oldest first, each exactly once to a reader that "
                "pages with `after` (the id of the last event it read), even when transactions commit in "
                "another order than they began. The same envelopes the webhooks carry (see `webhooks`). "
                "Events are kept `SHOP_EVENTS_RETENTION_DAYS` (30) days: a cursor older than that is 404 "
                "`unknown_event`; read again from the start.",
                "tags": ["events"],
                "security": staff(READ),
                "parameters": [
                    {
                        "name": "after",
                        "in": "query",
                        "required": False,
                        "description": "The id of the last event read; left out: from the oldest event kept.",
                        "schema": {"type": "string", "pattern": "^evt_[0-9A-Z]{26}$"},
                    },
                    {
                        "name": "type",
                        "in": "query",
                        "required": False,
                        "description": "Only events of this type.",
                        "schema": {"type": "string", "enum": list(EventType)},
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "schema": {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": MAX_LIMIT,
                            "default": DEFAULT_LIMIT,
                        },
                    },
                ],
                "responses": {
                    "200": _json(_ref("EventPage"), "The next events, and whether more follow."),
                    "400": _problem("A malformed parameter (`invalid_parameter`)."),
                    **_responses("401:Unauthorized", "403:Forbidden"),
                    "404": _problem("`after` is not an event of the feed, or no longer (`unknown_event`)."),
                },
            },
        },
        f"{PREFIX}/webhook-endpoints": {
            "get": {
                "operationId": "listWebhookEndpoints",
                "summary": "The webhook endpoints, without their secrets (staff)",
                "tags": ["events"],
                "security": staff(WEBHOOKS_WRITE),
                "responses": {
                    "200": _json(_ref("WebhookEndpointList"), "Every endpoint, oldest first."),
                    **_responses("401:Unauthorized", "403:Forbidden"),
                },
            },
            "post": {
                "operationId": "createWebhookEndpoint",
                "summary": "Send events to a URL (staff)",
                "description": "Only `https://` URLs whose host resolves to public addresses only (no loopback, "
                "private, link-local, unique-local, multicast or unspecified address). The answer holds the "
                "signing secret: it is never shown again (rotate it with `flask webhooks rotate-secret`).",
                "tags": ["events"],
                "security": staff(WEBHOOKS_WRITE),
                "requestBody": _body(
                    "WebhookEndpointCreate",
                    {
                        "url": "https://93.184.216.34/hooks/shop",
                        "event_types": ["order.placed"],
                        "description": "ERP",
                    },
                ),
                "responses": {
                    "201": _json(_ref("WebhookEndpointCreated"), "The endpoint, with its secret."),
                    **_responses("400:BadRequest", "401:Unauthorized", "403:Forbidden"),
                    **_responses("413:TooLarge", "415:UnsupportedMediaType"),
                    "422": _problem(
                        "The body does not match its schema (`invalid_request`), or the shop will not call the URL "
                        "(`invalid_webhook_endpoint`: `invalid_url`, with a `pointer`)."
                    ),
                },
            },
        },
        f"{PREFIX}/webhook-endpoints/{{endpoint_id}}": {
            "delete": {
                "operationId": "deleteWebhookEndpoint",
                "summary": "Remove a webhook endpoint and its deliveries (staff)",
                "tags": ["events"],
                "security": staff(WEBHOOKS_WRITE),
                "parameters": [
                    {
                        "name": "endpoint_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer", "minimum": 0},
                        "example": 1,
                    }
                ],
                "responses": {
                    "204": {"description": "Removed."},
                    **_responses("401:Unauthorized", "403:Forbidden"),
                    "404": _problem("No such endpoint (`webhook_endpoint_not_found`)."),
                },
            },
        },
        f"{PREFIX}/openapi.json": {
            "get": {
                "operationId": "getOpenApiDocument",
                "summary": "This document",
                "tags": ["meta"],
                "security": [{}],
                "responses": {"200": _json({"type": "object"}, "The OpenAPI 3.1 document.")},
            },
        },
    }


def _components(schemas_by_name: dict) -> dict:
    www_authenticate = {
        "WWW-Authenticate": {"description": "The Bearer challenge.", "schema": {"type": "string"}}
    }
    return {
        "schemas": schemas_by_name,
        "securitySchemes": {
            "bearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "description": f"A staff token (`{TOKEN_PREFIX}…`) from `flask staff token EMAIL "
                "[--expires-in DAYS] [--scope S]…`; `flask staff revoke-token` revokes it. Scopes: "
                "`read` (exact stock, ledgers), `orders:write` (create orders with a token, change order "
                "status), `stock:write` (products, stock adjustments, transfers), `webhooks:write` (webhook "
                "endpoints). It expires after 90 days unless told otherwise.",
            },
            "paymentSignature": {
                "type": "apiKey",
                "in": "header",
                "name": "Shop-Signature",
                "description": 't=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" with SHOP_PAYMENT_SECRET>.',
            },
        },
        "parameters": {
            "IdempotencyKey": {
                "name": "Idempotency-Key",
                "in": "header",
                "required": True,
                "description": "A unique value per order (e.g. a UUID), sent again unchanged when retrying.",
                "schema": {"type": "string", "pattern": "^[!-~]{1,255}$"},
                "example": "3f1c9a5e-8d2b-4c7a-9e61-2b8f0d4a7c10",
            },
            "OrderNumber": {
                "name": "number",
                "in": "path",
                "required": True,
                "description": "The order number, e.g. K7QM-2XPA-9RTD-F3HW (case-insensitive).",
                "schema": {"type": "string", "minLength": 1, "maxLength": 64},
                "example": ORDER_NUMBER_EXAMPLE,
            },
            "Sku": {
                "name": "sku",
                "in": "path",
                "required": True,
                "schema": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": schemas.NO_CONTROLS},
                "example": "TEA-SENCHA",
            },
            "NewSku": {
                "name": "sku",
                "in": "path",
                "required": True,
                "description": "1-64 letters, digits, `.`, `_` or `-`, starting with a letter or digit.",
                "schema": {"type": "string", "pattern": f"^{products.SKU_PATTERN.pattern}$"},
                "example": "TEA-SENCHA",
            },
            "Page": {
                "name": "page",
                "in": "query",
                "required": False,
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1},
            },
            "PerPage": {
                "name": "per_page",
                "in": "query",
                "required": False,
                "schema": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_PER_PAGE,
                    "default": DEFAULT_PER_PAGE,
                },
            },
        },
        "responses": {
            "BadRequest": _problem(
                "Malformed JSON (`malformed_json`), a missing or bad Idempotency-Key "
                "(`missing_idempotency_key`, `invalid_idempotency_key`) or a bad query "
                "parameter (`invalid_parameter`)."
            ),
            "Unauthorized": _problem(
                "No staff token where one is needed, or a wrong, malformed or revoked token.",
                www_authenticate,
            ),
            "Forbidden": _problem(
                "The token's account is not staff (`forbidden`), the action needs staff (a `paid` order), "
                "or the token lacks the operation's scope (`insufficient_scope`, with a "
                '`WWW-Authenticate: Bearer error="insufficient_scope"` challenge).'
            ),
            "NotFound": _problem("No such order or product (`order_not_found`, `product_not_found`)."),
            "TooLarge": _problem(f"The body is larger than {MAX_BODY_BYTES // 1024} KiB."),
            "UnsupportedMediaType": _problem("The body is not sent as application/json."),
            "RateLimited": _problem(
                "Too many orders from this address without a staff token (`rate_limited`); nothing written.",
                {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "string"}}},
            ),
            "Unavailable": _problem(
                "The connection to the database was lost; nothing was written. Retry "
                "after the given delay (`database_unavailable`).",
                {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "string"}}},
            ),
            "Invalid": _problem(
                "The body does not match its schema: wrong types, unknown or missing fields, "
                f"quantities outside 1..{stock.MAX_LINE_QUANTITY}, more than {stock.MAX_LINES} "
                "lines (`invalid_request`, every problem listed with a `pointer`)."
            ),
        },
    }


def _with_unavailable(paths: dict) -> dict:
    """Every operation that reads the database may answer 503 when it loses its connection."""
    for path_item in paths.values():
        for operation in path_item.values():
            if operation["operationId"] != "getOpenApiDocument":
                operation["responses"].update(_responses("503:Unavailable"))
    return paths


TAGS = {
    "orders": "Orders: created by customers and staff, looked up by number, moved between statuses.",
    "products": "The catalog, products as staff set them, stock adjustments and transfers, and the ledger.",
    "payments": "Signed notifications of the payment provider.",
    "events": "What happened in the shop: the feed of events, and the endpoints that get them as webhooks.",
    "meta": "This document.",
}


def build_document() -> dict:
    modes: list[tuple[type[BaseModel], JsonSchemaMode]] = [(m, "validation") for m in REQUEST_MODELS]
    modes += [(m, "serialization") for m in RESPONSE_MODELS]
    _, top = models_json_schema(modes, ref_template=REF)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Shop API", "version": "1.0.0", "description": DESCRIPTION},
        "tags": [{"name": name, "description": text} for name, text in TAGS.items()],
        "paths": _with_unavailable(_paths()),
        "webhooks": _webhooks(),
        "components": _components(top["$defs"]),
    }


def _webhooks() -> dict:
    """Each event type as the webhook the shop sends (Standard Webhooks: signed, retried for 3 days)."""
    described = {
        EventType.ORDER_PLACED: "An order first took stock: created confirmed or paid, or a draft confirmed.",
        EventType.ORDER_PAID: "An order became paid (right after `order.placed` for one created paid).",
        EventType.ORDER_CANCELLED: "A committed order was cancelled; its stock came back where it was taken.",
        EventType.STOCK_CHANGED: "One per ledger row: a product's stock at one location changed.",
        EventType.STOCK_LOW: "A change took a product's units at the locations that fulfil orders to its low-stock "
        "threshold or below, still above 0 (once per product and change).",
        EventType.STOCK_OUT: "A change took a product's units at the locations that fulfil orders to 0.",
    }
    headers = {
        name: {"required": True, "description": text, "schema": {"type": "string"}}
        for name, text in (
            ("webhook-id", "The event id, the same on every retry: deduplicate on it."),
            ("webhook-timestamp", "Unix seconds of this attempt."),
            (
                "webhook-signature",
                "`v1,<base64 HMAC-SHA256>` of `id.timestamp.body` with the endpoint's secret.",
            ),
        )
    }
    return {
        event_type.value: {
            "post": {
                "operationId": f"webhook_{event_type.value.replace('.', '_')}",
                "summary": described[event_type],
                "tags": ["events"],
                "parameters": [{"name": name, "in": "header", **spec} for name, spec in headers.items()],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["id", "type", "timestamp", "data"],
                                "additionalProperties": False,
                                "properties": {
                                    "id": {"type": "string", "pattern": "^evt_[0-9A-Z]{26}$"},
                                    "type": {"const": event_type.value},
                                    "timestamp": {"type": "string", "format": "date-time"},
                                    "data": _ref(model.__name__),
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "2XX": {"description": "Delivered."},
                    "410": {"description": "The endpoint is gone: the shop disables it."},
                    "default": {"description": "Anything else, or no answer in time: retried."},
                },
            }
        }
        for event_type, model in schemas.EVENT_DATA.items()
    }
