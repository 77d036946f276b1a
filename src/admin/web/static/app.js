/* global document, window, fetch, ResizeObserver, setTimeout, clearTimeout, AbortSignal */
// keyway web view (docs/api.md "Web view"): the shard map as a grid of S cells coloured by primary
// owner and grouped by the primary's fabric (subzone), ownership against weight per endpoint,
// proxies and their sync state, recent moves, hot shards (extra readers, moved primaries). Plain ES module, no build step. It polls `/readyz`
// every second and fetches `/v1/shardmap` only when the version there changes (and every 30 s, conditionally;
// a large map in a handoff at most every HANDOFF_MAP_MS).
// Every URL is relative to the page, so the view works behind a path prefix (`kubectl proxy`, an
// ingress path): absolute paths reached the proxy's root, not keyway.

const POLL_MS = 1000;
const PROXIES_MS = 2000;
// Rows of the proxies table. A fleet of thousands of xDS clients (proxyless gRPC pods, an agent per
// cache node) drawn whole every 2 s held the main thread for 0.3 to 2 s each time at 10000 rows;
// the rows shown are those out of sync first, and `keyway status` lists every one. Only the rows
// shown are asked for (`limit`, and `outOfSync=true` past one page), not megabytes of the rest.
const MAX_PROXY_ROWS = 200;
// Past MAX_PROXY_ROWS proxies, the table is refreshed this often instead: to find the rows out of
// sync keyway still builds every row on its event loop, the one xDS is served from. The badge
// still follows NACKs each second through /readyz.
const PROXIES_LARGE_MS = 10000;
/** Ask for the map now and then even when the version is unchanged (endpoint details, source state): a 304 while nothing changed. */
const FULL_REFRESH_MS = 30000;
// During a handoff each move that completes is a new version (docs/ownership.md), and a map past
// LARGE_MAP_CHARS is read at most once per HANDOFF_MAP_MS then, not at each version: at S = 65536
// the map is about 26 MB, and keyway spends about 0.4 s of the event loop that serves xDS
// serializing each version a page asks for, so a page open during a handoff kept it busy about
// half the time. A smaller map (S = 16384 without long ids is about 1 MB) follows every version.
const LARGE_MAP_CHARS = 2_000_000;
const HANDOFF_MAP_MS = 10000;
// Every request, body included, gives up after these: a keyway that accepts connections but never
// answers (stopped, or a partition that drops packets) would otherwise hold the poll forever, and
// the badge would keep saying ready. The map gets longer: at S = 131072 it is megabytes.
const REQUEST_TIMEOUT_MS = 5000;
const MAP_TIMEOUT_MS = 30000;
// A poll starts POLL_MS after the last one ended. Longer than this since keyway last answered, the
// page was not running (the computer slept, a background tab's timers were held for minutes): what
// it shows is no longer current, and it says so before it asks again, instead of showing a
// "ready" badge and the map of hours ago while the first request after waking waits for its answer.
const SILENCE_MS = 15000;
const UNOWNED = '#b8bec7';
// The key of the panel of shards without owners: no group key (the JSON of a locality) is this.
const UNOWNED_KEY = '\uffff';
// Resource kinds in send order, with their column names; `assignment` is what ownership agents get.
const KINDS = [
  ['cluster', 'CDS'],
  ['endpoint', 'EDS'],
  ['listener', 'LDS'],
  ['route', 'RDS'],
  ['assignment', 'OWN'],
];

const $ = (id) => document.getElementById(id);

const state = {
  /** Last `/v1/shardmap` body drawn, and its ETag (sent back in If-None-Match). */
  map: null,
  mapEtag: null,
  fetchedAt: 0,
  /**
   * window.performance.now() when the last map body (a 200, not a 304) was read, and its length in
   * characters. Monotonic: timed by the wall clock, a clock set back an hour during a handoff held
   * every new version for that hour, since the read seemed not yet 10 s old.
   */
  mapReadAt: 0,
  mapChars: 0,
  /**
   * window.performance.now() when keyway last answered for the map (a 200 or a 304), for the
   * FULL_REFRESH_MS check. Monotonic: on the wall clock, a clock set back an hour held that check
   * (endpoint details, source state) for the hour.
   */
  checkedAt: 0,
  readyz: null,
  /** Date.now() of keyway's last answer to /readyz (0: none yet). */
  answeredAt: 0,
  connected: true,
  /** Why the last read of the map failed while /readyz answered ('' when it did not fail); the map kept is shown as not current. */
  mapProblem: '',
  /** Read the map (conditionally) on the next poll: it failed, or keyway answered again after no answer. */
  mapWanted: false,
  /** keyway's map (its /readyz version) is not the one shown, and its read is still under way after a poll or after no answer. */
  mapBehind: false,
  /** keyway refused the admin token the page had (it was rotated): dropped, and a new one asked for. */
  tokenRefused: false,
  /** Why the last poll got no answer from keyway (badge tooltip while disconnected). */
  disconnectedWhy: '',
  /** Grid geometry of the last draw, for hit testing. */
  layout: null,
  /** The shard the keyboard cursor is on in the grid, once the grid had focus. */
  cursor: undefined,
};

// ---------------------------------------------------------------- colours

// An endpoint keeps its colour while it is in the map, so after a change only moved cells change
// colour. Endpoints of one fabric share a hue and differ in lightness. Ids gone from the map are
// forgotten and their slots reused: a page left open for weeks while pods are replaced under new
// names would otherwise keep a colour for every id it ever saw, and each rollout would push the
// fabric's new members further round the palette.
/**
 * Small integers handed out lowest first and given back: the hue index of each fabric and the
 * lightness slot of each endpoint in its fabric. It holds at most as many as were held at once.
 */
class Slots {
  next = 0;
  free = [];
  sorted = true;
  size = 0;
  take() {
    this.size++;
    if (this.free.length === 0) return this.next++;
    if (!this.sorted) {
      this.free.sort((a, b) => b - a);
      this.sorted = true;
    }
    return this.free.pop();
  }
  give(i) {
    this.size--;
    this.free.push(i);
    this.sorted = false;
  }
}
const hues = new Slots();
/** Fabric (subzone) → its hue index and the lightness slots its endpoints hold. */
const fabrics = new Map();
/** Endpoint id → its colour; and → the fabric and slot it came from. */
const endpointColor = new Map();
const endpointSlot = new Map();
const LIGHTNESS = [44, 62, 32, 72, 53, 38, 67, 27];

function hslToHex(h, s, l) {
  s /= 100;
  l /= 100;
  const k = (n) => (n + h / 30) % 12;
  const a = s * Math.min(l, 1 - l);
  const f = (n) => l - a * Math.max(-1, Math.min(k(n) - 3, Math.min(9 - k(n), 1)));
  const hex = (x) => Math.round(x * 255).toString(16).padStart(2, '0');
  return `#${hex(f(0))}${hex(f(8))}${hex(f(4))}`;
}

