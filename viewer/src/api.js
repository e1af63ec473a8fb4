// Fetch wrapper: bearer token, one refresh on 401, problem+json errors as ApiError.

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail || `HTTP ${status}`);
    this.status = status;
    this.detail = detail;
  }
}

async function errorFrom(response) {
  let detail = response.statusText;
  try {
    const body = await response.json();
    detail = typeof body.detail === 'string' ? body.detail : JSON.stringify(body.detail ?? body);
  } catch {
    // not JSON: keep the status text
  }
  return new ApiError(response.status, detail);
}

/**
 * createApi({ session, onUnauthenticated }) -> { request, json, blob, login, logout }.
 * Paths are absolute on this origin ('/api/...', '/dicomweb/...').
 */
export function createApi({ session, onUnauthenticated, fetchFn = (...a) => fetch(...a) }) {
  let refreshing = null;

  async function refresh() {
    if (!session.refreshToken) return false;
    refreshing ??= fetchFn('/api/auth/refresh', {
      method: 'POST',
      body: new URLSearchParams({ refresh_token: session.refreshToken }),
    })
      .then(async (r) => {
        if (!r.ok) return false;
        session.setTokens(await r.json());
        keepFresh();
        return true;
      })
      .finally(() => { refreshing = null; });
    return refreshing;
  }

  async function request(path, { method = 'GET', headers = {}, body, retry = true, signal } = {}) {
    const h = { ...headers };
    if (session.accessToken) h.Authorization = `Bearer ${session.accessToken}`;
    if (body !== undefined && !(body instanceof URLSearchParams) && typeof body !== 'string') {
      h['Content-Type'] = 'application/json';
      body = JSON.stringify(body);
    }
    const response = await fetchFn(path, { method, headers: h, body, signal });
    if (response.status === 401 && retry && (await refresh())) {
      return request(path, { method, headers, body, retry: false, signal });
    }
    if (response.status === 401) {
      onUnauthenticated();
    }
    if (!response.ok) throw await errorFrom(response);
    return response;
  }

  // Image frames are fetched by the image loader with the current access token, which has no
  // retry-on-401: renew the token before it expires instead (at 80 % of its lifetime).
  let renewTimer = null;
  function keepFresh() {
    clearTimeout(renewTimer);
    if (!session.refreshToken || !session.expiresAt) return;
    const wait = Math.max(5_000, (session.expiresAt - Date.now()) * 0.8);
    renewTimer = setTimeout(async () => {
      if (await refresh()) keepFresh();
    }, wait);
  }

  return {
    request,
    keepFresh,
    async json(path, options) {
      const response = await request(path, options);
      return response.status === 204 ? null : response.json();
    },
    async blob(path, options) {
      return (await request(path, options)).blob();
    },
    async login(username, password) {
      const response = await fetchFn('/api/auth/token', {
        method: 'POST',
        body: new URLSearchParams({ username, password, grant_type: 'password' }),
      });
      if (!response.ok) throw await errorFrom(response);
      session.setTokens(await response.json());
      keepFresh();
      const me = await this.json('/api/auth/me');
      session.setUser({ name: me.name, role: me.role });
      return me;
    },
    async logout() {
      clearTimeout(renewTimer);
      try {
        await request('/api/auth/logout', { method: 'POST', retry: false });
      } catch {
        // the token may already be gone; the local session ends anyway
      }
      session.clear();
    },
  };
}
