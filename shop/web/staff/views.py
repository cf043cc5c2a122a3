"""Staff views. Each write follows form → service → one commit → flash → redirect."""

from __future__ import annotations

import re

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_login import current_user
from sqlalchemy.exc import IntegrityError

from ...database import commit_unit_of_work
from ...errors import InvalidProduct, InventoryError, Problem
from ...extensions import db
from ...holds import release_expired_holds
from ...locations import default_location_code
from ...models import OrderStatus, Product, utcnow
from ...orders import change_status, find_order
from ...products import create_product, find_product, update_product
from ...rate_limits import limit_login_per_account, limit_login_per_address
from ...stock import adjust_stock, transfer_stock
from ..inputs import refuse_nul_characters
from ..presentation import safe_next
from . import queries
from .auth import authenticate, end_session, require_staff, staff_actor, start_session, tell_account_owner
from .chart import stock_chart
from .forms import (
    LoginForm,
    LogoutForm,
    NewProductForm,
    OrderStatusForm,
    ProductForm,
    ReleaseHoldsForm,
    StockAdjustmentForm,
    StockTransferForm,
)
from .ledger_csv import csv_lines, day_range, parse_day

CHART_MOVEMENTS = 200
CSV_BATCH = 1000
MAX_PAGE = 1_000_000  # far past any real page; keeps the SQL OFFSET inside a 64-bit integer

bp = Blueprint("staff", __name__, url_prefix="/staff")
bp.before_request(refuse_nul_characters)
bp.before_request(require_staff)


@bp.after_request
def no_store(response: Response) -> Response:
    """Staff pages show live stock and customer data: never cache them."""
    response.headers["Cache-Control"] = "no-store"
    return response


def _page_size() -> int:
    return current_app.config["SHOP_PAGE_SIZE"]


def _page() -> int:
    return min(max(request.args.get("page", 1, type=int), 1), MAX_PAGE)


def _problem_lines(heading: str, exc: InventoryError) -> str:
    return "\n".join([heading, *(p.message for p in exc.problems)])


def _form_errors(heading: str, form) -> str:
    return "\n".join(
        [
            heading,
            *form.form_errors,
            *(
                f"{field.label.text}: {error}" if field.label.text else error
                for field in form
                for error in field.errors
            ),
        ]
    )


# -- login ---------------------------------------------------------------------------------


@bp.route("/login", methods=["GET", "POST"])
@limit_login_per_address
@limit_login_per_account(tell_account_owner)
def login():
    """E-mail and password; only staff accounts get in. ``next`` must be a path on this site."""
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")) or url_for(".stock"))
    form = LoginForm(next=request.args.get("next"))
    if form.validate_on_submit():
        user = authenticate(form.email.data or "", form.password.data or "")
        if user is not None:
            start_session(user)
            flash(f"Welcome, {user.email}.", "success")
            return redirect(safe_next(form.next.data) or url_for(".stock"))
        flash("That e-mail address and password don't match a staff account.", "error")
        return render_template("staff/login.html", form=form), 401
    return render_template("staff/login.html", form=form), 422 if form.errors else 200


@bp.post("/logout")
def logout():
    if LogoutForm().validate_on_submit():
        end_session()  # every session of the account ends, copies of this cookie included
        flash("You are logged out.", "info")
    return redirect(url_for(".login"))


# -- stock table ---------------------------------------------------------------------------


@bp.get("/")
def stock():
    """Every product with status, stock on hand and a low-stock flag; search, sort, pages."""
    query = request.args.get("q", "").strip()[:100]
    sort = request.args.get("sort", "sku")
    sort = sort if sort in queries.STOCK_SORTS else "sku"
    descending = request.args.get("dir") == "desc"
    low_only = request.args.get("low") == "1"
    table = queries.stock_table(query, sort, descending=descending, low_only=low_only)
    pagination = db.paginate(table, page=_page(), per_page=_page_size(), error_out=False)
    return render_template(
        "staff/stock.html",
        pagination=pagination,
        locations=queries.locations(db.session),
        query=query,
        sort=sort,
        descending=descending,
        low_only=low_only,
    )


# -- product page: ledger, chart, adjustment, details ---------------------------------------


def _product_or_404(sku: str) -> Product:
    product = find_product(db.session, sku)
    if product is None:
        abort(404, description=f"There is no product with SKU {sku}.")
    return product


