// The text overlay of one viewport: patient/study info, image number, slice position, W/L, zoom.
//
// It is refreshed once per rendered frame while the user scrolls or drags the window, so its
// nodes are built once and a text is written only when it differs from what is shown: a write of
// the same text still invalidates layout and paint, and rebuilding the patient/study lines for
// every slice (they are the same for the whole series) cost a layout-tree rebuild per frame.

import { formatDate, formatName, h } from './dom.js';
import { value } from './dicomweb.js';

/** A node whose text (and optional data-* values) is written only when it changes. */
function field(tag, attrs = {}) {
  const element = h(tag, attrs);
  let text = '';
  return {
    element,
    set(next, data = null) {
      if (next !== text) {
        text = next;
        element.textContent = next;
      }
      if (data) {
        for (const [key, val] of Object.entries(data)) {
          if (element.dataset[key] !== val) element.dataset[key] = val;
        }
      }
    },
  };
}

export function createOverlay(t) {
  const patient = field('div', { 'data-testid': 'patient' });
  const patientId = field('div');
  const birthSex = field('div');
  const study = field('div');
  const studyDate = field('div', { 'data-testid': 'study-date' });
  const seriesLine = field('div');
  const slice = field('span', { 'data-testid': 'slice' });
  const position = field('span', { 'data-testid': 'position' });
  const wl = field('span', { 'data-testid': 'wl' });
  const zoom = field('span', { 'data-testid': 'zoom' });
  const topLeft = h('div', { class: 'ov tl' }, patient.element, patientId.element, birthSex.element);
  const topRight = h('div', { class: 'ov tr' }, study.element, studyDate.element, seriesLine.element);
  const bottomLeft = h('div', { class: 'ov bl' }, h('div', {}, slice.element), h('div', {}, wl.element));
  const bottomRight = h('div', { class: 'ov br' }, h('div', {}, position.element), h('div', {}, zoom.element));
  const element = h('div', { class: 'overlay' }, topLeft, topRight, bottomLeft, bottomRight);

  let shown = null;
  return {
    element,
    setInstance(instance) {
      if (!instance || instance === shown) return;
      shown = instance;
      patient.set(formatName(value(instance, 'PatientName')));
      patientId.set(`${value(instance, 'PatientID') ?? ''}`);
      birthSex.set(`${formatDate(value(instance, '00100030') ?? '')} ${value(instance, '00100040') ?? ''}`);
      study.set(value(instance, 'StudyDescription') ?? '');
      studyDate.set(formatDate(value(instance, 'StudyDate') ?? ''));
      seriesLine.set(`${value(instance, 'SeriesNumber') ?? ''} ${value(instance, 'SeriesDescription') ?? ''}`);
      const location = value(instance, '00201041');
      const known = location !== undefined;
      position.set(known ? `${Number(location).toFixed(1)} mm` : '', { mm: known ? String(Number(location)) : '' });
    },
    setSlice(index, count) {
      slice.set(`${t('slice')}: ${index + 1}/${count}`, { index: String(index + 1) });
    },
    setWindow(width, center) {
      const w = Math.round(width);
      const c = Math.round(center);
      wl.set(`${t('windowShort')}: ${w} ${t('levelShort')}: ${c}`, { width: String(w), center: String(c) });
    },
    setZoom(factor) {
      zoom.set(`×${factor.toFixed(2)}`);
    },
  };
}
