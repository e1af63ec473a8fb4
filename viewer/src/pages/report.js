// The report panel beside the images: template, findings, conclusion, draft autosave, sign,
// print/PDF, amendment and the version history. Report text is only ever set as text.

import { h, formatTime } from '../dom.js';

const AUTOSAVE_MS = 1500;

/** mount(root, [studyUID], ctx, { modality, bodyPart }) -> cleanup fn (with .setBodyPart). */
export function mount(root, params, ctx, context = {}) {
  const { api, i18n, session } = ctx;
  const { t } = i18n;
  const studyUID = params[0];
  const base = `/api/reports/${encodeURIComponent(studyUID)}`;
  const canWrite = session.user?.role === 'radiologist';
  let current = null;
  let dirty = false;
  let timer = null;
  let saving = Promise.resolve();
  let alive = true;
  let bodyPart = context.bodyPart || '';

  const templateSelect = h('select', { 'data-testid': 'report-template', onchange: applyTemplate }, h('option', { value: '' }, t('noTemplate')));
  const findings = h('textarea', { rows: 10, 'data-testid': 'report-findings', oninput: changed, placeholder: t('findings') });
  const conclusion = h('textarea', { rows: 4, 'data-testid': 'report-conclusion', oninput: changed, placeholder: t('conclusion') });
  const state = h('p', { class: 'muted', 'data-testid': 'report-state', 'aria-live': 'polite' });
  const signedText = h('div', { class: 'signed-text', 'data-testid': 'report-signed' });
  const saveButton = h('button', { 'data-testid': 'report-save', onclick: () => save() }, t('save'));
  const signButton = h('button', { class: 'primary', 'data-testid': 'report-sign', onclick: sign }, t('sign'));
  const amendButton = h('button', { 'data-testid': 'report-amend', onclick: amend }, t('amend'));
  const printButton = h('button', { 'data-testid': 'report-print', onclick: print }, t('print'));
  const history = h('ol', { class: 'history', 'data-testid': 'report-history' });
  const editor = h('div', { class: 'editor' },
    templateSelect,
    h('label', {}, t('findings'), findings),
    h('label', {}, t('conclusion'), conclusion));
  const panel = h('section', { class: 'report', 'data-testid': 'report-panel' },
    h('h3', {}, t('report')), editor, signedText, state,
    h('div', { class: 'actions' }, saveButton, signButton, amendButton, printButton),
    h('details', {}, h('summary', {}, t('history')), history));
  root.append(panel);

  function changed() {
    dirty = true;
    clearTimeout(timer);
    timer = setTimeout(() => save(), AUTOSAVE_MS);
  }

  function show(report, versions) {
    current = report;
    const signed = report?.status === 'signed';
    const readOnly = !canWrite || signed;
    if (!dirty) {
      findings.value = report?.findings ?? '';
      conclusion.value = report?.conclusion ?? '';
    }
    editor.hidden = signed;
    findings.readOnly = readOnly;
    conclusion.readOnly = readOnly;
    templateSelect.disabled = readOnly;
    saveButton.hidden = readOnly;
    signButton.hidden = readOnly;
    amendButton.hidden = !(canWrite && signed);
    printButton.hidden = !report;
    panel.classList.toggle('read-only', readOnly);
    signedText.replaceChildren();
    if (signed) {
      signedText.append(
        h('h4', {}, t('findings')), h('p', { class: 'pre', 'data-testid': 'signed-findings' }, report.findings),
        h('h4', {}, t('conclusion')), h('p', { class: 'pre', 'data-testid': 'signed-conclusion' }, report.conclusion),
      );
      state.textContent = t('signedBy', { reader: report.reader_name || report.reader_username, time: formatTime(report.signed_at, i18n.lang), version: report.version });
    } else if (report) {
      state.textContent = `${t('draft')} · ${t('saved', { time: formatTime(report.updated_at, i18n.lang) })}`;
    } else {
      state.textContent = canWrite ? '' : t('readOnly');
    }
    if (versions) {
      history.replaceChildren(...versions.map((v) => h('li', {},
        `${t('version', { n: v.version })} · ${t(v.status)} · ${v.reader_name || v.reader_username}`
        + (v.signed_at ? ` · ${formatTime(v.signed_at, i18n.lang)}` : '')
        + (v.amendment_reason ? ` · ${v.amendment_reason}` : ''))));
    }
  }

  async function load() {
    try {
      const data = await api.json(base);
      if (alive) show(data.current, data.history);
    } catch (error) {
      state.textContent = error.status === 403 ? t('forbidden') : t('error', { error: error.message });
      editor.hidden = true;
      [saveButton, signButton, amendButton, printButton].forEach((b) => { b.hidden = true; });
    }
  }

  async function loadTemplates() {
    if (!canWrite) return;
    const q = new URLSearchParams();
    if (context.modality) q.set('modality', context.modality);
    if (bodyPart) q.set('body_part', bodyPart);
    try {
      const templates = await api.json(`/api/report-templates?${q}`);
      templateSelect.replaceChildren(h('option', { value: '' }, t('noTemplate')),
        ...templates.map((tpl) => h('option', { value: String(tpl.id), dataset: { findings: tpl.findings, conclusion: tpl.conclusion } }, tpl.name)));
    } catch {
      // without templates the radiologist writes from scratch
    }
  }

  function applyTemplate() {
    const option = templateSelect.selectedOptions[0];
    if (!option || !option.value) return;
    if (!findings.value.trim()) findings.value = option.dataset.findings || '';
    if (!conclusion.value.trim()) conclusion.value = option.dataset.conclusion || '';
    changed();
  }

  function save() {
    clearTimeout(timer);
    if (!canWrite || current?.status === 'signed') return saving;
    saving = saving.then(async () => {
      if (!dirty && current) return;
      state.textContent = t('saving');
      dirty = false;
      try {
        const body = { findings: findings.value, conclusion: conclusion.value };
        if (templateSelect.value) body.template_id = Number(templateSelect.value);
        const report = await api.json(`${base}/draft`, { method: 'PUT', body });
        if (alive) show(report);
      } catch (error) {
        dirty = true;
        state.textContent = t('saveFailed', { error: error.message });
      }
    });
    return saving;
  }

  async function sign() {
    dirty = dirty || !current;
    await save();
    if (!window.confirm(t('confirmSign'))) return;
    try {
      await api.json(`${base}/sign`, { method: 'POST' });
      dirty = false;
      await load();
    } catch (error) {
      state.textContent = t('error', { error: error.message });
    }
  }

  async function amend() {
    const reason = window.prompt(t('amendReason'));
    if (!reason) return;
    try {
      await api.json(`${base}/amend`, { method: 'POST', body: { reason } });
      await load();
    } catch (error) {
      state.textContent = t('error', { error: error.message });
    }
  }

  async function print() {
    try {
      const blob = await api.blob(`${base}/pdf${current ? `?version=${current.version}` : ''}`);
      const url = URL.createObjectURL(blob);
      window.open(url, '_blank', 'noopener');
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    } catch (error) {
      state.textContent = t('error', { error: error.message });
    }
  }

  function onKey(event) {
    if ((event.ctrlKey || event.metaKey) && event.key === 's') {
      event.preventDefault();
      dirty = true;
      save();
    }
  }
  document.addEventListener('keydown', onKey);
  load();
  loadTemplates();

  const cleanup = () => {
    alive = false;
    document.removeEventListener('keydown', onKey);
    if (dirty) save();
  };
  cleanup.setBodyPart = (part) => { bodyPart = part; loadTemplates(); };
  return cleanup;
}
