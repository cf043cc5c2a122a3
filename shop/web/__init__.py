"""The server-rendered web UI: the storefront (catalog, cart, checkout), the staff dashboard, error pages, headers.

``init_app`` registers the ``catalog``, ``staff`` and ``seo`` (robots.txt, sitemap.xml) blueprints, the HTML error pages
(for every route outside ``/api/``, whose blueprint answers in problem+json itself),
the security headers and the Flask-Login wiring.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, has_request_context, render_template, request
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from ..api.contract import is_api_path
from ..database import UNAVAILABLE_HEADERS, UNAVAILABLE_MESSAGE, unavailable_or_reraise
from ..extensions import login_manager
from ..rate_limits import retry_after
from . import presentation
from .catalog.cart import item_count

# No external sources at all: the pages work offline and nothing can be injected from elsewhere.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "style-src 'self'",
        "img-src 'self' data:",
        # Lighthouse reads robots.txt with fetch() inside the page (GoogleChrome/lighthouse#4386). The
        # pages run no script at all, so nothing of theirs can use it.
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # same-origin, not no-referrer: Flask-WTF checks the Referer of HTTPS form posts.
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), geolocation=(), microphone=(), payment=()",
}

# Pages holding a customer's order, cart or details: no browser or proxy cache may keep them. The
# staff pages say so themselves (shop.web.staff.views.no_store), the API's order answers too.
PRIVATE_PATHS = ("/orders/", "/cart", "/checkout")
HSTS = "max-age=31536000"

TOO_LARGE_MESSAGE = "What you sent is too large (at most 1 MiB). Nothing was saved."

CSRF_MESSAGE = (
    "This form has expired or did not come from this site. Please go back, reload the page and try again."
)


def init_app(app: Flask) -> None:
    from .catalog import bp as catalog_bp
    from .seo import bp as seo_bp
    from .staff import bp as staff_bp

    app.config.setdefault("SHOP_PAGE_SIZE", 20)  # cookie settings: shop.configure
    app.session_interface = SessionInterface()
    app.config.setdefault("SHOP_CATALOG_PAGE_SIZE", 24)
    init_login(app)
    app.register_blueprint(catalog_bp)
    app.register_blueprint(staff_bp)
    app.register_blueprint(seo_bp)  # robots.txt, sitemap.xml
    # Unhandled exceptions reach this handler as an InternalServerError (an HTTPException).
    app.register_error_handler(HTTPException, render_http_error)
    app.register_error_handler(DBAPIError, render_database_error)
    app.after_request(add_security_headers)
    for name in ("money", "timestamp", "count_of"):
        app.add_template_filter(getattr(presentation, name))
    app.add_template_global(item_count, "cart_count")  # the header's cart badge
    for name in (
        "staff_hold_note",
        "last_page_note",
        "delta_class",
        "url_with",
        "status_note",
        "is_low_stock",
        "stock_at",
        "location_note",
        "allocation_lines",
        "order_actions",
        "product_status_label",
        "product_status_class",
        "reason_label",
        "line_problem",
        "per_order_limit",
        "delivery_label",
        "delivery_target",
        "can_retry",
        "endpoint_label",
    ):
        app.add_template_global(getattr(presentation, name))


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, whose cookie is also ``Secure`` whenever the request came over HTTPS.

    ``SESSION_COOKIE_SECURE`` (on in production) always applies; behind a TLS proxy the request is
    HTTPS as ``SHOP_TRUSTED_PROXIES`` lets ProxyFix tell, and the cookie never goes back over plain HTTP.
    """

    def get_cookie_secure(self, app: Flask) -> bool:
        return super().get_cookie_secure(app) or (has_request_context() and request.is_secure)


def init_login(app: Flask) -> None:
    from .staff.auth import load_user  # only a live session of an active staff account loads a user

    login_manager.login_view = "staff.login"
    login_manager.login_message = "Please log in to open the staff dashboard."
    login_manager.login_message_category = "info"
    login_manager.user_loader(load_user)


def render_http_error(error: HTTPException):
    """A friendly HTML page for 4xx/5xx errors; never a stack trace or exception text."""
    if is_api_path(request.path):
        return error  # the API answers in its own format
    if error.code is None or error.code >= 500:
        code, message = 500, None  # Flask has logged the exception; the page never shows it
    else:
        code = error.code
        message = error_message(error)
    title = "Request too large" if code == 413 else None
    response = Response(
        render_template("errors/error.html", code=code, title=title, message=message),
        code,
        mimetype="text/html",
    )
    if code == 405 and hasattr(error, "valid_methods") and error.valid_methods:
        response.headers["Allow"] = ", ".join(error.valid_methods)
    if code == 429:
        response.headers["Retry-After"] = retry_after()
    return response


def render_database_error(error: DBAPIError):
    """A lost database connection is a 503 page; any other database error stays a 500."""
    unavailable_or_reraise(error)
    return Response(
        render_template(
            "errors/error.html", code=503, title="Service unavailable", message=UNAVAILABLE_MESSAGE
        ),
        503,
        UNAVAILABLE_HEADERS,
        mimetype="text/html",
    )


def error_message(error: HTTPException) -> str | None:
    """The message a view gave with ``abort(code, description)``; None for the generic ones."""
    if isinstance(error, CSRFError):
        return CSRF_MESSAGE
    if isinstance(error, RequestEntityTooLarge):
        return TOO_LARGE_MESSAGE
    if error.description and error.description != type(error).description:
        return error.description
    return None


def add_security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.is_secure:
        hsts = HSTS + "; includeSubDomains" if current_app.config["SHOP_HSTS_INCLUDE_SUBDOMAINS"] else HSTS
        response.headers.setdefault("Strict-Transport-Security", hsts)
    if request.path.startswith(PRIVATE_PATHS) or (
        request.method == "POST" and response.mimetype == "text/html"
    ):
        response.headers["Cache-Control"] = "no-store"  # order pages, the cart, checkout, forms sent back
    return response