/**
 * Colours for the endpoints of a new map: ids that stay keep theirs, ids gone are forgotten (and a
 * fabric with none left), new ids take the lowest free slot of their fabric. So what the page keeps
 * is bounded by the map shown. A page open for a while may colour a map otherwise than a page opened
 * on it (one pod replaced: the new one takes the freed slot, not the one its name sorts into), since
 * an id that stays keeps its colour; every id gone at once leaves no trace.
 */
function assignColors(endpoints) {
  // Id → its fabric now. An id back in another fabric (a StatefulSet pod rescheduled under its name)
  // gives back its old slot and takes one in its new fabric, whose hue it then shares.
  const present = new Map(endpoints.map((e) => [e.id, subzoneOf(e)]));
  for (const [id, { fabric, slot }] of endpointSlot) {
    if (present.has(id) && present.get(id) === fabric) continue;
    endpointSlot.delete(id);
    endpointColor.delete(id);
    const f = fabrics.get(fabric);
    f.slots.give(slot);
    if (f.slots.size === 0) {
      fabrics.delete(fabric);
      hues.give(f.hue);
    }
  }
  for (const e of [...endpoints].sort(fabricOrder)) {
    if (endpointColor.has(e.id)) continue;
    const fabric = subzoneOf(e);
    let f = fabrics.get(fabric);
    if (!f) {
      f = { hue: hues.take(), slots: new Slots() };
      fabrics.set(fabric, f);
    }
    const j = f.slots.take();
    endpointSlot.set(e.id, { fabric, slot: j });
    const round = Math.floor(j / LIGHTNESS.length);
    const hue = (f.hue * 137.508 + 205 + round * 14) % 360;
    endpointColor.set(e.id, hslToHex(hue, 68 - (round % 3) * 12, LIGHTNESS[j % LIGHTNESS.length]));
  }
}

// ---------------------------------------------------------------- helpers

