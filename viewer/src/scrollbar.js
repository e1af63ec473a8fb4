// The scroll bar of one viewport: shows which slice of how many is on screen, and moves to the
// slice the user drags it to (or picks with the arrow/Home/End keys once it has the focus).
// set() runs once per rendered frame while scrolling: it writes only what changed (any write to
// a range input's attributes re-lays it out and repaints it).

import { h } from './dom.js';

export function createScrollbar(onPick) {
  const element = h('input', {
    type: 'range', class: 'scrollbar', 'data-testid': 'scrollbar', min: '1', max: '1', value: '1',
    hidden: true, oninput: () => onPick(Number(element.value) - 1),
  });
  let shown = { index: 0, count: 0 };
  return {
    element,
    set(index, count) {
      if (index === shown.index && count === shown.count) return;
      if (count !== shown.count) {
        element.max = String(Math.max(count, 1));
        element.hidden = count <= 1;
      }
      element.value = String(index + 1);
      shown = { index, count };
    },
  };
}
