"""End to end in real headless Chromium: a citizen fills each channel's form on a phone-sized screen,
sees the inline errors, keeps what they typed, submits, tracks the order and rates it once it is
done. The app runs on a real uvicorn server. Screenshots of every page at phone and desktop width go
to ``test-artifacts/screenshots/<backend>/`` (the path is printed).

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them). Without them the
tests skip locally with the reason, and fail in CI.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

import pytest

from api.app import create_app
from api.web.forms import all_fields, sections
from api.web.tracking import publishes_replies
from core.model import Actor
from core.plugins import Channels, get_plugin_manager
from tests.test_web import PNG, valid_form

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
         "--lang=zh-CN")
SCREENS = {"phone": (390, 844, True), "desktop": (1366, 900, False)}
SHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"
PUBLIC_CHANNELS = [c for c in Channels(get_plugin_manager()) if c.public]
CHANNEL_CODES = [c.code for c in PUBLIC_CHANNELS]
AGENT = Actor(name="agent1", role="agent")


def _browser_missing() -> str | None:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium（pip install -e .[test]）")
    if missing:
        return f"浏览器测试需要 {', '.join(missing)}：apt-get install chromium chromium-driver"
    return None


@pytest.fixture(scope="session")
def screenshots(request) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / "LAST_RUN.txt").write_text(dt.datetime.now().isoformat(timespec="seconds") + "\n")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print(f"\n截图目录 screenshots: {SHOTS}/<sqlite|postgres>/", flush=True)
    return SHOTS


@pytest.fixture(scope="module")
def driver():
    reason = _browser_missing()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(platform):
    """The app on a real uvicorn server in a background thread, on the test's platform."""
    import uvicorn

    app = create_app(platform, pool=False, run_jobs=False)
    app.state.web.limiter.limits.update(submit=(1000, 60), track=(1000, 60))
    port = _free_port()
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on",
                                       timeout_graceful_shutdown=1))  # console pages keep an event stream open
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        uv.should_exit = True
        thread.join(10)


class Citizen:
    """What a person at the screen does: open, type, tick, press, read, and take a picture of it."""

    def __init__(self, driver, base: str, folder: Path):
        self.d = driver
        self.base = base
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.screen("phone")

    def screen(self, name: str) -> None:
        width, height, mobile = SCREENS[name]
        self.d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})

    def shoot(self, name: str) -> None:
        """The whole page at phone and at desktop width; the citizen goes on at phone width."""
        for screen, (width, _, _) in SCREENS.items():
            self.screen(screen)
            height = self.d.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]["height"]
            shot = self.d.execute_cdp_cmd("Page.captureScreenshot", {
                "format": "png", "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": width, "height": min(height, 12000), "scale": 1}})
            (self.folder / f"{name}-{screen}.png").write_bytes(base64.b64decode(shot["data"]))
        self.screen("phone")

    def open(self, path: str) -> None:
        self.d.get(self.base + path)

    def find(self, css: str):
        from selenium.webdriver.common.by import By

        return self.d.find_element(By.CSS_SELECTOR, css)

    def all(self, css: str):
        from selenium.webdriver.common.by import By

        return self.d.find_elements(By.CSS_SELECTOR, css)

    def text(self, css: str) -> str:
        found = self.all(css)
        return found[0].text.strip() if found else ""

    def press(self, css: str = "form button[type=submit]") -> None:
        """Press a button (or follow a link) and wait for the next page."""
        from selenium.webdriver.support.ui import WebDriverWait

        page = self.find("html")
        self.find(css).click()
        WebDriverWait(self.d, 15).until(_left(page))
        WebDriverWait(self.d, 15).until(lambda d: d.execute_script("return document.readyState") == "complete")

    def tick(self, name: str, value: str | None = None) -> None:
        """Tick a radio button or box by clicking its label, as a finger would."""
        selector = f'input[name="{name}"]' + (f'[value="{value}"]' if value is not None else "")
        box = self.find(selector)
        if not box.is_selected():
            self.find(f'label[for="{box.get_attribute("id")}"]').click()

    def fill(self, field, value) -> None:
        from selenium.webdriver.support.ui import Select

        control = field.control
        if control in ("radios",):
            self.tick(field.name, str(value))
        elif control == "checkboxes":
            for item in value:
                self.tick(field.name, item)
        elif control == "checkbox":
            if value:
                self.tick(field.name)
        elif control == "select":
            Select(self.find(f'[name="{field.name}"]')).select_by_value(str(value))
        elif control in ("date", "datetime"):  # typed dates depend on the browser's locale
            self.d.execute_script("arguments[0].value = arguments[1]", self.find(f'[name="{field.name}"]'), value)
        else:
            element = self.find(f'[name="{field.name}"]')
            element.clear()
            element.send_keys(str(value))

    def value(self, field) -> object:
        if field.control in ("radios", "checkboxes"):
            picked = [b.get_attribute("value") for b in self.all(f'input[name="{field.name}"]') if b.is_selected()]
            return picked if field.control == "checkboxes" else (picked[0] if picked else "")
        element = self.find(f'[name="{field.name}"]')
        if field.control == "checkbox":
            return element.is_selected()
        return element.get_attribute("value")


