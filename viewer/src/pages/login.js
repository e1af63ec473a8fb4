// Login page: user name and password -> bearer token (POST /api/auth/token).

import { h } from '../dom.js';

export function mount(root, _params, { api, i18n, navigate, setLanguage }) {
  const { t } = i18n;
  const message = h('p', { class: 'error', role: 'alert', 'data-testid': 'login-error' });
  const username = h('input', { name: 'username', autocomplete: 'username', required: true });
  const password = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const form = h('form', {
    class: 'login',
    async onsubmit(event) {
      event.preventDefault();
      message.textContent = '';
      try {
        await api.login(username.value, password.value);
        navigate('/worklist');
      } catch (error) {
        message.textContent = error.status === 401 || error.status === 400 ? t('loginFailed') : t('error', { error: error.message });
      }
    },
  },
  h('h1', {}, t('appName')),
  h('label', {}, t('username'), username),
  h('label', {}, t('password'), password),
  h('button', { type: 'submit' }, t('login')),
  message,
  h('button', { type: 'button', class: 'link', onclick: () => setLanguage(i18n.lang === 'vi' ? 'en' : 'vi') }, t('language')));
  root.append(form);
  username.focus();
  return null;
}
