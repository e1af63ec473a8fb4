// The viewport grid of the reader: layouts, one Cornerstone stack viewport per cell, overlays,
// drag-and-drop of series, progressive loading (first image first, then prefetch in order).

import {
  RenderingEngine, Enums as CoreEnums, eventTarget, utilities as coreUtilities,
} from '@cornerstonejs/core';
import { utilities as toolUtilities } from '@cornerstonejs/tools';
import { h } from './dom.js';
import { mprRefusal, openMpr } from './mpr.js';
import { createOverlay } from './overlay.js';
import { createScrollbar } from './scrollbar.js';

export const LAYOUTS = { '1x1': [1, 1], '1x2': [1, 2], '2x2': [2, 2] };
const { Events, ViewportType } = CoreEnums;

/**
 * createGrid(container, { toolGroup, t, loadSeries, streamSeries, onChange, onSlice, labelOf }) ->
 *   { setLayout, show(slot, series), active(), activeSlot(), slots(), setIndex, currentIndex, destroy }.
 * loadSeries(series) resolves to { imageIds, byImageId, geometry } (see dicomweb.js);
 * onSlice(slot, index) after a viewport showed another slice (for linked scrolling);
 * labelOf(series) a caption for the cell (e.g. "Prior 03/06/2025"), or '';
 * streamSeries(series, imageIds) loads the whole series into the cache (a promise); without it,
 * or when it fails, Cornerstone's stack prefetch fetches the frames one by one.
 */
