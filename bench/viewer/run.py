"""Viewer timings measured in the browser (Performance API marks set by the viewer itself):
click in the worklist -> first image on screen -> whole series in the image cache, and frames
per second during a window/level drag and during stack scroll; on localhost and with Chromium's
network emulation (10 Mbit/s, 50 ms latency).

    .venv/bin/python -m bench.viewer.run [--slices 300] [--repeat 3]

Needs the built viewer (viewer/dist), Debian's chromium and DCMTK's storescu. Uses the shared
28-slice head CT (../shared) and a generated CT of --slices 512x512 slices. Results go to
bench/results/viewer.json. There is no peer viewer on this machine to compare with, so the
figures stand against the issue's targets (first image < 1 s, 300 slices < 4 s, >= 30 fps;
throttled first image < 3 s).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.support.dcmtk import storescu
from tests.support.server import REPO_ROOT, LienthongServer, lienthong
from tests.support.synthetic import make_study
from tests.viewer.conftest import CHROMIUM, CHROMIUM_ARGS, PASSWORD

SHARED_CT = REPO_ROOT.parent / "shared" / "data" / "dicom" / "series" / "ct_head_ge_tilt"
RESULTS = REPO_ROOT / "bench" / "results"
THROTTLE = {"offline": False, "latency": 50, "downloadThroughput": 10e6 / 8,
            "uploadThroughput": 10e6 / 8}

MARKS_JS = """() => Object.fromEntries(['lt:open-study', 'lt:series-listed', 'lt:cornerstone-ready',
  'lt:metadata-loaded', 'lt:first-image', 'lt:series-loaded']
  .map((n) => [n, performance.getEntriesByName(n).map((e) => e.startTime).pop() ?? null]))"""
# Where the load time goes, from Resource Timing of the frame requests after the click: how many,
# how many were in flight at once, queueing in the browser (fetchStart - startTime), waiting for
# the server (responseStart - requestStart), download, and the tail from the last byte received
# to the series-loaded mark (decoding and caching).
BREAKDOWN_JS = """() => {
  const open = performance.getEntriesByName('lt:open-study').pop().startTime;
  const loaded = performance.getEntriesByName('lt:series-loaded').pop().startTime;
  const frames = performance.getEntriesByType('resource')
    .filter((e) => /[/](frames|pixeldata)/.test(e.name) && e.startTime >= open);
  const edges = frames.flatMap((e) => [[e.startTime, 1], [e.responseEnd, -1]])
    .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let now = 0; let peak = 0;
  for (const [, d] of edges) { now += d; peak = Math.max(peak, now); }
  const median = (xs) => (xs.length ? xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)] : null);
  const lastByte = Math.max(...frames.map((e) => e.responseEnd));
  return {
    requests: frames.length, peak_in_flight: peak,
    first_request_ms: frames.length ? Math.min(...frames.map((e) => e.startTime)) - open : null,
    queued_ms_p50: median(frames.map((e) => e.requestStart - e.startTime)),
    server_ms_p50: median(frames.map((e) => e.responseStart - e.requestStart)),
    download_ms_p50: median(frames.map((e) => e.responseEnd - e.responseStart)),
    last_byte_ms: lastByte - open, decode_tail_ms: loaded - lastByte,
  };
}"""
# Frames per second as the radiologist sees them, counted from Cornerstone's IMAGE_RENDERED
# events with the page's clock. Window/level, and stack scroll by the arrow keys: the page itself
# sends one synthetic mouse move / key press per animation frame, so no CDP round trip sits
# between two inputs. Stack scroll needs
# trusted wheel events (the tools ignore synthetic wheels), so Playwright sends notches as fast
# as it can and the rate is frames rendered between the first and the last render.
WL_FPS_JS = """async ([action, ms]) => {
  const element = document.querySelector('[data-testid=viewport-0] .cs-element');
  const box = element.getBoundingClientRect();
  const x0 = box.left + box.width / 2;
  const y0 = box.top + box.height / 2;
  const mouse = (type, x, y, target) => target.dispatchEvent(new MouseEvent(type, {
    bubbles: true, cancelable: true, clientX: x, clientY: y, pageX: x, pageY: y, button: 0,
    buttons: type === 'mouseup' ? 0 : 1, view: window }));
  const slice = document.querySelector('[data-testid=viewport-0] [data-testid=slice]');
  const total = Number(slice.textContent.split('/').pop());
  let direction = 1;
  let rendered = 0;
  const count = () => { rendered += 1; };
  element.addEventListener('CORNERSTONE_IMAGE_RENDERED', count);
  if (action === 'wl') mouse('mousedown', x0, y0, element);
  const start = performance.now();
  let step = 0;
  let now = start;
  while (now - start < ms) {
    step += 1;
    if (action === 'wl') {
      mouse('mousemove', x0 + ((step * 3) % 200) - 100, y0 + ((step * 2) % 100) - 50, document);
    } else {
      // The reader's arrow keys: down to the last slice, then up to the first.
      const index = Number(slice.dataset.index);
      if (index >= total) direction = -1;
      if (index <= 1) direction = 1;
      document.dispatchEvent(new KeyboardEvent('keydown', {
        key: direction > 0 ? 'ArrowDown' : 'ArrowUp', bubbles: true, cancelable: true }));
    }
    now = await new Promise((resolve) => requestAnimationFrame(resolve));
  }
  if (action === 'wl') mouse('mouseup', x0, y0, document);
  element.removeEventListener('CORNERSTONE_IMAGE_RENDERED', count);
  return { fps: (rendered * 1000) / (now - start), animation_frames: step };
}"""


def prepare(workdir: Path, slices: int) -> tuple[LienthongServer, list[str]]:
    data_dir = workdir / "data"
    lienthong(data_dir, "ae", "add", "TESTSCU", "--host", "127.0.0.1", "--port", "104")
    subprocess.run([sys.executable, "-m", "lienthong.cli", "--data-dir", str(data_dir), "users",
                    "add", "bench", "--role", "radiologist"], input=PASSWORD + "\n", text=True,
                   check=True, capture_output=True, cwd=REPO_ROOT)
    generated = make_study(workdir / "generated", patient_id="BENCH300", per_series=slices,
                           size=512)
    import pydicom

    ct_uid = str(pydicom.dcmread(next(SHARED_CT.glob("*.dcm")), stop_before_pixels=True)
                 .StudyInstanceUID)
    server = LienthongServer(data_dir, workers=1).start()
    try:
        for files in (sorted(SHARED_CT.glob("*.dcm")), list(generated.files)):
            sent = storescu(server.dicom_port, files)
            if sent.returncode != 0:
                raise RuntimeError(sent.stderr)
    except BaseException:
        server.stop()
        raise
    return server, [ct_uid, generated.study_instance_uid]


def open_study(page: Any, url: str, study_uid: str) -> dict[str, float]:
    page.goto(f"{url}/viewer/#/worklist")
    page.locator("form.filters button[type=button]").click()  # all dates
    row = page.locator(f"tr[data-study-uid='{study_uid}']")
    row.wait_for()
    page.evaluate("() => { performance.clearMarks(); performance.clearResourceTimings();"
                  " performance.setResourceTimingBufferSize(5000); }")
    row.click()
    page.wait_for_function("() => performance.getEntriesByName('lt:series-loaded').length > 0",
                           timeout=600_000)
    marks = page.evaluate(MARKS_JS)
    steps = {f"{name[3:].replace('-', '_')}_ms": marks[name] - marks["lt:open-study"]
             for name in ("lt:series-listed", "lt:cornerstone-ready", "lt:metadata-loaded")
             if marks[name] is not None}
    return {"first_image_s": (marks["lt:first-image"] - marks["lt:open-study"]) / 1000,
            "series_loaded_s": (marks["lt:series-loaded"] - marks["lt:open-study"]) / 1000,
            **steps,
            **page.evaluate(BREAKDOWN_JS)}


SCROLL_COUNT_JS = """() => {
  const element = document.querySelector('[data-testid=viewport-0] .cs-element');
  const seen = { n: 0, first: 0, last: 0 };
  window.__scrollFrames = seen;
  element.addEventListener('CORNERSTONE_IMAGE_RENDERED', () => {
    const now = performance.now();
    if (!seen.n) seen.first = now;
    seen.n += 1;
    seen.last = now;
  });
}"""


def fps(page: Any, action: str, seconds: float = 2.0) -> float:
    """Rendered frames per second during a window/level drag ("wl") or stack scroll; for the
    scroll, also prints how many wheel notches per second reached the page (the input rate
    bounds what can be rendered)."""
    if action in ("wl", "keys"):
        return float(page.evaluate(WL_FPS_JS, [action, seconds * 1000])["fps"])
    page.evaluate(SCROLL_COUNT_JS)
    box = page.locator("[data-testid=viewport-0]").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    start, notches = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        notches += 1
        page.mouse.wheel(0, 120 if (notches // 20) % 2 == 0 else -120)  # 20 down, 20 up
    seen = page.evaluate("() => window.__scrollFrames")
    print(f"scroll: {notches / (time.perf_counter() - start):.1f} wheel notches/s sent, "
          f"{seen['n']} frames rendered", file=sys.stderr)
    if seen["n"] < 2:
        return 0.0
    return float((seen["n"] - 1) * 1000 / (seen["last"] - seen["first"]))


def measure(url: str, studies: list[str], repeat: int, throttled: bool) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 900})
        page = context.new_page()
        page.goto(f"{url}/viewer/#/login")
        page.fill("input[name=username]", "bench")
        page.fill("input[name=password]", PASSWORD)
        page.click("form.login button[type=submit]")
        page.wait_for_url("**/#/worklist")
        if throttled:
            cdp = context.new_cdp_session(page)
            cdp.send("Network.enable")
            cdp.send("Network.emulateNetworkConditions", THROTTLE)
        for name, uid in zip(("ct28", "ct_generated"), studies, strict=True):
            runs = []
            for _ in range(repeat):
                # A fresh page load each time: nothing in Cornerstone's cache.
                page.goto(f"{url}/viewer/#/worklist")
                page.reload()
                runs.append(open_study(page, url, uid))
            result = {key: statistics.median(r[key] for r in runs) for key in runs[0]
                      if all(r[key] is not None for r in runs)}
            if not throttled:
                result["wl_fps"] = fps(page, "wl")
                result["scroll_fps"] = fps(page, "scroll")
                result["scroll_keys_fps"] = fps(page, "keys")
            out[name] = result
        context.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--slices", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-throttle", action="store_true",
                        help="skip the runs under network emulation")
    args = parser.parse_args()
    if not (REPO_ROOT / "viewer" / "dist" / "index.html").is_file():
        sys.exit("build the viewer first: cd viewer && npm ci && npm run build")
    RESULTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=RESULTS) as work:
        server, studies = prepare(Path(work), args.slices)
        try:
            url = f"http://127.0.0.1:{server.http_port}"
            results = {"localhost": measure(url, studies, args.repeat, throttled=False),
                       **({} if args.no_throttle else
                          {"10mbit_50ms": measure(url, studies, 1, throttled=True)})}
        finally:
            server.stop()
    (RESULTS / "viewer.json").write_text(json.dumps(results, indent=2))
    for network, by_study in results.items():
        for study, figures in by_study.items():
            shown = "  ".join(f"{k}={v:.2f}" for k, v in figures.items())
            print(f"{network:12} {study:13} {shown}")


if __name__ == "__main__":
    main()