function cmp(a, b) {
  return a < b ? -1 : a > b ? 1 : 0;
}
function subzoneOf(e) {
  return e.locality?.subzone ?? e.locality?.subZone ?? '';
}
function zoneOf(e) {
  return e.locality?.zone ?? '';
}
// A fabric is (region, zone, subzone), as the spread policy reads it (docs/hashing.md), keyed by
// their JSON: a topology file may write any text in a locality, and with the parts joined by a
// separator, a zone or subzone holding it made two fabrics one.
function fabricKey(e) {
  return JSON.stringify([e.locality?.region ?? '', zoneOf(e), subzoneOf(e)]);
}
/** Endpoints by zone, subzone, region, then id. */
function fabricOrder(a, b) {
  return cmp(zoneOf(a), zoneOf(b)) || cmp(subzoneOf(a), subzoneOf(b)) || cmp(a.locality?.region ?? '', b.locality?.region ?? '') || cmp(a.id, b.id);
}
function pct(x) {
  return `${(100 * x).toFixed(1)}%`;
}
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') node.className = v;
    else if (k === 'style') Object.assign(node.style, v);
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof window.Node ? c : document.createTextNode(String(c)));
  return node;
}
function ago(iso) {
  const ms = Date.now() - Date.parse(iso);
  if (!Number.isFinite(ms)) return '';
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m ago`;
}
// ---------------------------------------------------------------- admin token

// With `keyway serve --admin-token-file`, /v1 answers 401 without `Authorization: Bearer`. The page
// asks for the token once and keeps it in sessionStorage: it lives as long as the tab, is sent only
// to this origin, and is never put in a URL (docs/security.md "The admin API"). Kept per page path:
// keyways behind one origin at other path prefixes (two namespaces through one `kubectl proxy`)
// share the tab's sessionStorage, and one keyway's token was sent to the other, which refused it
// (its page said "refused" before any token was typed there, and the first one's was dropped).
// The page at the origin's root keeps the plain key.
const TOKEN_KEY = window.location.pathname === '/' ? 'keyway.adminToken' : `keyway.adminToken:${window.location.pathname}`;
// The token when sessionStorage cannot keep it (a browser that blocks this site's data throws on
// every access): held for the page's life instead, else the typed token was never sent and the form
// came back on every poll.
let tokenInPage = null;

/** The admin token to send as `Authorization: Bearer` (docs/security.md "The admin API"), or null. */
function adminToken() {
  try {
    const stored = window.sessionStorage.getItem(TOKEN_KEY);
    if (stored !== null) return stored;
  } catch {
    // sessionStorage off: the page's copy, if any
  }
  return tokenInPage;
}

/** Drops the stored token keyway refused; the page says so until a new one is entered. */
function forgetToken() {
  tokenInPage = null;
  try {
    window.sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // sessionStorage off: the page's copy is gone already
  }
  state.tokenRefused = true;
}

/** Shows the token form; `refused` says whether a token was sent and refused. */
function askForToken(refused) {
  const form = $('token-form');
  if (!form.hidden) return;
  $('token-message').textContent = refused ? 'The admin token was refused. Token:' : 'This keyway requires the admin token. Token:';
  form.hidden = false;
  $('token').focus();
}

function setupTokenForm() {
  $('token-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const value = $('token').value.trim();
    if (value === '') return;
    // A token is visible ASCII (docs/security.md "The admin API"). Anything else (a typographic
    // quote pasted with it) cannot go in a header at all: every fetch would throw and the page would
    // say "disconnected" for good, with no form to correct it.
    const bad = [...value].find((c) => c < '\u0021' || c > '\u007e');
    if (bad !== undefined) {
      $('token-message').textContent = `A token holds visible ASCII characters only; this one has ${JSON.stringify(bad)}. Token:`;
      return;
    }
    try {
      window.sessionStorage.setItem(TOKEN_KEY, value);
      tokenInPage = null;
    } catch {
      tokenInPage = value; // sessionStorage off: kept by the page while it is open
    }
    $('token').value = '';
    $('token-form').hidden = true;
    state.tokenRefused = false;
    state.mapWanted = true; // read the map again, with the token, on the next poll
  });
}

/** GET `url` as JSON; throws when no answer came within `timeoutMs` (headers and body). A 304 has no body. */
async function getJson(url, timeoutMs = REQUEST_TIMEOUT_MS, extraHeaders = {}) {
  const headers = { accept: 'application/json', ...extraHeaders };
  const token = adminToken();
  if (token) headers.authorization = `Bearer ${token}`;
  const signal = AbortSignal.timeout(timeoutMs);
  let res;
  try {
    res = await fetch(url, { headers, cache: 'no-store', signal });
  } catch (err) {
    throw new Error(signal.aborted ? `GET /${url}: no answer within ${timeoutMs / 1000} s` : `GET /${url}: ${err?.message ?? err}`);
  }
  // A 401 for a request sent before the token was entered says nothing about the new token: only
  // an answer to the token in force reopens the form. A token refused (rotated on the server) is
  // dropped: sent again on every poll it would only fill keyway's log with refusals until someone
  // typed the new one. (A 403 is keyway refusing the Host header, not the token.) Only /v1 needs
  // the token: a 401 elsewhere (/readyz) comes from something in front of keyway, not keyway.
  if (res.status === 401 && url.startsWith('v1/') && adminToken() === token) {
    if (token) forgetToken();
    askForToken(Boolean(token));
  }
  let body = null;
  let chars = 0;
  try {
    const text = await res.text();
    chars = text.length;
    body = JSON.parse(text);
  } catch {
    if (signal.aborted) throw new Error(`GET /${url}: no answer within ${timeoutMs / 1000} s`);
    body = null;
  }
  return { status: res.status, body, etag: res.headers.get('etag'), chars };
}

// ---------------------------------------------------------------- header

// Warming nodes named in the header; past this, a count. A fleet-wide handoff warms on thousands
// of nodes, and naming each (ids up to 253 characters) made the header hundreds of kilobytes of text, tens of
// thousands of pixels tall, above the grid.
const MAX_HEADER_NODES = 3;

/** ` on a, b` for the nodes warming shards, or ` on N nodes` past MAX_HEADER_NODES; '' for none. */
function warmingNodes(transitions) {
  const nodes = [...new Set(transitions.map((t) => t.warming))];
  if (nodes.length === 0) return '';
  return nodes.length > MAX_HEADER_NODES ? ` on ${nodes.length} nodes` : ` on ${nodes.sort().join(', ')}`;
}

function renderHeader() {
  const badge = $('status');
  const r = state.readyz;
  let label = 'loading';
  let key = 'loading';
  if (!state.connected) {
    label = 'disconnected';
    key = 'disconnected';
  } else if (r) {
    if (!r.ready) {
      label = 'not ready';
      key = 'not-ready';
    } else if (r.status === 'degraded') {
      // Serving, but proxies reject the latest configuration or a source lags: /readyz lists why.
      label = 'degraded';
      key = 'degraded';
    } else if (r.stale) {
      label = 'stale';
      key = 'stale';
    } else {
      label = 'ready';
      key = 'ready';
    }
  }
  // The badge is a live region: rewriting the same word each second would have it read out again.
  if (badge.textContent !== label) badge.textContent = label;
  badge.dataset.state = key;
  // Disconnected, the why is on the page too, not only in the badge's tooltip (which keyboard and
  // touch users never see), and so is the fact that what the page shows is keyway's last answer.
  const reasons = !state.connected
    ? [{ code: 'DISCONNECTED', message: `No answer from keyway (${state.disconnectedWhy}); the page shows what it last said and retries every second.` }]
    : Array.isArray(r?.reasons) ? [...r.reasons] : [];
  // keyway answers /readyz but not with its map (the admin token changed, a replica without a map
  // yet, a download that timed out): the map kept on the page is not current, and the page says so.
  if (state.connected && state.mapProblem !== '') {
    const shown = state.map ? `the map shown is version ${state.map.version}, read at ${new Date(state.fetchedAt).toLocaleTimeString()}` : 'no map is shown';
    const next = state.tokenRefused ? 'The admin token the page had was refused and is no longer sent: enter the new one above.' : 'The page retries every second.';
    reasons.push({ code: 'MAP_UNAVAILABLE', message: `Could not read the shard map (${state.mapProblem}); ${shown}. ${next}` });
  } else if (state.connected && state.mapBehind && state.map && r?.version !== undefined && r.version !== state.map.version) {
    // The badge says keyway is ready, and it is; the map under it is older than keyway's (the
    // page woke after hours, or the download of a big map is slow), and the page says so.
    reasons.push({
      code: 'MAP_UNAVAILABLE',
      message: `keyway's shard map is version ${r.version}; the map shown is version ${state.map.version}, read at ${new Date(state.fetchedAt).toLocaleTimeString()}, and the new one is being read.`,
    });
  } else if (state.connected && state.map && r?.version !== undefined && r.version !== state.map.version && handoffHold()) {
    // Not a problem: the page follows a handoff of a large map every HANDOFF_MAP_MS, and says so.
    reasons.push({
      code: 'MAP_HANDOFF',
      message:
        `Shards are moving: keyway's shard map is version ${r.version}; the map shown is version ${state.map.version}, read at ${new Date(state.fetchedAt).toLocaleTimeString()}. ` +
        `During a handoff a map this large (${(state.mapChars / 1e6).toFixed(1)} MB) is read every ${HANDOFF_MAP_MS / 1000} s, not at each version.`,
    });
  }
  badge.title = !state.connected
    ? state.disconnectedWhy
    : (r?.reason ?? (reasons.map((x) => x.message).join('\n') || (r?.pipelineError ?? r?.sources?.find((s) => s.lastError)?.lastError ?? '')));
  const why = $('reasons');
  why.hidden = reasons.length === 0;
  why.replaceChildren(...reasons.map((x) => el('li', { dataset: { code: x.code } }, x.message)));

  const m = state.map;
  const items = [];
  if (m) {
    const ready = m.endpoints.filter((e) => e.ready && e.weight > 0).length;
    items.push(['version', m.version], ['shards', String(m.shardCount)], ['replicas', String(m.replicas)], ['spread', m.spread]);
    items.push(['endpoints', `${ready}/${m.endpoints.length} eligible`]);
    const h = m.handoff;
    if (h && (h.transitions.length > 0 || h.drains.length > 0)) {
      items.push(['transition', `${h.transitions.length} shards warming${warmingNodes(h.transitions)}; ${h.drains.length} draining`]);
    }
    const hot = m.hotShards;
    if (hot && hot.shards.length > 0) {
      const spread = hot.shards.filter((x) => x.reason === 'spread').length;
      items.push(['hot', `${spread} spread, ${hot.shards.length - spread} moved`]);
    }
    if (m.updatedAt) items.push(['updated', `${new Date(m.updatedAt).toLocaleTimeString()} (${ago(m.updatedAt)})`]);
  }
  renderSummary(items);
}

/**
 * The header's `[name, value]` pairs, changed in place. The version's pair is a polite live region
 * read whole ("version 5e13..."): a screen reader says when the map changes, and only then, since
 * a poll that changes nothing leaves the region's text as it is. Rebuilt each poll, a region would
 * be new each time, and a new region's text is not read out at all.
 */
function renderSummary(items) {
  const dl = $('summary');
  const wanted = new Set(items.map(([k]) => k));
  for (const item of [...dl.children]) if (!wanted.has(item.dataset.item)) item.remove();
  let before = null;
  for (const [k, v] of items) {
    let item = [...dl.children].find((x) => x.dataset.item === k);
    if (!item) {
      item = el('div', { dataset: { item: k } }, el('dt', {}, k), el('dd', { id: `summary-${k}` }, v));
      if (k === 'version') {
        item.setAttribute('aria-live', 'polite');
        item.setAttribute('aria-atomic', 'true');
      }
    }
    const dd = item.lastElementChild;
    if (dd.textContent !== v) dd.textContent = v;
    // In the order given: an item that comes and goes (transition, hot) keeps its place.
    const at = before ? before.nextElementSibling : dl.firstElementChild;
    if (at !== item) dl.insertBefore(item, at);
    before = item;
  }
}

// ---------------------------------------------------------------- shard grid

