"""Hypothesis throws arbitrary arguments at the CLI: a clear error every time, never a crash, no stray change."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.databases import make_app
from tests.support.factories import add_product
from tests.support.readers import counts, stock_of

FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
# Text that looks a bit like real input and a bit like garbage: SKUs, numbers, separators, unicode.
NASTY = st.one_of(
    st.text(max_size=30),
    st.from_regex(r"-?[0-9]{1,25}", fullmatch=True),
    st.sampled_from(
        [
            "TEA",
            "TEA:1",
            "TEA:0",
            "TEA:-1",
            "TEA:1e3",
            "TEA:９",
            ":",
            "::",
            "",
            " ",
            "TEA:99999999999",
            "NOPE:1",
            "x" * 300,
            "TEA:1:2",
            "-1",
            "0",
            "1.5",
            "nan",
            "ＴＥＡ:1",
            "TEA\x00:1",
        ]
    ),
).filter(lambda s: "\x00" not in s)


@pytest.fixture(params=["sqlite", "postgresql"])
def fuzz_app(request, database_urls):
    yield from make_app(database_urls(request.param))


@pytest.fixture
def fuzz(fuzz_app):
    with fuzz_app.app_context():
        from shop.extensions import db

        add_product(db.session, "TEA", 10)
        yield fuzz_app.test_cli_runner(), db.session


def outcome(result):
    """The command ended with an exit code (0, a usage error or a refusal), not an unexpected exception."""
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    if result.exit_code:
        assert result.output.strip(), "a failing command must say why"
        assert "Traceback" not in result.output
    return result.exit_code


def assert_unchanged_unless_ok(session, code, before):
    session.rollback()
    if code != 0:
        assert (counts(session), stock_of(session, "TEA")) == before


@FUZZ
@given(items=st.lists(NASTY, min_size=1, max_size=4), status=NASTY, email=NASTY)
def test_orders_place_survives_any_arguments(fuzz, items, status, email):
    runner, session = fuzz
    before = (counts(session), stock_of(session, "TEA"))
    args = ["orders", "place", "--status", status, "--email", email]
    for item in items:
        args += ["--item", item]
    assert_unchanged_unless_ok(session, outcome(runner.invoke(args=args)), before)


@FUZZ
@given(sku=NASTY, delta=NASTY, reason=NASTY, note=NASTY)
def test_inventory_adjust_survives_any_arguments(fuzz, sku, delta, reason, note):
    runner, session = fuzz
    before = (counts(session), stock_of(session, "TEA"))
    code = outcome(
        runner.invoke(args=["inventory", "adjust", sku, delta, "--reason", reason, "--note", note])
    )
    assert_unchanged_unless_ok(session, code, before)


@FUZZ
@given(number=NASTY, status=NASTY)
def test_orders_set_status_and_show_survive_any_arguments(fuzz, number, status):
    runner, session = fuzz
    before = (counts(session), stock_of(session, "TEA"))
    assert outcome(runner.invoke(args=["orders", "set-status", number, status])) != 0
    assert outcome(runner.invoke(args=["orders", "show", number])) != 0
    assert_unchanged_unless_ok(session, 1, before)


@FUZZ
@given(
    content=st.one_of(
        st.binary(max_size=200),
        st.text(max_size=200).map(lambda t: t.encode("utf-8")),
        st.lists(st.lists(NASTY, max_size=5), max_size=5).map(
            lambda rows: (
                "sku,name,price_cents,quantity\n" + "\n".join(",".join(row) for row in rows)
            ).encode("utf-8")
        ),
    )
)
def test_inventory_import_survives_any_file(fuzz, tmp_path_factory, content):
    runner, session = fuzz
    path = tmp_path_factory.mktemp("import") / "fuzz.csv"
    path.write_bytes(content)
    before = (counts(session), stock_of(session, "TEA"))
    assert_unchanged_unless_ok(
        session, outcome(runner.invoke(args=["inventory", "import", str(path)])), before
    )
