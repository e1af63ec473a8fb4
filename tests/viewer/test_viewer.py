"""The viewer in a real browser against a real server with the shared head CT: log in, the
worklist, the image on the canvas, scroll, window/level, a length, a signed report, roles, and
report text that must stay text. The steps run in order on one page and keep screenshots."""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Iterator
from typing import Any

import numpy as np
import pydicom
import pytest
from PIL import Image

from lienthong.clock import HOSPITAL_TZ
from tests.viewer.conftest import CHROMIUM, CHROMIUM_ARGS, PASSWORD, Site, clock_from, shot

pytestmark = pytest.mark.timeout(600)
READY = "[data-testid=reader-status][data-ready=true]"
SLICE = "document.querySelector('[data-testid=slice]')"
WL = "document.querySelector('[data-testid=wl]')"


def until(page: Any, expression: str) -> None:
    """Wait for a JavaScript condition (as a function: the page's CSP forbids eval)."""
    page.wait_for_function(f"() => {expression}")


@pytest.fixture(scope="module")
def page(browser_context: Any) -> Iterator[Any]:
    page = browser_context.new_page()
    page.set_default_timeout(60_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("dialog", lambda dialog: dialog.accept())
    yield page
    page.close()
    assert errors == [], errors


def login(page: Any, site: Site, username: str) -> None:
    page.goto(f"{site.url}/viewer/#/login")
    page.evaluate("window.sessionStorage.clear()")
    page.reload()
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.login button[type=submit]")
    page.wait_for_url(re.compile(r"#/worklist$"))


def viewport_center(page: Any) -> tuple[float, float]:
    box = page.locator("[data-testid=viewport-0]").bounding_box()
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def _first_slice_hu(site: Site) -> np.ndarray:
    """HU of the slice the viewer shows first: lowest position along the slice normal."""
    def along_normal(ds: pydicom.Dataset) -> float:
        iop = np.array(ds.ImageOrientationPatient, dtype=float)
        return float(np.dot(np.array(ds.ImagePositionPatient, dtype=float),
                            np.cross(iop[:3], iop[3:])))

    first = min((pydicom.dcmread(f) for f in site.ct_files), key=along_normal)
    return first.pixel_array * float(first.RescaleSlope) + float(first.RescaleIntercept)


def test_login_and_the_worklist_lists_the_study(page: Any, site: Site) -> None:
    login(page, site, "bs.lan")
    row = page.locator(f"tr[data-study-uid='{site.study_uid}']")
    row.wait_for()
    # The study has no Study Date: it is listed on the day it was received (today's default).
    assert "28" in row.inner_text()
    assert "Chưa đọc" in row.inner_text()  # unread, in Vietnamese by default
    shot(page, "01-worklist")


def test_opening_the_ct_shows_the_image_in_its_window(page: Any, site: Site) -> None:
    page.locator(f"tr[data-study-uid='{site.study_uid}']").click()
    page.wait_for_selector(READY, state="attached")
    until(page, f"{WL}?.dataset.width")
    wl = page.locator("[data-testid=wl]")
    assert (wl.get_attribute("data-width"), wl.get_attribute("data-center")) == ("100", "35")
    assert page.locator("[data-testid=slice]").get_attribute("data-index") == "1"
    page.wait_for_timeout(500)  # let the render loop paint the frame
    png = page.locator("[data-testid=viewport-0] canvas").first.screenshot()
    gray = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=float)
    side = min(gray.shape)
    top, left = (gray.shape[0] - side) // 2, (gray.shape[1] - side) // 2
    square = gray[top:top + side, left:left + side]
    hu = _first_slice_hu(site)
    lower, upper = 35 - 50, 35 + 50  # the DICOM's own window: W 100, L 35
    expected_black, expected_white = float(np.mean(hu <= lower)), float(np.mean(hu >= upper))
    black, white = float(np.mean(square < 20)), float(np.mean(square > 235))
    assert square.std() > 30, "the canvas is blank"
    assert abs(black - expected_black) < 0.08, (black, expected_black)
    assert abs(white - expected_white) < 0.08, (white, expected_white)
    shot(page, "02-reader-ct")


def test_wheel_scroll_changes_the_slice(page: Any) -> None:
    x, y = viewport_center(page)
    page.mouse.move(x, y)
    for _ in range(5):
        page.mouse.wheel(0, 120)
        page.wait_for_timeout(100)
    until(page, f"{SLICE}.dataset.index !== '1'")
    index = int(page.locator("[data-testid=slice]").get_attribute("data-index"))
    assert 1 < index <= 28
    page.keyboard.press("ArrowUp")
    until(page, f"{SLICE}.dataset.index === '{index - 1}'")
    shot(page, "03-scrolled")


def test_window_level_drag_changes_the_window(page: Any) -> None:
    wl = page.locator("[data-testid=wl]")
    before = (wl.get_attribute("data-width"), wl.get_attribute("data-center"))
    x, y = viewport_center(page)
    page.mouse.move(x, y)
    page.mouse.down()
    for step in range(1, 11):
        page.mouse.move(x + 12 * step, y + 6 * step)
    page.mouse.up()
    until(page, f"{WL}.dataset.width !== '{before[0]}'")
    after = (wl.get_attribute("data-width"), wl.get_attribute("data-center"))
    assert after != before
    shot(page, "04-window-level")
    page.select_option("[data-testid=presets]", "preset:bone")
    until(page, f"{WL}.dataset.width === '2000'")


