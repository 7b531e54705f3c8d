// keygate admin console. Security rules this file keeps:
//  - everything from the API reaches the page as text (textContent, attribute values), never as
//    HTML, so a key named <img onerror=…> is just a name;
//  - the admin API key is read from its field once, sent to POST /v1/auth/token and dropped; the
//    session is an access and a refresh token held in this module's memory only (no storage, no
//    cookies), so closing the tab ends it;
//  - a new key's secret lives in one DOM node and one variable until the operator closes that
//    view, then both are gone (URLs never carry it).

const base = location.pathname.replace(/\/console\/?$/, ''); // the stage prefix ('' locally)
let cfg = { scopes: [], admin_scope: 'admin:full', tiers: [], key_prefix: '' };
let session = null; // { access, refresh, expiresAt (ms) }
let refreshing = null; // the one refresh in flight
let refreshTimer = 0;

// ---------------------------------------------------------------- DOM helpers (text only)

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'on') for (const [ev, fn] of Object.entries(v)) node.addEventListener(ev, fn);
    else if (k === 'text') node.textContent = v;
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

const app = () => document.getElementById('app');

// show replaces the view; null, undefined and false stand for a part the view leaves out.
function show(...nodes) {
  const main = app();
  main.replaceChildren(...nodes.filter((n) => n !== null && n !== undefined && n !== false));
  main.focus();
}

function banner(message, { retry = false, kind = 'warn' } = {}) {
  const b = document.getElementById('banner');
  if (!message) { b.hidden = true; b.replaceChildren(); return; }
  b.className = kind === 'error' ? 'error' : '';
  b.replaceChildren(el('span', { text: message }),
    retry ? el('button', { type: 'button', class: 'secondary', on: { click: () => { banner(''); route(); } } }, 'Retry') : null);
  b.hidden = false;
}

function date(s) {
  if (!s) return '—';
  const d = new Date(s);
  return isNaN(d) ? s : d.toISOString().replace('T', ' ').replace(/:\d\d(\.\d+)?Z$/, ' UTC');
}

// ---------------------------------------------------------------- API

class ApiError extends Error {
  constructor(status, code, message, extra = {}) {
    super(message);
    this.status = status;
    this.code = code;
    Object.assign(this, extra);
  }
}

async function request(method, path, { body, bearer, query } = {}) {
  const url = new URL(base + path, location.origin);
  for (const [k, v] of Object.entries(query || {})) if (v !== undefined && v !== '') url.searchParams.set(k, v);
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (bearer) headers.Authorization = 'Bearer ' + bearer;
  let resp;
  try {
    resp = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer', redirect: 'error' });
  } catch {
    throw new ApiError(0, 'unreachable', 'Cannot reach the API. Check your connection, then retry.');
  }
  let data = null;
  try { data = await resp.json(); } catch { /* an empty or non-JSON body */ }
  if (!resp.ok) {
    const e = (data && data.error) || {};
    const retryAfter = e.retry_after || Number(resp.headers.get('Retry-After')) || undefined;
    throw new ApiError(resp.status, e.code || 'http_' + resp.status,
      e.message || (data && data.message) || 'The API answered ' + resp.status + '.',
      { requiredScope: e.required_scope, retryAfter });
  }
  return data;
}

// call is request with the session: one refresh and one retry on a 401, and back to sign-in
// when the session cannot be renewed.
async function call(method, path, opts = {}) {
  if (!session) throw new ApiError(401, 'signed_out', 'Sign in first.');
  try {
    return await request(method, path, { ...opts, bearer: session.access });
  } catch (e) {
    if (e.status !== 401) throw e;
    if (!(await refresh())) {
      endSession('Your session ended (expired or revoked). Sign in again.');
      throw e;
    }
    return request(method, path, { ...opts, bearer: session.access });
  }
}

function startSession(pair) {
  session = { access: pair.access_token, refresh: pair.refresh_token, expiresAt: Date.now() + pair.expires_in * 1000 };
  clearTimeout(refreshTimer);
  // Renew a minute before expiry (with jitter), so a page left open keeps working.
  const wait = Math.max(5000, pair.expires_in * 1000 - 60000 - Math.random() * 10000);
  refreshTimer = setTimeout(() => { refresh(); }, wait);
  document.getElementById('nav').hidden = false;
}

