// MPR: axial, sagittal and coronal reformats of one CT/MR series, built as a Cornerstone volume
// and shown in three orthographic viewports joined by crosshairs (each plane draws the other two
// as reference lines; dragging them moves the other planes). The reader stays in stack mode when
// the series is no volume (fewer than 3 parallel slices), when the browser has no WebGL, or when
// the volume would not fit the memory budget; the caller shows the reason.

import {
  Enums as CoreEnums, RenderingEngine, cache, eventTarget, getShouldUseCPURendering,
  setUseCPURendering, setVolumesForViewports, utilities as coreUtilities, volumeLoader,
} from '@cornerstonejs/core';
import { h } from './dom.js';
import { value } from './dicomweb.js';
import { activateCrosshairs, createMprToolGroup, destroyToolGroup } from './tools.js';

const { Events, OrientationAxis, ViewportType } = CoreEnums;
export const MPR_MODALITIES = ['CT', 'MR', 'PT', 'NM'];
const MIB = 1024 * 1024;
// At most a quarter of the device's memory (navigator.deviceMemory, GiB; Chromium caps it at 8)
// for one volume: the stack images stay cached beside it, and the tab must survive.
const MEMORY_SHARE = 0.25;
const PLANES = [
  ['axial', OrientationAxis.AXIAL], ['sagittal', OrientationAxis.SAGITTAL],
  ['coronal', OrientationAxis.CORONAL],
];

/** Why `series` (with its loadSeries() data) cannot be reformatted, or null when it can. */
export function mprRefusal(series, { imageIds, byImageId, geometry }, { t, webgl, deviceMemoryGiB }) {
  if (!MPR_MODALITIES.includes(series.modality) || imageIds.length < 3 || !geometry?.normal) {
    return t('mprUnavailable', { reason: t('mprNoGeometry') });
  }
  if (!webgl) return t('mprUnavailable', { reason: t('mprNoWebgl') });
  const first = byImageId.get(imageIds[0]);
  const bytes = Number(value(first, 'Rows')) * Number(value(first, '00280011')) * imageIds.length * 4;
  const budget = Math.min(cache.getMaxCacheSize(), (deviceMemoryGiB || 4) * 1024 * MIB * MEMORY_SHARE);
  if (bytes > budget) {
    return t('mprUnavailable', {
      reason: t('mprTooLarge', { mb: Math.ceil(bytes / MIB), limit: Math.floor(budget / MIB) }),
    });
  }
  return null;
}

/** A rendering engine on WebGL even where stacks render on the CPU (the flag is read when the
 * engine and its viewports are made, so it is lifted only meanwhile). */
function gpuEngine(id, viewports) {
  const cpu = getShouldUseCPURendering();
  setUseCPURendering(false);
  try {
    const engine = new RenderingEngine(id);
    engine.setViewports(viewports);
    return engine;
  } finally {
    setUseCPURendering(cpu);
  }
}

/**
 * openMpr({ container, imageIds, volumeId, t }) -> { viewports(), destroy() }.
 * `container` gets three cells; the volume streams in and the planes fill as slices arrive.
 */
export async function openMpr({ container, imageIds, volumeId, t }) {
  const toolGroupId = `mpr-${Math.random().toString(36).slice(2)}`;
  const cells = PLANES.map(([name]) => {
    const host = h('div', { class: 'cs-element', oncontextmenu: (e) => e.preventDefault() });
    const slice = h('span', { 'data-testid': 'mpr-slice' });
    const wl = h('span', { 'data-testid': 'wl' });
    const cell = h('div', { class: 'cell', 'data-testid': `mpr-${name}` }, host,
      h('div', { class: 'overlay' },
        h('div', { class: 'ov tl' }, h('strong', {}, t(name))),
        h('div', { class: 'ov bl' }, h('div', {}, slice), h('div', {}, wl))));
    return { name, cell, host, slice, wl, viewportId: `${toolGroupId}-${name}` };
  });
  container.style.gridTemplate = '1fr / repeat(3, 1fr)';
  container.replaceChildren(...cells.map((c) => c.cell));
  container.dataset.mpr = 'loading';

  const engine = gpuEngine(`${toolGroupId}-engine`, cells.map((c, i) => ({
    viewportId: c.viewportId, type: ViewportType.ORTHOGRAPHIC, element: c.host,
    defaultOptions: { orientation: PLANES[i][1], background: [0, 0, 0] },
  })));
  const resize = () => engine.resize(true, true);
  window.addEventListener('resize', resize);
  const listeners = [];
  const listen = (target, name, fn) => { target.addEventListener(name, fn); listeners.push([target, name, fn]); };
  cells.forEach((c) => {
    listen(c.host, Events.VOLUME_NEW_IMAGE, (evt) => {
      const { imageIndex, numberOfSlices } = evt.detail;
      c.slice.textContent = `${t('slice')}: ${imageIndex + 1}/${numberOfSlices}`;
      c.slice.dataset.index = String(imageIndex + 1);
    });
    listen(c.host, Events.VOI_MODIFIED, (evt) => {
      const range = evt.detail.range;
      if (!range) return;
      const { windowWidth, windowCenter } = coreUtilities.windowLevel.toWindowLevel(range.lower, range.upper);
      c.wl.textContent = `${t('windowShort')}: ${Math.round(windowWidth)} ${t('levelShort')}: ${Math.round(windowCenter)}`;
      c.wl.dataset.width = String(Math.round(windowWidth));
      c.wl.dataset.center = String(Math.round(windowCenter));
    });
  });
  listen(eventTarget, Events.IMAGE_VOLUME_LOADING_COMPLETED, (evt) => {
    if (evt.detail.volumeId !== volumeId) return;
    container.dataset.mpr = 'loaded';
    performance.mark('lt:mpr-loaded', { detail: volumeId });
  });

  const volume = await volumeLoader.createAndCacheVolume(volumeId, { imageIds });
  volume.load();
  await setVolumesForViewports(engine, [{ volumeId }], cells.map((c) => c.viewportId));
  // The crosshairs need every plane of the volume in their tool group before they are active.
  const toolGroup = createMprToolGroup(toolGroupId);
  cells.forEach((c) => toolGroup.addViewport(c.viewportId, engine.id));
  activateCrosshairs(toolGroup);
  engine.renderViewports(cells.map((c) => c.viewportId));
  if (volume.loadStatus?.loaded) container.dataset.mpr = 'loaded';

  return {
    cells,
    viewports: () => cells.map((c) => engine.getViewport(c.viewportId)).filter(Boolean),
    destroy() {
      listeners.forEach(([target, name, fn]) => target.removeEventListener(name, fn));
      window.removeEventListener('resize', resize);
      destroyToolGroup(toolGroupId);
      engine.destroy();
      cache.removeVolumeLoadObject(volumeId);
      delete container.dataset.mpr;
    },
  };
}