def _left(page):
    """The old page is gone. Chromium sometimes answers a look at a node of a page being replaced
    with an inspector error instead of "stale element"; both mean the navigation happened."""
    from selenium.common.exceptions import WebDriverException

    def gone(_driver) -> bool:
        try:
            page.is_enabled()
        except WebDriverException:
            return True
        return False

    return gone


def _backend(platform) -> str:
    return "sqlite" if platform.settings.is_sqlite else "postgres"


def _expected(field, value):
    if field.control == "checkbox":
        return bool(value)
    return value if field.control == "checkboxes" else str(value)


@pytest.mark.parametrize("code", CHANNEL_CODES)
async def test_a_citizen_reports_tracks_and_rates_through_each_channel_form(
        code, driver, server, platform, client, tokens, screenshots, tmp_path):
    me = Citizen(driver, server, screenshots / _backend(platform))
    channel = platform.channels.get(code)
    fields = {f.name: f for f in all_fields(sections(channel))}

    me.open("/forms")
    me.press(f'a[href="/forms/{code}"]')
    assert me.text("h1") == channel.name
    me.shoot(f"{code}-1-form")

    # pressing 提交 on an empty form: every mistake beside its field, and a summary at the top
    me.press()
    assert "还没有提交成功" in me.text("#error-summary")
    for f in fields.values():
        if f.required:
            assert me.text(f"#{f.id}-error"), f.name
            assert me.find(f"#{f.id}").get_attribute("aria-describedby").startswith(f"{f.id}-error")
    me.shoot(f"{code}-2-errors")

    # a wrong phone number: it is pointed out and nothing else that was typed is lost
    form = valid_form(channel, **{"citizen.phone": "12345"})
    for name, value in form.items():
        me.fill(fields[name], value)
    me.press()
    assert "电话格式不正确" in me.text("#f-citizen-phone-error")
    for name, value in form.items():
        assert me.value(fields[name]) == _expected(fields[name], value), name
    me.shoot(f"{code}-3-kept")

    # corrected, with a photo: the confirmation shows the order number and query code, nothing personal
    me.fill(fields["citizen.phone"], "13912345678")
    photo = tmp_path / "现场.png"
    photo.write_bytes(PNG)
    me.find("#f-attachments").send_keys(str(photo))
    me.press()
    assert me.text("h1") == "提交成功", me.text("#error-summary")
    number, query_code = me.text("#order-number"), me.text("#query-code")
    assert number.startswith("XJ") and len(query_code) == 8
    assert "13912345678" not in driver.page_source and "李女士" not in driver.page_source
    me.shoot(f"{code}-4-done")

    # the staff see the order over the API
    staff = await client.get(f"/api/orders/{number}", headers=tokens["agent1"])
    assert staff.status_code == 200 and staff.json()["source"] == "web_form"
    assert staff.json()["subject"] == form["subject"] and staff.json()["channel"] == code

    # tracking with the number and the query code
    me.open("/track")  # typed by hand, as from a note (the form is prefilled for this browser)
    me.fill(_Plain("number"), number)
    me.fill(_Plain("query_code"), query_code.lower())
    me.press()
    assert me.text("#order-number") == number and me.text("#order-status") == "已受理"
    assert "已受理" in me.text("#timeline")
    me.shoot(f"{code}-5-track")

    # the centre answers it on the spot; the citizen sees the reply and rates it
    await platform.orders.act(number, "resolve_at_intake", {"reply": "已联系相关部门处理，问题已解决。"}, AGENT)
    me.open("/track")
    me.fill(_Plain("number"), number)
    me.fill(_Plain("query_code"), query_code)
    me.press()
    assert me.text("#reply") == "已联系相关部门处理，问题已解决。"
    me.press(".rate button[type=submit]")  # forgetting to choose is pointed out
    assert "是否满意" in me.text("#f-satisfaction-error")
    me.shoot(f"{code}-6-rate")
    me.tick("satisfaction", "satisfied")
    me.tick("resolved", "yes")
    me.press(".rate button[type=submit]")
    assert "感谢您的评价" in me.text("#notice") and me.text("#rating") == "满意，已解决"
    me.shoot(f"{code}-7-rated")
    rated = (await client.get(f"/api/orders/{number}", headers=tokens["agent1"])).json()
    assert rated["status"] == "archived" and rated["rating"]["satisfaction"] == "satisfied"