function legend(map) {
  const byFabric = new Map();
  for (const e of [...map.endpoints].sort(fabricOrder)) {
    const k = fabricKey(e);
    if (!byFabric.has(k)) byFabric.set(k, []);
    byFabric.get(k).push(e);
  }
  const groups = [...byFabric.values()].map((list) =>
    el(
      'div',
      { class: 'fabric' },
      el('span', { class: 'fabric-name' }, `${subzoneOf(list[0]) || '-'} · ${list[0].locality?.zone ?? ''}`),
      ...list.map((e) =>
        el(
          'span',
          { class: `item${e.ready && e.weight > 0 ? '' : ' notready'}`, dataset: { endpoint: e.id, color: endpointColor.get(e.id) } },
          el('span', { class: 'swatch', style: { background: endpointColor.get(e.id) } }),
          e.ready && e.weight > 0 ? e.id : `${e.id} (owns nothing)`,
        ),
      ),
    ),
  );
  groups.push(
    el(
      'div',
      { class: 'fabric' },
      el('span', { class: 'item' }, el('span', { class: 'swatch', style: { background: UNOWNED } }), 'no owner'),
      el('span', { class: 'item', title: 'Routed to its previous primary (cell colour) while the new primary (corner colour) warms' }, el('span', { class: 'swatch transition' }), 'in transition'),
      el('span', { class: 'item', title: 'Hot shard: read by several owners, or its primary moved for bounded load (see Hot shards)' }, el('span', { class: 'swatch hot' }), 'hot'),
    ),
  );
  $('legend').replaceChildren(...groups);
  legendFocus();
}

/**
 * Past its height the legend scrolls in its box (style.css): only then does the keyboard need to
 * stop on it to scroll it, so a small fleet's Tab still goes straight to the grid. Checked again
 * when the width changes.
 */
function legendFocus() {
  const box = $('legend');
  if (box.scrollHeight > box.clientHeight) box.setAttribute('tabindex', '0');
  else box.removeAttribute('tabindex');
}

// A canvas taller than this draws nothing at all in Chromium (and Firefox): with one panel per
// fabric, a few thousand single-node fabrics (HGX nodes, each its own NVLink domain) reach it.
const MAX_CANVAS_PX = 32000;
// Panels, finest first: one per fabric, else one per zone, else one for the whole map.
const GROUPINGS = {
  fabric: (e) => fabricKey(e),
  zone: (e) => JSON.stringify(zoneOf(e)),
  all: () => '""',
};

/** Groups shards by the fabric (or zone, or nothing: `grouping`) of their primary: one panel per group, shards in order. */
function panelsOf(map, grouping = 'fabric') {
  const groupKey = GROUPINGS[grouping];
  const byId = new Map(map.endpoints.map((e) => [e.id, e]));
  const panels = new Map();
  for (const { shard, owners } of map.shards) {
    const primary = owners[0];
    const e = primary === undefined ? undefined : byId.get(primary);
    // Shards without owners are told apart by their key, never by a name: a subzone or zone may be
    // called "(no owner)".
    const key = e ? groupKey(e) : UNOWNED_KEY;
    let p = panels.get(key);
    if (!p) {
      p = { key, unowned: !e, first: e, subzone: e ? subzoneOf(e) : '', zone: e ? zoneOf(e) : '', shards: [], primaries: [] };
      panels.set(key, p);
    }
    p.shards.push(shard);
    p.primaries.push(primary);
  }
  const weight = new Map();
  let total = 0;
  for (const e of map.endpoints) {
    if (!(e.ready && e.weight > 0)) continue;
    total += e.weight;
    weight.set(groupKey(e), (weight.get(groupKey(e)) ?? 0) + e.weight);
  }
  return [...panels.values()]
    .sort((a, b) => a.unowned - b.unowned || (a.unowned ? 0 : fabricOrder(a.first, b.first)))
    .map((p) => ({ ...p, weightShare: total > 0 ? (weight.get(p.key) ?? 0) / total : 0 }));
}

function drawGrid() {
  const map = state.map;
  const canvas = $('grid');
  if (!map) return;
  const dpr = window.devicePixelRatio || 1;
  const widthCss = Math.max(200, $('grid-wrap').clientWidth);
  const W = Math.floor(widthCss * dpr);
  const S = map.shardCount;
  // Cells as large as fit a ~560 px tall grid, between 2 and 14 CSS px.
  const cell = Math.max(2, Math.min(Math.floor(14 * dpr), Math.floor(Math.sqrt((W * 560 * dpr) / Math.max(1, S)))));
  const gap = cell >= 6 ? Math.max(1, Math.round(dpr)) : 0;
  const cols = Math.max(1, Math.floor(W / cell));
  const labelH = Math.round(20 * dpr);
  const lineH = Math.round(16 * dpr);
  const panelGap = Math.round(8 * dpr);
  const font = `${Math.round(12 * dpr)}px system-ui, "DejaVu Sans", sans-serif`;
  const ctx = canvas.getContext('2d');
  ctx.font = font;
  let layout;
  let y;
  for (const grouping of Object.keys(GROUPINGS)) {
    y = 0;
    layout = { dpr, cell, cols, grouping, panels: [] };
    for (const p of panelsOf(map, grouping)) {
      const rows = Math.ceil(p.shards.length / cols);
      const label = panelLabel(p, grouping, S);
      // A label wider than the grid (a phone, a 200 % zoom) wraps instead of running off the canvas.
      const lines = wrapText(ctx, label, W);
      const textH = labelH + (lines.length - 1) * lineH;
      layout.panels.push({ ...p, label, lines, top: y, cellsTop: y + textH, rows });
      y += textH + rows * cell + panelGap;
    }
    if (y - panelGap <= MAX_CANVAS_PX) break;
  }
  const H = Math.max(1, y - panelGap);
  canvas.width = W;
  canvas.height = H;
  canvas.style.height = `${H / dpr}px`;
  ctx.clearRect(0, 0, W, H);
  ctx.textBaseline = 'middle';
  ctx.font = font; // resizing the canvas reset it
  let drawn = 0;
  // Shards in transition (docs/ownership.md): the cell keeps the routed primary's colour, and its
  // lower-right corner takes the colour of the node warming it.
  const warming = new Map((map.handoff?.transitions ?? []).map((t) => [t.shard, t.warming]));
  let marked = 0;
  // Hot shards (docs/hot-shards.md): a frame inside the cell, the ink colour.
  const hot = new Set((map.hotShards?.shards ?? []).map((h) => h.shard));
  let framed = 0;
  for (const p of layout.panels) {
    ctx.fillStyle = '#1d2330';
    p.lines.forEach((line, k) => ctx.fillText(line, 0, p.top + labelH / 2 + k * lineH));
    let last = '';
    for (let i = 0; i < p.shards.length; i++) {
      const color = p.primaries[i] === undefined ? UNOWNED : (endpointColor.get(p.primaries[i]) ?? UNOWNED);
      if (color !== last) {
        ctx.fillStyle = color;
        last = color;
      }
      const x = (i % cols) * cell;
      const top = p.cellsTop + Math.floor(i / cols) * cell;
      ctx.fillRect(x, top, cell - gap, cell - gap);
      drawn++;
      if (hot.has(p.shards[i]) && cell - gap >= 4) {
        const side = cell - gap;
        const w = Math.max(1, Math.round(side / 6));
        ctx.strokeStyle = '#1d2330';
        ctx.lineWidth = w;
        ctx.strokeRect(x + w / 2, top + w / 2, side - w, side - w);
        framed++;
      }
      const next = warming.get(p.shards[i]);
      if (next !== undefined && cell - gap >= 3) {
        const side = cell - gap;
        ctx.fillStyle = endpointColor.get(next) ?? UNOWNED;
        ctx.beginPath();
        ctx.moveTo(x + side, top + side / 3);
        ctx.lineTo(x + side, top + side);
        ctx.lineTo(x + side / 3, top + side);
        ctx.closePath();
        ctx.fill();
        last = '';
        marked++;
      }
    }
  }
  state.layout = layout;
  canvas.dataset.cells = String(drawn);
  canvas.dataset.shardCount = String(S);
  canvas.dataset.panels = String(layout.panels.length);
  canvas.dataset.grouping = layout.grouping;
  canvas.dataset.cellSize = String(cell);
  canvas.dataset.cellGap = String(gap);
  canvas.dataset.version = map.version;
  canvas.dataset.transitions = String(marked);
  canvas.dataset.hot = String(framed);
  canvas.dataset.colors = String(endpointColor.size);
  describeGrid(map, layout);
  if (document.activeElement === canvas) showCursor();
}

