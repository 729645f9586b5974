"""Saved views (视图) over HTTP: a member of staff saves the order list's current filter under a name,
finds it as a link at the top of the list and on the home page, opens it, and deletes it; no one else
sees, opens or deletes it; a bad name is refused beside the field with what was typed, and a filter
that is not one of the list's is refused, so a saved view always opens a list."""

from __future__ import annotations

import re
from urllib.parse import unquote_plus as unquote

import pytest

from core import saved_views
from core.errors import InvalidInput
from core.tables import SavedView
from tests.test_console import _order, people  # noqa: F401  (fixture)


def _listed(page, number: str) -> bool:
    return f'<tr data-number="{number}">' in page.text


def _view_id(page_text: str, name: str) -> int:
    found = re.search(r'href="/console/views/(\d+)"[^>]*>' + re.escape(name) + "<", page_text)
    assert found, f"no link to the view {name}"
    return int(found.group(1))


async def test_a_dispatcher_saves_the_filter_as_a_view_and_opens_it_from_the_list_and_the_home_page(
        client, people, platform):
    complaint = await _order(platform, kind="complaint", subject="夜间施工噪音")
    consult = await _order(platform, kind="consult", subject="社保卡补办咨询")
    dispatcher = await people("dispatcher1")
    listed = await dispatcher.get("/console/orders?kind=complaint&sort=due")
    assert 'id="save-view"' in listed.text and 'name="query" value="kind=complaint&amp;sort=due"' in listed.text

    saved = await dispatcher.post("/console/views", {"name": "我的投诉", "query": "kind=complaint&sort=due&page=2"})
    assert saved.status_code == 200 and "已保存视图「我的投诉」" in saved.text
    assert "<h1>我的投诉" in saved.text  # the list open on the view is named by it
    assert _listed(saved, complaint) and not _listed(saved, consult)
    [row] = await SavedView.select().where(SavedView.username == "dispatcher1")
    assert row["name"] == "我的投诉" and row["query"] == "kind=complaint&sort=due"  # no page kept

    plain = await dispatcher.get("/console/orders")
    view = _view_id(plain.text, "我的投诉")
    assert _listed(plain, consult)
    opened = await dispatcher.get(f"/console/views/{view}")
    assert opened.status_code == 200 and "kind=complaint" in str(opened.url)
    assert _listed(opened, complaint) and not _listed(opened, consult)
    assert 'aria-current="page">我的投诉<' in opened.text

    home = await dispatcher.get("/console")
    assert 'id="home-views"' in home.text and _view_id(home.text, "我的投诉") == view


async def test_a_view_is_deleted_by_its_owner_and_the_list_stays_as_it_was(client, people, platform):
    dispatcher = await people("dispatcher1")
    await dispatcher.get("/console/orders")
    await dispatcher.post("/console/views", {"name": "超期的", "query": "deadline=overdue"})
    page = await dispatcher.get("/console/orders?deadline=overdue")
    view = _view_id(page.text, "超期的")
    assert "<h1>超期的" in page.text  # the list in the default order is the view saved without one
    gone = await dispatcher.post(f"/console/views/{view}/delete", {"back": "deadline=overdue&sort=received_desc"})
    assert gone.status_code == 200 and "已删除视图「超期的」" in gone.text
    assert "deadline=overdue" in unquote(str(gone.url))  # back on the same list
    assert 'id="views"' not in gone.text and await SavedView.count() == 0
    again = await dispatcher.get(f"/console/views/{view}")
    assert again.status_code == 404


async def test_no_one_else_sees_opens_or_deletes_a_users_view(client, people, platform):
    dispatcher = await people("dispatcher1")
    await dispatcher.get("/console/orders")
    await dispatcher.post("/console/views", {"name": "派单员的视图", "query": "status=received"})
    view = _view_id((await dispatcher.get("/console/orders")).text, "派单员的视图")

    supervisor = await people("supervisor1")
    page = await supervisor.get("/console/orders")
    assert "派单员的视图" not in page.text
    assert "派单员的视图" not in (await supervisor.get("/console")).text
    assert (await supervisor.get(f"/console/views/{view}")).status_code == 404
    refused = await supervisor.post(f"/console/views/{view}/delete")
    assert refused.status_code == 404 and await SavedView.count() == 1
    # the same name is free for someone else
    mine = await supervisor.post("/console/views", {"name": "派单员的视图", "query": "status=returned"})
    assert mine.status_code == 200 and await SavedView.count() == 2


