// The text overlay of one viewport: patient/study info, image number, slice position, W/L, zoom.

import { formatDate, formatName, h } from './dom.js';
import { value } from './dicomweb.js';

export function createOverlay(t) {
  const topLeft = h('div', { class: 'ov tl' });
  const topRight = h('div', { class: 'ov tr' });
  const slice = h('span', { 'data-testid': 'slice' });
  const position = h('span', { 'data-testid': 'position' });
  const wl = h('span', { 'data-testid': 'wl' });
  const zoom = h('span', { 'data-testid': 'zoom' });
  const bottomLeft = h('div', { class: 'ov bl' }, h('div', {}, slice), h('div', {}, wl));
  const bottomRight = h('div', { class: 'ov br' }, h('div', {}, position), h('div', {}, zoom));
  const element = h('div', { class: 'overlay' }, topLeft, topRight, bottomLeft, bottomRight);

  let shown = null;
  return {
    element,
    setInstance(instance) {
      if (!instance || instance === shown) return;
      shown = instance;
      topLeft.replaceChildren(
        h('div', { 'data-testid': 'patient' }, formatName(value(instance, 'PatientName'))),
        h('div', {}, `${value(instance, 'PatientID') ?? ''}`),
        h('div', {}, `${formatDate(value(instance, '00100030') ?? '')} ${value(instance, '00100040') ?? ''}`),
      );
      topRight.replaceChildren(
        h('div', {}, value(instance, 'StudyDescription') ?? ''),
        h('div', { 'data-testid': 'study-date' }, formatDate(value(instance, 'StudyDate') ?? '')),
        h('div', {}, `${value(instance, 'SeriesNumber') ?? ''} ${value(instance, 'SeriesDescription') ?? ''}`),
      );
      const location = value(instance, '00201041');
      position.textContent = location !== undefined ? `${Number(location).toFixed(1)} mm` : '';
      position.dataset.mm = location !== undefined ? String(Number(location)) : '';
    },
    setSlice(index, count) {
      slice.textContent = `${t('slice')}: ${index + 1}/${count}`;
      slice.dataset.index = String(index + 1);
    },
    setWindow(width, center) {
      wl.textContent = `${t('windowShort')}: ${Math.round(width)} ${t('levelShort')}: ${Math.round(center)}`;
      wl.dataset.width = String(Math.round(width));
      wl.dataset.center = String(Math.round(center));
    },
    setZoom(factor) {
      zoom.textContent = `×${factor.toFixed(2)}`;
    },
  };
}
