// Reader: series thumbnails, viewport grid, toolbar, shortcuts, tag browser, cine, and the
// report panel beside the images. Order as in the Cornerstone examples: init -> tools ->
// tool group -> engine -> viewports -> stack -> render.

import { utilities as coreUtilities } from '@cornerstonejs/core';
import { clear, formatDate, h } from '../dom.js';
import { openHelp } from '../help.js';
import { createMeasurementList } from '../measurements.js';
import { openTagBrowser } from '../tagbrowser.js';
import { createLinker } from '../linking.js';
import { LAYOUTS, createGrid } from '../viewports.js';
import {
  patientStudies, seriesImageIds, studySeries, thumbnailUrl, value, values,
} from '../dicomweb.js';
import { SHORTCUTS, WINDOW_PRESETS, createToolGroup, destroyToolGroup, setPrimaryTool } from '../tools.js';
import * as reportPanel from './report.js';

const CINE_FPS = 15;

function voi({ width, center }) {
  return coreUtilities.windowLevel.toLowHighRange(width, center);
}

export function mount(root, params, ctx) {
  const { api, i18n, navigate } = ctx;
  const { t } = i18n;
  const studyUID = params[0];
  const cleanups = [];
  let alive = true;
  const status = h('span', { class: 'muted', 'data-testid': 'reader-status' }, t('loading'));
  const page = h('div', { class: 'reader' });
  root.append(page);

  function forbidden(message) {
    clear(page);
    page.append(h('p', { class: 'error', 'data-testid': 'reader-error' }, message),
      h('button', { onclick: () => navigate('/worklist') }, t('back')));
  }

  (async () => {
    // The series list and Cornerstone's start-up do not depend on each other: run them together.
    const starting = ctx.cornerstone();
    let series;
    try {
      series = await studySeries(api, studyUID);
      performance.mark('lt:series-listed');
    } catch (error) {
      forbidden(error.status === 403 ? t('forbidden') : t('error', { error: error.message }));
      return;
    }
    if (!alive) return;
    const { wadors, streams, webgl } = await starting;
    performance.mark('lt:cornerstone-ready');
    if (!alive) return;
    build(series, { wadors, streams, webgl });
  })();

  function build(series, { wadors, streams, webgl }) {
    const toolGroupId = `reader-${Math.random().toString(36).slice(2)}`;
    const toolGroup = createToolGroup(toolGroupId);
    cleanups.push(() => destroyToolGroup(toolGroupId));
    const cache = new Map();
    const loadSeries = (s) => {
      if (!cache.has(s.uid)) cache.set(s.uid, seriesImageIds(api, wadors, s.studyUID, s.uid, window.location.origin));
      return cache.get(s.uid);
    };
    // One pixel data stream per series while the reader is open (aborted when it closes).
    const streaming = new Map();
    const aborter = new AbortController();
    cleanups.push(() => aborter.abort());
    const streamSeries = (s, imageIds) => {
      if (!streaming.has(s.uid)) {
        const url = `/dicomweb/studies/${encodeURIComponent(s.studyUID)}/series/${encodeURIComponent(s.uid)}/pixeldata`;
        const done = streams.stream(url, imageIds, { signal: aborter.signal });
        done.catch(() => streaming.delete(s.uid));
        streaming.set(s.uid, done);
      }
      return streaming.get(s.uid);
    };
    const gridHost = h('div', { class: 'grid' });
    const priorDates = new Map(); // StudyInstanceUID -> StudyDate of the priors opened
    const linker = createLinker({
      currentIndex: (slot) => grid.currentIndex(slot),
      setIndex: (slot, index) => grid.setIndex(slot, index),
    });
    const grid = createGrid(gridHost, {
      toolGroup, t, loadSeries, streamSeries, webgl,
      onSlice: (slot, index) => linker.follow(slot, index, grid.slots()),
      labelOf: (s) => (priorDates.has(s.studyUID) ? `${t('prior')} ${formatDate(priorDates.get(s.studyUID))}` : ''),
    });
    cleanups.push(() => grid.destroy());
    const measurements = createMeasurementList(t);
    cleanups.push(() => measurements.destroy());
    const byUid = new Map(series.map((s) => [s.uid, s]));
    grid.onDrop((slotIndex, uid) => byUid.has(uid) && grid.show(grid.slots()[slotIndex], byUid.get(uid)));

    // Series thumbnails: click = show in the active viewport, drag = drop on any viewport.
    const thumbs = h('nav', { class: 'thumbs', 'data-testid': 'series-list' }, h('h3', {}, t('series')));
    function thumb(s) {
      const img = h('img', { alt: '' });
      thumbnailUrl(api, s.studyUID, s.uid).then((url) => {
        if (url) { img.src = url; cleanups.push(() => URL.revokeObjectURL(url)); }
      });
      return h('button', {
        class: 'thumb', draggable: true, dataset: { seriesUid: s.uid },
        ondragstart: (e) => e.dataTransfer.setData('text/x-series-uid', s.uid),
        onclick: () => grid.show(grid.activeSlot(), s),
      }, img, h('span', {}, `${s.number} ${s.modality} ${s.description}`), h('small', {}, `${s.count}`));
    }
    series.forEach((s) => thumbs.append(thumb(s)));

    // Prior studies of the patient (QIDO by Patient ID): one click opens a prior beside the
    // current study (1x2: current left, prior right); its series join the thumbnails.
    const priorList = h('div', { class: 'priors', 'data-testid': 'priors' });
    thumbs.append(h('h3', {}, t('priors')), priorList);
    async function listPriors(patientId) {
      if (!patientId) return;
      const studies = (await patientStudies(api, patientId)).filter((s) => s.uid !== studyUID);
      if (!alive) return;
      priorList.replaceChildren(...(studies.length ? studies.map((study) => h('button', {
        class: 'prior', dataset: { studyUid: study.uid }, 'data-testid': 'prior',
        onclick: () => openPrior(study),
      }, h('strong', {}, formatDate(study.date)), h('span', {}, ` ${study.modalities} ${study.description}`),
      h('small', {}, ` (${study.count})`))) : [h('span', { class: 'muted' }, t('noPriors'))]));
      priorList.dataset.ready = 'true';
    }
    const priorSeriesByStudy = new Map();
    async function openPrior(study) {
      let priorSeries = priorSeriesByStudy.get(study.uid);
      if (!priorSeries) {
        priorSeries = await studySeries(api, study.uid);
        priorSeriesByStudy.set(study.uid, priorSeries);
        priorDates.set(study.uid, study.date);
        priorSeries.forEach((s) => byUid.set(s.uid, s));
        const entry = priorList.querySelector(`[data-study-uid="${CSS.escape(study.uid)}"]`);
        entry?.after(h('div', { class: 'prior-series' }, priorSeries.map(thumb)));
      }
      if (!priorSeries.length || !alive) return;
      if (grid.layout === '1x1') {
        await grid.setLayout('1x2');
        layoutSelect.value = '1x2';
      }
      await grid.show(grid.slots()[1], priorSeries[0]);
    }

    // MPR of the active viewport's series in place of the grid; again (or a layout) goes back.
    async function toggleMpr() {
      if (grid.layout === 'mpr') {
        await grid.setLayout(layoutSelect.value);
        mprButton.classList.remove('on');
        return;
      }
      const slot = grid.activeSlot();
      if (!slot?.series) return;
      status.textContent = t('loading');
      const refusal = await grid.showMpr(slot.series);
      status.textContent = refusal || '';
      mprButton.classList.toggle('on', !refusal);
    }

    // In MPR the window presets, invert and reset apply to the three planes together.
    function runOnMpr(action, viewports) {
      const apply = (props) => viewports.forEach((v) => { v.setProperties(props); v.render(); });
      if (action.startsWith('preset:')) {
        const preset = WINDOW_PRESETS[action.slice('preset:'.length)];
        if (preset) apply({ voiRange: voi(preset) });
      } else if (action === 'invert') {
        apply({ invert: !viewports[0].getProperties().invert });
      } else if (action === 'reset' || action === 'fit') {
        viewports.forEach((v) => { v.resetCamera(); if (action === 'reset') v.resetProperties(); v.render(); });
      }
    }

    function toggleLink() {
      const on = linker.toggle();
      linkButton.classList.toggle('on', on);
      linkButton.setAttribute('aria-pressed', String(on));
      const slot = grid.activeSlot();
      if (on && slot?.series) linker.follow(slot, grid.currentIndex(slot), grid.slots());
    }

    let cineHandle = null;
    const stopCine = () => { if (cineHandle) { clearInterval(cineHandle); cineHandle = null; } };
    cleanups.push(stopCine);
    let dicomWindowIndex = 0;

    const render = (viewport) => viewport.render();
    const actions = {
      previousImage: (v) => v.scroll(-1),
      nextImage: (v) => v.scroll(1),
      previousImage10: (v) => v.scroll(-10),
      nextImage10: (v) => v.scroll(10),
      firstImage: (v) => v.setImageIdIndex(0),
      lastImage: (v) => v.setImageIdIndex(v.getImageIds().length - 1),
      invert(v) { v.setProperties({ invert: !v.getProperties().invert }); render(v); },
      flipH(v) { v.setCamera({ flipHorizontal: !v.getCamera().flipHorizontal }); render(v); },
      flipV(v) { v.setCamera({ flipVertical: !v.getCamera().flipVertical }); render(v); },
      rotate(v) {
        const rotation = ((v.getViewPresentation().rotation || 0) + 90) % 360;
        v.setViewPresentation({ rotation });
        render(v);
      },
      fit(v) { v.resetCamera({ resetPan: true, resetZoom: true }); render(v); },
      reset(v) { v.resetCamera(); v.resetProperties(); render(v); },
      cine(v) {
        if (cineHandle) { stopCine(); return; }
        cineHandle = setInterval(() => v.scroll(1, false, true), 1000 / CINE_FPS);
      },
      tags() {
        const slot = grid.activeSlot();
        const viewport = grid.active();
        const instance = slot?.byImageId?.get(viewport?.getCurrentImageId());
        openTagBrowser(page, instance, t);
      },
      help: () => openHelp(page, t),
    };

    function presetFor(action, viewport) {
      const name = action.slice('preset:'.length);
      if (name !== 'dicom') return WINDOW_PRESETS[name];
      // The image's own windows (Window Center/Width may hold several): cycle through them.
      const slot = grid.activeSlot();
      const instance = slot?.byImageId?.get(viewport.getCurrentImageId());
      const centers = values(instance, 'WindowCenter');
      const widths = values(instance, 'WindowWidth');
      if (!centers.length || !widths.length) return null;
      dicomWindowIndex = (dicomWindowIndex + 1) % centers.length;
      return { center: Number(centers[dicomWindowIndex]), width: Number(widths[dicomWindowIndex] ?? widths[0]) };
    }

    function run(action) {
      if (setPrimaryTool(toolGroup, action)) {
        toolbar.querySelectorAll('[data-tool]').forEach((b) => b.classList.toggle('on', b.dataset.tool === action));
        return;
      }
      if (action === 'link') { toggleLink(); return; }
      if (action === 'mpr') { toggleMpr(); return; }
      const mprViewports = grid.mprViewports();
      if (mprViewports) { runOnMpr(action, mprViewports); return; }
      const viewport = grid.active();
      if (!viewport || !viewport.getImageIds?.().length) return;
      if (action.startsWith('preset:')) {
        const preset = presetFor(action, viewport);
        if (preset) { viewport.setProperties({ voiRange: voi(preset) }); viewport.render(); }
        return;
      }
      actions[action]?.(viewport);
    }

    const button = (action, label, attrs = {}) => h('button', { title: label, onclick: () => run(action), dataset: { action }, ...attrs }, label);
    const toolButton = (action) => button(action, t(action), { dataset: { tool: action, action } });
    const layoutSelect = h('select', {
      title: t('layout'), 'data-testid': 'layout',
      onchange: (e) => { mprButton.classList.remove('on'); grid.setLayout(e.target.value); },
    },
      Object.keys(LAYOUTS).map((name) => h('option', { value: name }, name)));
    const linkButton = button('link', t('link'), { 'aria-pressed': 'false' });
    const mprButton = button('mpr', t('mpr'));
    const toolbar = h('div', { class: 'toolbar', 'data-testid': 'toolbar' },
      h('button', { onclick: () => navigate('/worklist') }, `← ${t('back')}`),
      layoutSelect, linkButton, mprButton,
      ['windowLevel', 'pan', 'zoom', 'length', 'angle', 'ellipse', 'rectangle', 'arrow'].map(toolButton),
      h('select', {
        title: t('presets'), 'data-testid': 'presets',
        onchange(e) { if (e.target.value) run(e.target.value); e.target.value = ''; },
      }, h('option', { value: '' }, t('presets')),
      Object.keys(WINDOW_PRESETS).map((name) => h('option', { value: `preset:${name}` }, t(name))),
      h('option', { value: 'preset:dicom' }, t('dicomWindow'))),
      ['fit', 'invert', 'rotate', 'flipH', 'flipV', 'reset', 'cine', 'tags', 'help'].map((a) => button(a, t(a))),
      status);
    toolbar.querySelector('[data-tool="windowLevel"]').classList.add('on');

    const side = h('aside', { class: 'side' });
    clear(page);
    page.append(toolbar, h('div', { class: 'reader-body' }, thumbs, gridHost, side));
    const report = reportPanel.mount(side, [studyUID], ctx, {
      modality: series[0]?.modality || '',
      bodyPart: '',
    });
    if (report) cleanups.push(report);
    side.append(measurements.element);

    function onKey(event) {
      const target = event.target;
      if (target.closest && target.closest('input, textarea, select, [contenteditable]')) return;
      if ((event.ctrlKey || event.metaKey) && event.key === 's') return; // handled by the report
      if (event.ctrlKey || event.metaKey || event.altKey) return;
      const shortcut = SHORTCUTS.find((s) => s.key === event.key || s.key === event.key.toLowerCase());
      if (!shortcut) return;
      event.preventDefault();
      run(shortcut.action);
    }
    document.addEventListener('keydown', onKey);
    cleanups.push(() => document.removeEventListener('keydown', onKey));

    // The first series' metadata loads while the rendering engine sets up its viewport.
    if (series.length) loadSeries(series[0]).catch(() => {});
    grid.setLayout('1x1').then(async () => {
      if (!series.length) { status.textContent = t('noStudies'); return; }
      await grid.show(grid.activeSlot(), series[0]);
      status.textContent = '';
      status.dataset.ready = 'true';
      // Body part for the report templates, once the metadata is known.
      const first = (await loadSeries(series[0])).byImageId.values().next().value;
      report?.setBodyPart?.(value(first, 'BodyPartExamined') || '');
      await listPriors(value(first, 'PatientID'));
    }).catch((error) => {
      status.textContent = t('error', { error: error.message });
    });
  }

  return () => {
    alive = false;
    cleanups.reverse().forEach((fn) => fn());
  };
}