/** The text drawn above a panel of the grid. */
function panelLabel(p, grouping, S) {
  const share = S > 0 ? p.shards.length / S : 0;
  if (p.unowned) return `no owner: ${p.shards.length} shards (${pct(share)})`;
  const name = { fabric: `${p.subzone || '(no subzone)'} · ${p.zone}`, zone: `zone ${p.zone || '(none)'}, all fabrics`, all: 'all fabrics' }[grouping];
  return `${name}: primary for ${p.shards.length} shards (${pct(share)}), weight ${pct(p.weightShare)}`;
}

/** `text` in lines no wider than `width` (canvas px), broken at spaces; a single longer word stays whole. */
function wrapText(ctx, text, width) {
  const lines = [];
  let line = '';
  for (const word of text.split(' ')) {
    const next = line === '' ? word : `${line} ${word}`;
    if (line !== '' && ctx.measureText(next).width > width) {
      lines.push(line);
      line = word;
    } else line = next;
  }
  lines.push(line);
  return lines;
}

// Panels named in the grid's text alternative; past this, a count (thousands of fabrics would make
// a name no screen reader user can sit through).
const MAX_DESCRIBED_PANELS = 50;

/**
 * The canvas is an image to assistive technology: its name carries what the picture says (the
 * panels and their shares), and how to read single shards with the keyboard.
 */
function describeGrid(map, layout) {
  const panels = layout.panels.slice(0, MAX_DESCRIBED_PANELS).map((p) => p.label);
  const more = layout.panels.length - panels.length;
  const list = `${panels.join('; ')}${more > 0 ? `; and ${more} more panels` : ''}`;
  $('grid').setAttribute(
    'aria-label',
    `Shard map grid, version ${map.version}: ${map.shardCount} shards in ${layout.panels.length} panels. ${list}. ` +
      'Focus the grid and use the arrow keys, Home and End to read each shard.',
  );
}

function shardAt(offsetX, offsetY) {
  const L = state.layout;
  if (!L) return undefined;
  const x = offsetX * L.dpr;
  const y = offsetY * L.dpr;
  for (const p of L.panels) {
    if (y < p.cellsTop || y >= p.cellsTop + p.rows * L.cell) continue;
    const col = Math.floor(x / L.cell);
    const row = Math.floor((y - p.cellsTop) / L.cell);
    const i = row * L.cols + col;
    if (col >= L.cols || i >= p.shards.length) return undefined;
    return p.shards[i];
  }
  return undefined;
}

function showTip(ev) {
  const tip = $('tip');
  const shard = shardAt(ev.offsetX, ev.offsetY);
  if (shard === undefined || !state.map) {
    tip.hidden = true;
    return;
  }
  setTip(tipText(shard));
  placeTip(ev.offsetX, ev.offsetY);
}

/** The tip's text, changed only when it changes: the tip is a live region, read out on each change. */
function setTip(text) {
  if ($('tip').textContent !== text) $('tip').textContent = text;
}

/** Shows the tip near (x, y), CSS px in the grid, kept inside the grid's width. */
function placeTip(x, y) {
  const tip = $('tip');
  tip.hidden = false;
  tip.style.left = '0px'; // measured at full width, then moved as far right as fits
  tip.style.left = `${Math.max(0, Math.min(x + 12, $('grid-wrap').clientWidth - tip.offsetWidth))}px`;
  tip.style.top = `${y + 14}px`;
}

/** What the tip says about `shard`: its owners, and whether it is hot or moving. */
function tipText(shard) {
  const owners = state.map.shards[shard]?.owners ?? [];
  const byId = new Map(state.map.endpoints.map((e) => [e.id, e]));
  const where = (id) => `${id} (${subzoneOf(byId.get(id) ?? {}) || '-'})`;
  const t = state.map.handoff?.transitions.find((x) => x.shard === shard);
  const readers = state.map.shards[shard]?.readers ?? 1;
  const hot = state.map.hotShards?.shards.find((x) => x.shard === shard);
  return (
    `shard ${shard}: ` +
    (owners.length === 0
      ? 'no owner'
      : readers > 1
        ? `read by ${owners.slice(0, readers).map(where).join(', ')}${owners.length > readers ? `, replicas ${owners.slice(readers).map(where).join(', ')}` : ''}`
        : `primary ${where(owners[0])}${owners.length > 1 ? `, replicas ${owners.slice(1).map(where).join(', ')}` : ''}`) +
    (hot ? `; hot (${hot.reason}): ${hot.explanation}` : '') +
    (t ? `; moving to ${where(t.warming)}, warming until ${new Date(t.deadline).toLocaleTimeString()} at the latest` : '')
  );
}

// ---------------------------------------------------------------- the grid from the keyboard

// The tip is the only way to read one shard; with the grid focused, the arrow keys move a cursor
// over the cells (in drawing order) and the tip follows it, announced through its live region.

/** Where `shard` is drawn: its panel's index and its index in the panel, or undefined. */
function cellOf(shard) {
  const panels = state.layout?.panels ?? [];
  for (let p = 0; p < panels.length; p++) {
    const i = panels[p].shards.indexOf(shard);
    if (i >= 0) return { p, i };
  }
  return undefined;
}

