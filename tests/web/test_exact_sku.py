"""A product is found by its SKU exactly as written, on every database and at every edge.

MariaDB's ``utf8mb4_bin`` collation compares case exactly but ignores trailing spaces, so each
near miss below runs on all three backends, through ``shop.products.find_product`` and through
the storefront, the staff pages, the API and the CLI that call it.
"""

from __future__ import annotations

import pytest

from shop.products import find_product
from tests.support.factories import add_product
from tests.support.readers import movements, stock_of

SKU = "TEA-1"
NEAR_MISSES = ["tea-1", "Tea-1", "TEA-1 ", "TEA-1  "]


@pytest.fixture
def tea(session):
    add_product(session, SKU, 5)


@pytest.mark.parametrize("sku", NEAR_MISSES)
def test_find_product_finds_only_the_sku_as_written(session, tea, sku):
    found = find_product(session, SKU)
    assert found is not None and found.sku == SKU and found.inventory.quantity == 5
    assert find_product(session, sku) is None


@pytest.mark.parametrize("sku", NEAR_MISSES)
def test_no_edge_finds_a_product_by_a_near_miss(session, tea, client, staff_client, api, runner, sku):
    assert client.get(f"/products/{SKU}").status_code == 200
    assert client.get(f"/products/{sku}").status_code == 404
    assert staff_client.get(f"/staff/products/{sku}").status_code == 404
    assert api.get(f"/products/{sku}").status_code == 404
    result = runner.invoke(args=["inventory", "adjust", sku, "1", "--reason", "restock"])
    assert result.exit_code == 1 and f"There is no product {sku}." in result.output
    assert stock_of(session, SKU) == 5 and len(movements(session, SKU)) == 1  # the initial stock only


@pytest.mark.parametrize("sku", ["tea-1", "Tea-1"])
def test_the_ledger_export_of_another_case_is_not_found(session, tea, staff_client, sku):
    assert staff_client.get(f"/staff/movements.csv?sku={SKU}").text.count("\n") == 2  # header, initial stock
    assert staff_client.get(f"/staff/movements.csv?sku={sku}").status_code == 404
