"""Every count on the KPI page opens the list of exactly the orders it counts.

The history is the hand-computed 2025 National Day week of ``tests/test_reports.py`` (intake 5,
dispatched 3, completed 3, open and overdue at the week's end 1, called back 3); each count's link
is followed, by the supervisor for the totals and the housing row, by a department's handler too,
and the list's total must equal the number shown.
"""

from __future__ import annotations

import html
import re

from api.console.centre import LINKED_COUNTS
from tests.test_console import people  # noqa: F401  (the signed-in staff fixture)
from tests.test_reports import WEEK_COUNTS, national_day_week

WEEK = "/console/kpis?period=weekly&start=2025-10-01"


def _link(page, name: str, row: str | None = None) -> tuple[str, int] | None:
    """(href, number shown) of one count: in the totals, or in the department table's row ``row``."""
    text = page.text
    if row is not None:
        start = text.index('<table class="list kpi" id="kpi-department">')
        text = text[start:text.index("</table>", start)]
        found = re.search(r'<tr data-value="%s">.*?</tr>' % re.escape(row), text, re.S)
        text = found.group(0) if found else ""
    else:
        text = text[text.index('id="kpi-totals"'):]
        text = text[:text.index("</ul>")]
    found = re.search(r'<a href="([^"]+)" class="kpi-link" data-count="%s">(\d+)</a>' % name, text)
    return (html.unescape(found.group(1)), int(found.group(2))) if found else None


def _numbers(listed) -> set[str]:
    return set(re.findall(r'<a href="/console/orders/([^"]+)">', listed.text))


def _total(listed) -> int:
    return int(re.search(r'<span id="total">共 (\d+) 件</span>', listed.text).group(1))


async def test_every_kpi_count_opens_a_list_of_exactly_the_orders_it_counts(client, people, platform):  # noqa: F811
    h = await national_day_week(platform)
    supervisor = await people("supervisor1")
    page = await supervisor.get(WEEK)
    assert page.status_code == 200, page.text
    for name in LINKED_COUNTS:
        for row in (None, "housing"):
            found = _link(page, name, row)
            assert found is not None, (name, row)
            href, shown = found
            listed = await supervisor.get(href)
            assert listed.status_code == 200, (href, listed.text)
            assert _total(listed) == shown == len(_numbers(listed)), (name, row, href)
        assert _link(page, name)[1] == WEEK_COUNTS[name]
    by_letter = {n: letter for letter, n in h.numbers.items()}

    async def letters(name: str, row: str | None = None) -> set[str]:
        return {by_letter[n] for n in _numbers(await supervisor.get(_link(page, name, row)[0]))}

    # the same orders the hand computation names: completion by its time (D is approved the week
    # after), dispatch by the first dispatch (F is dispatched after Sunday midnight), E still open
    assert await letters("completed") == {"A", "B", "C"}
    assert await letters("completed", "housing") == {"A", "C"}
    assert await letters("dispatched") == {"A", "C", "D"}
    assert await letters("callbacks") == {"A", "B", "C"}
    assert await letters("open_overdue") == {"E"}
    assert await letters("intake", "housing") == {"A", "C", "D", "F"}
    # with a criterion report_facts does not hold, the list is cut on orders: the same orders
    open_ones = await supervisor.get(_link(page, "open_overdue")[0] + "&open_only=1")
    assert {by_letter[n] for n in _numbers(open_ones)} == {"E"} and _total(open_ones) == 1
    oldest_first = await supervisor.get(_link(page, "completed")[0].replace("received_desc", "number"))
    assert {by_letter[n] for n in _numbers(oldest_first)} == {"A", "B", "C"} and _total(oldest_first) == 3

    completed = await supervisor.get(_link(page, "completed")[0])
    assert '<span class="chip kpi">办结时间 2025-09-29 至 2025-10-05</span>' in completed.text
    overdue = await supervisor.get(_link(page, "open_overdue")[0])
    assert "期末超期未办结（截至 2025-10-05 日终）" in overdue.text
    # the chip's 取消 keeps the other criteria and drops the KPI filter
    assert 'href="/console/orders?sort=received_desc"' in completed.text


async def test_the_row_without_a_department_links_to_the_orders_the_centre_answered(client, people, platform):  # noqa: F811
    h = await national_day_week(platform)
    supervisor = await people("supervisor1")
    page = await supervisor.get(WEEK)
    for name in LINKED_COUNTS:  # 未派单/中心办结: B, resolved at intake and called back
        href, shown = _link(page, name, "")
        assert "department=-" in href, href
        listed = await supervisor.get(href)
        assert listed.status_code == 200 and _total(listed) == shown == len(_numbers(listed)), (name, href)
        assert _numbers(listed) <= {h.numbers["B"]}, name
    completed = await supervisor.get(_link(page, "completed", "")[0])
    assert _numbers(completed) == {h.numbers["B"]}
    assert '<option value="-" selected>（未派单/中心办结）</option>' in completed.text
    # the received orders of the week without a department: B (the others were dispatched)
    assert _numbers(await supervisor.get(_link(page, "intake", "")[0])) == {h.numbers["B"]}