/** The cell `key` moves to from cell `at`, or `at` when the key moves nothing. */
function moveCell(at, key) {
  const panels = state.layout.panels;
  const cols = state.layout.cols;
  const len = (p) => panels[p].shards.length;
  const { p, i } = at;
  const col = i % cols;
  switch (key) {
    case 'ArrowRight':
      return i + 1 < len(p) ? { p, i: i + 1 } : p + 1 < panels.length ? { p: p + 1, i: 0 } : at;
    case 'ArrowLeft':
      return i > 0 ? { p, i: i - 1 } : p > 0 ? { p: p - 1, i: len(p - 1) - 1 } : at;
    case 'ArrowDown':
      if (i + cols < len(p)) return { p, i: i + cols };
      if (Math.floor(i / cols) < Math.floor((len(p) - 1) / cols)) return { p, i: len(p) - 1 };
      return p + 1 < panels.length ? { p: p + 1, i: Math.min(col, len(p + 1) - 1) } : at;
    case 'ArrowUp':
      if (i >= cols) return { p, i: i - cols };
      if (p === 0) return at;
      return { p: p - 1, i: Math.min(Math.floor((len(p - 1) - 1) / cols) * cols + col, len(p - 1) - 1) };
    case 'Home':
      return { p: 0, i: 0 };
    case 'End':
      return { p: panels.length - 1, i: len(panels.length - 1) - 1 };
    default:
      return undefined;
  }
}

/** Shows the tip at the keyboard cursor (the first drawn shard when none is chosen yet). */
function showCursor() {
  const L = state.layout;
  if (!L || L.panels.length === 0 || !state.map) return;
  let at = state.cursor === undefined ? undefined : cellOf(state.cursor);
  at ??= { p: 0, i: 0 };
  const panel = L.panels[at.p];
  state.cursor = panel.shards[at.i];
  setTip(tipText(state.cursor));
  const x = ((at.i % L.cols) * L.cell) / L.dpr;
  const y = (panel.cellsTop + Math.floor(at.i / L.cols) * L.cell) / L.dpr;
  placeTip(x, y);
  $('tip').scrollIntoView({ block: 'nearest' });
}

function onGridKey(ev) {
  if (!state.layout || state.layout.panels.length === 0) return;
  const from = (state.cursor === undefined ? undefined : cellOf(state.cursor)) ?? { p: 0, i: 0 };
  const to = moveCell(from, ev.key);
  if (to === undefined) {
    if (ev.key === 'Escape') $('tip').hidden = true;
    return;
  }
  ev.preventDefault(); // the keys move the cursor, not the page
  state.cursor = state.layout.panels[to.p].shards[to.i];
  showCursor();
}

// ---------------------------------------------------------------- hot shards

/** The hot-shard decision (docs/hot-shards.md): a summary line and one row per changed shard, hottest first. */
function renderHotShards(map) {
  const hot = map.hotShards;
  const section = $('hot-section');
  const shards = hot?.shards ?? [];
  section.hidden = shards.length === 0;
  if (shards.length === 0) return;
  const ratio = hot.maxLoadRatio !== undefined ? `; busiest node ${hot.maxLoadRatio}x its weight share (plain rendezvous ${hot.plainMaxLoadRatio}x)` : '';
  $('hot-summary').textContent =
    `load window ${hot.window ? new Date(hot.window).toLocaleTimeString() : '-'}: ${shards.length} shards changed${ratio}; ` +
    `last step ${hot.moves} moves${hot.deferred > 0 ? `, ${hot.deferred} deferred by the churn budget` : ''}`;
  const rows = [...shards].sort((a, b) => b.load - a.load || a.shard - b.shard);
  $('hot-shards').replaceChildren(
    el(
      'table',
      {},
      el('thead', {}, el('tr', {}, ...['shard', 'load (req/s)', 'reason', 'readers', 'owners', 'why'].map((h) => el('th', {}, h)))),
      el(
        'tbody',
        {},
        ...rows.map((h) =>
          el(
            'tr',
            { dataset: { shard: String(h.shard), reason: h.reason } },
            el('td', { class: 'num' }, String(h.shard)),
            el('td', { class: 'num' }, String(h.load)),
            el('td', {}, h.reason),
            el('td', { class: 'num' }, String(h.readers)),
            el('td', {}, ...h.owners.map((id, i) => el('span', { class: i < h.readers ? '' : 'muted' }, el('span', { class: 'swatch', style: { background: endpointColor.get(id) ?? UNOWNED } }), ` ${id} `))),
            el('td', { class: 'why' }, h.explanation),
          ),
        ),
      ),
    ),
  );
}

// ---------------------------------------------------------------- shares

function renderShares(map) {
  const eligibleWeight = map.endpoints.reduce((n, e) => n + (e.ready && e.weight > 0 ? e.weight : 0), 0);
  const rows = [...map.endpoints]
    .sort(fabricOrder)
    .map((e) => ({
      e,
      weightShare: e.ready && e.weight > 0 && eligibleWeight > 0 ? e.weight / eligibleWeight : 0,
      primaryShare: map.shardCount > 0 ? e.shardsPrimary / map.shardCount : 0,
    }));
  const scale = Math.max(0.0001, ...rows.map((r) => Math.max(r.weightShare, r.primaryShare))) * 1.1;
  const cells = [
    el('span', { class: 'head' }, 'endpoint'),
    el('span', { class: 'head' }, 'fabric'),
    el('span', { class: 'head num' }, 'weight'),
    el('span', { class: 'head' }, 'primary share (bar) against weight share (tick)'),
    el('span', { class: 'head num' }, 'primary / weight · owned'),
  ];
  for (const { e, weightShare, primaryShare } of rows) {
    const color = endpointColor.get(e.id);
    cells.push(
      el('span', { class: e.ready && e.weight > 0 ? '' : 'notready', dataset: { endpoint: e.id } }, el('span', { class: 'swatch', style: { background: color } }), ` ${e.id}`),
      el('span', { class: 'muted' }, subzoneOf(e) || '-'),
      el('span', { class: 'num' }, String(e.weight)),
      el(
        'div',
        { class: 'track', title: `primary for ${e.shardsPrimary} shards (${pct(primaryShare)}); weight share ${pct(weightShare)}` },
        el('div', { class: 'fill', style: { width: `${(100 * primaryShare) / scale}%`, background: color } }),
        el('div', { class: 'tick', style: { left: `calc(${(100 * weightShare) / scale}% - 1px)` } }),
      ),
      el('span', { class: 'num' }, `${pct(primaryShare)} / ${pct(weightShare)} · ${e.shardsOwned}`),
    );
  }
  $('shares').replaceChildren(...cells);
}

// ---------------------------------------------------------------- proxies

/**
 * `res`: the first page of `/v1/proxies` (MAX_PROXY_ROWS rows in id order); `outOfSyncRes`, asked
 * when more rows follow it: the first MAX_PROXY_ROWS rows out of sync.
 */
