// DICOM tag browser: the current image's metadata (DICOM JSON) as a filterable table.

import dcmjs from 'dcmjs';
import { h } from './dom.js';

const dictionary = () => dcmjs.data.DicomMetaDictionary.dictionary;

function tagName(tag) {
  const entry = dictionary()[`(${tag.slice(0, 4)},${tag.slice(4)})`];
  return entry ? entry.name : '';
}

function show(element) {
  if (!element) return '';
  if (element.BulkDataURI || element.InlineBinary) return '(bulk data)';
  const items = element.Value ?? [];
  if (element.vr === 'SQ') return `(${items.length} item${items.length === 1 ? '' : 's'})`;
  return items.map((v) => (v && typeof v === 'object' ? v.Alphabetic ?? JSON.stringify(v) : String(v))).join('\\');
}

function rows(dataset, depth = 0) {
  const out = [];
  for (const tag of Object.keys(dataset).sort()) {
    const element = dataset[tag];
    out.push({ tag, name: tagName(tag), vr: element.vr, text: show(element), depth });
    if (element.vr === 'SQ') (element.Value ?? []).forEach((item) => out.push(...rows(item, depth + 1)));
  }
  return out;
}

/** Open a modal over `host`; returns close(). */
export function openTagBrowser(host, instance, t) {
  const all = rows(instance || {});
  const tbody = h('tbody');
  const render = (filter) => {
    const f = filter.toLowerCase();
    tbody.replaceChildren(...all
      .filter((r) => !f || `${r.tag} ${r.name} ${r.text}`.toLowerCase().includes(f))
      .map((r) => h('tr', {},
        h('td', { class: 'mono' }, `${'  '.repeat(r.depth)}(${r.tag.slice(0, 4)},${r.tag.slice(4)})`),
        h('td', {}, r.name), h('td', { class: 'mono' }, r.vr), h('td', {}, r.text))));
  };
  const filter = h('input', { type: 'search', placeholder: t('tagFilter'), oninput: (e) => render(e.target.value) });
  const modal = h('div', { class: 'modal', 'data-testid': 'tag-browser', role: 'dialog' },
    h('div', { class: 'modal-body wide' },
      h('header', { class: 'bar' }, h('strong', {}, t('tags')), filter, h('span', { class: 'grow' }),
        h('button', { onclick: () => close() }, t('close'))),
      h('div', { class: 'scroll' }, h('table', { class: 'tags' }, tbody))));
  const close = () => modal.remove();
  render('');
  host.append(modal);
  filter.focus();
  return close;
}
