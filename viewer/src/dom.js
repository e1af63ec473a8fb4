// Building DOM nodes safely: text is always set as text, never parsed as HTML.

/** h('div', { class: 'x', onclick: fn, dataset: {...} }, child, 'text', [more]) */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, val] of Object.entries(attrs || {})) {
    if (val === undefined || val === null || val === false) continue;
    if (key.startsWith('on') && typeof val === 'function') el.addEventListener(key.slice(2), val);
    else if (key === 'dataset') Object.assign(el.dataset, val);
    else if (key === 'style' && typeof val === 'object') Object.assign(el.style, val);
    else if (key in el && key !== 'list' && typeof val !== 'string') el[key] = val;
    else el.setAttribute(key, val === true ? '' : String(val));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

/** 20261203 -> 03/12/2026 */
export function formatDate(da) {
  return da && da.length === 8 ? `${da.slice(6, 8)}/${da.slice(4, 6)}/${da.slice(0, 4)}` : da || '';
}

/** DICOM PN "NGUYEN^VAN A" -> "NGUYEN VAN A" */
export function formatName(pn) {
  return (pn || '').split('=')[0].replace(/\^+/g, ' ').trim();
}

export function formatTime(iso, lang) {
  if (!iso) return '';
  return new Date(iso).toLocaleString(lang === 'en' ? 'en-GB' : 'vi-VN');
}