function renderProxies(res, outOfSyncRes) {
  const box = $('proxies');
  if (res.status === 404) {
    box.replaceChildren(el('p', { class: 'muted', id: 'no-proxies' }, 'No proxies: this keyway serves no proxy status (GET /v1/proxies answered 404).'));
    return;
  }
  if (res.status !== 200 || !res.body || !Array.isArray(res.body.proxies)) {
    box.replaceChildren(el('p', { class: 'muted' }, `Proxy status unavailable (GET /v1/proxies answered ${res.status}).`));
    return;
  }
  const proxies = res.body.proxies;
  if (proxies.length === 0) {
    box.replaceChildren(el('p', { class: 'muted', id: 'no-proxies' }, 'No proxies connected.'));
    return;
  }
  const paged = typeof res.body.continue === 'string';
  const outOfSyncRows = outOfSyncRes?.status === 200 && Array.isArray(outOfSyncRes.body?.proxies) ? outOfSyncRes.body.proxies : undefined;
  const shown = paged ? pageShown(proxies, outOfSyncRows ?? []) : proxiesShown(proxies);
  // Columns for the kinds some row has; a row shows a badge only for the kinds its flavor is served.
  const kinds = KINDS.filter(([kind]) => shown.some((p) => p.types && kind in p.types));
  const head = el('tr', {}, ...['proxy', 'flavor', 'locality', ...kinds.map(([, c]) => c), 'connected'].map((h) => el('th', {}, h)));
  const rows = shown.map((p) => {
    const loc = p.locality ? [p.locality.region, p.locality.zone, p.locality.subzone ?? p.locality.subZone].filter(Boolean).join('/') : '';
    return el(
      'tr',
      { dataset: { proxy: p.id } },
      el('td', { class: 'mono' }, p.id),
      el('td', {}, p.flavor ?? p.userAgent ?? '-'),
      el('td', {}, loc || '-'),
      ...kinds.map(([kind]) => {
        const t = p.types?.[kind];
        if (!t) return el('td', { class: 'muted' }, '-');
        const status = t?.status ?? 'NOT_SENT';
        const title = t?.lastNack ? `rejected ${t.lastNack.version}: ${t.lastNack.message}` : `sent ${t?.versionSent ?? '-'}, acked ${t?.versionAcked ?? '-'}`;
        return el('td', {}, el('span', { class: `badge ${status}`, title }, status.replace('_', ' ')));
      }),
      el('td', { class: 'muted' }, p.connectedSince ? ago(p.connectedSince) : '-'),
    );
  });
  const table = el('table', {}, el('thead', {}, head), el('tbody', {}, ...rows));
  if (!paged && shown.length === proxies.length) {
    box.replaceChildren(table);
    return;
  }
  let note = `${shown.length} of ${proxies.length} proxies shown, those not in sync first; \`keyway status\` lists every one.`;
  if (paged && outOfSyncRows) {
    const bad = `${outOfSyncRows.length}${typeof outOfSyncRes.body.continue === 'string' ? ' and more' : ''}`;
    note = `${shown.length} of more than ${proxies.length} proxies shown, those not in sync first (${bad} not in sync); \`keyway status\` lists every one.`;
  } else if (paged) {
    note = `The first ${shown.length} of more than ${proxies.length} proxies shown (those not in sync could not be asked for: ${outOfSyncRes?.status ?? 'no answer'}); \`keyway status\` lists every one.`;
  }
  box.replaceChildren(table, el('p', { class: 'muted', id: 'proxies-more' }, note));
}

/** Whether a row needs a look: some type not SYNCED, or its node id used from several hosts. */
function outOfSync(p) {
  return p.conflict === true || Object.values(p.types ?? {}).some((t) => t?.status !== 'SYNCED');
}

/** At most MAX_PROXY_ROWS rows: those out of sync, then the others, each in keyway's (id) order. */
function proxiesShown(proxies) {
  if (proxies.length <= MAX_PROXY_ROWS) return proxies;
  const first = [];
  const rest = [];
  for (const p of proxies) {
    if (outOfSync(p)) {
      if (first.length < MAX_PROXY_ROWS) first.push(p);
    } else if (rest.length < MAX_PROXY_ROWS) rest.push(p);
  }
  return [...first, ...rest].slice(0, MAX_PROXY_ROWS);
}

/**
 * At most MAX_PROXY_ROWS rows when keyway pages: those out of sync (as keyway chose them), then the
 * first page's others, each in id order. A row may have changed between the two answers: it is shown once.
 */
function pageShown(firstPage, outOfSyncRows) {
  const ids = new Set(outOfSyncRows.map((p) => p.id));
  const rest = firstPage.filter((p) => !ids.has(p.id) && !outOfSync(p));
  return [...outOfSyncRows, ...rest].slice(0, MAX_PROXY_ROWS);
}

// ---------------------------------------------------------------- changes

function renderChanges(body) {
  const list = $('changes');
  const changes = Array.isArray(body?.changes) ? body.changes : [];
  if (changes.length === 0) {
    list.replaceChildren(el('li', { class: 'muted empty' }, 'No shard has moved since keyway started.'));
    return;
  }
  list.replaceChildren(
    ...changes.slice(0, 8).map((c) => {
      // `primaries`: the server's count (`?moves=0`); a keyway without it lists every move instead.
      let top = Array.isArray(c.primaries) ? c.primaries.map((p) => [`${p.from ?? 'none'} → ${p.to ?? 'none'}`, p.shards]) : undefined;
      if (!top) {
        const pairs = new Map();
        for (const m of c.moves ?? []) {
          if (m.from[0] === m.to[0]) continue;
          const k = `${m.from[0] ?? 'none'} → ${m.to[0] ?? 'none'}`;
          pairs.set(k, (pairs.get(k) ?? 0) + 1);
        }
        top = [...pairs].sort((a, b) => b[1] - a[1]);
      }
      top = top.slice(0, 3);
      return el(
        'li',
        { dataset: { toVersion: c.toVersion } },
        el('div', { class: 'when' }, `${new Date(c.at).toLocaleTimeString()} (${ago(c.at)}) · ${c.fromVersion} → ${c.toVersion}`),
        el('div', {}, `${c.movedShards} shards moved`, top.length > 0 ? `; primaries ${top.map(([k, n]) => `${k} (${n})`).join(', ')}` : ''),
      );
    }),
  );
}

// ---------------------------------------------------------------- polling

/**
 * Reads `/v1/shardmap` (conditionally once a map is held) and then the recent moves. A map keyway
 * does not give (no answer, a 401 after the admin token changed, a 503 of a replica without a map)
 * keeps the last one on the page, marked as not current (`MAP_UNAVAILABLE` under the header), and is
 * asked for again on the next poll.
 */
async function refreshMap() {
  state.mapWanted = false;
  // Conditional: while nothing in the map changed, the periodic refresh is a 304 with no body, not
  // megabytes to download and parse (S = 131072 is about 5 MB).
  const conditional = state.map && state.mapEtag ? { 'if-none-match': state.mapEtag } : {};
  let res;
  try {
    res = await getJson('v1/shardmap', MAP_TIMEOUT_MS, conditional);
  } catch (err) {
    mapFailed(String(err?.message ?? err));
    return;
  }
  if (res.status === 304 && state.map) {
    state.fetchedAt = Date.now();
    state.checkedAt = window.performance.now();
    state.mapProblem = '';
    renderHeader();
    await refreshChanges();
    return;
  }
  if (res.status !== 200 || !res.body) {
    const message = res.body?.error?.message;
    if (!state.map) $('legend').replaceChildren(el('p', { class: 'muted' }, message ?? `no shard map (HTTP ${res.status})`));
    mapFailed(`GET /v1/shardmap answered HTTP ${res.status}${typeof message === 'string' ? `: ${message}` : ''}`);
    return;
  }
  const map = res.body;
  state.map = map;
  state.mapEtag = res.etag;
  state.fetchedAt = Date.now();
  state.mapReadAt = window.performance.now();
  state.checkedAt = state.mapReadAt;
  state.mapChars = res.chars;
  state.mapProblem = '';
  assignColors(map.endpoints);
  legend(map);
  drawGrid();
  renderHotShards(map);
  renderShares(map);
  // The summary changes in the same task as the grid, so the page never shows two versions at once
  // while the change list below is still being fetched.
  renderHeader();
  await refreshChanges();
}