class _Plain:
    """A plain text input that is not a channel field (the tracking form)."""

    control = "input"

    def __init__(self, name: str):
        self.name = name


async def test_the_channel_list_and_tracking_work_with_the_keyboard(driver, server, platform, screenshots):
    from selenium.webdriver.common.keys import Keys

    me = Citizen(driver, server, screenshots / _backend(platform))
    me.open("/forms")
    for code in CHANNEL_CODES:
        assert me.all(f'a[href="/forms/{code}"]')
    me.shoot("0-forms")
    me.open("/track")
    me.shoot("0-track")
    body = me.find("body")
    body.send_keys(Keys.TAB)
    assert driver.switch_to.active_element.text == "跳到主要内容"
    for _ in range(20):  # tab on until the number field
        driver.switch_to.active_element.send_keys(Keys.TAB)
        if driver.switch_to.active_element.get_attribute("name") == "number":
            break
    driver.switch_to.active_element.send_keys("XJ20000101000001", Keys.TAB)
    assert driver.switch_to.active_element.get_attribute("name") == "query_code"
    page = me.find("html")
    driver.switch_to.active_element.send_keys("WRONGCOD", Keys.ENTER)
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 15).until(_left(page))
    assert "工单编号或查询码不正确" in me.text("#track-error")
    assert me.find("#f-number").get_attribute("value") == "XJ20000101000001"
    me.shoot("0-track-wrong")


async def test_a_refused_file_and_a_stale_page_are_explained(driver, server, platform, screenshots, tmp_path):
    me = Citizen(driver, server, screenshots / _backend(platform))
    channel = platform.channels.get("hotline")
    fields = {f.name: f for f in all_fields(sections(channel))}
    me.open("/forms/hotline")
    form = valid_form(channel)
    for name, value in form.items():
        me.fill(fields[name], value)
    fake, photo = tmp_path / "照片.jpg", tmp_path / "路灯.png"
    fake.write_bytes(b"this is not a picture")
    photo.write_bytes(PNG)
    me.find("#f-attachments").send_keys(f"{fake}\n{photo}")
    me.press()
    assert "不是图片（JPG、PNG）、PDF" in me.text("#f-attachments-error")
    assert me.find('[name="subject"]').get_attribute("value") == form["subject"]
    assert "路灯.png" in me.text(".kept")  # the good photo need not be chosen again
    me.shoot("0-attachment-refused")
    me.press()
    assert me.text("h1") == "提交成功" and "已收到附件 1 个" in me.text("main")
    me.open("/forms/hotline")
    for name, value in form.items():
        me.fill(fields[name], value)
    # the CSRF cookie is gone (a page left open for days, cookies cleared): refused, in plain words
    driver.delete_all_cookies()
    me.press()
    assert me.text("h1") == "页面已过期，请重新提交"
    me.shoot("0-csrf-refused")


@pytest.mark.parametrize("code", [c.code for c in PUBLIC_CHANNELS if publishes_replies(c)])
async def test_published_replies_show_consented_letters(code, driver, server, platform, screenshots):
    me = Citizen(driver, server, screenshots / _backend(platform))
    channel = platform.channels.get(code)
    fields = {f.name: f for f in all_fields(sections(channel))}
    me.open(f"/forms/{code}")
    for name, value in valid_form(channel, **{"details.publish_consent": True,
                                              "subject": "建议在新区增加一条公交线路"}).items():
        me.fill(fields[name], value)
    me.press()
    number = me.text("#order-number")
    await platform.orders.act(number, "resolve_at_intake", {"reply": "已转交交通部门研究，计划明年开通。"}, AGENT)
    me.open(f"/forms/{code}/replies")
    assert "建议在新区增加一条公交线路" in me.text(".letters") and "计划明年开通" in me.text(".letters")
    assert "13912345678" not in driver.page_source and number not in driver.page_source
    me.shoot(f"{code}-8-replies")