@pytest.mark.parametrize("name, status, reason", [
    ("", 400, "请填写视图名称"),
    ("   ", 400, "请填写视图名称"),
    ("超" * 31, 400, "视图名称不能超过 30 个字"),
    ("本周\x07投诉", 400, "视图名称不能含有控制字符"),
])
async def test_a_bad_name_is_refused_beside_the_field_keeping_what_was_typed(client, people, platform, name, status,
                                                                            reason):
    number = await _order(platform, kind="complaint")
    dispatcher = await people("dispatcher1")
    await dispatcher.get("/console/orders")
    refused = await dispatcher.post("/console/views", {"name": name, "query": "kind=complaint"})
    assert refused.status_code == status
    assert f'<p class="error" id="view-name-error">{reason}' in refused.text
    assert '<details class="dropdown end" id="save-view" open>' in refused.text  # the form stays open
    if name.strip() and "\x07" not in name:
        assert f'value="{name}"' in refused.text  # what was typed is still there
    assert _listed(refused, number)  # the list as it was, filter and all
    assert 'name="query" value="kind=complaint' in refused.text
    assert await SavedView.count() == 0


async def test_a_name_is_used_once_per_user_and_twenty_views_are_the_most(client, people, platform):
    dispatcher = await people("dispatcher1")
    await dispatcher.get("/console/orders")
    await dispatcher.post("/console/views", {"name": "待派单", "query": "status=received"})
    twice = await dispatcher.post("/console/views", {"name": "待派单", "query": "status=returned"})
    assert twice.status_code == 409 and "已有同名视图「待派单」" in twice.text and 'value="待派单"' in twice.text
    for i in range(2, saved_views.PER_USER + 1):
        done = await dispatcher.post("/console/views", {"name": f"视图{i}", "query": "status=received"})
        assert done.status_code == 200, done.text
    over = await dispatcher.post("/console/views", {"name": "再多一个", "query": "status=received"})
    assert over.status_code == 409 and "每人最多保存 20 个视图" in over.text and 'value="再多一个"' in over.text
    assert await SavedView.count() == saved_views.PER_USER


@pytest.mark.parametrize("query, reason", [
    ("status=nope", "状态：没有这个状态"),
    ("received_from=2026-13-01", "受理日期从"),
    ("kpi=completed", "统计日期"),
    ("evil=1&status=received", "不认识的筛选条件：evil"),
    ("sort=drop_table", "没有这种排序"),
    ("q=" + "长" * 3000, "筛选条件太长"),
])
async def test_a_filter_that_is_not_the_lists_is_refused_so_a_view_always_opens(client, people, platform, query,
                                                                               reason):
    dispatcher = await people("dispatcher1")
    await dispatcher.get("/console/orders")
    refused = await dispatcher.post("/console/views", {"name": "坏视图", "query": query})
    assert refused.status_code == 400 and reason in refused.text, refused.text[-3000:]
    assert await SavedView.count() == 0


def test_a_view_keeps_the_criteria_and_the_sort_in_one_spelling():
    assert saved_views.canonical("?queue=overdue&page=3&sort=due&deadline=overdue&statuses=received,accepted"
                                 "&done=x&rework=on") == "statuses=received%2Caccepted&deadline=overdue&rework=1&sort=due"
    assert saved_views.canonical("") == "sort=received_desc"  # the list's own order, named
    assert saved_views.canonical("kind=consult") == "kind=consult&sort=received_desc"
    with pytest.raises(InvalidInput):
        saved_views.canonical("department=" + "x" * 65)  # longer than any department code
