// The measurement list beside the images: values of the annotations drawn on this study.

import { eventTarget } from '@cornerstonejs/core';
import { annotation, Enums as ToolEnums } from '@cornerstonejs/tools';
import { h } from './dom.js';

const fmt = (n, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '–');

/** One line of text for an annotation's cached statistics. */
export function describe(item) {
  const stats = Object.values(item.data?.cachedStats || {})[0] || {};
  const tool = item.metadata?.toolName || '';
  if ('length' in stats) return `${tool}: ${fmt(stats.length, 2)} ${stats.unit || 'mm'}`;
  if ('angle' in stats) return `${tool}: ${fmt(stats.angle)}°`;
  if ('mean' in stats) {
    const unit = stats.modalityUnit || '';
    return `${tool}: mean ${fmt(stats.mean)} ${unit}, SD ${fmt(stats.stdDev)}, `
      + `area ${fmt(stats.area, 2)} ${stats.areaUnit || 'mm²'}`;
  }
  if (item.data?.text) return `${tool}: ${item.data.text}`;
  return tool;
}

export function createMeasurementList(t) {
  const list = h('ul', { class: 'measurements', 'data-testid': 'measurements' });
  const render = () => {
    const items = annotation.state.getAllAnnotations();
    list.replaceChildren(...items.map((item) => h('li', {}, describe(item))));
  };
  const events = [
    ToolEnums.Events.ANNOTATION_COMPLETED, ToolEnums.Events.ANNOTATION_MODIFIED,
    ToolEnums.Events.ANNOTATION_REMOVED,
  ];
  events.forEach((name) => eventTarget.addEventListener(name, render));
  return {
    element: h('section', {}, h('h3', {}, t('measurements')), list),
    destroy() {
      events.forEach((name) => eventTarget.removeEventListener(name, render));
      annotation.state.removeAllAnnotations();
    },
  };
}
