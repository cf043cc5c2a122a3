"""Errors outside the views' own checks are problem documents too."""

import logging

from shop import create_app
from tests.support.api import ApiClient


def test_an_unexpected_error_is_a_500_problem_without_details(tmp_path, caplog):
    """A database without the schema: the query fails; the client gets a plain 500 problem."""
    app = create_app(
        {"DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite'}"}
    )  # not TESTING: no propagation
    with caplog.at_level(logging.ERROR):
        response = ApiClient(app).get("/products", check=False)  # 5xx are not documented
    assert response.status_code == 500
    assert response.mimetype == "application/problem+json"
    assert response.json["code"] == "internal_error"
    assert "no such table" not in response.get_data(as_text=True)
    assert any("no such table" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)


def test_the_bare_prefix_and_unknown_paths_are_404_problems(session, api):
    for path in ("/api/v1", "/api/v1/", "/api/v1/orders/X/status/extra"):
        response = api.get(path)
        assert (response.status_code, response.mimetype) == (404, "application/problem+json"), path


def test_options_and_head_work(session, api):
    assert api.request("HEAD", "/products", check=False).status_code == 200
    assert api.request("OPTIONS", "/orders", check=False).status_code == 200
