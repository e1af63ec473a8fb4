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
    /** Milliseconds since the epoch when the access token expires (0 if unknown). */
    get expiresAt() { return state?.expiresAt ?? 0; },
    setTokens({ access_token, refresh_token, expires_in }) {
      const expiresAt = expires_in ? Date.now() + expires_in * 1000 : 0;
      state = { ...(state || {}), accessToken: access_token, refreshToken: refresh_token, expiresAt };
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