def test_length_measurement_shows_millimetres(page: Any) -> None:
    page.click("[data-tool=length]")
    x, y = viewport_center(page)
    page.mouse.move(x - 120, y)
    page.mouse.down()
    for step in range(1, 13):
        page.mouse.move(x - 120 + 20 * step, y)
    page.mouse.up()
    until(page, r"/\d+\.\d+ mm/.test(document.querySelector('[data-testid=measurements]')"
                r".innerText)")
    text = page.locator("[data-testid=measurements]").inner_text()
    length = float(re.search(r"(\d+\.\d+) mm", text).group(1))
    assert 10 < length < 250  # a drag of 240 screen px across a ~23 cm field of view
    shot(page, "05-length")


def test_layouts_tag_browser_help_and_cine(page: Any) -> None:
    page.select_option("[data-testid=layout]", "2x2")
    page.wait_for_selector("[data-testid=viewport-3]")
    assert page.locator(".cell").count() == 4
    page.wait_for_selector("[data-testid=viewport-0] [data-testid=slice][data-index]")
    page.click("[data-testid=series-list] h3")  # focus away from the layout menu
    page.keyboard.press("g")
    browser = page.locator("[data-testid=tag-browser]")
    browser.wait_for()
    assert "(0028,0010)" in browser.inner_text() and "Rows" in browser.inner_text()
    shot(page, "06-tag-browser")
    browser.locator("button").click()
    page.keyboard.press("?")
    help_overlay = page.locator("[data-testid=help]")
    help_overlay.wait_for()
    assert "Ctrl+S" in help_overlay.inner_text()
    help_overlay.locator("button").click()
    page.select_option("[data-testid=layout]", "1x1")
    until(page, "document.querySelectorAll('.cell').length === 1")
    page.wait_for_selector("[data-testid=viewport-0] [data-testid=slice][data-index]")
    before = page.locator("[data-testid=slice]").get_attribute("data-index")
    page.click("[data-action=cine]")
    until(page, f"{SLICE}.dataset.index !== '{before}'")
    page.click("[data-action=cine]")


def test_write_save_sign_reload_is_read_only(page: Any, site: Site) -> None:
    findings = "<script>window.__xss = 1</script>Nhu mô não không thấy tổn thương."
    page.fill("[data-testid=report-findings]", findings)
    page.fill("[data-testid=report-conclusion]", "Không thấy bất thường <b>trên</b> CT sọ não")
    page.click("[data-testid=report-save]")
    page.wait_for_selector("[data-testid=report-state]:has-text('Đã lưu')")
    shot(page, "07-report-draft")
    page.click("[data-testid=report-sign]")  # the confirmation dialog is accepted
    page.wait_for_selector("[data-testid=signed-findings]")
    page.reload()
    page.wait_for_selector("[data-testid=signed-findings]")
    assert page.locator("[data-testid=signed-findings]").inner_text() == findings
    assert "<b>trên</b>" in page.locator("[data-testid=signed-conclusion]").inner_text()
    assert page.evaluate("window.__xss") is None  # shown as text, never run
    assert page.locator("[data-testid=report-panel] script").count() == 0
    assert not page.locator("[data-testid=report-findings]").is_visible()
    assert not page.locator("[data-testid=report-sign]").is_visible()
    assert page.locator("[data-testid=report-amend]").is_visible()
    assert "bs.lan" in page.locator("[data-testid=report-state]").inner_text()
    shot(page, "08-report-signed")
    page.goto(f"{site.url}/viewer/#/worklist")
    row = page.locator(f"tr[data-study-uid='{site.study_uid}']")
    row.wait_for()
    assert "Đã ký" in row.inner_text()


def test_a_user_without_the_role_cannot_open_the_reader(page: Any, site: Site) -> None:
    login(page, site, "ketoan")
    page.wait_for_selector("[data-testid=worklist-error]")
    assert "không có quyền" in page.locator("[data-testid=worklist-error]").inner_text()
    page.goto(f"{site.url}/viewer/#/reader/{site.study_uid}")
    page.wait_for_selector("[data-testid=reader-error]")
    assert "không có quyền" in page.locator("[data-testid=reader-error]").inner_text()
    assert page.locator("canvas").count() == 0
    shot(page, "09-forbidden")


def test_a_reader_abroad_gets_the_hospitals_day(playwright_driver: Any, site: Site) -> None:
    """A consultant in Los Angeles, whose calendar is a day behind Vietnam's until 15:00 in
    Hanoi, opens the worklist at 01:00 hospital time: its default day is the hospital's, and
    the study received that day is listed."""
    hospital_1am = dt.datetime.combine(site.hospital_day, dt.time(1, 0), tzinfo=HOSPITAL_TZ)
    browser = playwright_driver.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
    try:
        context = browser.new_context(timezone_id="America/Los_Angeles", locale="en-US")
        context.add_init_script(clock_from(hospital_1am))
        page = context.new_page()
        page.set_default_timeout(60_000)
        login(page, site, "bs.lan")
        page.locator(f"tr[data-study-uid='{site.study_uid}']").wait_for()
        assert page.locator("input[name=date_from]").input_value() == \
            site.hospital_day.isoformat()
        assert page.evaluate("new Date().getDate()") != site.hospital_day.day  # LA's own day
    finally:
        browser.close()
