"""并入此单 over HTTP: the link opens a preview of both orders side by side and changes nothing; only
the confirmation (a POST with the CSRF token) merges, through the lifecycle's audited action; from
the 待派单 queue the dispatcher comes back to the queue with the result on top; a merge that cannot
be done says why on the preview. (The browser walk is in ``test_merge_browser.py``.)"""

from __future__ import annotations

import re

from core.model import Actor
from tests.test_console import _order, _rows, people  # noqa: F401  (fixture)

DISPATCHER = Actor(name="dispatcher1", role="dispatcher")
FLOOD = "梅溪湖路与节庆路交叉口积水严重，水已经漫过人行道，车辆无法通行"


async def _pair(platform) -> tuple[str, str]:
    """Two calls about one flooded crossing, from two phones: the second is the duplicate."""
    first = await _order(platform, subject="节庆路口积水严重", content=FLOOD + "，请尽快排水。",
                         citizen={"name": "李女士", "phone": "13700004321"})
    second = await _order(platform, subject="梅溪湖路节庆路口积水", content=FLOOD + "，行人过不去。",
                          citizen={"name": "王先生", "phone": "13911112222"})
    return first, second


def _preview_link(page: str, number: str, into: str) -> str:
    found = re.search(rf'href="(/console/orders/{number}/merge\?[^"]*into={into}[^"]*)"', page)
    assert found, f"no 并入 link from {number} to {into}"
    return found.group(1).replace("&amp;", "&")


async def test_the_order_page_opens_a_side_by_side_preview_and_nothing_changes_until_confirmed(client, people, platform):
    first, second = await _pair(platform)
    dispatcher = await people("dispatcher1")
    page = await dispatcher.get(f"/console/orders/{second}")
    assert 'id="duplicates"' in page.text and "节庆路口积水严重" in page.text  # the other order, by its subject
    assert f"/console/orders/{second}/act/merge" not in page.text  # no one-click merge any more
    assert f'<form method="get" action="/console/orders/{second}/merge"' in page.text  # 合并 by a typed number: a preview too
    preview = await dispatcher.get(_preview_link(page.text, second, first))
    assert preview.status_code == 200 and 'id="merge-compare"' in preview.text
    table = preview.text[preview.text.index('id="merge-compare"'):preview.text.index("</table>")]
    for shown in (first, second, "节庆路口积水严重", "梅溪湖路节庆路口积水", "，请尽快排水。", "，行人过不去。",
                  "137****4321", "139****2222", "梅溪湖街道", "待派单", "尚未派出"):
        assert shown in table, shown
    assert "13700004321" not in preview.text and "13911112222" not in preview.text  # masked as on the order page
    assert f'href="/console/orders/{second}" id="merge-cancel"' in preview.text or 'id="merge-cancel"' in preview.text
    assert (await platform.orders.get(second, DISPATCHER)).status == "received"  # looking changed nothing

    done = await dispatcher.post(f"/console/orders/{second}/merge", {"into": first, "reason": "同一积水点"})
    assert done.status_code == 200 and str(done.url.path) == f"/console/orders/{second}"
    assert 'id="order-status">已合并' in done.text and f'href="/console/orders/{first}"' in done.text
    record, events = await platform.orders.detail(second, DISPATCHER)
    assert record.status == "merged" and record.merged_into == first
    merge = [e for e in events if e.action == "merge"]
    assert len(merge) == 1 and merge[0].actor == "dispatcher1" and merge[0].payload["reason"] == "同一积水点"


async def test_a_merge_without_the_forms_token_is_refused(client, people, platform):
    first, second = await _pair(platform)
    dispatcher = await people("dispatcher1")
    await dispatcher.get(f"/console/orders/{second}/merge?into={first}")
    refused = await dispatcher.post(f"/console/orders/{second}/merge", {"into": first}, token=False)
    assert refused.status_code == 403
    assert (await platform.orders.get(second, DISPATCHER)).status == "received"


async def test_a_merge_confirmed_from_the_queue_comes_back_to_the_queue_with_its_result(client, people, platform):
    first, second = await _pair(platform)
    other = await _order(platform, subject="小区路灯不亮", content="桃花岭小区门口路灯坏了一周",
                         citizen={"name": "赵女士", "phone": "13600000003"})
    dispatcher = await people("dispatcher1")
    queue = await dispatcher.get("/console/dispatch")
    row = _rows(queue)[_rows(queue).index(f'data-number="{second}"'):]
    row = row[:row.index("</tr>")]
    assert "疑似重复" in row and f'href="/console/orders/{first}"' in row  # the other order's number links to it
    preview = await dispatcher.get(_preview_link(row, second, first))
    assert 'id="merge-cancel"' in preview.text and 'href="/console/dispatch?q=&amp;page=1" id="merge-cancel"' in preview.text
    assert 'name="back" value="dispatch"' in preview.text
    done = await dispatcher.post(f"/console/orders/{second}/merge", {"into": first, "reason": "同一积水点",
                                                                     "back": "dispatch", "q": "", "page": "1"})
    assert done.status_code == 200 and str(done.url.path) == "/console/dispatch"
    assert f"已合并 1 件：{second} 并入 {first}" in done.text and 'id="outcome"' in done.text
    rows = _rows(done)
    assert f'data-number="{second}"' not in rows and f'data-number="{first}"' in rows and f'data-number="{other}"' in rows
    assert (await platform.orders.get(second, DISPATCHER)).merged_into == first
    edited = await dispatcher.get("/console/dispatch?merged=XJ000")  # a hand-edited link: the queue as it is
    assert edited.status_code == 200 and 'id="outcome"' not in edited.text


async def test_a_merge_that_cannot_be_done_says_why_on_the_preview(client, people, platform):
    first, second = await _pair(platform)
    dispatcher = await people("dispatcher1")
    unknown = await dispatcher.get(f"/console/orders/{second}/merge?into=XJ000")
    assert "工单 XJ000 不存在" in unknown.text and 'id="merge-confirm"' not in unknown.text
    itself = await dispatcher.get(f"/console/orders/{second}/merge?into={second}")
    assert "不能把工单合并到它自己" in itself.text and 'id="merge-confirm"' not in itself.text
    preview = await dispatcher.get(f"/console/orders/{second}/merge?into={first}")
    assert 'id="merge-confirm"' in preview.text
    # meanwhile a colleague folds the target into a third order
    third = await _order(platform, subject="节庆路口积水", content=FLOOD, citizen={"name": "钱", "phone": "13500000005"})
    await platform.orders.act(first, "merge", {"into": third, "reason": "同一积水点"}, DISPATCHER)
    late = await dispatcher.post(f"/console/orders/{second}/merge", {"into": first, "reason": "同一积水点"})
    assert late.status_code == 409 and "未能合并" in late.text and f"工单 {first} 已合并，不能并入" in late.text
    assert 'id="merge-confirm"' not in late.text
    assert (await platform.orders.get(second, DISPATCHER)).status == "received"


async def test_a_department_cannot_preview_a_merge_of_an_order_it_cannot_see(client, people, platform):
    first, second = await _pair(platform)
    handler = await people("housing_handler")
    assert (await handler.get(f"/console/orders/{second}/merge?into={first}")).status_code == 404
    assert (await handler.post(f"/console/orders/{second}/merge", {"into": first})).status_code == 404
    assert (await platform.orders.get(second, DISPATCHER)).status == "received"
