"""The Integrations page: webhook endpoints (add, enable, disable, rotate the secret, remove, send a test
event) and the recent deliveries with their last answer (retry)."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, url_for
from sqlalchemy import select
from sqlalchemy.orm import contains_eager

from ...database import commit_unit_of_work
from ...errors import InvalidWebhookEndpoint
from ...extensions import db
from ...outbox import EventDelivery, WebhookEndpoint, delivery, webhooks
from .auth import staff_actor
from .forms import ButtonForm, WebhookEndpointForm
from .views import bp

RECENT_DELIVERIES = 50


def _render(form: WebhookEndpointForm | None = None, status: int = 200):
    recent = db.session.scalars(
        select(EventDelivery)
        .join(EventDelivery.event)
        .options(contains_eager(EventDelivery.event))
        .order_by(EventDelivery.id.desc())
        .limit(RECENT_DELIVERIES)
    ).all()
    page = render_template(
        "staff/integrations.html",
        endpoints=webhooks.list_endpoints(db.session),
        deliveries=recent,
        form=form or WebhookEndpointForm(formdata=None),
        button=ButtonForm(formdata=None),
    )
    return page, status


@bp.get("/integrations")
def integrations():
    return _render()


@bp.post("/integrations/endpoints")
def add_endpoint():
    """Add an endpoint; its secret is shown once, in the message that follows."""
    form = WebhookEndpointForm()
    if not form.validate_on_submit():
        return _render(form, 422)
    allow_private = current_app.config["SHOP_WEBHOOKS_ALLOW_PRIVATE"]

    def work() -> tuple[int, str]:
        endpoint, secret = webhooks.add_endpoint(
            db.session,
            form.url.data,
            form.event_types.data or ["*"],
            form.description.data or "",
            allow_private=allow_private,
        )
        db.session.flush()
        return endpoint.id, secret

    try:
        endpoint_id, secret = commit_unit_of_work(work, actor=staff_actor())
    except InvalidWebhookEndpoint as exc:
        fields = {
            "invalid_url": form.url,
            "invalid_event_type": form.event_types,
            "invalid_description": form.description,
        }
        for problem in exc.problems:
            fields[problem.code].errors.append(problem.message)
        return _render(form, 422)
    flash(f"Endpoint {endpoint_id} added. Its signing secret, shown only now: {secret}", "success")
    return redirect(url_for(".integrations"))


def _endpoint(endpoint_id: int) -> WebhookEndpoint:
    endpoint = webhooks.find_endpoint(db.session, endpoint_id)
    if endpoint is None:
        abort(404, description=f"There is no webhook endpoint {endpoint_id}.")
    return endpoint


def _posted() -> None:
    if not ButtonForm().validate_on_submit():
        abort(400, description="The form expired; reload the page and try again.")


@bp.post("/integrations/endpoints/<int:endpoint_id>/<any(enable, disable):action>")
def set_endpoint_enabled(endpoint_id: int, action: str):
    _posted()
    commit_unit_of_work(
        lambda: webhooks.set_enabled(_endpoint(endpoint_id), action == "enable"), actor=staff_actor()
    )
    flash(f"Endpoint {endpoint_id} {action}d.", "success")
    return redirect(url_for(".integrations"))


@bp.post("/integrations/endpoints/<int:endpoint_id>/rotate-secret")
def rotate_endpoint_secret(endpoint_id: int):
    _posted()
    secret = commit_unit_of_work(lambda: webhooks.rotate_secret(_endpoint(endpoint_id)), actor=staff_actor())
    flash(f"Endpoint {endpoint_id} has a new signing secret, shown only now: {secret}", "success")
    return redirect(url_for(".integrations"))


@bp.post("/integrations/endpoints/<int:endpoint_id>/remove")
def remove_endpoint(endpoint_id: int):
    _posted()
    commit_unit_of_work(lambda: db.session.delete(_endpoint(endpoint_id)), actor=staff_actor())
    flash(f"Endpoint {endpoint_id} removed, with its deliveries.", "success")
    return redirect(url_for(".integrations"))


@bp.post("/integrations/endpoints/<int:endpoint_id>/test")
def test_endpoint(endpoint_id: int):
    """Send a signed ``ping`` now and say what the endpoint answered."""
    _posted()
    outcome = delivery.ping(_endpoint(endpoint_id))
    db.session.rollback()
    answer = outcome.answer if outcome.status is None else f"HTTP {outcome.status} {outcome.answer}".strip()
    flash(f"Test event to endpoint {endpoint_id}: {answer}", "success" if outcome.delivered else "error")
    return redirect(url_for(".integrations"))


@bp.post("/integrations/deliveries/<int:delivery_id>/retry")
def retry_delivery(delivery_id: int):
    _posted()
    retried = commit_unit_of_work(
        lambda: delivery.retry_now(db.session, delivery_id=delivery_id), actor=staff_actor()
    )
    if not retried:
        abort(404, description=f"There is no undelivered delivery {delivery_id}.")
    flash(f"Delivery {delivery_id} is due now: the worker sends it within seconds.", "success")
    return redirect(url_for(".integrations"))
