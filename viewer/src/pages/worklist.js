// Worklist: today's studies by default, filters, sortable columns, one click opens the reader,
// polling for new studies without a reload.

import { clear, formatDate, formatName, h } from '../dom.js';

const POLL_MS = 10_000;
const MODALITIES = ['', 'CT', 'MR', 'CR', 'DX', 'US', 'MG', 'XA', 'NM', 'PT'];
const COLUMNS = [
  ['patient_name', 'patientName'], ['patient_id', 'patientId'], ['study_date', 'studyDate'],
  ['modalities', 'modality'], ['study_description', 'description'],
  ['number_of_instances', 'images'], ['accession_number', 'order'], ['report_status', 'report'],
];

// The hospital's day (Vietnam: UTC+7, no daylight saving), which is also how the server
// files a study received without a Study Date: a reader in another time zone sees the same
// "today" as the hospital.
const HOSPITAL_UTC_OFFSET_MS = 7 * 3_600_000;

function isoToday() {
  return new Date(Date.now() + HOSPITAL_UTC_OFFSET_MS).toISOString().slice(0, 10);
}

/** Accession number, the linked order's status and procedure, and its claim episode (MA_LK). */
function orderCell(study, t) {
  return [
    h('div', {}, study.accession_number,
      study.order_status ? h('span', { class: `badge order ${study.order_status}`, 'data-testid': 'order-status' }, ` ${t(`order_${study.order_status}`)}`) : null),
    study.order_procedure ? h('div', { class: 'muted small' }, study.order_procedure) : null,
    study.claim_link ? h('div', { class: 'muted small', 'data-testid': 'claim-link' }, `${t('claim')}: ${study.claim_link}`) : null,
  ];
}

export function mount(root, _params, ctx) {
  const { api, i18n, navigate, session } = ctx;
  const { t } = i18n;
  const state = { sort: 'study_date', order: 'desc', known: null };
  const field = (name, attrs = {}) => h('input', { name, ...attrs });
  const inputs = {
    date_from: field('date_from', { type: 'date', value: isoToday() }),
    date_to: field('date_to', { type: 'date', value: isoToday() }),
    patient: field('patient', { placeholder: t('patient'), type: 'search' }),
    accession: field('accession', { placeholder: t('accession'), type: 'search' }),
    modality: h('select', { name: 'modality' }, MODALITIES.map((m) => h('option', { value: m }, m || t('any')))),
    status: h('select', { name: 'status' }, ['', 'unread', 'draft', 'signed'].map((s) => h('option', { value: s }, s ? t(s) : t('any')))),
  };
  const body = h('tbody');
  const info = h('span', { class: 'muted', 'data-testid': 'worklist-info' });
  const banner = h('span', { class: 'banner', 'data-testid': 'new-studies' });
  const headRow = h('tr');
  const table = h('table', { class: 'worklist', 'data-testid': 'worklist' }, h('thead', {}, headRow), body);

  function renderHead() {
    clear(headRow);
    COLUMNS.forEach(([key, label]) => {
      const arrow = state.sort === key ? (state.order === 'asc' ? ' ▲' : ' ▼') : '';
      headRow.append(h('th', {
        class: 'sortable',
        onclick() {
          state.order = state.sort === key && state.order === 'asc' ? 'desc' : 'asc';
          state.sort = key;
          load();
        },
      }, t(label) + arrow));
    });
  }

  function query() {
    const q = new URLSearchParams({ sort: state.sort, order: state.order, limit: '500' });
    for (const [name, input] of Object.entries(inputs)) {
      const v = input.value.trim();
      if (v) q.set(name, name.startsWith('date_') ? v.replaceAll('-', '') : v);
    }
    return q;
  }

  function row(study) {
    const open = () => {
      performance.mark('lt:open-study', { detail: study.study_instance_uid });
      navigate(`/reader/${encodeURIComponent(study.study_instance_uid)}`);
    };
    const status = study.report_status || 'unread';
    return h('tr', { class: `status-${status}`, tabindex: 0, dataset: { studyUid: study.study_instance_uid }, onclick: open, onkeydown: (e) => e.key === 'Enter' && open() },
      h('td', {}, formatName(study.patient_name)),
      h('td', {}, study.patient_id),
      h('td', {}, `${formatDate(study.study_date)} ${(study.study_time || '').slice(0, 2)}:${(study.study_time || '').slice(2, 4)}`),
      h('td', {}, study.modalities),
      h('td', {}, study.study_description),
      h('td', { class: 'num' }, String(study.number_of_instances)),
      h('td', { 'data-testid': 'order' }, orderCell(study, t)),
      h('td', {}, h('span', { class: `badge ${status}` }, t(status))));
  }

  let timer = null;
  let alive = true;
  async function load({ poll = false } = {}) {
    renderHead();
    try {
      const data = await api.json(`/api/worklist?${query()}`);
      if (!alive) return;
      const uids = new Set(data.studies.map((s) => s.study_instance_uid));
      if (poll && state.known) {
        const fresh = [...uids].filter((u) => !state.known.has(u)).length;
        banner.textContent = fresh ? t('newStudies', { n: fresh }) : '';
      }
      state.known = uids;
      clear(body);
      if (!data.studies.length) body.append(h('tr', {}, h('td', { colspan: COLUMNS.length, class: 'muted' }, t('noStudies'))));
      data.studies.forEach((s) => body.append(row(s)));
      info.textContent = `${data.total} · ${t('lastUpdate', { time: new Date().toLocaleTimeString(i18n.lang === 'en' ? 'en-GB' : 'vi-VN') })}`;
    } catch (error) {
      clear(body);
      const text = error.status === 403 ? t('forbidden') : t('error', { error: error.message });
      body.append(h('tr', {}, h('td', { colspan: COLUMNS.length, class: 'error', 'data-testid': 'worklist-error' }, text)));
    }
  }

  const form = h('form', { class: 'filters', onsubmit(e) { e.preventDefault(); load(); } },
    h('label', {}, t('from'), inputs.date_from), h('label', {}, t('to'), inputs.date_to),
    h('label', {}, t('modality'), inputs.modality), h('label', {}, t('status'), inputs.status),
    inputs.patient, inputs.accession,
    h('button', { type: 'submit' }, t('search')),
    h('button', { type: 'button', onclick() { inputs.date_from.value = ''; inputs.date_to.value = ''; load(); } }, t('any')));
  Object.values(inputs).forEach((input) => input.addEventListener('change', () => load()));

  root.append(h('header', { class: 'bar' },
    h('strong', {}, t('worklist')), banner, h('span', { class: 'grow' }),
    h('span', { class: 'muted' }, session.user ? `${session.user.name} (${session.user.role})` : ''),
    h('button', { class: 'link', onclick: () => ctx.setLanguage(i18n.lang === 'vi' ? 'en' : 'vi') }, t('language')),
    h('button', { class: 'link', async onclick() { await api.logout(); navigate('/login'); } }, t('logout'))),
  form, info, table);
  load();
  timer = setInterval(() => load({ poll: true }), POLL_MS);
  return () => { alive = false; clearInterval(timer); };
}
