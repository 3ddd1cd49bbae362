// The relay manager's web console: plain JavaScript, no build step, no dependency.
//
// Security rules of this file: every text from the server reaches the page through
// `textContent` or a text node (never parsed as HTML); the operator token is read from
// its field once, sent in the sign-in request body and cleared; the session lives in
// an HttpOnly cookie the page cannot read; every request that changes something
// carries the `x-relay-console: 1` header the server requires of cookie sessions.
'use strict';

(function () {
  const POLL_MS = 2000;
  const PAGE_LIMIT = 50;
  const OPEN_RUN = ['pending', 'running', 'cancelling'];
  const OPEN_ITEM = ['pending', 'running'];

  const view = {
    route: null,
    runs: [],
    runsCursor: null,
    hostsLoaded: false,
    hostNames: new Map(),
    run: null,
    items: [],
    itemsCursor: null,
    trailItem: null,
    timer: null,
    generation: 0,
  };

  const $ = (id) => document.getElementById(id);

  // ---------------------------------------------------------------- DOM helpers

  /** An element with attributes and children (strings become text nodes). */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      node.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      node.append(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
    }
    return node;
  }

  function badge(value, testid) {
    const v = value === null || value === undefined ? '—' : String(value);
    return el('span', { class: 'badge s-' + v.replace(/[^a-z0-9_]/gi, ''), 'data-testid': testid }, v);
  }

  function setText(id, value) {
    $(id).textContent = value === null || value === undefined || value === '' ? '—' : String(value);
  }

  function setBadge(id, value) {
    const node = $(id);
    node.textContent = value || '—';
    node.className = 'badge s-' + String(value || '').replace(/[^a-z0-9_]/gi, '');
  }

  function time(ms) {
    if (ms === null || ms === undefined) return '—';
    const d = new Date(ms);
    return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  }

  function notice(text) {
    const n = $('notice');
    n.textContent = text || '';
    n.hidden = !text;
  }

  // ---------------------------------------------------------------- HTTP

  class Failure extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  /** A JSON request to the server with the session cookie. */
  async function api(method, path, body) {
    const headers = { Accept: 'application/json' };
    if (method !== 'GET') headers['x-relay-console'] = '1';
    const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let resp;
    try {
      resp = await fetch(path, init);
    } catch (e) {
      throw new Failure(0, 'network', 'the server cannot be reached: ' + e.message);
    }
    let data = null;
    try {
      data = await resp.json();
    } catch (e) {
      data = null;
    }
    if (!resp.ok) {
      const err = data && data.error ? data.error : { code: 'http_' + resp.status, message: resp.statusText };
      if (resp.status === 401 && path.startsWith('/api/')) {
        signedOut('The session ended: sign in again.');
      }
      throw new Failure(resp.status, err.code, err.message);
    }
    return data;
  }

  function query(params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) {
      if (v !== null && v !== undefined && v !== '') q.set(k, v);
    }
    const s = q.toString();
    return s ? '?' + s : '';
  }

  // ---------------------------------------------------------------- polling

  function stopPolling() {
    if (view.timer) clearTimeout(view.timer);
    view.timer = null;
    $('live').hidden = true;
  }

  function pollIfOpen(open, refresh) {
    stopPolling();
    if (!open) return;
    $('live').hidden = false;
    const generation = view.generation;
    view.timer = setTimeout(async () => {
      if (generation !== view.generation) return;
      try {
        await refresh();
      } catch (e) {
        if (e.status !== 401) notice(e.message);
      }
    }, POLL_MS);
  }

  // ---------------------------------------------------------------- pages

  function show(page) {
    for (const id of ['page-signin', 'page-runs', 'page-new', 'page-run']) {
      $(id).hidden = id !== page;
    }
    const signedIn = page !== 'page-signin';
    $('nav').hidden = !signedIn;
    $('sign-out').hidden = !signedIn;
    $('nav-runs').className = page === 'page-runs' || page === 'page-run' ? 'current' : '';
    $('nav-new').className = page === 'page-new' ? 'current' : '';
  }

  function signedOut(message) {
    view.generation += 1;
    stopPolling();
    show('page-signin');
    const err = $('signin-error');
    err.textContent = message || '';
    err.hidden = !message;
    $('signin-token').focus();
  }

  async function route() {
    view.generation += 1;
    stopPolling();
    notice('');
    const hash = location.hash || '#/runs';
    const run = hash.match(/^#\/runs\/([A-Za-z0-9_.:-]+)$/);
    try {
      if (run) {
        await openRun(run[1]);
      } else if (hash === '#/new') {
        await openNew();
      } else {
        await openRuns();
      }
    } catch (e) {
      if (e.status !== 401) notice(e.message);
    }
  }

  // -- sign-in

  async function signIn(event) {
    event.preventDefault();
    const field = $('signin-token');
    const token = field.value;
    field.value = '';
    $('signin-error').hidden = true;
    let resp;
    try {
      resp = await fetch('/console/session', {
        method: 'POST',
        credentials: 'same-origin',
        cache: 'no-store',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'x-relay-console': '1' },
        body: JSON.stringify({ token }),
      });
    } catch (e) {
      signedOut('The server cannot be reached.');
      return;
    }
    if (resp.ok) {
      if (!location.hash || location.hash === '#/signin') location.hash = '#/runs';
      await route();
      return;
    }
    let message = 'Sign-in failed (' + resp.status + ').';
    if (resp.status === 401) message = 'Wrong operator token.';
    if (resp.status === 429) {
      const wait = resp.headers.get('Retry-After');
      message = 'Too many failed attempts from this address: retry in ' + (wait || 'a few') + ' s.';
    }
    signedOut(message);
  }

  async function signOut() {
    try {
      await fetch('/console/session', {
        method: 'DELETE',
        credentials: 'same-origin',
        headers: { 'x-relay-console': '1' },
      });
    } finally {
      signedOut('Signed out.');
    }
  }

  // -- hosts and packs

  async function loadHosts() {
    const data = await api('GET', '/api/hosts');
    const hosts = (data.hosts || []).map((h) => ({ id: h.id, name: h.name, status: h.status }));
    for (const h of hosts) view.hostNames.set(h.id, h.name);
    return hosts;
  }

  /** A host's name (its id when it is not known, e.g. deleted since). */
  function hostName(id) {
    return view.hostNames.get(id) || id;
  }

  function fillSelect(select, options, keepFirst) {
    while (select.options.length > (keepFirst ? 1 : 0)) select.remove(select.options.length - 1);
    for (const o of options) select.append(el('option', { value: o.value }, o.label));
  }

  // -- run list

  function runRow(run) {
    const c = run.counts;
    const row = el('tr', { class: 'clickable', 'data-testid': 'run-row', 'data-run-id': run.run_id },
      el('td', {}, el('a', { href: '#/runs/' + encodeURIComponent(run.run_id), 'data-testid': 'run-link' },
        el('code', {}, run.run_id))),
      el('td', {}, badge(run.state, 'run-row-state')),
      el('td', { title: run.host_id }, hostName(run.host_id)),
      el('td', { 'data-testid': 'run-row-counts' },
        `${c.succeeded} ok · ${c.failed} failed · ${c.open} open · ${c.skipped} skipped · ${c.cancelled} cancelled / ${c.total}`),
      el('td', {}, badge(run.access_status, 'run-row-access')),
      el('td', { class: 'time' }, time(run.created_at)));
    row.addEventListener('click', (e) => {
      if (e.target.closest('a')) return;
      location.hash = '#/runs/' + encodeURIComponent(run.run_id);
    });
    return row;
  }

  function renderRuns() {
    const body = $('runs-body');
    body.replaceChildren(...view.runs.map(runRow));
    $('runs-empty').hidden = view.runs.length > 0;
    $('runs-more').hidden = !view.runsCursor;
  }

  function runFilters() {
    return {
      state: $('filter-state').value,
      host_id: $('filter-host').value,
      provider_id: $('filter-provider').value.trim(),
      q: $('filter-q').value.trim(),
    };
  }

  async function loadRuns(append) {
    const params = Object.assign(runFilters(), { limit: PAGE_LIMIT });
    if (append) params.cursor = view.runsCursor;
    const page = await api('GET', '/api/batch-import/runs' + query(params));
    view.runs = append ? view.runs.concat(page.runs) : page.runs;
    view.runsCursor = page.next_cursor;
    renderRuns();
    pollRuns();
  }

  /** While a shown run is open, its row is refreshed every few seconds. */
  function pollRuns() {
    const open = view.runs.some((r) => OPEN_RUN.includes(r.state));
    pollIfOpen(open, async () => {
      const generation = view.generation;
      const fresh = await Promise.all(view.runs.map((r) =>
        OPEN_RUN.includes(r.state) ? api('GET', '/api/batch-import/runs/' + encodeURIComponent(r.run_id)) : r));
      if (generation !== view.generation) return;
      view.runs = fresh;
      renderRuns();
      pollRuns();
    });
  }

  async function openRuns() {
    show('page-runs');
    if ($('filter-host').options.length === 1) {
      const hosts = await loadHosts();
      fillSelect($('filter-host'), hosts.map((h) => ({ value: h.id, label: h.name })), true);
      view.hostsLoaded = true;
    }
    await loadRuns(false);
  }

  // -- new run

  async function openNew() {
    show('page-new');
    $('new-error').hidden = true;
    const [hosts, packs] = await Promise.all([loadHosts(), api('GET', '/api/packs')]);
    const hostSelect = $('new-host');
    const chosen = hostSelect.value;
    fillSelect(hostSelect, hosts.map((h) => ({ value: h.id, label: `${h.name} (${h.status})` })), false);
    if (chosen) hostSelect.value = chosen;
    const packSelect = $('new-pack');
    const pack = packSelect.value;
    fillSelect(packSelect, (packs.packs || []).map((p) => ({ value: p.pack_id, label: `${p.name} ${p.version}` })), true);
    packSelect.value = pack;
    if (hosts.length === 0) {
      $('new-error').textContent = 'No host is registered yet: add one with `relay host add` first.';
      $('new-error').hidden = false;
    }
  }

  async function submitNew(event) {
    event.preventDefault();
    const error = $('new-error');
    error.hidden = true;
    const request = {
      host_id: $('new-host').value,
      lines: $('new-lines').value,
      access_mode: $('new-mode').value,
      allow_adhoc: $('new-adhoc').checked,
      profile: $('new-profile').checked,
    };
    const pack = $('new-pack').value;
    if (pack) request.pack_id = pack;
    const subscribers = $('new-subscribers').value.split(',').map((s) => s.trim()).filter((s) => s);
    if (subscribers.length) request.subscribers = subscribers.map((email) => ({ email }));
    const days = $('new-days').value.trim();
    if (days) request.validity_days = Number(days);
    const button = $('new-submit');
    button.disabled = true;
    try {
      const run = await api('POST', '/api/batch-import/runs', request);
      // The keys are write-only: they leave the page once sent.
      $('new-lines').value = '';
      location.hash = '#/runs/' + encodeURIComponent(run.run_id);
    } catch (e) {
      if (e.status !== 401) {
        error.textContent = e.message;
        error.hidden = false;
      }
    } finally {
      button.disabled = false;
    }
  }

  // -- run detail

  function renderRun(run) {
    setText('run-id', run.run_id);
    setBadge('run-state', run.state);
    setBadge('run-access', run.access_status);
    setText('run-host', hostName(run.host_id));
    setText('run-pack', run.pack_id);
    setText('run-mode', run.access_mode + (run.allow_adhoc ? ' · ad-hoc allowed' : '') + (run.profile ? ' · profiled' : ''));
    setText('run-created', time(run.created_at) + (run.finished_at ? ' · ended ' + time(run.finished_at) : ''));
    for (const k of ['total', 'open', 'succeeded', 'failed', 'skipped', 'cancelled']) {
      $('count-' + k).textContent = String(run.counts[k]);
    }
    const err = $('run-error');
    err.textContent = run.error || '';
    err.hidden = !run.error;
    $('action-cancel').disabled = !OPEN_RUN.includes(run.state);
    const access = run.access || [];
    $('access-empty').hidden = access.length > 0;
    $('access-table').hidden = access.length === 0;
    $('access-body').replaceChildren(...access.map((a) => el('tr', { 'data-testid': 'access-row' },
      el('td', {}, a.provider_id),
      el('td', {}, badge(a.access_status, 'access-status')),
      el('td', {}, badge(a.subscription)),
      el('td', {}, badge(a.self_service)),
      el('td', {}, a.completion_status === null || a.completion_status === undefined ? '—' : String(a.completion_status)),
      el('td', {}, a.message || ''))));
  }

  function itemRow(item) {
    const provider = el('td', { 'data-testid': 'item-provider' }, item.provider_id || '—');
    if (item.adhoc) provider.append(el('span', { class: 'tag', 'data-testid': 'item-adhoc' }, 'ad-hoc'));
    const model = el('td', { 'data-testid': 'item-model' });
    if (item.model_hint) {
      model.append(el('span', {}, item.model_hint + ' → ' + (item.canonical_model || '?')));
    } else {
      model.append(item.canonical_model || '—');
    }
    if (item.model_correction) model.append(el('span', { class: 'sub', 'data-testid': 'item-correction' }, item.model_correction));
    const reuse = el('td', { 'data-testid': 'item-reuse' });
    if (item.reuse_decision) reuse.append(badge(item.reuse_decision, 'item-reuse-decision'));
    else reuse.append('—');
    if (item.reuse_reason) reuse.append(el('span', { class: 'sub' }, item.reuse_reason));
    const problems = el('td', { 'data-testid': 'item-problems' });
    if (item.last_error) problems.append(el('span', { class: 'error', 'data-testid': 'item-error' }, item.last_error));
    for (const w of item.warnings || []) problems.append(el('span', { class: 'warn' }, w));
    const selected = view.trailItem && view.trailItem.item_id === item.item_id;
    const row = el('tr', {
      class: 'clickable' + (selected ? ' selected' : ''),
      'data-testid': 'item-row',
      'data-item-id': item.item_id,
      'data-line': item.line,
      tabindex: '0',
    },
    el('td', { 'data-testid': 'item-line' }, String(item.line)),
    el('td', {}, el('code', { 'data-testid': 'item-mask' }, item.mask)),
    el('td', {}, el('code', {}, item.base_url)),
    provider,
    model,
    reuse,
    el('td', { 'data-testid': 'item-account' }, item.account_id === null || item.account_id === undefined ? '—' : String(item.account_id)),
    el('td', {}, badge(item.state, 'item-state')),
    el('td', {}, badge(item.confirmation_status, 'item-confirmation')),
    el('td', { 'data-testid': 'item-attempts' }, String(item.attempts)),
    problems);
    const open = () => openTrail(item);
    row.addEventListener('click', open);
    row.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') open();
    });
    return row;
  }

  function renderItems() {
    $('items-body').replaceChildren(...view.items.map(itemRow));
    $('items-more').hidden = !view.itemsCursor;
    renderRetry();
  }

  /**
   * A retry moves back only items that have an account or still hold their key: the
   * buttons are enabled when one of the shown items (or an item not loaded yet) can.
   */
  function renderRetry() {
    const retryable = (states) => view.items.some((i) => states.includes(i.state)
      && (i.key_held || (i.account_id !== null && i.account_id !== undefined)));
    const counts = view.run ? view.run.counts : { failed: 0, cancelled: 0 };
    const more = Boolean(view.itemsCursor);
    const failed = counts.failed > 0 && (more || retryable(['failed']));
    const all = counts.failed + counts.cancelled > 0 && (more || retryable(['failed', 'cancelled']));
    const none = 'No item in scope has an account or a key left: paste their lines again in a new run.';
    for (const [id, ok] of [['action-retry-failed', failed], ['action-retry-all', all]]) {
      $(id).disabled = !ok;
      if (ok) $(id).removeAttribute('title');
      else $(id).setAttribute('title', none);
    }
  }

  async function loadItems(runId, append) {
    const params = { limit: PAGE_LIMIT };
    if (append) params.cursor = view.itemsCursor;
    const page = await api('GET', '/api/batch-import/runs/' + encodeURIComponent(runId) + '/items' + query(params));
    view.items = append ? view.items.concat(page.items) : page.items;
    view.itemsCursor = page.next_cursor;
  }

  /** Reloads the run and as many items as are shown. */
  async function refreshRun(runId) {
    const generation = view.generation;
    const shown = Math.max(view.items.length, 1);
    const run = await api('GET', '/api/batch-import/runs/' + encodeURIComponent(runId));
    await loadItems(runId, false);
    while (view.items.length < shown && view.itemsCursor) await loadItems(runId, true);
    // The operator went elsewhere meanwhile: this answer is not shown.
    if (generation !== view.generation) return;
    view.run = run;
    renderRun(run);
    renderItems();
    if (view.trailItem) await loadTrail(view.trailItem.item_id);
    pollRun();
  }

  function pollRun() {
    const run = view.run;
    const open = OPEN_RUN.includes(run.state) || view.items.some((i) => OPEN_ITEM.includes(i.state));
    pollIfOpen(open, () => refreshRun(run.run_id));
  }

  async function openRun(runId) {
    show('page-run');
    if (!view.hostsLoaded) {
      await loadHosts();
      view.hostsLoaded = true;
    }
    if (!view.run || view.run.run_id !== runId) {
      view.trailItem = null;
      view.items = [];
      $('trail').hidden = true;
      $('action-result').textContent = '';
    }
    await refreshRun(runId);
  }

  // -- event trail

  async function loadTrail(itemId) {
    const data = await api('GET', '/api/batch-import/items/' + encodeURIComponent(itemId) + '/events');
    $('trail-body').replaceChildren(...(data.events || []).map((ev) => el('tr', { 'data-testid': 'trail-row' },
      el('td', { class: 'time' }, time(ev.at)),
      el('td', { 'data-testid': 'trail-kind' }, ev.kind),
      el('td', {}, ev.attempt === null || ev.attempt === undefined ? '' : String(ev.attempt)),
      el('td', {}, ev.answer_class || ''),
      el('td', {}, ev.decision || ''),
      el('td', {}, ev.message || ''))));
  }

  async function openTrail(item) {
    view.trailItem = item;
    for (const row of $('items-body').children) {
      row.classList.toggle('selected', row.getAttribute('data-item-id') === item.item_id);
    }
    setText('trail-line', item.line);
    setText('trail-item', item.item_id);
    $('trail').hidden = false;
    try {
      await loadTrail(item.item_id);
      $('trail').scrollIntoView({ block: 'nearest' });
    } catch (e) {
      if (e.status !== 401) notice(e.message);
    }
  }

  // -- actions with a confirmation

  /** Opens the confirmation dialog; resolves to true when confirmed. */
  function confirmAction(text, label) {
    const dialog = $('confirm');
    $('confirm-text').textContent = text;
    $('confirm-ok').textContent = label;
    return new Promise((resolve) => {
      const done = (answer) => {
        $('confirm-ok').removeEventListener('click', yes);
        $('confirm-cancel').removeEventListener('click', no);
        dialog.removeEventListener('cancel', no);
        if (dialog.open) dialog.close();
        resolve(answer);
      };
      const yes = () => done(true);
      const no = () => done(false);
      $('confirm-ok').addEventListener('click', yes);
      $('confirm-cancel').addEventListener('click', no);
      dialog.addEventListener('cancel', no);
      dialog.showModal();
    });
  }

  async function runAction(kind) {
    const run = view.run;
    if (!run) return;
    const texts = {
      'retry-failed': [`Move the failed items of ${run.run_id} back to pending?`, 'Retry failed'],
      'retry-all': [`Move the failed and cancelled items of ${run.run_id} back to pending?`, 'Retry all'],
      cancel: [`Cancel ${run.run_id}? Items not finished are stopped and the keys it still holds are erased.`, 'Cancel run'],
    };
    const [text, label] = texts[kind];
    if (!(await confirmAction(text, label))) return;
    const result = $('action-result');
    const base = '/api/batch-import/runs/' + encodeURIComponent(run.run_id);
    try {
      if (kind === 'cancel') {
        await api('POST', base + '/cancel');
        result.textContent = 'Cancelled.';
      } else {
        const answer = await api('POST', base + '/retry', { scope: kind === 'retry-all' ? 'all' : 'failed' });
        let text = `${answer.retried.length} item(s) moved back to pending.`;
        if (answer.without_key.length) {
          text += ` ${answer.without_key.length} left as they are (no key held any more: paste their lines again).`;
        }
        result.textContent = text;
      }
    } catch (e) {
      if (e.status !== 401) result.textContent = e.message;
    }
    try {
      await refreshRun(run.run_id);
    } catch (e) {
      if (e.status !== 401) notice(e.message);
    }
  }

  // ---------------------------------------------------------------- start

  async function start() {
    $('signin-form').addEventListener('submit', signIn);
    $('sign-out').addEventListener('click', signOut);
    $('runs-filters').addEventListener('submit', (e) => {
      e.preventDefault();
      loadRuns(false).catch((err) => { if (err.status !== 401) notice(err.message); });
    });
    $('runs-more').addEventListener('click', () => {
      loadRuns(true).catch((err) => { if (err.status !== 401) notice(err.message); });
    });
    $('new-form').addEventListener('submit', submitNew);
    $('items-more').addEventListener('click', () => {
      if (!view.run) return;
      loadItems(view.run.run_id, true).then(renderItems)
        .catch((err) => { if (err.status !== 401) notice(err.message); });
    });
    $('trail-close').addEventListener('click', () => {
      view.trailItem = null;
      $('trail').hidden = true;
      for (const row of $('items-body').children) row.classList.remove('selected');
    });
    $('action-retry-failed').addEventListener('click', () => runAction('retry-failed'));
    $('action-retry-all').addEventListener('click', () => runAction('retry-all'));
    $('action-cancel').addEventListener('click', () => runAction('cancel'));
    window.addEventListener('hashchange', route);

    let state = { signed_in: false };
    try {
      const resp = await fetch('/console/session', { credentials: 'same-origin', cache: 'no-store' });
      state = await resp.json();
    } catch (e) {
      state = { signed_in: false };
    }
    if (state.signed_in) {
      await route();
    } else {
      signedOut('');
    }
  }

  document.addEventListener('DOMContentLoaded', start);
})();
