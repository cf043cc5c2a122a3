"""RFC 9457 problem details: every API error is ``application/problem+json``.

A problem has the RFC's members (``type``, ``title``, ``status``, ``detail``) plus a stable
machine-readable ``code`` and, where there is more than one thing wrong, a ``problems`` list
with one entry per problem (``code``, ``message``, ``sku``, ``requested``, ``available``, and
``pointer`` to the offending part of the request body for validation errors).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from http import HTTPStatus

from flask import Blueprint, Flask, Response, request
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from ..database import UNAVAILABLE_HEADERS, UNAVAILABLE_MESSAGE, unavailable_or_reraise
from ..errors import Problem
from ..rate_limits import retry_after
from .contract import is_api_path

PROBLEM_JSON = "application/problem+json"

# Codes of the plain HTTP errors, when nothing more specific applies.
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
    500: "internal_error",
    503: "database_unavailable",
}


def problem_item(problem: Problem, pointer: str | None = None) -> dict:
    item = problem.as_dict()
    if pointer is not None:
        item["pointer"] = pointer
    return item


class ApiError(Exception):
    """An error the API answers with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        code: str | None = None,
        problems: Iterable[dict] | None = None,
        headers: Mapping[str, str] | None = None,
    ):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.code = code or HTTP_CODES.get(status, "error")
        self.problems = list(problems) if problems is not None else None
        self.headers = dict(headers or {})


def problem_response(
    status: int,
    detail: str,
    *,
    code: str | None = None,
    problems: list[dict] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code or HTTP_CODES.get(status, "error"),
    }
    if problems is not None:
        body["problems"] = problems
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)
    response.headers.extend(headers or {})
    return response


def from_api_error(error: ApiError) -> Response:
    return problem_response(
        error.status, error.detail, code=error.code, problems=error.problems, headers=error.headers
    )


def from_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    headers = {}
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        headers["Allow"] = ", ".join(sorted(error.valid_methods))
    if status == 429:
        headers["Retry-After"] = retry_after()
    detail = (
        {
            404: "There is nothing at this address.",
            405: f"{request.method} is not allowed here.",
            413: "The request body is too large.",
            500: "Something went wrong on our side.",
        }.get(status)
        or error.description
        or HTTPStatus(status).description
    )
    return problem_response(status, detail, headers=headers)


def from_database_error(error: DBAPIError) -> Response:
    """A lost database connection is a 503 problem; any other database error stays a 500."""
    unavailable_or_reraise(error)
    return problem_response(503, UNAVAILABLE_MESSAGE, headers=UNAVAILABLE_HEADERS)


def init_blueprint(bp: Blueprint) -> None:
    bp.register_error_handler(ApiError, from_api_error)
    bp.register_error_handler(DBAPIError, from_database_error)
    # Every HTTP error raised in an API view, and unhandled exceptions, which Flask logs and then
    # hands over as an InternalServerError when they do not propagate (outside TESTING).
    bp.register_error_handler(HTTPException, from_http_exception)


def init_app(app: Flask) -> None:
    """Routing errors under the API prefix (unknown path, wrong method) are problems too.

    They are raised before any blueprint is known, so blueprint handlers never see them. A
    ``before_request`` hook runs before Flask raises the stored routing exception, which lets
    the API answer without touching the application's own (HTML) error handlers.
    """

    @app.before_request
    def api_routing_errors():
        error = request.routing_exception
        if isinstance(error, HTTPException) and (error.code or 0) >= 400 and is_api_path(request.path):
            return from_http_exception(error)
        return None
