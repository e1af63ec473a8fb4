// The keyboard shortcut help overlay, generated from the SHORTCUTS table.

import { h } from './dom.js';
import { SHORTCUTS } from './tools.js';

const ACTION_LABELS = {
  previousImage: 'slice −1', nextImage: 'slice +1', previousImage10: 'slice −10',
  nextImage10: 'slice +10', firstImage: 'slice 1', lastImage: 'slice N',
};

export function openHelp(host, t) {
  const label = (action) => {
    if (action.startsWith('preset:')) {
      const name = action.slice(7);
      return `${t('presets')}: ${name === 'dicom' ? t('dicomWindow') : t(name)}`;
    }
    return ACTION_LABELS[action] || t(action);
  };
  const modal = h('div', { class: 'modal', 'data-testid': 'help', role: 'dialog', onclick: (e) => e.target === modal && close() },
    h('div', { class: 'modal-body' },
      h('header', { class: 'bar' }, h('strong', {}, t('shortcutsTitle')), h('span', { class: 'grow' }),
        h('button', { onclick: () => close() }, t('close'))),
      h('table', { class: 'shortcuts' }, h('tbody', {},
        SHORTCUTS.map((s) => h('tr', {}, h('td', {}, h('kbd', {}, s.label)), h('td', {}, label(s.action)))),
        h('tr', {}, h('td', {}, h('kbd', {}, 'Ctrl+S')), h('td', {}, t('save')))))));
  const close = () => modal.remove();
  host.append(modal);
  return close;
}