export function createGrid(container, {
  toolGroup, t, loadSeries, streamSeries, onChange, onSlice, labelOf, webgl = true,
}) {
  const engineId = `engine-${Math.random().toString(36).slice(2)}`;
  const engine = new RenderingEngine(engineId);
  let slots = [];
  let activeIndex = 0;
  let layout = '1x1';

  function viewportOf(slot) {
    return engine.getViewport(slot.viewportId);
  }

  function refreshOverlay(slot) {
    const viewport = viewportOf(slot);
    if (!viewport || !slot.series) return;
    const index = viewport.getCurrentImageIdIndex();
    const ids = viewport.getImageIds();
    slot.overlay.setSlice(index, ids.length);
    slot.scrollbar.set(index, ids.length);
    slot.overlay.setInstance(slot.byImageId?.get(ids[index]));
    const range = viewport.getProperties().voiRange;
    if (range) {
      const { windowWidth, windowCenter } = coreUtilities.windowLevel.toWindowLevel(range.lower, range.upper);
      slot.overlay.setWindow(windowWidth, windowCenter);
    }
    slot.overlay.setZoom(viewport.getZoom());
    onChange?.(slot);
  }

  function makeSlot(index) {
    const canvasHost = h('div', { class: 'cs-element', oncontextmenu: (e) => e.preventDefault() });
    const overlay = createOverlay(t);
    const scrollbar = createScrollbar((i) => setIndex(slot, i));
    const label = h('div', { class: 'cell-label', 'data-testid': 'cell-label' });
    const cell = h('div', {
      class: 'cell', 'data-testid': `viewport-${index}`,
      onmousedown: () => activate(index),
      ondragover: (e) => e.preventDefault(),
      ondrop(e) {
        e.preventDefault();
        const uid = e.dataTransfer.getData('text/x-series-uid');
        if (uid) onDropSeries?.(index, uid);
      },
    }, canvasHost, overlay.element, scrollbar.element, label);
    const slot = {
      index, cell, element: canvasHost, overlay, scrollbar, label, viewportId: `vp-${index}`, series: null,
    };
    // Several events fire per rendered frame: redraw the overlay once, before the next paint.
    const update = () => {
      if (slot.overlayPending) return;
      slot.overlayPending = requestAnimationFrame(() => {
        slot.overlayPending = 0;
        refreshOverlay(slot);
      });
    };
    [Events.STACK_NEW_IMAGE, Events.VOI_MODIFIED, Events.CAMERA_MODIFIED, Events.IMAGE_RENDERED]
      .forEach((name) => canvasHost.addEventListener(name, update));
    canvasHost.addEventListener(Events.STACK_NEW_IMAGE, (evt) => {
      if (slot.series && Number.isInteger(evt.detail?.imageIdIndex)) onSlice?.(slot, evt.detail.imageIdIndex);
    });
    return slot;
  }

  function currentIndex(slot) {
    return viewportOf(slot)?.getCurrentImageIdIndex?.() ?? 0;
  }

  function setIndex(slot, index) {
    const viewport = viewportOf(slot);
    if (!viewport?.getImageIds?.().length) return;
    const last = viewport.getImageIds().length - 1;
    viewport.setImageIdIndex(Math.max(0, Math.min(last, index)));
  }

  let onDropSeries = null;

  function activate(index) {
    activeIndex = index;
    slots.forEach((s) => s.cell.classList.toggle('active', s.index === index));
  }

  // Performance API marks (read by bench/viewer): the first image on screen and the whole
  // series in the image cache.
  function markSeriesLoaded(imageIds, uid) {
    const wanted = new Set(imageIds);
    const onLoaded = (evt) => {
      if (!wanted.delete(evt.detail?.image?.imageId)) return;
      if (wanted.size === 0) {
        performance.mark('lt:series-loaded', { detail: uid });
        eventTarget.removeEventListener(Events.IMAGE_LOADED, onLoaded);
      }
    };
    eventTarget.addEventListener(Events.IMAGE_LOADED, onLoaded);
    return () => eventTarget.removeEventListener(Events.IMAGE_LOADED, onLoaded);
  }

  async function show(slot, series) {
    slot.series = series;
    slot.label.textContent = labelOf?.(series) || '';
    slot.cell.dataset.seriesUid = series.uid;
    performance.mark('lt:series-requested', { detail: series.uid });
    const { imageIds, byImageId, geometry } = await loadSeries(series);
    performance.mark('lt:metadata-loaded', { detail: series.uid });
    slot.byImageId = byImageId;
    slot.geometry = geometry;
    const viewport = viewportOf(slot);
    toolUtilities.stackPrefetch.disable(slot.element);
    slot.stopWatching?.();
    slot.stopWatching = markSeriesLoaded(imageIds, series.uid);
    slot.element.addEventListener(Events.IMAGE_RENDERED, () => {
      performance.mark('lt:first-image', { detail: series.uid });
    }, { once: true });
    const loading = viewport.setStack(imageIds, 0);
    // The rest of the series comes in one stream beside the first image's own request.
    const prefetchOneByOne = () => {
      if (slot.series === series) toolUtilities.stackPrefetch.enable(slot.element);
    };
    if (streamSeries) streamSeries(series, imageIds).catch(prefetchOneByOne);
    await loading;
    viewport.render();
    if (!streamSeries) prefetchOneByOne();
    refreshOverlay(slot);
  }

  let mpr = null;
  let beforeMpr = [];

  function teardown() {
    slots.forEach((s) => {
      toolUtilities.stackPrefetch.disable(s.element);
      s.stopWatching?.();
      toolGroup.removeViewports(engineId, s.viewportId);
    });
    mpr?.destroy();
    mpr = null;
    engine.getViewports().forEach((v) => engine.disableElement(v.id));
  }

  /** MPR of `series` in place of the stack viewports; resolves to the refusal text or null. */
  async function showMpr(series) {
    const data = await loadSeries(series);
    const refusal = mprRefusal(series, data, { t, webgl, deviceMemoryGiB: navigator.deviceMemory });
    if (refusal) return refusal;
    beforeMpr = layout === 'mpr' ? beforeMpr : slots.map((s) => s.series);
    teardown();
    slots = [];
    layout = 'mpr';
    mpr = await openMpr({
      container, imageIds: data.imageIds, volumeId: `cornerstoneStreamingImageVolume:${series.uid}`, t,
    });
    return null;
  }

  function setLayout(name) {
    const [rows, cols] = LAYOUTS[name] || LAYOUTS['1x1'];
    const previous = layout === 'mpr' ? beforeMpr : slots.map((s) => s.series);
    teardown();
    layout = name;
    container.replaceChildren();
    container.style.gridTemplate = `repeat(${rows}, 1fr) / repeat(${cols}, 1fr)`;
    slots = Array.from({ length: rows * cols }, (_, i) => makeSlot(i));
    slots.forEach((s) => container.append(s.cell));
    engine.setViewports(slots.map((s) => ({
      viewportId: s.viewportId, type: ViewportType.STACK, element: s.element,
      defaultOptions: { background: [0, 0, 0] },
    })));
    slots.forEach((s) => toolGroup.addViewport(s.viewportId, engineId));
    activate(Math.min(activeIndex, slots.length - 1));
    return Promise.all(slots.map((s, i) => (previous[i] ? show(s, previous[i]) : null)));
  }

  const resize = () => engine.resize(true, true);
  window.addEventListener('resize', resize);

  return {
    engineId,
    get layout() { return layout; },
    setLayout,
    show,
    onDrop(fn) { onDropSeries = fn; },
    showMpr,
    mprViewports: () => mpr?.viewports() ?? null,
    slots: () => slots,
    setIndex,
    currentIndex,
    activeSlot: () => slots[activeIndex] ?? null,
    active: () => (slots[activeIndex] ? viewportOf(slots[activeIndex]) : null),
    refresh: refreshOverlay,
    resize,
    destroy() {
      window.removeEventListener('resize', resize);
      slots.forEach((s) => { toolUtilities.stackPrefetch.disable(s.element); s.stopWatching?.(); });
      mpr?.destroy();
      engine.destroy();
    },
  };
}