/** The map could not be read (`why`): keep the one shown, say so under the header, ask again on the next poll. */
function mapFailed(why) {
  state.mapProblem = why;
  state.mapWanted = true;
  renderHeader();
}

/**
 * Recent moves, on each new map and each periodic refresh: a keyway restarted with the same map has
 * the same version but another history. `moves=0`: the page shows counts and the largest primary
 * hand-overs, which the server adds, not the moved shards (32 changes at S = 131072 are 100 MB).
 */
async function refreshChanges() {
  try {
    const changes = await getJson('v1/changes?moves=0', MAP_TIMEOUT_MS);
    // Keep the list shown when keyway did not answer with one.
    if (changes.status === 200) renderChanges(changes.body);
  } catch {
    state.mapWanted = true; // no answer: ask again (a 304 for the map) on the next poll
  }
}

/** The map read under way, if any: one at a time, whatever the polls ask. */
let mapTask;

/** Starts reading the map unless a read is under way (the next poll looks again). */
function requestMap() {
  if (mapTask) return;
  mapTask = refreshMap()
    .catch((err) => mapFailed(String(err?.message ?? err)))
    .finally(() => {
      mapTask = undefined;
    });
}

/**
 * Is a new version of the map left unread for now? Yes while the map shown is in a handoff (shards
 * in transition), is larger than LARGE_MAP_CHARS, and was read less than HANDOFF_MAP_MS ago.
 */
function handoffHold() {
  const m = state.map;
  const moving = Array.isArray(m?.handoff?.transitions) && m.handoff.transitions.length > 0;
  return moving && state.mapChars > LARGE_MAP_CHARS && window.performance.now() - state.mapReadAt < HANDOFF_MAP_MS;
}

let pollTimer;
let polling = false;

/**
 * The readiness poll (docs/api.md "Polling for changes"): `/readyz` every POLL_MS, and the map when
 * its version changes. It never waits for the map: a map download that hangs for up to
 * MAP_TIMEOUT_MS would hold the badge on "ready" while keyway is gone. One poll at a time: a
 * call while one waits for its answer (the tab shown again) does nothing.
 */
async function poll() {
  if (polling) return;
  polling = true;
  clearTimeout(pollTimer);
  const silent = Date.now() - state.answeredAt;
  if (state.connected && state.answeredAt > 0 && silent > SILENCE_MS) {
    state.connected = false;
    state.disconnectedWhy = `no answer for ${Math.round(silent / 1000)} s: the page was not running (the computer slept, or the tab was in the background); asking again`;
    renderHeader();
  }
  let again = POLL_MS;
  try {
    const sentAt = Date.now();
    const r = await getJson('readyz');
    // Only keyway's own body says anything about keyway: a proxy or port-forward in front of a
    // keyway that is gone answers 502 with an HTML page, which is no keyway at all.
    if (typeof r.body?.ready !== 'boolean') throw new Error(`GET /readyz answered HTTP ${r.status} without keyway's readiness body`);
    // A request gives up after REQUEST_TIMEOUT_MS of the page running (AbortSignal.timeout counts
    // active time only): an answer taken in more than SILENCE_MS by the wall clock was sent before
    // the computer slept. It says how keyway was then, not now: shown, the badge would say "ready"
    // while the next poll waits up to REQUEST_TIMEOUT_MS for a network not back yet. Ask again at once.
    const took = Date.now() - sentAt;
    if (took > SILENCE_MS) {
      again = 0;
      throw new Error(`the answer to GET /readyz came to a request sent ${Math.round(took / 1000)} s ago: the page was not running (the computer slept, or the tab was in the background); asking again`);
    }
    state.readyz = r.body;
    state.answeredAt = Date.now();
    // Back after no answer: keyway may have restarted with the same map and a new history.
    const reconnected = !state.connected;
    if (reconnected) state.mapWanted = true;
    state.connected = true;
    const version = r.body?.version;
    const readUnderWay = mapTask !== undefined;
    const newVersion = state.map && version !== undefined && version !== state.map.version;
    if (state.mapWanted || !state.map || (newVersion && !handoffHold()) || window.performance.now() - state.checkedAt > FULL_REFRESH_MS) {
      requestMap();
    }
    // The map read does not hold the badge, so the badge says ready while the map shown may be hours
    // old. Marked when that lasts past one poll, or at once after no answer (the DISCONNECTED line
    // it replaces was there already): a new map drawn within the poll that asked for it flashes nothing.
    state.mapBehind = mapTask !== undefined && (reconnected || readUnderWay);
  } catch (err) {
    state.connected = false;
    state.disconnectedWhy = String(err?.message ?? err);
  }
  polling = false;
  renderHeader();
  clearTimeout(pollTimer);
  pollTimer = setTimeout(poll, again);
}

async function pollProxies() {
  let next = PROXIES_MS;
  try {
    // names=0: the table shows each type's status, not the subscribed names. One page of rows; when
    // more follow (`continue`), the rows out of sync, which come first, are asked for apart.
    const res = await getJson(`v1/proxies?names=0&limit=${MAX_PROXY_ROWS}`);
    let outOfSyncRes;
    if (res.status === 200 && typeof res.body?.continue === 'string') {
      outOfSyncRes = await getJson(`v1/proxies?names=0&outOfSync=true&limit=${MAX_PROXY_ROWS}`);
      next = PROXIES_LARGE_MS;
    }
    renderProxies(res, outOfSyncRes);
    // A keyway that ignores `limit` sends every row (the table then picks them).
    if ((res.body?.proxies?.length ?? 0) > MAX_PROXY_ROWS) next = PROXIES_LARGE_MS;
  } catch {
    // The header shows the disconnection; keep the last table.
  }
  setTimeout(pollProxies, next);
}

function start() {
  let width = 0;
  new ResizeObserver(() => {
    const w = $('grid-wrap').clientWidth;
    if (w !== width) {
      width = w;
      drawGrid();
      legendFocus();
    }
  }).observe($('grid-wrap'));
  $('grid').addEventListener('mousemove', showTip);
  $('grid').addEventListener('mouseleave', () => ($('tip').hidden = true));
  $('grid').addEventListener('focus', showCursor);
  $('grid').addEventListener('blur', () => ($('tip').hidden = true));
  $('grid').addEventListener('keydown', onGridKey);
  setupTokenForm();
  // A background tab's timers run once a minute at most: shown again, the page asks at once.
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') void poll();
  });
  void poll();
  void pollProxies();
}

start();
