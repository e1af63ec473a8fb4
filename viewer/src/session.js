// The logged-in user's tokens, kept in sessionStorage (per tab, gone when the tab closes).

const KEY = 'lienthong.session';

export function createSession(storage) {
  let state = null;
  try {
    state = JSON.parse(storage.getItem(KEY) || 'null');
  } catch {
    state = null;
  }
  const persist = () => (state ? storage.setItem(KEY, JSON.stringify(state)) : storage.removeItem(KEY));
  return {
    get user() { return state?.user ?? null; },
    get accessToken() { return state?.accessToken ?? null; },
    get refreshToken() { return state?.refreshToken ?? null; },
    setTokens({ access_token, refresh_token }) {
      state = { ...(state || {}), accessToken: access_token, refreshToken: refresh_token };
      persist();
    },
    setUser(user) {
      state = { ...(state || {}), user };
      persist();
    },
    clear() {
      state = null;
      persist();
    },
  };
}
