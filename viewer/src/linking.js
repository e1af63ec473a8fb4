// Linked scrolling: viewports showing series of one frame of reference follow the slice the user
// scrolls to, matched by position along the slice normal, not by index (series of one exam differ
// in slice spacing and count).

import { nearestSlice } from './dicomweb.js';

const dot = (a, b) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];

/** Whether two series' slices can be matched by position: same frame of reference, parallel. */
export function linkable(a, b) {
  return Boolean(a?.normal && b?.normal && a.frameOfReference
    && a.frameOfReference === b.frameOfReference && Math.abs(dot(a.normal, b.normal)) > 0.999);
}

/**
 * createLinker({ currentIndex(slot), setIndex(slot, index) }) -> { enabled, toggle, follow }.
 * follow(source, index, slots) after `source` showed slice `index`; a slot moved by the linker
 * reports its own new slice too, which must not echo back (spacings differ, so it would not
 * land on the same slice and the two would chase each other).
 */
export function createLinker({ currentIndex, setIndex }) {
  let enabled = false;
  const moved = new Map();
  return {
    get enabled() { return enabled; },
    toggle() {
      enabled = !enabled;
      moved.clear();
      return enabled;
    },
    follow(source, index, slots) {
      if (moved.get(source) === index) {
        moved.delete(source);
        return;
      }
      moved.delete(source);
      if (!enabled || !source.geometry?.normal) return;
      const point = source.geometry.positions[index];
      for (const slot of slots) {
        if (slot === source || !linkable(source.geometry, slot.geometry)) continue;
        const target = nearestSlice(slot.geometry, point);
        if (target !== currentIndex(slot)) {
          moved.set(slot, target);
          setIndex(slot, target);
        }
      }
    },
  };
}