function refresh() {
  if (!session) return Promise.resolve(false);
  if (!refreshing) {
    const rt = session.refresh;
    refreshing = request('POST', '/v1/auth/refresh', { body: { refresh_token: rt } })
      .then((pair) => { startSession(pair); return true; }) // keep the rotated refresh token
      .catch(() => false)
      .finally(() => { refreshing = null; });
  }
  return refreshing;
}

function endSession(message) {
  session = null;
  clearTimeout(refreshTimer);
  document.getElementById('nav').hidden = true;
  signIn(message);
}

async function signOut() {
  const s = session;
  session = null;
  if (s) {
    // The access token signs its own login out: its refresh family and itself.
    await request('POST', '/v1/auth/revoke', { bearer: s.access, body: { token: s.refresh, token_type_hint: 'refresh_token' } }).catch(() => {});
  }
  endSession('Signed out.');
}

function explain(e) {
  if (e.status === 0) return e.message;
  if (e.status === 403 && e.requiredScope) return 'Not allowed: this needs the scope ' + e.requiredScope + '.';
  if (e.status === 429) return 'Too many requests. Retry in ' + (e.retryAfter || 'a few') + ' seconds.';
  if (e.status >= 500) return 'The service is unavailable right now (' + e.message + ') Retry in a moment.';
  return e.message;
}

function fail(e) {
  if (e && e.code === 'signed_out') return;
  banner(explain(e), { retry: e.status === 0 || e.status >= 500 || e.status === 429, kind: 'error' });
}

// ---------------------------------------------------------------- views

function signIn(message) {
  const key = el('input', { id: 'admin-key', type: 'password', autocomplete: 'off', spellcheck: 'false', required: true,
    'aria-describedby': 'signin-hint' });
  const msg = el('p', { id: 'signin-message', role: 'status', class: message && /ended|not|cannot|Too many|unavailable/i.test(message) ? 'error' : 'muted' }, message || '');
  const submit = el('button', { type: 'submit' }, 'Sign in');
  const form = el('form', { id: 'signin', on: { submit: async (ev) => {
    ev.preventDefault();
    const apiKey = key.value;
    key.value = ''; // the key is not kept: not in the field, not in a variable past this call
    submit.disabled = true;
    msg.className = 'muted';
    msg.textContent = 'Signing in…';
    try {
      startSession(await request('POST', '/v1/auth/token', { body: { api_key: apiKey } }));
    } catch (e) {
      submit.disabled = false;
      msg.className = 'error';
      msg.textContent = e.code === 'invalid_api_key' ? 'That key is not valid: unknown, revoked, expired or of another environment.' : explain(e);
      return;
    }
    try {
      await call('GET', '/v1/keys', { query: { limit: 1 } });
    } catch (e) {
      if (e.status === 403) {
        await signOut();
        const m = document.getElementById('signin-message');
        m.className = 'error';
        m.textContent = 'This key cannot administer keys: it lacks ' + cfg.admin_scope + '. Sign in with an admin key.';
        return;
      }
      fail(e);
    }
    banner('');
    if (!location.hash || location.hash === '#/signin') location.hash = '#/keys';
    else route();
  } } },
  el('label', { for: 'admin-key' }, 'Admin API key'),
  key,
  el('p', { id: 'signin-hint', class: 'hint' }, 'Paste a key with ' + cfg.admin_scope + '. It is exchanged for a short-lived session and not kept.'),
  el('div', { class: 'row' }, submit));
  show(el('h1', {}, 'Sign in'), msg, form);
  key.focus();
}

const listState = { items: [], next: '', loaded: false, status: 'all', q: '' };