def _adjust_form(**data) -> StockAdjustmentForm:
    """The adjustment form with the locations to choose from (none chosen: the default location)."""
    return StockAdjustmentForm(**data, location=default_location_code()).offer(queries.locations(db.session))


def _transfer_form(**data) -> StockTransferForm:
    """The transfer form with the locations to choose from, from the default location to the next one."""
    places = queries.locations(db.session)
    default = default_location_code()
    other = next((place.code for place in places if place.code != default), default)
    return StockTransferForm(**data, source=default, target=other).offer(places)


def _render_product(
    product: Product,
    adjust_form: StockAdjustmentForm | None = None,
    edit_form: ProductForm | None = None,
    transfer_form: StockTransferForm | None = None,
    status: int = 200,
):
    ledger = db.paginate(
        queries.product_ledger(product.id), page=_page(), per_page=_page_size(), error_out=False
    )
    chart = stock_chart(
        queries.stock_history(db.session, product.id, CHART_MOVEMENTS),
        threshold=product.low_stock_threshold,
        sku=product.sku,
        now=utcnow(),
    )
    return render_template(
        "staff/product.html",
        product=product,
        ledger=ledger,
        chart=chart,
        held=queries.units_in_unpaid_holds(db.session, product.id),
        stock_by_location=queries.stock_by_location(db.session, product.id),
        adjust_form=adjust_form or _adjust_form(formdata=None),
        transfer_form=transfer_form or _transfer_form(formdata=None),
        edit_form=edit_form or ProductForm.of(product),
    ), status


@bp.get("/products/<sku>")
def product(sku: str):
    return _render_product(_product_or_404(sku))


@bp.post("/products/<sku>/adjust")
def adjust(sku: str):
    """Restock or adjust one product's stock at a location, with a ledger row naming the staff member."""
    product = _product_or_404(sku)
    form = _adjust_form()
    if not form.validate_on_submit():
        flash(_form_errors("Please check the stock change:", form), "error")
        return _render_product(product, adjust_form=form, status=422)
    try:
        delta, reason, location = form.delta.data, form.reason.data, form.location.data
        assert delta is not None and reason is not None  # required fields of a validated form
        change = commit_unit_of_work(
            lambda: adjust_stock(
                db.session, product, delta, reason, form.note.data or None, location=location
            ),
            actor=staff_actor(),
        )
    except InventoryError as exc:
        flash(_problem_lines("The stock change was refused:", exc), "error")
        return _render_product(product, adjust_form=form, status=422)
    flash(
        f"{change.sku}: {change.delta:+d} ({change.reason}), now {change.quantity_after} on hand at "
        f"{change.location}.",
        "success",
    )
    return redirect(url_for(".product", sku=sku))


@bp.post("/products/<sku>/transfer")
def transfer(sku: str):
    """Move units of one product from one location to another: two ledger rows naming the staff member."""
    product = _product_or_404(sku)
    form = _transfer_form()
    if not form.validate_on_submit():
        flash(_form_errors("Please check the transfer:", form), "error")
        return _render_product(product, transfer_form=form, status=422)
    quantity, source, target = form.quantity.data, form.source.data or "", form.target.data or ""
    assert quantity is not None  # a required field of a validated form
    try:
        moved = commit_unit_of_work(
            lambda: transfer_stock(db.session, product, quantity, source, target, form.note.data or None),
            actor=staff_actor(),
        )
    except InventoryError as exc:
        flash(_problem_lines("The transfer was refused:", exc), "error")
        return _render_product(product, transfer_form=form, status=422)
    taken, given = moved.taken, moved.given
    flash(
        f"{sku}: moved {given.delta} from {taken.location} (now {taken.quantity_after}) to {given.location} "
        f"(now {given.quantity_after}).",
        "success",
    )
    return redirect(url_for(".product", sku=sku))


@bp.post("/products/<sku>/edit")
def edit_product(sku: str):
    """Change a product's name, price, low-stock threshold, limit per order and status (never its stock)."""
    product = _product_or_404(sku)
    form = ProductForm()
    if form.validate_on_submit():
        details = form.details()
        try:
            commit_unit_of_work(lambda: update_product(db.session, product, details), actor=staff_actor())
        except InvalidProduct as exc:
            form.show_problems(exc.problems)
        else:
            flash(f"{sku} is saved.", "success")
            return redirect(url_for(".product", sku=sku))
    flash(_form_errors(f"{sku} was not changed:", form), "error")
    return _render_product(product, edit_form=form, status=422)


