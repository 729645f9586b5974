"""Signing in, for the API and the console alike: growing waits instead of a lockout a stranger can
impose, every attempt in the access audit, the client's address believed from X-Forwarded-For only
behind a configured proxy, and sessions and tokens that end when they should (退出, a password reset,
a deactivation) and stay ended."""

from __future__ import annotations

import os

import httpx
import msgspec
import pytest

from api.client import resolve, networks
from core.signin import MemoryFailures, RedisFailures, SignInPolicy
from core.tables import User
from tests.helpers import PASSWORD
from tests.test_console import Staff

REDIS_URL = os.environ.get("HUYING_TEST_REDIS_URL")


def from_address(client, ip: str) -> httpx.AsyncClient:
    """A caller whose connection comes from ``ip`` (the app is the one ``client`` started)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=client.app, client=(ip, 40000)),
                             base_url="http://testserver.local", follow_redirects=True)


async def token_for(caller, username: str, password: str = PASSWORD) -> httpx.Response:
    return await caller.post("/api/auth/token", json={"username": username, "password": password})


async def audit(client, auditor_headers, **params) -> list[dict]:
    response = await client.get("/api/access-audit", params={"page_size": 200, **params}, headers=auditor_headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]


@pytest.fixture
async def auditor(client, platform) -> dict[str, str]:
    """An auditor's token, got from an address of its own (so it counts against nobody's limits)."""
    from core.users import add_user

    await add_user("auditor1", role="auditor", password=PASSWORD)
    async with from_address(client, "192.0.2.250") as caller:
        response = await token_for(caller, "auditor1")
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


# -- throttling ----------------------------------------------------------------------------------------

async def test_forty_wrong_console_passwords_are_throttled_and_every_one_is_audited(client, auditor):
    async with from_address(client, "203.0.113.9") as caller:
        staff = Staff(caller)
        await staff.get("/console/login")
        statuses = []
        for _ in range(40):
            response = await staff.post("/console/login", {"username": "supervisor1", "password": "guess-again"})
            statuses.append(response.status_code)
        assert statuses[:5] == [401] * 5 and set(statuses[5:]) == {429}
        assert "登录失败次数过多" in response.text and int(response.headers["retry-after"]) > 0
        right = await staff.post("/console/login", {"username": "supervisor1", "password": PASSWORD})
        assert right.status_code == 429 and "huying_console" not in staff.jar  # the right one waits too
    events = await audit(client, auditor, user="supervisor1")
    outcomes = [(e["action"], e["address"], e["detail"]["via"]) for e in events]
    assert outcomes.count(("login_failed", "203.0.113.9", "console")) == 5
    assert outcomes.count(("login_throttled", "203.0.113.9", "console")) == 36
    assert {e["action_label"] for e in events} == {"登录失败", "登录受限（失败次数过多）"}


async def test_the_wait_doubles_with_each_failure_and_the_right_password_gets_in_after_it(client, platform):
    now = [1000.0]
    platform.sign_in.store = MemoryFailures(now=lambda: now[0])
    async with from_address(client, "203.0.113.20") as caller:
        for _ in range(5):
            assert (await token_for(caller, "agent1", "wrong-one")).status_code == 401
        waits = []
        for _ in range(3):
            held = await token_for(caller, "agent1", "wrong-one")
            assert held.status_code == 429 and "请" in held.json()["detail"]
            waits.append(int(held.headers["retry-after"]))
            now[0] += waits[-1]
            assert (await token_for(caller, "agent1", "wrong-one")).status_code == 401
        assert waits == [30, 60, 120]
        assert int((await token_for(caller, "agent1")).headers["retry-after"]) == 240
        now[0] += 240
        assert (await token_for(caller, "agent1")).status_code == 200


async def test_a_strangers_failures_elsewhere_do_not_stop_the_owner_at_their_usual_address(client):
    async with from_address(client, "10.20.0.7") as desk:
        assert (await token_for(desk, "dispatcher1")).status_code == 200  # the owner's usual address
        for i in range(40):  # someone guessing the account from many addresses
            async with from_address(client, f"198.51.100.{i % 8 + 1}") as stranger:
                await token_for(stranger, "dispatcher1", f"guess-{i}")
        async with from_address(client, "198.51.100.99") as stranger:
            assert (await token_for(stranger, "dispatcher1")).status_code == 429  # a new address waits
        assert (await token_for(desk, "dispatcher1")).status_code == 200  # the owner does not
        staff = Staff(desk)  # nor on the console
        assert (await staff.login("dispatcher1")).status_code == 200 and "huying_console" in staff.jar


async def test_failures_behind_a_shared_address_do_not_lock_out_its_regular_users(client):
    async with from_address(client, "100.64.0.1") as office:
        assert (await token_for(office, "agent1")).status_code == 200
        for i in range(30):  # someone in the same office (one NAT address) guessing other accounts
            await token_for(office, f"nobody{i}", "wrong")
        assert (await token_for(office, "admin1")).status_code == 429  # never signed in from here
        assert (await token_for(office, "agent1")).status_code == 200  # signs in here every day


async def test_unknown_user_wrong_password_and_disabled_account_get_the_same_answer(client, auditor):
    await User.update({User.active: False}).where(User.username == "education_handler")
    answers = []
    async with from_address(client, "203.0.113.40") as caller:
        for username, password in (("no-such-user", PASSWORD), ("agent1", "wrong-pass"), ("education_handler", PASSWORD)):
            response = await token_for(caller, username, password)
            answers.append((response.status_code, response.json()["detail"]))
            console = Staff(caller)
            page = await console.login(username, password)
            answers.append((page.status_code, "用户名或密码错误" in page.text))
    assert answers == [(401, "用户名或密码错误"), (401, True)] * 3
    failed = await audit(client, auditor, action="login_failed")
    assert {e["actor"] for e in failed} == {"no-such-user", "agent1", "education_handler"}


@pytest.mark.skipif(not REDIS_URL, reason="Redis is not reachable here (set HUYING_TEST_REDIS_URL)")
async def test_two_processes_count_sign_in_failures_together_in_redis():
    first, second = (SignInPolicy(RedisFailures(REDIS_URL), per_account=(3, 60), per_address=(20, 60))
                     for _ in range(2))
    await first.reset()
    try:
        for store in (first.store, second.store, first.store):
            await store.add("account:agent-x", 60)
        assert (await second.wait("agent-x", "203.0.113.1", False))[0] == 30
        assert (await first.wait("agent-y", "203.0.113.2", False))[0] == 0
    finally:
        await first.reset()
        for policy in (first, second):
            await policy.store._redis.aclose()


async def test_an_unreachable_redis_still_counts_failures_in_the_process():
    policy = SignInPolicy(RedisFailures("redis://127.0.0.1:1/0"), per_account=(2, 60), per_address=(20, 60))
    for _ in range(2):
        await policy.store.add("account:agent-z", 60)
    assert (await policy.wait("agent-z", "203.0.113.3", False))[0] > 0


# -- the client's address --------------------------------------------------------------------------------

def test_x_forwarded_for_is_read_from_the_right_skipping_trusted_proxies():
    trusted = networks(("10.0.0.0/8", "127.0.0.1"))
    assert resolve("10.0.0.1", ["203.0.113.5"], trusted) == "203.0.113.5"
    assert resolve("10.0.0.1", ["6.6.6.6, 203.0.113.5, 10.0.0.2"], trusted) == "203.0.113.5"  # left is the client's word
    assert resolve("203.0.113.7", ["6.6.6.6"], trusted) == "203.0.113.7"  # not a proxy: header ignored
    assert resolve("10.0.0.1", ["not-an-address"], trusted) == "10.0.0.1"
    assert resolve("127.0.0.1", ["203.0.113.5"], networks(())) == "127.0.0.1"


async def test_x_forwarded_for_is_ignored_unless_the_peer_is_a_configured_proxy(client, platform, auditor):
    # unset: a rotating header from a local proxy is still one address, and is throttled as one
    async with from_address(client, "127.0.0.1") as local:
        statuses = [(await local.post("/api/auth/token", json={"username": f"guess{i}", "password": "x"},
                                      headers={"x-forwarded-for": f"203.0.113.{i}"})).status_code for i in range(21)]
    assert statuses[:20] == [401] * 20 and statuses[20] == 429
    assert {e["address"] for e in await audit(client, auditor, user="guess3")} == {"127.0.0.1"}

    platform.settings = msgspec.structs.replace(platform.settings, trusted_proxies=("127.0.0.1",))
    async with from_address(client, "127.0.0.1") as proxy:
        response = await proxy.post("/api/auth/token", json={"username": "agent1", "password": PASSWORD},
                                    headers={"x-forwarded-for": "6.6.6.6, 198.51.100.23"})
        assert response.status_code == 200
    async with from_address(client, "192.0.2.8") as direct:  # not the proxy: its header proves nothing
        await direct.post("/api/auth/token", json={"username": "agent1", "password": "wrong"},
                          headers={"x-forwarded-for": "198.51.100.23"})
    events = await audit(client, auditor, user="agent1")
    assert [(e["action"], e["address"]) for e in events][:2] == [("login_failed", "192.0.2.8"),
                                                                 ("login_succeeded", "198.51.100.23")]


# -- sessions and tokens end when they should ----------------------------------------------------------

async def _admin_console(client) -> Staff:
    admin = Staff(client)
    assert (await admin.login("admin1")).status_code == 200
    await admin.get("/console/admin/users")
    return admin


async def _user_id(username: str) -> int:
    return (await User.select(User.id).where(User.username == username).first())["id"]


async def test_a_password_reset_ends_the_old_token_and_the_old_console_session(client, auditor):
    old_token = {"Authorization": f"Bearer {(await token_for(client, 'housing_handler')).json()['access_token']}"}
    handler = Staff(client)
    assert (await handler.login("housing_handler")).status_code == 200
    assert (await client.get("/api/orders", headers=old_token)).status_code == 200
    admin = await _admin_console(client)
    reset = await admin.post(f"/console/admin/users/{await _user_id('housing_handler')}",
                             {"op": "reset", "password": "a-new-password-1"})
    assert reset.status_code == 200 and "已重置" in reset.text
    refused = await client.get("/api/orders", headers=old_token)
    assert refused.status_code == 401 and "失效" in refused.json()["detail"]
    out = await handler.get("/console", follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"].startswith("/console/login")
    assert (await token_for(client, "housing_handler", "a-new-password-1")).status_code == 200
    changes = await audit(client, auditor, action="account_changed")
    assert [(e["actor"], e["target"], e["detail"]["change"]) for e in changes] == [
        ("admin1", "housing_handler", "password")]


async def test_reactivating_a_user_does_not_revive_old_tokens_or_sessions(client):
    old_token = {"Authorization": f"Bearer {(await token_for(client, 'hrss_handler')).json()['access_token']}"}
    handler = Staff(client)
    assert (await handler.login("hrss_handler")).status_code == 200
    admin = await _admin_console(client)
    user_id = await _user_id("hrss_handler")
    for op in ("deactivate", "activate"):
        assert (await admin.post(f"/console/admin/users/{user_id}", {"op": op})).status_code == 200
    assert (await client.get("/api/orders", headers=old_token)).status_code == 401
    assert (await handler.get("/console", follow_redirects=False)).status_code == 303
    fresh = {"Authorization": f"Bearer {(await token_for(client, 'hrss_handler')).json()['access_token']}"}
    assert (await client.get("/api/orders", headers=fresh)).status_code == 200


async def test_console_sign_in_logout_and_order_views_are_in_the_access_audit(client, platform, auditor):
    from tests.test_console import _order

    number = await _order(platform)
    async with from_address(client, "192.0.2.31") as caller:
        dispatcher = Staff(caller)
        assert (await dispatcher.login("dispatcher1")).status_code == 200
        assert (await dispatcher.get(f"/console/orders/{number}")).status_code == 200
        assert (await dispatcher.get("/console/orders/20990101-99999")).status_code == 404  # not recorded
        assert (await dispatcher.post("/console/logout")).status_code == 200
    events = await audit(client, auditor, user="dispatcher1")
    assert [(e["action"], e["target"], e["address"], e["detail"].get("via")) for e in events] == [
        ("logout", "", "192.0.2.31", "console"),
        ("view_order", number, "192.0.2.31", "console"),
        ("login_succeeded", "", "192.0.2.31", "console"),
    ]