async function keysView() {
  const tbody = el('tbody');
  const more = el('button', { type: 'button', class: 'secondary', id: 'more', hidden: true }, 'Load more');
  const count = el('p', { class: 'muted', role: 'status' });
  const status = el('select', { id: 'status-filter', on: { change: () => { listState.status = status.value; draw(); } } },
    ['all', 'active', 'revoked', 'expired'].map((s) => el('option', { value: s, selected: listState.status === s }, s)));
  const search = el('input', { id: 'search', type: 'search', value: listState.q, placeholder: 'name or owner',
    on: { input: () => { listState.q = search.value; draw(); } } });

  function draw() {
    const q = listState.q.trim().toLowerCase();
    const rows = listState.items.filter((k) => (listState.status === 'all' || k.status === listState.status) &&
      (!q || k.name.toLowerCase().includes(q) || (k.owner_id || '').toLowerCase().includes(q)));
    tbody.replaceChildren(...rows.map((k) => el('tr', { 'data-key-id': k.key_id },
      el('td', { 'data-label': 'Name' }, el('a', { href: '#/keys/' + encodeURIComponent(k.key_id), class: 'key-name' }, k.name)),
      el('td', { 'data-label': 'ID', class: 'mono' }, k.key_id),
      el('td', { 'data-label': 'Prefix', class: 'mono' }, cfg.key_prefix ? cfg.key_prefix + '_…' : '—'),
      el('td', { 'data-label': 'Status' }, el('span', { class: 'status ' + k.status }, k.status)),
      el('td', { 'data-label': 'Tier' }, k.tier),
      el('td', { 'data-label': 'Scopes' }, el('span', { class: 'tags' }, k.scopes.map((s) => el('span', { class: 'tag' }, s)))),
      el('td', { 'data-label': 'Rate limit' }, k.rate_limit + '/min'),
      el('td', { 'data-label': 'Created' }, date(k.created_at)),
      el('td', { 'data-label': 'Last used' }, date(k.last_used_at)),
      el('td', { 'data-label': 'Expires' }, date(k.expires_at)))));
    count.textContent = rows.length + ' of ' + listState.items.length + ' loaded keys shown' + (listState.next ? ' (more on the server)' : '');
    more.hidden = !listState.next;
  }

  async function load(cursor) {
    more.disabled = true;
    try {
      const page = await call('GET', '/v1/keys', { query: { limit: 25, cursor } });
      listState.items = cursor ? listState.items.concat(page.data) : page.data;
      listState.next = page.next_cursor || '';
      listState.loaded = true;
      draw();
    } catch (e) { fail(e); } finally { more.disabled = false; }
  }
  more.addEventListener('click', () => load(listState.next));

  show(el('h1', {}, 'API keys'),
    el('div', { class: 'row' }, el('a', { class: 'button', href: '#/keys/new', id: 'new-key' }, 'Create key')),
    el('div', { class: 'row' },
      el('label', { for: 'status-filter' }, 'Status'), status,
      el('label', { for: 'search' }, 'Search'), search),
    count,
    el('div', { class: 'table-wrap' }, el('table', { class: 'keys' }, el('thead', {}, el('tr', {}, ['Name', 'ID', 'Prefix', 'Status', 'Tier', 'Scopes', 'Rate limit', 'Created', 'Last used', 'Expires'].map((h) => el('th', { scope: 'col' }, h)))), tbody)),
    el('div', { class: 'row' }, more));
  await load('');
}

// validCIDR accepts what the server accepts in allowed_ips: an IPv4 or IPv6 address with an
// optional prefix length.
function validCIDR(s) {
  const [ip, bits, extra] = s.split('/');
  if (extra !== undefined) return false;
  const v4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/.test(ip);
  const v6 = !v4 && /^[0-9a-fA-F:]+$/.test(ip) && ip.includes(':') && (ip.match(/::/g) || []).length <= 1;
  if (!v4 && !v6) return false;
  if (bits === undefined) return true;
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (v4 ? 32 : 128);
}

// tierField is a select of the stage's tiers (the console's config), startup first as the admin
// API's default; a key's tier the list lacks (made before tiers were plans) stays choosable.
// Without a list it is a text field, and the admin API's 400 names the tiers.
function tierField(key) {
  const current = key ? key.tier : (cfg.tiers.includes('startup') ? 'startup' : cfg.tiers[0] || '');
  if (!cfg.tiers.length) return el('input', { id: 'f-tier', type: 'text', value: current, placeholder: 'startup' });
  const names = cfg.tiers.includes(current) || !current ? cfg.tiers : [current, ...cfg.tiers];
  return el('select', { id: 'f-tier' }, names.map((t) => el('option', { value: t, selected: t === current }, t)));
}

