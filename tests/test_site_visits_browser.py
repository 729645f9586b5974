"""On-site verification from a phone, in real headless Chromium at 390×844 on a slow connection: the
supervisor schedules a verification of an appeal, records it on the phone (the phone's position, a
photo taken through the camera input, resized in the browser before upload) and rules the appeal
with the verification, its photo and conclusion beside the ruling buttons. Screenshots go to
``test-artifacts/screenshots/site-visits/<backend>/``.

Uses the harness of ``test_browser.py`` (Debian ``chromium`` + ``chromium-driver``).
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest

from tests.helpers import PASSWORD
from tests.test_browser import _backend, _left, driver, screenshots, server  # noqa: F401  (fixtures)
from tests.test_site_visits import appealed_order

pytestmark = pytest.mark.browser

PHONE = (390, 844)
SLOW = {"offline": False, "latency": 300, "downloadThroughput": 750 * 1024 // 8, "uploadThroughput": 750 * 1024 // 8}
PAGE_BYTES = 16 * 1024  # the HTML of a phone page, and each of its stylesheet and script


class Phone:
    """A member of staff with a phone: open, type, tap, read, take pictures of the screen."""

    def __init__(self, driver, base: str, folder: Path):
        self.d = driver
        self.base = base
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": PHONE[0], "height": PHONE[1], "deviceScaleFactor": 1, "mobile": True})

    def shoot(self, name: str) -> None:
        height = self.d.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]["height"]
        shot = self.d.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": PHONE[0], "height": min(max(height, PHONE[1]), 8000), "scale": 1}})
        (self.folder / f"{name}-390x844.png").write_bytes(base64.b64decode(shot["data"]))

    def open(self, path: str) -> None:
        self.d.get(self.base + path)

    def find(self, css: str):
        from selenium.webdriver.common.by import By

        return self.d.find_element(By.CSS_SELECTOR, css)

    def text(self, css: str) -> str:
        from selenium.webdriver.common.by import By

        found = self.d.find_elements(By.CSS_SELECTOR, css)
        return found[0].text.strip() if found else ""

    def wait_for(self, condition, seconds: float = 30):
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(self.d, seconds).until(condition)

    def press(self, css: str) -> None:
        page = self.find("html")
        self.find(css).click()
        self.wait_for(_left(page))
        self.wait_for(lambda d: d.execute_script("return document.readyState") == "complete")

    def type(self, css: str, text: str) -> None:
        element = self.find(css)
        element.clear()
        element.send_keys(text)

    def fits_the_screen(self) -> bool:
        return self.d.execute_script("return document.documentElement.scrollWidth") <= PHONE[0]


def camera_photo(path: Path) -> int:
    """A 4000×3000 JPEG as a phone camera writes it; its size in bytes."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (4000, 3000), (90, 140, 200))
    draw = ImageDraw.Draw(image)
    for i in range(0, 4000, 40):
        draw.line([(i, 0), (4000 - i, 3000)], fill=(i % 255, 120, 255 - i % 255), width=9)
    draw.rectangle([1200, 900, 2800, 2100], fill=(200, 60, 40))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=95)
    path.write_bytes(out.getvalue())
    return len(out.getvalue())


async def test_a_verification_recorded_on_a_phone_shows_on_the_appeals_ruling_page(driver, server, platform,
                                                                                   screenshots, tmp_path):
    from PIL import Image

    me = Phone(driver, server, screenshots / "site-visits" / _backend(platform))
    number = await appealed_order(platform)

    me.open("/console/login")
    me.type("#username", "supervisor1")
    me.type("#password", PASSWORD)
    me.press(".login button[type=submit]")

    # the supervisor schedules the verification from the appeal's page
    me.open(f"/console/orders/{number}")
    assert me.text("#order-status") == "申诉审核中"
    me.press("#schedule-visit")
    assert me.fits_the_screen()
    me.find("#staff-dispatcher1").click()
    me.type("#note", "核实工地夜间是否仍在施工")
    me.shoot("01-schedule")
    me.press("#schedule-submit")
    assert "待核实" in me.text("#site-visits")

    # on the phone, over a slow connection: my verifications, then the record form
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.emulateNetworkConditions", SLOW)
    driver.execute_cdp_cmd("Browser.grantPermissions", {"origin": server, "permissions": ["geolocation"]})
    driver.execute_cdp_cmd("Emulation.setGeolocationOverride", {"latitude": 28.2282, "longitude": 112.9388,
                                                                 "accuracy": 12})
    me.open("/console/m/visits")
    assert number in me.text("#visit-list") and me.fits_the_screen()
    assert len(driver.page_source.encode()) < PAGE_BYTES
    me.shoot("02-my-visits")
    me.press("#visit-list a")
    assert len(driver.page_source.encode()) < PAGE_BYTES
    file_input = me.find("#photos")
    assert file_input.get_attribute("accept") == "image/*" and file_input.get_attribute("capture") == "environment"

    driver.execute_script("document.getElementById('record-form').noValidate = true")
    me.press("#record-submit")  # nothing filled in (past the browser's own check): each field says what it needs
    assert "请填写核实情况" in me.text("main") and "请选择核实结论" in me.text("main")

    me.type("#findings", "晚上十一点到场，工地仍在浇筑混凝土，噪音明显")
    me.find("#conclusion-confirmed").click()
    me.find("#locate").click()
    me.wait_for(lambda d: "已定位" in me.text("#locate-status"))
    original = camera_photo(tmp_path / "IMG_0001.jpg")
    me.find("#photos").send_keys(str(tmp_path / "IMG_0001.jpg"))
    me.wait_for(lambda d: "已选 1 张" in me.text("#photo-status"))
    me.shoot("03-record")
    me.press("#record-submit")
    driver.execute_cdp_cmd("Network.emulateNetworkConditions", {**SLOW, "latency": 0, "downloadThroughput": -1,
                                                                "uploadThroughput": -1})
    assert me.text("#done") == "已记录实地核实"
    assert "属实" in me.text(".site-visit") and "北纬 28.22820" in me.text(".site-visit")
    me.shoot("04-recorded")

    # the photo went up resized in the browser, and the server kept it as an attachment of the order
    (visit,) = await platform.site_visits.for_order(number, _supervisor())
    (photo,) = visit.photos
    stored = platform.attachments.open(photo.key)
    assert len(stored) < original / 4
    assert max(Image.open(io.BytesIO(stored)).size) == 1600

    # the ruling page: the verification with its photo and conclusion beside the ruling buttons
    me.open(f"/console/orders/{number}")
    section = me.find("#site-visits")
    assert "属实" in section.text and "晚上十一点到场" in section.text
    assert driver.execute_script("return document.querySelector('#site-visits img').naturalWidth") > 0
    assert me.find("#action-uphold_appeal") and me.find("#action-reject_appeal")
    ruling = me.find("#action-uphold_appeal").location["y"]
    assert 0 < ruling - section.location["y"] < 1200  # right above the buttons, not at the page's foot
    me.shoot("05-ruling-page")
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {  # the ruling itself, at the desk
        "width": 1366, "height": 768, "deviceScaleFactor": 1, "mobile": False})
    me.find("#action-reject_appeal > summary").click()
    me.type("#reject_appeal-f-reason", "实地核实属实，维持评价")
    me.press("#action-reject_appeal button[type=submit]")
    assert "记录实地核实" in me.text("#timeline") and "安排实地核实" in me.text("#timeline")


def _supervisor():
    from core.model import Actor

    return Actor(name="supervisor1", role="supervisor")