@bp.route("/new-product", methods=["GET", "POST"])
def new_product():
    """A new product with its initial stock (ledgered as ``initial_stock``, by this staff member)."""
    form = NewProductForm()
    if not form.is_submitted():
        return render_template("staff/new_product.html", form=form)
    if form.validate():
        sku, initial_stock, details = form.sku.data or "", form.initial_stock.data or 0, form.details()
        try:
            commit_unit_of_work(
                lambda: create_product(db.session, sku, details, initial_stock), actor=staff_actor()
            )
        except InvalidProduct as exc:
            form.show_problems(exc.problems)
        except IntegrityError:  # created by someone else at the same moment
            form.show_problems([Problem("duplicate_sku", f"There is already a product {sku}.", sku=sku)])
        else:
            flash(f"{sku} is created with {initial_stock} in stock.", "success")
            return redirect(url_for(".product", sku=sku))
    flash(_form_errors("The product was not created:", form), "error")
    return render_template("staff/new_product.html", form=form), 422


# -- orders ----------------------------------------------------------------------------------


@bp.get("/orders")
def orders():
    """Orders, newest first, filtered by status, with a button per allowed transition.

    ``?status=awaiting`` lists unpaid holds, the soonest to expire first, with their time left.
    """
    status = request.args.get("status")
    status = status if status in queries.ORDER_FILTERS else None
    pagination = db.paginate(queries.order_list(status), page=_page(), per_page=_page_size(), error_out=False)
    return render_template(
        "staff/orders.html",
        pagination=pagination,
        status=status,
        counts=queries.order_counts(db.session),
        statuses=list(OrderStatus),
        form=OrderStatusForm(formdata=None),
        release_form=ReleaseHoldsForm(formdata=None),
        now=utcnow(),
    )


@bp.post("/holds/release")
def release_holds():
    """Release every expired hold now: the same code as ``flask orders expire-holds``."""
    if ReleaseHoldsForm().validate_on_submit():
        released = release_expired_holds()
        flash(
            f"Released {released.orders} expired hold(s); {released.units} unit(s) are back in stock.",
            "success" if released.orders else "info",
        )
    return redirect(url_for(".orders", status=queries.AWAITING_PAYMENT))


@bp.post("/orders/<number>/status")
def order_status(number: str):
    """Move an order to another status; the inventory observer takes or returns its stock."""
    form = OrderStatusForm()
    back = safe_next(form.next.data) or url_for(".orders")
    if not form.validate_on_submit():
        flash(_form_errors(f"Order {number} was not changed:", form), "error")
        return redirect(back)
    new_status = form.status.data or ""

    def work() -> str:
        order = find_order(db.session, number)
        if order is None:
            abort(404, description=f"There is no order {number}.")
        return change_status(db.session, order, new_status, actor=staff_actor())

    try:
        old_status = commit_unit_of_work(work, actor=staff_actor())
    except InventoryError as exc:
        flash(_problem_lines(f"Order {number} could not be moved to {new_status}:", exc), "error")
        return redirect(back)
    if old_status == new_status:
        flash(f"Order {number} is already {new_status}.", "info")
    else:
        flash(f"Order {number} is now {new_status} (was {old_status}).", "success")
    return redirect(back)


# -- ledger export -------------------------------------------------------------------------


@bp.get("/movements.csv")
def movements_csv():
    """The ledger as CSV, oldest first; ``sku``, ``from`` and ``to`` (ISO dates, inclusive) filter it."""
    sku = request.args.get("sku", "").strip()
    try:
        start, end = day_range(
            parse_day(request.args.get("from"), "from"), parse_day(request.args.get("to"), "to")
        )
    except ValueError as exc:
        abort(400, description=str(exc))
    product_id = _product_or_404(sku).id if sku else None
    rows = queries.ledger_export(db.session, product_id=product_id, start=start, end=end, batch=CSV_BATCH)
    filename = "movements" + (f"-{re.sub(r'[^A-Za-z0-9._-]', '_', sku)}" if sku else "") + ".csv"
    return Response(
        stream_with_context(csv_lines(rows)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