function keyForm({ key, onSubmit, submitLabel }) {
  const name = el('input', { id: 'f-name', type: 'text', required: true, maxlength: 128, value: key ? key.name : '' });
  const owner = el('input', { id: 'f-owner', type: 'text', maxlength: 128, value: key ? key.owner_id || '' : '', disabled: !!key });
  const scopes = el('fieldset', { id: 'f-scopes' }, el('legend', {}, 'Scopes'),
    cfg.scopes.map((s) => el('label', {}, el('input', { type: 'checkbox', name: 'scope', value: s, checked: key ? key.scopes.includes(s) : false }), s)));
  const ips = el('textarea', { id: 'f-ips', 'aria-describedby': 'f-ips-hint f-ips-error' }, key ? key.allowed_ips.join('\n') : '');
  const ipsError = el('p', { id: 'f-ips-error', class: 'field-error', role: 'status' });
  const checkIPs = () => {
    const bad = ips.value.split(/[\s,]+/).filter((s) => s && !validCIDR(s));
    ipsError.textContent = bad.length ? 'Not an IP address or CIDR block: ' + bad.join(', ') : '';
    return bad.length === 0;
  };
  ips.addEventListener('input', checkIPs);
  // Empty means the tier's rate: on create the field starts empty; on edit it is sent only when
  // changed, so a new tier brings its own rate (the admin API's rule).
  const rate = el('input', { id: 'f-rate', type: 'number', min: 1, max: 1000000, step: 1, value: key ? key.rate_limit : '',
    placeholder: 'the tier\'s', 'aria-describedby': 'f-rate-hint' });
  const tier = tierField(key);
  const expires = el('input', { id: 'f-expires', type: 'datetime-local', value: key && key.expires_at ? key.expires_at.slice(0, 16) : '' });
  const formError = el('p', { class: 'error', role: 'alert', id: 'form-error' });
  const warn = key ? el('p', { class: 'warning' }, 'Removing a scope ends every existing token of this key at once; the key itself keeps working.') : null;
  const submit = el('button', { type: 'submit' }, submitLabel);
  return el('form', { id: 'key-form', on: { submit: async (ev) => {
    ev.preventDefault();
    if (!checkIPs()) { ips.focus(); return; }
    const body = {
      name: name.value.trim(),
      scopes: [...scopes.querySelectorAll('input:checked')].map((c) => c.value),
      allowed_ips: ips.value.split(/[\s,]+/).filter(Boolean),
      tier: tier.value.trim(),
    };
    if (rate.value !== '' && (!key || Number(rate.value) !== key.rate_limit)) body.rate_limit = Number(rate.value);
    if (!key && owner.value.trim()) body.owner_id = owner.value.trim();
    if (expires.value) body.expires_at = new Date(expires.value).toISOString().replace(/\.\d+Z$/, 'Z');
    submit.disabled = true;
    formError.textContent = '';
    try { await onSubmit(body); } catch (e) { formError.textContent = explain(e); submit.disabled = false; }
  } } },
  el('label', { for: 'f-name' }, 'Name'), name,
  el('label', { for: 'f-owner' }, 'Owner ID (optional)'), owner,
  scopes,
  el('label', { for: 'f-ips' }, 'Allowed IPs'), el('p', { id: 'f-ips-hint', class: 'hint' }, 'One address or CIDR block per line; empty allows every address.'), ips, ipsError,
  el('label', { for: 'f-tier' }, 'Tier'), tier,
  el('label', { for: 'f-rate' }, 'Rate limit (requests per minute, optional)'),
  el('p', { id: 'f-rate-hint', class: 'hint' }, key
    ? 'Leave it as it is to keep it; with a new tier, the tier\'s rate applies unless you change this too.'
    : 'Empty: the tier\'s rate. Another rate puts the key in a usage plan for that rate, with the tier\'s quota.'),
  rate,
  el('label', { for: 'f-expires' }, 'Expires (optional, your local time)'), expires,
  warn, formError, el('div', { class: 'row' }, submit, el('a', { href: key ? '#/keys/' + encodeURIComponent(key.key_id) : '#/keys' }, 'Cancel')));
}

function createView() {
  show(el('h1', {}, 'Create an API key'), keyForm({ submitLabel: 'Create key', onSubmit: async (body) => {
    const created = await call('POST', '/v1/keys', { body });
    listState.loaded = false;
    secretView(created, 'created');
  } }));
}

