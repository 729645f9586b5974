"""The management desk in real headless Chromium, on a real uvicorn server running its jobs: a
supervisor opens last month's 月报 in the console and downloads its workbook and its written report
(the .docx reads back with the workbook's totals); a notice reaches a second signed-in browser within
two seconds of the action that caused it; the board hangs on a wall at 1920×1080.

Uses the harness of ``test_browser.py`` (skipped locally without Chromium, a failure in CI).
"""

from __future__ import annotations

import datetime as dt
import io
import shutil
import tempfile
import time
from pathlib import Path

import msgspec
import openpyxl
import pytest
from docx import Document

from api.app import create_app
from core.clock import SHANGHAI
from core import clock
from core.intake import IntakeRequest
from core.model import Actor
from tests.helpers import intake_body, serve_in_thread
from tests.test_browser import CHROMEDRIVER, CHROMIUM, FLAGS, _backend, driver, screenshots  # noqa: F401
from tests.test_console_browser import Desk

pytestmark = pytest.mark.browser
DISPATCHER = Actor(name="dispatcher1", role="dispatcher")


@pytest.fixture
def served(platform):
    """The app with its jobs (the outbox delivered as it is written), as ``huying serve`` runs it."""
    with serve_in_thread(create_app(platform, pool=False, run_jobs=True)) as base:
        yield base


@pytest.fixture
def second_driver(driver):  # noqa: F811  (the first browser must exist: it checks Chromium is here)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="huying-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    browser.set_page_load_timeout(30)
    try:
        yield browser
    finally:
        browser.quit()
        shutil.rmtree(profile, ignore_errors=True)


async def _order(platform, **overrides) -> str:
    _, made = await platform.orders.intake("hotline", msgspec.convert(intake_body(**overrides), IntakeRequest),
                                           Actor(name="agent1", role="agent"))
    return made.number


def _downloaded(folder: Path, suffix: str, seconds: float = 20) -> bytes:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        done = [p for p in folder.glob(f"*{suffix}")]
        if done:
            return done[0].read_bytes()
        time.sleep(0.1)
    raise AssertionError(f"no {suffix} downloaded into {folder}")


async def test_a_supervisor_downloads_last_months_report_and_its_written_report(driver, served, platform,  # noqa: F811
                                                                                 screenshots, tmp_path):
    last_month = (clock.today().replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    for day, subject in ((3, "楼道灯坏了"), (5, "小区垃圾清运不及时"), (9, "夜间施工噪音扰民")):
        received = dt.datetime.combine(last_month.replace(day=day), dt.time(10), SHANGHAI)
        await _order(platform, subject=subject, received_at=received.isoformat())
    me = Desk(driver, served, screenshots / "console" / _backend(platform))
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)})
    me.sign_in("supervisor1")
    me.press('header a[href="/console/reports"]')
    me.choose("#period", "monthly")
    driver.execute_script("document.getElementById('start').value = arguments[0]", last_month.isoformat())
    me.press("#report-choice button[type=submit]")
    assert f"{last_month:%Y年%m月}" in me.text("h1") and "月报" in me.text("h1")
    assert me.text("#report-totals li:first-child .n") == "3"
    me.shoot("40-supervisor-reports")
    me.find("#report-xlsx").click()
    workbook = _downloaded(tmp_path, ".xlsx")
    me.find("#report-docx").click()
    written = _downloaded(tmp_path, ".docx")
    overview = {r[1]: r[2] for r in openpyxl.load_workbook(io.BytesIO(workbook))["概览"].iter_rows(min_row=2, values_only=True)}
    table = next(t for t in Document(io.BytesIO(written)).tables if t.rows[0].cells[0].text == "指标")
    in_docx = {row.cells[0].text: row.cells[1].text for row in table.rows[1:]}
    assert overview["受理量"] == 3
    for label in ("受理量", "办结量", "派单工单数", "回访量", "超期未办结量"):
        assert in_docx[label] == f"{overview[label]:,}", label
    me.open(me.find("#report-view").get_attribute("href").replace(served, ""))
    assert "月报" in me.text("h1")
    me.shoot("41-report-printable")


async def test_a_notice_reaches_a_second_browser_within_two_seconds(driver, second_driver, served, platform,  # noqa: F811
                                                                    screenshots):
    number = await _order(platform, subject="楼道灯坏了")
    await platform.orders.act(number, "dispatch", {"department": "housing"}, DISPATCHER)
    folder = screenshots / "console" / _backend(platform)
    watching = Desk(second_driver, served, folder)
    watching.sign_in("dispatcher1")
    watching.open("/console/notifications")
    watching.wait_for(lambda d: watching.find("#notices").get_attribute("data-live") == "on")
    handler = Desk(driver, served, folder)
    handler.sign_in("housing_handler")
    handler.open(f"/console/orders/{number}")
    handler.open_action("return")
    handler.type("#action-return textarea", "该点位属于城管局职责")
    started = time.monotonic()
    handler.press("#action-return button[type=submit]")
    watching.wait_for(lambda d: watching.text("#notice-count") == "1", seconds=5)
    took = time.monotonic() - started
    assert took < 2, f"the notice took {took:.2f} s"
    assert f"工单{number}「楼道灯坏了」被住房和城乡建设局退回：该点位属于城管局职责" in watching.text("#notice-list")
    assert "退回" in watching.text("#notice-toasts")
    watching.shoot("42-notice-arrived")
    print(f"notice in the second browser after {took:.2f} s")
    second_driver.get("about:blank")  # the stream closes with the page


async def test_the_board_on_a_wall_screen(driver, served, platform, screenshots):  # noqa: F811
    await _order(platform, subject="路灯不亮")
    me = Desk(driver, served, screenshots / "console" / _backend(platform))
    me.sign_in("supervisor1")
    me.open("/console/board")
    me.press("#wall-link")
    assert not me.all("header.bar") and me.find("#board").get_attribute("data-refresh") == "30"
    me.screen("1920x1080")
    assert me.text("#intake-today") == "1"
    await _order(platform, subject="路灯又不亮")
    me.wait_for(lambda d: me.text("#intake-today") == "2", seconds=40)
    me.shoot("43-board-wall")
    driver.get("about:blank")
