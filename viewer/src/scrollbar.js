// The scroll bar of one viewport: shows which slice of how many is on screen, and moves to the
// slice the user drags it to (or picks with the arrow/Home/End keys once it has the focus).

import { h } from './dom.js';

export function createScrollbar(onPick) {
  const element = h('input', {
    type: 'range', class: 'scrollbar', 'data-testid': 'scrollbar', min: '1', max: '1', value: '1',
    hidden: true, oninput: () => onPick(Number(element.value) - 1),
  });
  return {
    element,
    set(index, count) {
      element.max = String(Math.max(count, 1));
      element.value = String(index + 1);
      element.hidden = count <= 1;
    },
  };
}