function snippets(keyText) {
  const origin = location.origin + base;
  return el('div', {},
    el('h2', {}, 'Quick start'),
    el('p', { class: 'hint' }, 'curl'),
    el('pre', {}, 'KEY=' + keyText + '\nTOKEN=$(curl -s -X POST ' + origin + '/v1/auth/token -H "Authorization: Bearer $KEY" \\\n  | python3 -c \'import json,sys; print(json.load(sys.stdin)["access_token"])\')\ncurl -s ' + origin + '/v1/customers -H "Authorization: Bearer $TOKEN"'),
    el('p', { class: 'hint' }, 'Go (github.com/keygate/keygate/shared/client)'),
    el('pre', {}, 'c, err := client.New("' + origin + '", ' + (keyText.startsWith('$') ? 'os.Getenv("KEYGATE_API_KEY")' : '"' + keyText + '"') + ')\nif err != nil { log.Fatal(err) }\nresp, err := c.HTTPClient().Get("' + origin + '/v1/customers")'));
}

// secretView shows a new secret once. Closing it removes the node that held it and drops the
// variable; the route it returns to carries no secret.
function secretView(created, verb) {
  let secret = created.key;
  const secretNode = el('p', { class: 'secret', id: 'secret' }, secret);
  const copied = el('span', { class: 'muted', role: 'status' });
  const view = el('section', { id: 'secret-view', class: 'card' },
    el('h1', {}, 'Key ' + verb + ': ' + created.name),
    el('p', { class: 'warning' }, created.warning || 'Store this key now: it is shown only once and cannot be recovered.'),
    secretNode,
    el('div', { class: 'row' },
      el('button', { type: 'button', id: 'copy', class: 'secondary', on: { click: async () => {
        try { await navigator.clipboard.writeText(secret); copied.textContent = 'Copied.'; } catch { copied.textContent = 'Copy failed: select the key and copy it by hand.'; }
      } } }, 'Copy'), copied),
    created.previous_key_valid_until ? el('p', {}, 'The previous secret keeps working until ' + date(created.previous_key_valid_until) + '.') : null,
    snippets(secret),
    el('div', { class: 'row' }, el('button', { type: 'button', id: 'close-secret', on: { click: () => {
      secret = null;
      view.remove();
      location.hash = '#/keys/' + encodeURIComponent(created.key_id);
      route();
    } } }, 'I have stored it')));
  show(view);
}

// ---------------------------------------------------------------- usage (GET /v1/keys/{id}/usage)

const num = new Intl.NumberFormat('en-US');
const calls = (n) => num.format(n) + (n === 1 ? ' call' : ' calls');
const periods = { DAY: ['a day', 'today', 'at midnight UTC'], WEEK: ['a week', 'this week', 'on Sunday, 00:00 UTC'],
  MONTH: ['a month', 'this month', 'on the 1st, 00:00 UTC'] };
const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

// shortDate turns the API's UTC date (2026-12-07) into "Dec 7".
function shortDate(d) {
  const m = /^\d{4}-(\d\d)-(\d\d)$/.exec(d);
  return m ? months[Number(m[1]) - 1] + ' ' + Number(m[2]) : d;
}

