"""How an Oscar shop places an order, step by step, with Oscar's own classes (Django must be set up first).

The sequence follows Oscar 4.2's views: the add-to-basket view calls ``Basket.add_product`` once per
line (one request each); the checkout's submit request, one transaction under ``ATOMIC_REQUESTS``,
checks that every line is still available to buy (``CheckoutSessionMixin.check_basket_is_valid``),
freezes the basket (``PaymentDetailsView.submit``), places the order with
``OrderCreator().place_order`` (which allocates stock with ``StockRecord.allocate``, sorted by
stock record) and marks the basket submitted (``OrderPlacementMixin.handle_order_placement``).
Not done: sessions, the offers applicator (no offers exist), payment, e-mails, HTTP.
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from oscar.core.loading import get_class, get_model

from bench.workers import CUSTOMER_EMAIL

Basket = get_model("basket", "Basket")
Product = get_model("catalogue", "Product")
OrderCreator = get_class("order.utils", "OrderCreator")
OrderNumberGenerator = get_class("order.utils", "OrderNumberGenerator")
NoShippingRequired = get_class("shipping.methods", "NoShippingRequired")
OrderTotalCalculator = get_class("checkout.calculators", "OrderTotalCalculator")
Selector = get_class("partner.strategy", "Selector")


class SoldOut(Exception):
    """Oscar's checkout refused the basket: a line is no longer available to buy."""


def fill_basket(product_ids: list[int], strategy) -> Basket:
    """A guest's basket with 1 unit of each product, added as the add-to-basket view adds them."""
    basket = Basket.objects.create()
    basket.strategy = strategy
    for pid in product_ids:
        basket.add_product(Product.objects.get(pk=pid), 1)
    return basket


def check_out(basket: Basket):
    """The checkout's submit request: availability check, freeze, ``OrderCreator().place_order``, submit."""
    with transaction.atomic():  # ATOMIC_REQUESTS: the request is one transaction
        for line in basket.all_lines():
            info = basket.strategy.fetch_for_line(line)
            permitted, reason = info.availability.is_purchase_permitted(line.quantity)
            if not permitted:
                raise SoldOut(f"{line.product.upc}: {reason}")
        number = OrderNumberGenerator().order_number(basket)
        basket.freeze()
        method = NoShippingRequired()
        charge = method.calculate(basket)
        order = OrderCreator().place_order(
            basket=basket,
            total=OrderTotalCalculator().calculate(basket, charge),
            shipping_method=method,
            shipping_charge=charge,
            order_number=number,
            status=settings.OSCAR_INITIAL_ORDER_STATUS,
            guest_email=CUSTOMER_EMAIL,
        )
        basket.submit()
    return order


def place_order(product_ids: list[int], strategy=None):
    """One order of 1 unit of each product, from an empty basket to a placed order."""
    strategy = strategy or Selector().strategy()
    return check_out(fill_basket(product_ids, strategy))