async def test_a_handler_following_a_kpi_link_sees_only_their_own_departments_orders(client, people, platform):  # noqa: F811
    h = await national_day_week(platform)
    page = await (await people("supervisor1")).get(WEEK)
    everyone, _ = _link(page, "completed")
    housing_row, _ = _link(page, "completed", "housing")
    housing = await people("housing_handler")
    mine = await housing.get(everyone)
    assert mine.status_code == 200 and _total(mine) == 2
    assert _numbers(mine) == {h.numbers["A"], h.numbers["C"]}  # not B, answered by the centre
    eco = await people("eco_handler")
    theirs = await eco.get(housing_row)
    assert theirs.status_code == 200 and _total(theirs) == 0 and not _numbers(theirs)
    assert _total(await eco.get(_link(page, "dispatched")[0])) == 0  # C went to eco_env first, now housing's


async def test_a_bad_kpi_filter_is_a_400_naming_the_field(client, people, platform, tokens):  # noqa: F811
    supervisor = await people("supervisor1")
    bad = await supervisor.get("/console/orders?kpi=completed&kpi_from=2025-13-01&kpi_to=2025-10-05")
    assert bad.status_code == 400 and "统计日期从：日期格式不正确" in bad.text
    backwards = await supervisor.get("/console/orders?kpi=completed&kpi_from=2025-10-05&kpi_to=2025-09-29")
    assert backwards.status_code == 400 and "统计日期到：结束日期不能早于开始日期" in backwards.text
    unknown = await supervisor.get("/console/orders?kpi=everything&kpi_to=2025-10-05")
    assert unknown.status_code == 400 and "统计口径：" in unknown.text
    headers = tokens["supervisor1"]
    for query, key in (("kpi=completed&kpi_from=2025-13-01&kpi_to=2025-10-05", "kpi_from"),
                       ("kpi=completed&kpi_from=2025-10-01", "kpi_to"),
                       ("kpi=open_overdue&kpi_from=2025-10-01&kpi_to=2025-10-05", "kpi_from"),
                       ("kpi_from=2025-10-01&kpi_to=2025-10-05", "kpi"),
                       ("kpi=completed&kpi_from=2025-10-01&kpi_to=9999-12-31", "kpi_to"),
                       ("kpi=everything&kpi_to=2025-10-05", "kpi")):
        answer = await client.get(f"/api/orders?{query}", headers=headers)
        assert answer.status_code == 400, (query, answer.text)
        assert [e["key"] for e in answer.json()["extra"]] == [key], (query, answer.json())


async def test_the_api_lists_what_a_kpi_count_counts(client, platform, tokens):
    h = await national_day_week(platform)
    week = "kpi_from=2025-09-29&kpi_to=2025-10-05"

    async def numbers(query: str, who: str = "supervisor1") -> set[str]:
        answer = await client.get(f"/api/orders?{query}", headers=tokens[who])
        assert answer.status_code == 200, answer.text
        assert answer.json()["total"] == len(answer.json()["items"])
        return {o["number"] for o in answer.json()["items"]}

    assert await numbers(f"kpi=completed&{week}") == {h.numbers[x] for x in "ABC"}
    assert await numbers(f"kpi=completed&{week}&department=housing") == {h.numbers[x] for x in "AC"}
    assert await numbers(f"kpi=completed&{week}", "housing_handler") == {h.numbers[x] for x in "AC"}
    assert await numbers("kpi=open_overdue&kpi_to=2025-10-05") == {h.numbers["E"]}
    assert await numbers(f"kpi=intake&{week}") == {h.numbers[x] for x in "ABCDF"}


async def test_a_running_month_says_how_far_it_goes_and_colours_changes_by_good_or_bad(
        client, people, platform, frozen_clock):  # noqa: F811
    """The KPI page on 7 December: the month is counted 截至 12月7日 and compared with 1–7 November;
    超期未办结 counts the orders overdue now (not the one due on the 10th) and links to exactly it; its
    rise is coloured bad, the rise in intake is not coloured; no link leads to a month not yet begun."""
    from tests.test_reports import DISPATCHER, HOUSING, Timed, at

    h = Timed(platform, frozen_clock)
    await h.intake("N", "2026-11-03 09:00", priority="urgent")  # overdue from the 4th, still open
    await h.intake("X", "2026-12-01 09:00", priority="urgent")
    await h.act("X", "2026-12-01 09:10", "dispatch", DISPATCHER, department="housing")
    await h.act("X", "2026-12-01 09:20", "accept", HOUSING)
    await h.intake("Y", "2026-12-07 09:00", kind="consult")
    await h.intake("Z", "2026-12-07 09:05")
    frozen_clock.freeze(at("2026-12-07 10:00"))
    supervisor = await people("supervisor1")
    page = await supervisor.get("/console/kpis?period=monthly&start=2026-12-01")
    assert page.status_code == 200, page.text
    assert "2026年12月（截至 12月7日）" in page.text
    assert "统计截至 2026-12-07" in page.text and "2026-11-01 至 2026-11-07" in page.text
    href, shown = _link(page, "open_overdue")
    assert shown == 2 and "kpi_to=2026-12-07" in href
    listed = await supervisor.get(href)
    assert _numbers(listed) == {h.numbers["N"], h.numbers["X"]} and "截至此刻 12-07 10:00" in listed.text
    totals = page.text[page.text.index('id="kpi-totals"'):]
    overdue = totals[totals.index('<li data-name="open_overdue">'):]
    assert 'data-tone="bad"' in overdue[:overdue.index("</li>")]
    intake = totals[totals.index('<li data-name="intake">'):]
    assert 'data-tone="neutral"' in intake[:intake.index("</li>")] and "环比 +200.0%" in intake[:intake.index("</li>")]
    assert "start=2027-01-01" not in page.text  # 下一期 has not begun