// usageChart draws calls per day as bars: plain elements, heights set through the CSSOM (which
// the CSP allows; a style attribute it would refuse). The table below it holds the same numbers
// for screen readers and for copying.
function usageChart(days, span) {
  const peak = days.reduce((a, d) => Math.max(a, d.used), 0);
  const total = days.reduce((a, d) => a + d.used, 0);
  const top = days.find((d) => d.used === peak);
  const summary = calls(total) + ' in the last ' + span + ' days' + (peak > 0 ? '; most on ' + shortDate(top.date) + ' (' + num.format(peak) + ')' : '') + '.';
  const tick = (i) => span <= 7 || (days.length - 1 - i) % 7 === 0; // dense: a label a week, the last day's included
  const plot = el('div', { class: 'plot', role: 'img', 'aria-label': 'Calls per UTC day. ' + summary },
    days.map((d) => {
      const fill = el('span', { class: 'fill' + (d.used ? '' : ' zero') });
      fill.style.height = (peak ? (d.used / peak) * 100 : 0) + '%';
      return el('span', { class: 'col', title: d.date + ': ' + calls(d.used) + (d.remaining !== undefined ? ', ' + num.format(d.remaining) + ' left' : '') },
        el('span', { class: 'v' }, d.used ? num.format(d.used) : ''), fill);
    }));
  const axis = el('div', { class: 'axis', 'aria-hidden': 'true' }, days.map((d, i) => el('span', { class: tick(i) ? 'tick' : '' }, shortDate(d.date))));
  const hasRemaining = days.some((d) => d.remaining !== undefined);
  const table = el('details', { class: 'usage-table' }, el('summary', {}, 'Calls per day as a table'),
    el('div', { class: 'table-wrap' }, el('table', { id: 'usage-days' },
      el('thead', {}, el('tr', {}, ['Date (UTC)', 'Calls', hasRemaining ? 'Quota left' : null].filter(Boolean).map((h) => el('th', { scope: 'col' }, h)))),
      el('tbody', {}, days.slice().reverse().map((d) => el('tr', { 'data-date': d.date },
        el('td', { class: 'mono' }, d.date), el('td', { class: 'used' }, num.format(d.used)),
        hasRemaining ? el('td', {}, d.remaining === undefined ? '—' : num.format(d.remaining)) : null))))));
  return [el('h3', {}, 'Calls per day (UTC)'), el('p', { id: 'usage-summary', class: 'muted' }, summary),
    el('div', { class: 'chart' + (span > 7 ? ' dense' : ''), id: 'usage-chart' }, plot, axis), table];
}

function usageView(u, span) {
  const p = u.plan || {};
  const period = periods[p.quota_period] || ['per ' + String(p.quota_period || '').toLowerCase(), 'this period', ''];
  const quota = p.quota_limit ? num.format(p.quota_limit) + ' ' + period[0] : 'none';
  let left = null;
  if (p.quota_limit && u.remaining !== undefined) {
    const meter = el('span', { class: 'meter', 'aria-hidden': 'true' }, el('span', {}));
    meter.firstChild.style.width = Math.min(100, Math.max(0, (p.quota_limit - u.remaining) / p.quota_limit * 100)) + '%';
    left = ['Left ' + period[1], el('span', {}, el('span', { id: 'usage-remaining' }, num.format(u.remaining) + ' of ' + num.format(p.quota_limit)),
      period[2] ? el('span', { class: 'muted' }, ' (resets ' + period[2] + ')') : null, meter)];
  }
  return [
    el('dl', { id: 'usage-plan' }, [
      ['Plan', el('span', { class: 'mono', id: 'usage-plan-name' }, p.name || '—')],
      ['Rate limit', num.format(p.rate_limit) + ' requests/min'],
      ['Burst', num.format(p.burst) + ' requests'],
      ['Quota', quota],
      left,
    ].filter(Boolean).map(([t, d]) => [el('dt', {}, t), el('dd', {}, d)])),
    ...usageChart(u.days || [], span),
    el('p', { class: 'hint' }, 'Protected calls as API Gateway counts them (its counts lag by a few minutes); token requests are not counted here.'),
  ];
}

