// Entry point: boot(root) builds the app context and routes by location hash.
//   #/login   #/worklist   #/reader/<StudyInstanceUID>

import './style.css';
import { createApi } from './api.js';
import { createCornerstone } from './cornerstone.js';
import { createI18n } from './i18n.js';
import { createSession } from './session.js';
import { clear, h } from './dom.js';
import * as login from './pages/login.js';
import * as worklist from './pages/worklist.js';
import * as reader from './pages/reader.js';

const PAGES = { login, worklist, reader };
const LANG_KEY = 'lienthong.lang';

function parseHash(hash) {
  const [name, ...rest] = hash.replace(/^#\/?/, '').split('/');
  return { name: name || 'worklist', params: rest.map(decodeURIComponent) };
}

export function boot(root) {
  const session = createSession(window.sessionStorage);
  const i18n = createI18n(window.localStorage.getItem(LANG_KEY) || 'vi');
  const navigate = (path) => { window.location.hash = path; };
  const api = createApi({ session, onUnauthenticated: () => { session.clear(); navigate('/login'); } });
  const ctx = {
    api, session, i18n, navigate,
    cornerstone: createCornerstone(session, api),
    setLanguage(lang) {
      window.localStorage.setItem(LANG_KEY, lang);
      window.location.reload();
    },
  };
  document.documentElement.lang = i18n.lang;
  let unmount = null;

  function route() {
    const { name, params } = parseHash(window.location.hash);
    if (unmount) unmount();
    unmount = null;
    clear(root);
    if (!session.accessToken && name !== 'login') {
      navigate('/login');
      return;
    }
    const page = PAGES[name];
    if (!page) {
      root.append(h('p', { class: 'error' }, `404: ${name}`));
      return;
    }
    unmount = page.mount(root, params, ctx) || null;
  }

  window.addEventListener('hashchange', route);
  api.keepFresh(); // a reload keeps the tab's session: renew its token on schedule
  route();
}
