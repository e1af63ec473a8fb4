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
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.support.dcmtk import storescu
from tests.support.server import REPO_ROOT, LienthongServer, _children, lienthong
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
# Frames per second with trusted input at a display rate (the inputs come from Chromium's own
# input pipeline through CDP, as a mouse or keyboard would produce them), counting only the
# animation frames that put new content on screen.
INPUT_RATE = 60.0  # events per second: one per frame of a 60 Hz display
PAINTED_JS = """(kind) => {
  const element = document.querySelector('[data-testid=viewport-0] .cs-element');
  const m = { kind, ticks: 0, painted: 0, rendered: 0, inputs: 0, stop: false };
  let content = null;
  let drawn = null;
  let shown = null;
  const listeners = [
    [element, 'CORNERSTONE_STACK_NEW_IMAGE', (e) => {
      if (kind === 'slice') content = e.detail.imageId;
    }],
    [element, 'CORNERSTONE_VOI_MODIFIED', (e) => {
      if (kind === 'window') content = `${e.detail.range.lower}/${e.detail.range.upper}`;
    }],
    [element, 'CORNERSTONE_IMAGE_RENDERED', () => { m.rendered += 1; drawn = content; }],
    ...['wheel', 'keydown', 'mousemove'].map((name) => [document, name, () => { m.inputs += 1; }]),
  ];
  listeners.forEach(([target, name, fn]) => target.addEventListener(name, fn, { passive: true }));
  // Once per animation frame: did the last render since the previous frame draw new content?
  const tick = (now) => {
    m.start ??= now;
    m.end = now;
    m.ticks += 1;
    if (drawn !== shown) { m.painted += 1; shown = drawn; }
    if (!m.stop) requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
  const done = () => {
    m.stop = true;
    listeners.forEach(([target, name, fn]) => target.removeEventListener(name, fn));
    return m;
  };
  window.__ltPainted = { done };
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


async def open_study(page: Any, url: str, study_uid: str) -> dict[str, float]:
    await page.goto(f"{url}/viewer/#/worklist")
    await page.locator("form.filters button[type=button]").click()  # all dates
    row = page.locator(f"tr[data-study-uid='{study_uid}']")
    await row.wait_for()
    await page.evaluate("() => { performance.clearMarks(); performance.clearResourceTimings();"
                        " performance.setResourceTimingBufferSize(5000); }")
    await row.click()
    await page.wait_for_function(
        "() => performance.getEntriesByName('lt:series-loaded').length > 0", timeout=600_000)
    marks = await page.evaluate(MARKS_JS)
    steps = {f"{name[3:].replace('-', '_')}_ms": marks[name] - marks["lt:open-study"]
             for name in ("lt:series-listed", "lt:cornerstone-ready", "lt:metadata-loaded")
             if marks[name] is not None}
    return {"first_image_s": (marks["lt:first-image"] - marks["lt:open-study"]) / 1000,
            "series_loaded_s": (marks["lt:series-loaded"] - marks["lt:open-study"]) / 1000,
            **steps,
            **(await page.evaluate(BREAKDOWN_JS))}


MIDDLE_JS = """() => {
  const bar = document.querySelector('[data-testid=viewport-0] [data-testid=scrollbar]');
  bar.value = String(Math.ceil(Number(bar.max) / 2));
  bar.dispatchEvent(new Event('input'));
  return new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
}"""


def _tree_cpu_s(root: int) -> float:
    """CPU seconds (user + system) so far of `root` and all its descendants (Chromium's
    browser, renderer and GPU/compositor processes under the Playwright driver)."""
    total, pending = 0.0, [root]
    while pending:
        pid = pending.pop()
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        pending += _children(pid)
    return total


def _input_events(kind: str, x: float, y: float, total: int) -> list[tuple[str, dict[str, Any]]]:
    """One second of CDP input at INPUT_RATE: wheel notches or arrow-key repeats sweeping back and
    forth around the middle slice (where the sweep starts), far enough from both ends that the
    inputs Chromium coalesces (a few a second) never walk the stack into an end, where a step
    would show no new slice; or a W/L drag."""
    events: list[tuple[str, dict[str, Any]]] = []
    amplitude = max(1, min(10, (total - 2) // 4))
    for n in range(int(INPUT_RATE)):
        # A triangle wave: `amplitude` steps down, 2 * amplitude up, 2 * amplitude down, ...
        down = ((n + amplitude) // (2 * amplitude)) % 2 == 0
        if kind == "wheel":
            events.append(("Input.dispatchMouseEvent", {
                "type": "mouseWheel", "x": x, "y": y, "deltaX": 0,
                "deltaY": 100 if down else -100}))
        elif kind == "keys":
            key, code = ("ArrowDown", 40) if down else ("ArrowUp", 38)
            events.append(("Input.dispatchKeyEvent", {
                "type": "rawKeyDown", "key": key, "code": key, "windowsVirtualKeyCode": code,
                "autoRepeat": True}))
        else:
            events.append(("Input.dispatchMouseEvent", {
                "type": "mouseMoved", "x": x + (n * 7) % 200 - 100, "y": y + (n * 3) % 100 - 50,
                "button": "left", "buttons": 1}))
    return events


async def fps(page: Any, cdp: Any, kind: str, seconds: float, browser_pid: int) -> dict[str, float]:
    """Painted frames per second while trusted input arrives at INPUT_RATE: "wheel" and "keys"
    (stack scroll: a frame counts when a slice other than the last painted one is on screen)
    and "window" (W/L drag: a frame counts when a new window is on screen). The inputs are sent
    through CDP without waiting for each one (a Python round trip per event would bound the
    rate: Playwright's mouse.wheel manages ~25 a second). Also the main thread's work per
    painted frame (Performance.getMetrics) and the CPU time of all Chromium processes."""
    box = await page.locator("[data-testid=viewport-0] .cs-element").bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    slice_text = await page.locator("[data-testid=viewport-0] [data-testid=slice]").text_content()
    total = int(slice_text.rsplit("/", 1)[1])
    await cdp.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y})
    # Start in the middle of the stack, as a drag of the viewer's scroll bar would put it.
    await page.evaluate(MIDDLE_JS)
    if kind == "window":
        await cdp.send("Input.dispatchMouseEvent", {"type": "mousePressed", "x": x, "y": y,
                                                   "button": "left", "buttons": 1, "clickCount": 1})
    await page.evaluate(PAINTED_JS, "window" if kind == "window" else "slice")
    before = {m["name"]: m["value"] for m in (await cdp.send("Performance.getMetrics"))["metrics"]}
    cpu_before = _tree_cpu_s(browser_pid)
    sends: list[asyncio.Task[Any]] = []
    start = time.perf_counter()
    for second in range(int(seconds)):
        for n, (method, params) in enumerate(_input_events(kind, x, y, total)):
            sends.append(asyncio.create_task(cdp.send(method, params)))
            due = start + second + (n + 1) / INPUT_RATE
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
    sent_s = time.perf_counter() - start
    await asyncio.gather(*sends)
    seen = await page.evaluate("() => window.__ltPainted.done()")
    cpu = _tree_cpu_s(browser_pid) - cpu_before
    after = {m["name"]: m["value"] for m in (await cdp.send("Performance.getMetrics"))["metrics"]}
    if kind == "window":
        await cdp.send("Input.dispatchMouseEvent", {"type": "mouseReleased", "x": x, "y": y,
                                                   "button": "left", "buttons": 0, "clickCount": 1})
    elapsed = (seen["end"] - seen["start"]) / 1000
    painted = max(seen["painted"], 1)
    per_frame = {name: (after[metric] - before[metric]) * 1000 / painted
                 for name, metric in (("main_ms", "TaskDuration"), ("script_ms", "ScriptDuration"),
                                      ("layout_ms", "LayoutDuration"),
                                      ("style_ms", "RecalcStyleDuration"))}
    return {"fps": seen["painted"] / elapsed, "inputs_sent_per_s": len(sends) / sent_s,
            "inputs_seen_per_s": seen["inputs"] / elapsed,
            "renders_per_s": seen["rendered"] / elapsed,
            "animation_frames_per_s": seen["ticks"] / elapsed,
            **{f"per_frame_{k}": v for k, v in per_frame.items()},
            "per_frame_browser_cpu_ms": cpu * 1000 / painted}


async def measure(url: str, studies: list[str], repeat: int, throttled: bool) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as profile:
        async with async_playwright() as playwright:
            context = await playwright.chromium.launch_persistent_context(
                profile, executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
                viewport={"width": 1400, "height": 900})
            page = await context.new_page()
            await page.goto(f"{url}/viewer/#/login")
            await page.fill("input[name=username]", "bench")
            await page.fill("input[name=password]", PASSWORD)
            await page.click("form.login button[type=submit]")
            await page.wait_for_url("**/#/worklist")
            cdp = await context.new_cdp_session(page)
            await cdp.send("Performance.enable")
            if throttled:
                await cdp.send("Network.enable")
                await cdp.send("Network.emulateNetworkConditions", THROTTLE)
            for name, uid in zip(("ct28", "ct_generated"), studies, strict=True):
                runs = []
                for _ in range(repeat):
                    # A fresh page load each time: nothing in Cornerstone's cache.
                    await page.goto(f"{url}/viewer/#/worklist")
                    await page.reload()
                    runs.append(await open_study(page, url, uid))
                result: dict[str, Any] = {
                    key: statistics.median(r[key] for r in runs) for key in runs[0]
                    if all(r[key] is not None for r in runs)}
                if not throttled:
                    for kind in ("window", "wheel", "keys"):
                        figures = await fps(page, cdp, kind, 4, os.getpid())
                        result[f"{kind}_fps"] = figures.pop("fps")
                        result.update({f"{kind}_{k}": v for k, v in figures.items()})
                out[name] = result
            await context.close()
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
            results = {"localhost": asyncio.run(measure(url, studies, args.repeat, False)),
                       **({} if args.no_throttle else
                          {"10mbit_50ms": asyncio.run(measure(url, studies, 1, True))})}
        finally:
            server.stop()
    (RESULTS / "viewer.json").write_text(json.dumps(results, indent=2))
    for network, by_study in results.items():
        for study, figures in by_study.items():
            print(f"{network:12} {study}")
            for key, value in figures.items():
                print(f"    {key:40} {value:10.2f}")


if __name__ == "__main__":
    main()