// usageSection shows the key's usage plan and its calls per day, 7 or 30 days back. It loads on
// its own: a failure here leaves the rest of the key's page working and says why, with a retry.
function usageSection(k) {
  let span = 7;
  let seq = 0; // the latest request: a slow answer for the other span is dropped
  const status = el('div', { id: 'usage-status', role: 'status', class: 'muted' }, 'Loading usage…');
  const body = el('div', { id: 'usage-body' });
  const spans = [7, 30].map((n) => el('button', { type: 'button', class: 'secondary', id: 'usage-' + n, 'aria-pressed': String(n === span),
    on: { click: () => { span = n; load(); } } }, n + ' days'));

  async function load() {
    const mine = ++seq;
    for (const b of spans) b.setAttribute('aria-pressed', String(b.id === 'usage-' + span));
    status.className = 'muted';
    status.replaceChildren('Loading usage…');
    body.setAttribute('aria-busy', 'true');
    let u;
    try {
      u = await call('GET', '/v1/keys/' + encodeURIComponent(k.key_id) + '/usage', { query: { days: span } });
    } catch (e) {
      if (mine !== seq || e.code === 'signed_out') return;
      body.removeAttribute('aria-busy');
      body.replaceChildren();
      if (e.status === 404) {
        switcher.hidden = true; // no plan, no period to choose
        status.className = '';
        status.replaceChildren(el('p', {}, k.status === 'active'
          ? 'This key has no usage plan, so API Gateway refuses its protected calls (403 key_not_provisioned).'
          : 'This key has no usage plan: a ' + k.status + ' key\'s API key is deleted, and its usage with it.'),
        el('p', { class: 'hint' }, k.status === 'active' ? 'Run ' : 'For an active key without a plan, run ',
          el('code', {}, 'authctl keys sync'), ' (AWS credentials): it gives every active key the usage plan of its tier.'));
        return;
      }
      status.className = 'error';
      const retry = e.status === 0 || e.status >= 500 || e.status === 429;
      status.replaceChildren(el('span', {}, 'Usage could not be loaded. ' + explain(e)), ' ',
        retry ? el('button', { type: 'button', class: 'secondary', id: 'usage-retry', on: { click: load } }, 'Retry') : null);
      return;
    }
    if (mine !== seq) return;
    switcher.hidden = false;
    status.className = 'muted';
    status.replaceChildren();
    body.removeAttribute('aria-busy');
    body.replaceChildren(...usageView(u, span));
  }

  const switcher = el('div', { class: 'switch', role: 'group', 'aria-label': 'Period' }, spans);
  load();
  return el('section', { class: 'card', id: 'usage', 'aria-labelledby': 'usage-title' },
    el('div', { class: 'card-head' }, el('h2', { id: 'usage-title' }, 'Usage'), switcher),
    status, body);
}

async function detailView(id) {
  let k;
  try { k = await call('GET', '/v1/keys/' + encodeURIComponent(id)); } catch (e) {
    if (e.status === 404) { show(el('h1', {}, 'No such key'), el('p', {}, el('a', { href: '#/keys' }, 'Back to the keys'))); return; }
    throw e;
  }
  const events = el('ol', { class: 'timeline', id: 'events' });
  const more = el('button', { type: 'button', class: 'secondary', hidden: true, id: 'more-events' }, 'Older events');
  let next = '';
  async function loadEvents(cursor) {
    try {
      const page = await call('GET', '/v1/keys/' + encodeURIComponent(id) + '/events', { query: { limit: 20, cursor } });
      events.append(...page.data.map((e) => el('li', {},
        el('strong', {}, e.action), ' ', el('span', { class: 'muted' }, date(e.time)),
        e.detail ? el('div', { class: 'mono' }, e.detail) : null,
        el('div', { class: 'muted' }, [e.actor_key_id ? 'by ' + e.actor_key_id : '', e.source_ip ? 'from ' + e.source_ip : ''].filter(Boolean).join(' ')))));
      next = page.next_cursor || '';
      more.hidden = !next;
    } catch (e) { fail(e); }
  }
  more.addEventListener('click', () => loadEvents(next));

  const active = k.status === 'active';
  const grace = el('select', { id: 'grace' }, [['0', 'at once'], ['3600', 'in 1 hour'], ['86400', 'in 24 hours'], ['604800', 'in 7 days']]
    .map(([v, t]) => el('option', { value: v, selected: v === '86400' }, t)));
  const confirm = el('input', { id: 'confirm-name', type: 'text', autocomplete: 'off', 'aria-describedby': 'confirm-hint' });
  const revokeButton = el('button', { type: 'button', class: 'danger', id: 'revoke', disabled: true }, 'Revoke key');
  confirm.addEventListener('input', () => { revokeButton.disabled = confirm.value !== k.name; });
  const actionError = el('p', { class: 'error', role: 'alert', id: 'action-error' });
  revokeButton.addEventListener('click', async () => {
    try { await call('DELETE', '/v1/keys/' + encodeURIComponent(id)); listState.loaded = false; route(); } catch (e) { actionError.textContent = explain(e); }
  });
  const rotateButton = el('button', { type: 'button', id: 'rotate', on: { click: async () => {
    try {
      const rotated = await call('POST', '/v1/keys/' + encodeURIComponent(id) + '/rotate', { body: { grace_period_seconds: Number(grace.value) } });
      secretView(rotated, 'rotated');
    } catch (e) { actionError.textContent = explain(e); }
  } } }, 'Rotate secret');

  show(el('p', {}, el('a', { href: '#/keys' }, '← Keys')),
    el('h1', { id: 'key-title' }, k.name),
    el('dl', { id: 'key-detail' }, [
      ['ID', k.key_id], ['Status', k.status], ['Owner', k.owner_id || '—'], ['Tier', k.tier], ['Rate limit', k.rate_limit + ' requests/min'],
      ['Scopes', k.scopes.join(' ') || '—'], ['Allowed IPs', k.allowed_ips.join(', ') || 'any'], ['Created', date(k.created_at)],
      ['Updated', date(k.updated_at)], ['Last used', date(k.last_used_at)], ['Expires', date(k.expires_at)],
      ['Previous secret valid until', k.previous_key_valid_until ? date(k.previous_key_valid_until) : '—'],
    ].map(([t, d]) => [el('dt', {}, t), el('dd', {}, d)])),
    active ? el('div', { class: 'row' }, el('a', { class: 'button', href: '#/keys/' + encodeURIComponent(id) + '/edit', id: 'edit' }, 'Edit')) : null,
    usageSection(k),
    active ? el('section', { class: 'card' }, el('h2', {}, 'Rotate'),
      el('p', {}, 'A new secret replaces this one; the old one stops working ', grace, '.'), rotateButton) : null,
    active ? el('section', { class: 'card' }, el('h2', {}, 'Revoke'),
      el('p', { id: 'confirm-hint' }, 'The key and all its tokens stop working within a minute. Type the key\'s name to confirm.'),
      el('label', { for: 'confirm-name' }, 'Key name'), confirm, el('div', { class: 'row' }, revokeButton)) : null,
    actionError,
    snippets('$KEYGATE_API_KEY'),
    el('h2', {}, 'Audit events'), events, el('div', { class: 'row' }, more));
  await loadEvents('');
}

