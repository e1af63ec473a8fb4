"""Reading beyond one stack, in a real browser against a real server: the scroll bar, linked
scrolling between two series of one frame of reference, a prior study opened beside the current
one, and MPR. The data are phantom CTs of known geometry (see ``reading_site``)."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.viewer.conftest import CLAIM_LINK, ORDER_PROCEDURE, THICK, THIN, ReadingSite, shot
from tests.viewer.test_viewer import READY, login, until

pytestmark = pytest.mark.timeout(600)


def cell(n: int) -> str:
    return f"[data-testid=viewport-{n}]"


def slice_index(page: Any, n: int) -> int:
    return int(page.locator(f"{cell(n)} [data-testid=slice]").get_attribute("data-index") or 0)


def position_mm(page: Any, n: int) -> float:
    return float(page.locator(f"{cell(n)} [data-testid=position]").get_attribute("data-mm"))


def canvas_gray(page: Any, selector: str) -> np.ndarray:
    """The pixels Cornerstone drew into a viewport's canvas (no overlays, no SVG), as gray."""
    url = page.evaluate(
        "(s) => document.querySelector(s).toDataURL('image/png')", f"{selector} canvas")
    data = base64.b64decode(url.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(data)).convert("L"), dtype=float)


@pytest.fixture(scope="module")
def page(browser_context: Any, reading_site: ReadingSite) -> Iterator[Any]:
    page = browser_context.new_page()
    page.set_default_timeout(60_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    login(page, reading_site, "bs.lan")  # type: ignore[arg-type]
    yield page
    page.close()
    assert errors == [], errors


def open_reader(page: Any, site: ReadingSite) -> None:
    page.goto(f"{site.url}/viewer/#/reader/{site.study_uid}")
    page.reload()  # a fresh page: the same address would otherwise keep the last layout
    page.wait_for_selector(READY, state="attached")
    page.wait_for_selector(f"{cell(0)} [data-testid=slice][data-index]")


def test_the_worklist_shows_the_order_and_its_claim_link(
    page: Any, reading_site: ReadingSite,
) -> None:
    page.goto(f"{reading_site.url}/viewer/#/worklist")
    order = page.locator(f"tr[data-study-uid='{reading_site.study_uid}'] [data-testid=order]")
    order.wait_for()
    text = order.inner_text()
    assert reading_site.accession in text and ORDER_PROCEDURE in text
    assert order.locator("[data-testid=order-status]").inner_text().strip() == "đã có ảnh"
    assert order.locator("[data-testid=claim-link]").inner_text() == f"Hồ sơ BHYT: {CLAIM_LINK}"
    shot(page, "10-worklist-order")


def test_scroll_bar_and_linked_scrolling(page: Any, reading_site: ReadingSite) -> None:
    open_reader(page, reading_site)
    bar = page.locator(f"{cell(0)} [data-testid=scrollbar]")
    assert bar.get_attribute("max") == str(THIN["slices"])
    assert bar.input_value() == "1"
    # The 4 mm series beside the 2 mm one (same frame of reference).
    page.select_option("[data-testid=layout]", "1x2")
    page.wait_for_selector(cell(1))
    page.locator(cell(1)).click()
    page.click(f"[data-testid=series-list] .thumb[data-series-uid='{reading_site.thick_series}']")
    until(page, f"document.querySelector(\"{cell(1)}\").dataset.seriesUid === "
                f"'{reading_site.thick_series}' && document.querySelector(\"{cell(1)} "
                "[data-testid=slice]\")?.dataset.index === '1'")
    # The scroll bar moves its own viewport only while linking is off.
    bar.focus()
    page.keyboard.press("End")
    until(page, f"document.querySelector(\"{cell(0)} [data-testid=slice]\").dataset.index "
                f"=== '{THIN['slices']}'")
    page.wait_for_timeout(300)
    assert slice_index(page, 1) == 1
    # Linking on: the active (right) viewport leads, then the wheel on the left one leads.
    page.click("[data-action=link]")
    assert page.locator("[data-action=link]").get_attribute("aria-pressed") == "true"
    until(page, f"document.querySelector(\"{cell(0)} [data-testid=slice]\").dataset.index "
                "=== '2'")  # 2 mm slice 2 (z = 4 mm) is the nearest to 4 mm slice 1 (z = 4 mm)
    box = page.locator(cell(0)).bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    for _ in range(9):
        page.mouse.wheel(0, 120)
        page.wait_for_timeout(60)
    until(page, f"document.querySelector(\"{cell(0)} [data-testid=slice]\").dataset.index "
                "=== '11'")
    # 2 mm slice 11 is at z = 22 mm: the 4 mm series follows to a slice at 20 or 24 mm.
    until(page, f"Math.abs(Number(document.querySelector(\"{cell(1)} [data-testid=position]\")"
                f".dataset.mm) - 22) <= {THICK['spacing'] / 2}")
    assert abs(position_mm(page, 1) - position_mm(page, 0)) <= THICK["spacing"] / 2
    assert page.locator(f"{cell(1)} [data-testid=scrollbar]").input_value() == str(
        slice_index(page, 1))
    shot(page, "11-linked-scrolling")
    # Off again: the right viewport stays where it is.
    page.click("[data-action=link]")
    right = slice_index(page, 1)
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    for _ in range(4):
        page.mouse.wheel(0, 120)
        page.wait_for_timeout(60)
    until(page, f"document.querySelector(\"{cell(0)} [data-testid=slice]\").dataset.index "
                "=== '15'")
    page.wait_for_timeout(300)
    assert slice_index(page, 1) == right


def test_a_prior_study_opens_beside_the_current_one(page: Any, reading_site: ReadingSite) -> None:
    open_reader(page, reading_site)
    page.wait_for_selector("[data-testid=priors][data-ready=true]")
    prior = page.locator(f"[data-testid=prior][data-study-uid='{reading_site.prior_study_uid}']")
    assert "03/06/2025" in prior.inner_text()
    assert page.locator("[data-testid=prior]").count() == 1  # the current study is not a prior
    prior.click()
    page.wait_for_selector(f"{cell(1)} [data-testid=cell-label]:not(:empty)")
    page.wait_for_selector(f"{cell(1)} [data-testid=slice][data-index]")
    assert page.locator("[data-testid=layout]").input_value() == "1x2"
    assert "03/06/2025" in page.locator(f"{cell(1)} [data-testid=cell-label]").inner_text()
    until(page, f"document.querySelector(\"{cell(1)} [data-testid=study-date]\")?.textContent "
                "=== '03/06/2025'")
    left_date = page.locator(f"{cell(0)} [data-testid=study-date]").inner_text()
    assert left_date == reading_site.today.strftime("%d/%m/%Y")
    assert page.locator(f"{cell(0)} [data-testid=cell-label]").inner_text() == ""
    # The prior's image is drawn: water in mid-gray and a slice of the bone sphere in white.
    page.wait_for_timeout(300)
    gray = canvas_gray(page, cell(1))
    assert float(np.mean((gray > 90) & (gray < 170))) > 0.2, "no water on the prior's canvas"
    assert float(np.mean(gray > 235)) > 0.002, "no bone on the prior's canvas"
    # Its series are listed with the current study's, ready to drag to any viewport.
    assert page.locator(".prior-series .thumb").count() == 1
    shot(page, "12-prior-side-by-side")


def footprint(gray: np.ndarray) -> tuple[int, int]:
    """Width and height in canvas pixels of what is drawn (not the black background)."""
    rows, cols = np.nonzero(gray > 20)
    return int(cols.max() - cols.min() + 1), int(rows.max() - rows.min() + 1)


def line_coordinates(page: Any, plane: str) -> list[str]:
    return page.evaluate(
        "(s) => [...document.querySelectorAll(s)].map((l) => ['x1', 'y1', 'x2', 'y2']"
        ".map((a) => l.getAttribute(a)).join(','))", f"[data-testid=mpr-{plane}] svg line")


def test_mpr_reformats_the_ct_volume(page: Any, reading_site: ReadingSite) -> None:
    open_reader(page, reading_site)
    page.click("[data-action=mpr]")
    page.wait_for_selector(".grid[data-mpr=loaded]")
    for plane in ("axial", "sagittal", "coronal"):
        page.wait_for_selector(f"[data-testid=mpr-{plane}] [data-testid=mpr-slice][data-index]",
                               state="attached")
    page.wait_for_timeout(500)
    # 128 x 128 pixels of 1 mm, 32 slices 2 mm apart: the axial plane is square, the sagittal
    # and coronal ones twice as wide as high; water fills each and the bone sphere shows in it.
    expected = {"axial": 1.0, "sagittal": 128 / (THIN["slices"] * THIN["spacing"]),
                "coronal": 128 / (THIN["slices"] * THIN["spacing"])}
    for plane, aspect in expected.items():
        gray = canvas_gray(page, f"[data-testid=mpr-{plane}]")
        width, height = footprint(gray)
        assert height > 50, (plane, width, height)
        assert abs(width / height - aspect) < 0.12 * aspect, (plane, width, height)
        drawn = gray[gray > 20]
        assert float(np.mean((drawn > 90) & (drawn < 170))) > 0.3, f"no water in {plane}"
        assert float(np.mean(drawn > 235)) > 0.05, f"no bone sphere in {plane}"
    # Crosshairs: each plane draws the other two as lines; scrolling the sagittal plane moves
    # its line in the axial view.
    before = line_coordinates(page, "axial")
    assert len(before) >= 2
    box = page.locator("[data-testid=mpr-sagittal]").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    for _ in range(10):
        page.mouse.wheel(0, 120)
        page.wait_for_timeout(50)
    page.wait_for_function(
        "(args) => JSON.stringify([...document.querySelectorAll(args[0])].map((l) => ['x1', 'y1',"
        " 'x2', 'y2'].map((a) => l.getAttribute(a)).join(','))) !== args[1]",
        arg=["[data-testid=mpr-axial] svg line", json.dumps(before)])
    shot(page, "13-mpr")
    # Back to the stack layout.
    page.click("[data-action=mpr]")
    page.wait_for_selector(f"{cell(0)} [data-testid=slice][data-index]")
    assert page.locator(".grid[data-mpr]").count() == 0


def test_the_series_arrives_in_one_stream(page: Any, reading_site: ReadingSite) -> None:
    """The first image is fetched on its own; every other frame comes from one series pixel
    data response, not from one request per frame."""
    open_reader(page, reading_site)
    page.wait_for_function(
        "() => performance.getEntriesByName('lt:series-loaded').length > 0")
    requests = page.evaluate(
        "() => performance.getEntriesByType('resource').map((e) => e.name)"
        ".filter((n) => /[/](frames[/]|pixeldata)/.test(n))")
    streams = [r for r in requests if r.endswith("/pixeldata")]
    frames = [r for r in requests if "/frames/" in r]
    assert len(streams) == 1 and reading_site.thin_series in streams[0]
    assert 1 <= len(frames) < THIN["slices"] // 4, frames
    # Every slice is in the cache: the last one shows at once.
    page.click("[data-testid=series-list] h3")
    page.keyboard.press("End")
    until(page, f"document.querySelector(\"{cell(0)} [data-testid=slice]\").dataset.index "
                f"=== '{THIN['slices']}'")
    gray = canvas_gray(page, cell(0))
    assert float(np.mean((gray > 90) & (gray < 170))) > 0.2