async function editView(id) {
  const k = await call('GET', '/v1/keys/' + encodeURIComponent(id));
  show(el('h1', {}, 'Edit ' + k.name), keyForm({ key: k, submitLabel: 'Save', onSubmit: async (body) => {
    await call('PATCH', '/v1/keys/' + encodeURIComponent(id), { body });
    listState.loaded = false;
    location.hash = '#/keys/' + encodeURIComponent(id);
  } }));
}

function b64urlJSON(s) {
  try { return JSON.parse(atob(s.replace(/-/g, '+').replace(/_/g, '/'))); } catch { return {}; }
}

async function signingKeysView() {
  const jwks = await request('GET', '/.well-known/jwks.json');
  const current = session ? b64urlJSON(session.access.split('.')[0]).kid : '';
  show(el('h1', {}, 'Signing keys'),
    el('p', { class: 'hint' }, 'The public keys tokens are verified with (the JWKS). The current one signed your session\'s token.'),
    el('table', { id: 'jwks' }, el('thead', {}, el('tr', {}, ['Key ID (kid)', 'Algorithm', 'Type', 'Use', ''].map((h) => el('th', { scope: 'col' }, h)))),
      el('tbody', {}, jwks.keys.map((k) => el('tr', {},
        el('td', { class: 'mono' }, k.kid), el('td', {}, k.alg), el('td', {}, k.kty), el('td', {}, k.use || ''),
        el('td', {}, k.kid === current ? el('span', { class: 'status active' }, 'current') : ''))))));
}

// ---------------------------------------------------------------- routing

async function route() {
  const hash = location.hash || '#/keys';
  if (!session) { signIn(); return; }
  banner('');
  try {
    let m;
    if (hash === '#/keys') await keysView();
    else if (hash === '#/keys/new') createView();
    else if ((m = hash.match(/^#\/keys\/([^/]+)\/edit$/))) await editView(decodeURIComponent(m[1]));
    else if ((m = hash.match(/^#\/keys\/([^/]+)$/))) await detailView(decodeURIComponent(m[1]));
    else if (hash === '#/signing-keys') await signingKeysView();
    else { location.hash = '#/keys'; }
  } catch (e) {
    fail(e);
    if (session && !app().querySelector('h1')) show(el('h1', {}, 'Something went wrong'), el('p', {}, explain(e)));
  }
}

async function boot() {
  document.getElementById('signout').addEventListener('click', signOut);
  window.addEventListener('hashchange', route);
  try {
    cfg = await request('GET', '/console/config.json');
  } catch (e) {
    banner(explain(e), { retry: true, kind: 'error' });
  }
  route();
}

boot();
