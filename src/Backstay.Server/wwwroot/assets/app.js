'use strict';
// The Backstay dashboard: plain DOM, no framework, no build step. Everything it shows comes from /api with the
// session cookie; live updates come from /api/events (Server-Sent Events: deployment events, and the chart points of
// running deployments), the charts' history from the deployment's series route.
(function () {
  const view = document.getElementById('view');
  const menu = document.getElementById('menu');
  const live = document.getElementById('live');
  const stale = document.getElementById('stale');
  const dialog = document.getElementById('confirm');
  const state = {
    role: 'viewer',
    route: null,
    overview: [],
    recent: [],
    series: new Map(), // deployment id -> {doc (the series route's answer), points: [{t, at, revision, ...}], keys}
    deployment: null,
    events: [],
    hooks: [],
    revisions: [],
    releases: [], // newest first: the overview's recent releases, or the releases a deployment page looks its own up in
    release: null,
    releaseEvents: [],
    refreshTimer: null,
    pollTimer: null,
  };
  const ACTIVE = ['Pending', 'InProgress', 'Paused', 'RollingBack'];

  // ---------- helpers ----------
  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
      else if (key === 'class') node.className = value;
      else if (key === 'dataset') Object.assign(node.dataset, value);
      else if (key === 'style') Object.assign(node.style, value); // CSSOM: allowed by the CSP, unlike a style attribute
      else node.setAttribute(key, value === true ? '' : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  async function api(path, options) {
    const headers = { Accept: 'application/json' };
    let body;
    if (options && options.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(options.body);
    }
    const response = await fetch(path, { method: (options && options.method) || 'GET', headers, body, credentials: 'same-origin' });
    if (response.status === 401) {
      location.replace('/login');
      throw new Error('Not logged in.');
    }
    const text = await response.text();
    const json = text ? JSON.parse(text) : null;
    if (!response.ok) {
      const error = new Error((json && json.error) || ('HTTP ' + response.status));
      error.status = response.status;
      error.kind = json && json.kind;
      throw error;
    }
    return json;
  }

  const enc = encodeURIComponent;
  const isActive = (d) => d && ACTIVE.includes(d.state);
  const badge = (text, extra) => h('span', { class: 'badge ' + text + (extra ? ' ' + extra : ''), 'data-testid': 'state' }, text);
  const short = (s, n) => (s && s.length > n ? s.slice(0, n) : s || '');

  function ago(iso) {
    if (!iso) return '';
    const seconds = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
    if (seconds < 60) return Math.round(seconds) + ' s ago';
    if (seconds < 3600) return Math.round(seconds / 60) + ' min ago';
    if (seconds < 86400) return Math.round(seconds / 3600) + ' h ago';
    return new Date(iso).toLocaleDateString();
  }

  function time(iso) {
    return iso ? new Date(iso).toLocaleTimeString([], { hour12: false }) : '';
  }

  // "1.02:03:04.5" (.NET TimeSpan) to seconds.
  function seconds(span) {
    if (span === null || span === undefined) return null;
    if (typeof span === 'number') return span;
    const m = /^(-)?(?:(\d+)\.)?(\d+):(\d+):(\d+(?:\.\d+)?)$/.exec(span);
    if (!m) return null;
    const value = (+(m[2] || 0)) * 86400 + (+m[3]) * 3600 + (+m[4]) * 60 + parseFloat(m[5]);
    return m[1] ? -value : value;
  }

  function duration(span) {
    const s = seconds(span);
    if (s === null) return '';
    if (s < 1) return Math.round(s * 1000) + 'ms';
    if (s < 60) return +s.toFixed(1) + 's';
    if (s < 3600) return +(s / 60).toFixed(1) + 'm';
    return +(s / 3600).toFixed(1) + 'h';
  }

  // ---------- focus across re-renders ----------
  // Each refresh builds the view anew, which drops the focused element. An element is known again by what it stands
  // for (its test id, role, link, the service, deployment and revision it belongs to, and its text when it has no test
  // id), so after a re-render focus goes back to the new element that stands for the same thing.
  const FOCUSABLE = 'a[href], button, select, input, textarea, [tabindex]';

  function focusKey(el) {
    if (!el || el === document.body || el === view || !view.contains(el)) return null;
    const within = (name) => { const scope = el.closest('[' + name + ']'); return scope ? scope.getAttribute(name) : ''; };
    return [el.tagName, el.dataset.testid || '', el.getAttribute('role') || '', el.getAttribute('href') || '',
      within('data-service'), within('data-deployment'), within('data-revision'), within('data-release'),
      el.dataset.testid ? '' : el.textContent.trim()].join('\u0001');
  }

  function findByKey(key) {
    if (!key) return null;
    for (const el of view.querySelectorAll(FOCUSABLE)) if (focusKey(el) === key) return el;
    return null;
  }

  // Focus that was on something the re-render replaced goes to its successor; focus elsewhere (header, dialog, menu)
  // is left alone, and nothing takes focus that was not in the view.
  function showView(...nodes) {
    const key = focusKey(document.activeElement);
    view.replaceChildren(...nodes);
    if (key && (!document.activeElement || document.activeElement === document.body)) {
      const again = findByKey(key);
      if (again) again.focus({ preventScroll: true });
    }
  }

  function refocus(el, key) {
    const target = el && el.isConnected && el !== document.body ? el : findByKey(key);
    if (target) target.focus({ preventScroll: true });
  }

  function toast(text, error) {
    const node = h('div', { class: 'toast' + (error ? ' error' : ''), role: 'status', 'data-testid': error ? 'toast-error' : 'toast' }, text);
    document.getElementById('toasts').append(node);
    setTimeout(() => node.remove(), error ? 9000 : 5000);
  }

  // Steps name revisions, as the timeline does: in a rollback "stable" would be the failed revision.
  function describe(action, d) {
    const to = d.targetRevision;
    const from = d.stableRevision !== null && d.stableRevision !== undefined && d.stableRevision !== to ? d.stableRevision : null;
    switch (action.action) {
      case 'scale': {
        const revision = String(action.role).toLowerCase() === 'target' ? to : from;
        return (revision === null ? 'scale ' + String(action.role).toLowerCase() : 'scale revision ' + revision) + ' to ' + action.count + (action.waitHealthy ? ' (wait healthy)' : '');
      }
      case 'weight': return 'production traffic: revision ' + to + ' ' + action.targetWeight + '%' + (from === null ? '' : ', revision ' + from + ' ' + (100 - action.targetWeight) + '%');
      case 'testTraffic': return 'test traffic to revision ' + (action.toTarget || from === null ? to : from);
      case 'pause': return action.duration ? 'pause ' + duration(action.duration) : 'pause until continued';
      case 'analysis': return 'analysis over ' + duration(action.analysis && action.analysis.window);
      case 'wait': return (action.reason || 'wait') + ' ' + duration(action.duration);
      case 'hook': return action.stage + ' hooks' + (action.duringRollback ? ' (rollback)' : '');
      default: return action.action;
    }
  }

  function split(stable, target, weight) {
    const t = Math.max(0, Math.min(100, weight || 0));
    return h('div', {},
      h('div', { class: 'split', 'data-testid': 'traffic', title: 'production traffic' },
        h('span', { class: 's', style: { width: (100 - t) + '%' } }),
        h('span', { class: 't', style: { width: t + '%' } })),
      h('div', { class: 'legend' },
        stable !== null && stable !== undefined ? 'r' + stable + ' ' + (100 - t) + '%' : '',
        target !== null && target !== undefined && t > 0 ? ' · r' + target + ' ' + t + '%' : ''));
  }

  // A deployment's traffic as it recorded it. The colours keep their meaning in a rollback: the revision it goes back
  // to is the stable one, the failed revision is the new one, whatever the rollback calls them.
  function deploymentSplit(d) {
    if (d.kind === 'Rollback' && d.stableRevision !== null && d.stableRevision !== undefined) {
      return split(d.targetRevision, d.stableRevision, 100 - (d.targetWeight || 0));
    }
    return split(d.stableRevision, d.targetRevision, d.targetWeight);
  }

  // What the platform showed when the engine last read it, with the read's age: the current traffic and instances.
  function observed(o, stable) {
    if (!o || !o.observed) return h('span', { class: 'muted', 'data-testid': 'observed' }, 'not read from the platform yet');
    const entries = Object.entries(o.productionWeights || {}).map(([r, w]) => [Number(r), w]).filter(([, w]) => w > 0);
    const others = entries.filter(([r]) => r !== stable);
    const base = entries.some(([r]) => r === stable) || entries.length === 0 ? stable : others.shift()[0];
    const other = others.length ? others[0] : null;
    const bar = entries.length === 0 ? h('div', { class: 'small drift' }, 'no revision has production traffic')
      : other ? split(base, other[0], Math.round(100 * other[1] / entries.reduce((a, [, w]) => a + w, 0))) : split(base, null, 0);
    const sets = (o.sets || []).filter((x) => x.desired > 0 || x.running > 0);
    return h('div', { 'data-testid': 'observed' }, bar,
      h('div', { class: 'small', 'data-testid': 'observed-instances' }, sets.length
        ? sets.map((x) => 'r' + x.revision + ': ' + x.healthy + '/' + x.desired + ' healthy').join(' · ')
        : 'no instances run'),
      h('div', { class: 'small muted', 'data-testid': 'observed-age', title: o.at }, 'read from the platform ' + Math.round(o.ageSeconds) + ' s ago'));
  }

  // ---------- confirmation dialog ----------
  function confirmAction(title, text, okLabel, danger, extra) {
    document.getElementById('confirm-title').textContent = title;
    document.getElementById('confirm-text').textContent = text;
    const holder = document.getElementById('confirm-extra');
    holder.replaceChildren();
    if (extra) holder.append(extra);
    const ok = document.getElementById('confirm-ok');
    const cancel = document.getElementById('confirm-cancel');
    ok.textContent = okLabel;
    ok.className = danger ? 'danger' : 'primary';
    // Focus goes back where it was when the dialog closes (to the element that stands for it, if a refresh replaced it).
    const opener = document.activeElement;
    const openerKey = focusKey(opener);
    return new Promise((resolve) => {
      dialog.returnValue = '';
      dialog.addEventListener('close', () => {
        refocus(opener, openerKey);
        resolve(dialog.returnValue === 'ok');
      }, { once: true });
      dialog.showModal();
      // A destructive action opens on Cancel, so Enter right away does no harm.
      (danger ? cancel : ok).focus();
    });
  }

  // Tab and Shift+Tab go round the dialog's own controls (Escape cancels: the browser's own for a modal dialog).
  dialog.addEventListener('keydown', (e) => {
    if (e.key !== 'Tab') return;
    const stops = [...dialog.querySelectorAll(FOCUSABLE)].filter((x) => !x.disabled && x.tabIndex >= 0 && x.getClientRects().length > 0 &&
      !(x.type === 'radio' && !x.checked && dialog.querySelector('input[type=radio][name="' + x.name + '"]:checked')));
    if (stops.length === 0) return;
    const first = stops[0];
    const last = stops[stops.length - 1];
    const at = document.activeElement;
    if (e.shiftKey && (at === first || !dialog.contains(at))) { e.preventDefault(); last.focus(); }
    else if (!e.shiftKey && (at === last || !dialog.contains(at))) { e.preventDefault(); first.focus(); }
  });

  async function run(label, call) {
    try {
      const deployment = await call();
      toast(label + (deployment && deployment.id ? ': ' + deployment.id : ''));
      scheduleRefresh(100);
      return deployment;
    } catch (err) {
      toast(label + ' refused: ' + err.message, true);
      return null;
    }
  }

  // ---------- actions (each asks first) ----------
  async function continueDeployment(id, hookId) {
    if (!(await confirmAction('Continue ' + id + '?', hookId
      ? 'The pause hook ' + hookId + ' is answered with continue; the deployment goes on.'
      : 'The paused deployment goes on to its next step.', 'Continue', false))) return;
    await run('Continue requested', () => api('/api/deployments/' + enc(id) + '/continue', { method: 'POST', body: { hookId: hookId || null, full: false } }));
  }

  async function stopDeployment(id, rollback) {
    if (!(await confirmAction((rollback ? 'Stop and roll back ' : 'Stop ') + id + '?', rollback
      ? 'Traffic goes back to the stable revision at once; the new revision is scaled to 0.'
      : 'The deployment stops at its next safe point and traffic stays where it is, on the record, until a rollback or reset.',
    rollback ? 'Stop and roll back' : 'Stop', true))) return;
    await run(rollback ? 'Rollback requested' : 'Stop requested', () => api('/api/deployments/' + enc(id) + '/stop', { method: 'POST', body: { rollback } }));
  }

  async function rollbackService(name, preselect) {
    let revisions = [];
    let service = null;
    let active = null;
    try {
      [revisions, service] = await Promise.all([api('/api/services/' + enc(name) + '/revisions'), api('/api/services/' + enc(name))]);
      active = (await api('/api/deployments?active=true&limit=1000')).find((d) => d.service === name) || null;
    } catch (err) {
      toast(err.message, true);
      return;
    }
    const select = h('select', { id: 'confirm-revision', 'data-testid': 'rollback-revision' },
      h('option', { value: '' }, active ? 'its stable revision r' + active.stableRevision : 'the previous good revision (default)'));
    if (!active) {
      for (const r of revisions.filter((r) => !r.removed && r.number !== service.stableRevision)) {
        select.append(h('option', { value: String(r.number), selected: preselect === r.number },
          'r' + r.number + ' · ' + short(r.digest || r.image, 19) + (r.provenance && r.provenance.commit ? ' · ' + short(r.provenance.commit, 8) : '') +
          (r.provenance && r.provenance.message ? ' · ' + short(r.provenance.message, 40) : '')));
      }
    }
    const text = active
      ? 'Deployment ' + active.id + ' is in progress: it is rolled back to its stable revision, traffic first.'
      : 'Service ' + name + ' (stable r' + service.stableRevision + ') gets a rollback deployment of its own, recorded in the history.';
    const extra = h('label', {}, 'Roll back to ', select);
    if (!(await confirmAction('Roll back ' + name + '?', text, 'Roll back', true, extra))) return;
    const toRevision = select.value ? Number(select.value) : null;
    const deployment = await run('Rollback requested', () => api('/api/services/' + enc(name) + '/rollback', { method: 'POST', body: { toRevision } }));
    if (deployment) location.hash = '#/deployments/' + enc(deployment.id);
  }

  // An acknowledgement changes nothing on the platform: it says a person knows, so the release stops showing as an open incident.
  async function acknowledgeRelease(name) {
    const entry = state.overview.find((o) => o.service.name === name);
    const r = entry && entry.release;
    if (!r) return;
    const note = h('input', { id: 'confirm-note', type: 'text', maxlength: '500', 'data-testid': 'acknowledge-note', placeholder: 'e.g. INC-42, looking into it' });
    const extra = h('label', {}, 'Note (optional) ', note);
    if (!(await confirmAction('Acknowledge r' + r.revision + ' of ' + name + '?',
      'The release stays recorded as ' + (r.state === 'Failed' ? 'failed' : 'rolled back') + '; it stops being shown as an open incident, under your name.',
      'Acknowledge', false, extra))) return;
    await run('Acknowledged', () => api('/api/services/' + enc(name) + '/acknowledge', { method: 'POST', body: { note: note.value || null } }));
  }

  async function resetService(name) {
    const adopt = h('input', { type: 'radio', name: 'reset-mode', value: 'Adopt', checked: true, 'data-testid': 'reset-adopt' });
    const recreate = h('input', { type: 'radio', name: 'reset-mode', value: 'Recreate', 'data-testid': 'reset-recreate' });
    const extra = h('div', {},
      h('label', {}, adopt, ' Adopt: take what runs on the platform now as the new record'),
      h('label', {}, recreate, ' Recreate: bring back the last good revision at its count with all traffic'));
    if (!(await confirmAction('Reset ' + name + '?', 'Use this after the platform was changed by hand (service deleted, scaled to 0, weights moved).', 'Reset', true, extra))) return;
    const mode = recreate.checked ? 'Recreate' : 'Adopt';
    const deployment = await run('Reset (' + mode.toLowerCase() + ') requested', () => api('/api/services/' + enc(name) + '/reset', { method: 'POST', body: { mode } }));
    if (deployment) location.hash = '#/deployments/' + enc(deployment.id);
  }

  // ---------- context menu ----------
  // The WAI-ARIA menu button pattern: a row's actions button (aria-haspopup=menu) opens the menu with Enter, Space or
  // ArrowDown on its first item (ArrowUp: on its last); ArrowUp/ArrowDown (round), Home and End move, a letter goes to
  // the next item starting with it; Enter or Space takes an item; Escape closes the menu onto the button, Tab closes it
  // and moves on from the button. A right-click opens it too. Items that do not apply stay reachable, marked
  // aria-disabled, and do nothing.
  let menuOpener = null; // { el, key }: where focus goes back to when the menu closes

  function openMenu(x, y, title, items, opener, focus) {
    closeMenu(false);
    menu.replaceChildren(h('div', { class: 'head', 'aria-hidden': 'true' }, title));
    menu.setAttribute('aria-label', title);
    for (const item of items) {
      if (item === '-') { menu.append(h('div', { class: 'sep', role: 'separator' })); continue; }
      menu.append(h('button', {
        type: 'button', role: 'menuitem', tabindex: '-1', 'data-testid': 'menu-' + item.id, 'aria-disabled': item.disabled ? 'true' : null,
        onclick: () => { if (item.disabled) return; closeMenu(true); item.run(); },
      }, item.label));
    }
    const el = opener && opener !== document.body ? opener : null;
    menuOpener = el ? { el, key: focusKey(el) } : null;
    if (el && el.getAttribute('aria-haspopup') === 'menu') el.setAttribute('aria-expanded', 'true');
    menu.hidden = false;
    const rect = menu.getBoundingClientRect();
    menu.style.left = Math.max(8, Math.min(x, window.innerWidth - rect.width - 8)) + 'px';
    menu.style.top = Math.max(8, Math.min(y, window.innerHeight - rect.height - 8)) + 'px';
    const entries = menuItems();
    if (focus === 'first') entries[0].focus();
    else if (focus === 'last') entries[entries.length - 1].focus();
    else menu.focus(); // a right-click: no item chosen yet, ArrowDown goes to the first
  }

  function menuItems() { return [...menu.querySelectorAll('[role=menuitem]')]; }

  function closeMenu(returnFocus) {
    if (menu.hidden) return;
    menu.hidden = true;
    const opener = menuOpener;
    menuOpener = null;
    if (!opener) return;
    const el = opener.el.isConnected ? opener.el : findByKey(opener.key);
    if (el && el.getAttribute('aria-haspopup') === 'menu') el.setAttribute('aria-expanded', 'false');
    if (returnFocus && el) el.focus({ preventScroll: true });
  }

  menu.addEventListener('keydown', (e) => {
    const items = menuItems();
    const at = items.indexOf(document.activeElement);
    let next = null;
    switch (e.key) {
      case 'ArrowDown': next = items[(at + 1) % items.length]; break;
      case 'ArrowUp': next = items[at < 0 ? items.length - 1 : (at - 1 + items.length) % items.length]; break;
      case 'Home': case 'PageUp': next = items[0]; break;
      case 'End': case 'PageDown': next = items[items.length - 1]; break;
      case 'Escape': e.preventDefault(); e.stopPropagation(); closeMenu(true); return;
      // Focus goes back to the button first, so the browser's Tab moves on from there.
      case 'Tab': closeMenu(true); return;
      default: {
        if (e.key.length !== 1 || e.key === ' ' || e.ctrlKey || e.metaKey || e.altKey) return;
        const letter = e.key.toLowerCase();
        const order = items.slice(at + 1).concat(items.slice(0, at + 1));
        next = order.find((x) => x.textContent.trim().toLowerCase().startsWith(letter)) || null;
      }
    }
    if (next) { e.preventDefault(); next.focus(); }
  });

  // A row's menu button. Its click (also Enter and Space) opens the menu on its first item, or closes it.
  function menuButton(label, open) {
    return h('button', {
      type: 'button', class: 'menu-button', 'data-testid': 'row-actions', 'aria-haspopup': 'menu', 'aria-expanded': 'false',
      'aria-controls': 'menu', 'aria-label': label, title: label,
      onclick: (e) => {
        const button = e.currentTarget;
        if (!menu.hidden && menuOpener && menuOpener.el === button) { closeMenu(true); return; }
        open(button, 'first');
      },
      onkeydown: (e) => {
        if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return;
        e.preventDefault();
        open(e.currentTarget, e.key === 'ArrowDown' ? 'first' : 'last');
      },
    }, h('span', { 'aria-hidden': 'true' }, '\u22ef'));
  }

  function openServiceMenu(name, button, focus) {
    const rect = button.getBoundingClientRect();
    openMenu(rect.left, rect.bottom + 2, 'Service ' + name, serviceMenu(name), button, focus);
  }

  function openDeploymentMenu(id, button, focus) {
    const d = findDeployment(id);
    if (!d) return;
    const rect = button.getBoundingClientRect();
    openMenu(rect.left, rect.bottom + 2, 'Deployment ' + d.id, deploymentMenu(d), button, focus);
  }

  function serviceMenu(name) {
    const entry = state.overview.find((o) => o.service.name === name);
    const active = entry && entry.activeDeployment;
    const admin = state.role !== 'viewer'; // operator or admin: may continue, stop and roll back
    return [
      { id: 'open', label: 'Open ' + name, run: () => { location.hash = '#/services/' + enc(name); } },
      active ? { id: 'open-deployment', label: 'Open deployment ' + active.id, run: () => { location.hash = '#/deployments/' + enc(active.id); } } : null,
      '-',
      { id: 'continue', label: 'Continue…', disabled: !admin || !active || active.state !== 'Paused', run: () => continueDeployment(active.id) },
      { id: 'stop', label: 'Stop…', disabled: !admin || !active || active.kind !== 'Deploy', run: () => stopDeployment(active.id, false) },
      { id: 'rollback', label: 'Roll back…', disabled: !admin, run: () => rollbackService(name) },
      { id: 'acknowledge', label: 'Acknowledge incident…', disabled: !admin || !(entry && entry.release && entry.release.isIncident), run: () => acknowledgeRelease(name) },
      { id: 'reset', label: 'Reset…', disabled: state.role !== 'admin' || !!active, run: () => resetService(name) },
    ].filter(Boolean);
  }

  function deploymentMenu(d) {
    const admin = state.role !== 'viewer'; // operator or admin: may continue, stop and roll back
    return [
      { id: 'open', label: 'Open ' + d.id, run: () => { location.hash = '#/deployments/' + enc(d.id); } },
      { id: 'open-service', label: 'Open service ' + d.service, run: () => { location.hash = '#/services/' + enc(d.service); } },
      '-',
      { id: 'continue', label: 'Continue…', disabled: !admin || d.state !== 'Paused', run: () => continueDeployment(d.id) },
      { id: 'stop', label: 'Stop…', disabled: !admin || !isActive(d) || d.kind !== 'Deploy' || d.state === 'RollingBack', run: () => stopDeployment(d.id, false) },
      { id: 'stop-rollback', label: 'Stop and roll back…', disabled: !admin || !isActive(d) || d.kind !== 'Deploy' || d.state === 'RollingBack', run: () => stopDeployment(d.id, true) },
      { id: 'rollback', label: 'Roll back ' + d.service + '…', disabled: !admin, run: () => rollbackService(d.service) },
      { id: 'reset', label: 'Reset ' + d.service + '…', disabled: state.role !== 'admin' || isActive(d), run: () => resetService(d.service) },
    ];
  }

  document.addEventListener('contextmenu', (e) => {
    const row = e.target.closest('[data-service], [data-deployment]');
    if (!row) return;
    e.preventDefault();
    // Escape gives focus to the row's menu button, or back to what had it (the context-menu key opens the menu too).
    const own = row.querySelector(':scope > td > [data-testid=row-actions]');
    const opener = own || (document.activeElement !== document.body ? document.activeElement : null);
    if (row.dataset.deployment) {
      const d = findDeployment(row.dataset.deployment);
      if (d) openMenu(e.clientX, e.clientY, 'Deployment ' + d.id, deploymentMenu(d), opener);
    } else {
      openMenu(e.clientX, e.clientY, 'Service ' + row.dataset.service, serviceMenu(row.dataset.service), opener);
    }
  });
  document.addEventListener('click', (e) => {
    if (menu.contains(e.target) || (menuOpener && menuOpener.el.contains(e.target))) return;
    closeMenu(false);
  });
  document.addEventListener('keydown', (e) => { if (e.key === 'Escape') closeMenu(true); });
  window.addEventListener('blur', () => closeMenu(false));

  function findDeployment(id) {
    if (state.deployment && state.deployment.id === id) return state.deployment;
    for (const o of state.overview) {
      if (o.activeDeployment && o.activeDeployment.id === id) return o.activeDeployment;
      if (o.lastDeployment && o.lastDeployment.id === id) return o.lastDeployment;
    }
    return state.recent.find((d) => d.id === id) || null;
  }

  // The analysis verdict beside health: instances can pass every health check while the revision fails its requests.
  function analysisReading(d, progress) {
    const a = progress && progress.analysis;
    if (!a) return null;
    const look = { Fail: ['Failing', 'bad'], Pass: ['Passing', 'ok'], Inconclusive: ['Judging', 'Pending'] }[a.verdict] || [a.verdict, ''];
    const toRollBack = a.verdict === 'Fail' ? ' (' + a.failures + ' of ' + a.failuresToRollBack + ' failed looks in a row roll back)' : '';
    return h('div', { class: 'small', 'data-testid': 'analysis' },
      h('span', { class: 'badge ' + look[1], 'data-testid': 'analysis-verdict' }, look[0]),
      ' r' + d.targetRevision + ' analysis: ' + a.reason + toRollBack + ' · ' + ago(a.at));
  }

  // The numbers behind the analysis verdict that decided a deployment (the failure's, an analysis step's pass, a failure
  // held for a person), else its latest reading: why it rolled back and why it passed, both with numbers.
  function decidingAnalysis(d, events) {
    for (let i = events.length - 1; i >= 0; i--) {
      const e = events[i];
      if (!e.dataJson || e.dataJson.indexOf('"checks"') < 0) continue;
      let data = null;
      try { data = JSON.parse(e.dataJson); } catch (_) { data = null; }
      if (data && data.checks && data.checks.length) return { verdict: e.type === 'Failed' ? 'Fail' : data.verdict, source: e.type, at: e.at, checks: data.checks };
    }
    const reading = d.progress && d.progress.analysis;
    return reading && reading.checks && reading.checks.length ? { verdict: reading.verdict, source: 'latest reading', at: reading.at, checks: reading.checks } : null;
  }

  function sampleText(s) {
    if (!s) return '—';
    const parts = [];
    if (s.value !== null && s.value !== undefined) parts.push('value ' + (+s.value.toPrecision(4)));
    if (s.requests !== null && s.requests !== undefined) parts.push(s.requests + ' requests');
    if (s.errors !== null && s.errors !== undefined && s.requests) parts.push(s.errors + ' errors (' + (+(100 * s.errors / s.requests).toFixed(2)) + '%)');
    if (s.latencyP50Ms !== null && s.latencyP50Ms !== undefined) parts.push('p50 ' + (+s.latencyP50Ms.toFixed(1)) + ' ms');
    return (s.revision ? 'r' + s.revision + ': ' : '') + (parts.join(', ') || '—');
  }

  function statisticText(c) {
    if (c.statistic === null || c.statistic === undefined) return '—';
    const value = (x) => (Math.abs(x) >= 1000 || (Math.abs(x) < 0.01 && x !== 0) ? x.toExponential(2) : +x.toPrecision(3));
    return (c.statisticName ? c.statisticName + ' ' : '') + value(c.statistic) +
      (c.critical !== null && c.critical !== undefined ? ' (against ' + value(c.critical) + ')' : '') +
      (c.lower !== null && c.lower !== undefined && c.upper !== null && c.upper !== undefined ? ' · interval [' + value(c.lower) + ', ' + value(c.upper) + ']' : '');
  }

  function analysisEvidence(d, events) {
    const found = decidingAnalysis(d, events);
    if (!found) return h('p', { class: 'empty' }, 'No analysis verdict yet.');
    const look = { Fail: ['Fail', 'bad'], Pass: ['Pass', 'ok'], Inconclusive: ['Inconclusive', 'Pending'] };
    return h('div', { 'data-testid': 'analysis-evidence', 'data-verdict': found.verdict },
      h('p', { class: 'small' }, badge((look[found.verdict] || [found.verdict])[0], (look[found.verdict] || [])[1]),
        ' from ' + found.source + ' · ' + time(found.at)),
      h('div', { class: 'events', tabindex: '0', role: 'region', 'aria-label': 'Analysis checks' },
        h('table', {},
          h('thead', {}, h('tr', {}, ['Check', 'Verdict', 'New revision', 'Stable revision', 'Test and statistic', 'Threshold'].map((t) => h('th', {}, t)))),
          h('tbody', {}, found.checks.map((c) => h('tr', { 'data-testid': 'analysis-check', 'data-metric': c.metric },
            h('td', {}, h('strong', {}, c.metric), c.dryRun ? h('span', { class: 'muted' }, ' (dry run)') : null),
            h('td', {}, badge((look[c.verdict] || [c.verdict])[0], (look[c.verdict] || [])[1])),
            h('td', { class: 'small' }, sampleText(c.target)),
            h('td', { class: 'small' }, sampleText(c.baseline)),
            h('td', { class: 'small', title: c.reason }, c.test + ': ' + statisticText(c)),
            h('td', { class: 'small' }, c.threshold)))))));
  }

  // ---------- overview ----------
  function health(o) {
    const d = o.activeDeployment;
    const progress = (d && d.progress) || null;
    if (progress) {
      // A deployment's own figures are fresher than the last observation.
      const rows = [];
      if (d.stableRevision !== null && d.stableRevision !== undefined) rows.push([d.stableRevision, progress.stableHealthy, progress.stableDesired]);
      rows.push([d.targetRevision, progress.targetHealthy, progress.targetDesired]);
      return h('div', {}, rows.filter(([, , desired]) => desired > 0).map(([revision, healthy, desired]) =>
        h('div', { class: 'small' }, badge(healthy >= desired ? 'Healthy' : 'Starting', healthy >= desired ? 'ok' : 'Pending'), ' r' + revision + ': ' + healthy + '/' + desired + ' healthy')),
        analysisReading(d, progress));
    }
    const sets = (o.observation && o.observation.sets) || [];
    if (sets.length === 0) return h('span', { class: 'muted' }, 'not observed yet');
    return h('div', {}, sets.filter((s) => s.desired > 0 || s.running > 0).map((s) =>
      h('div', { class: 'small' }, badge(s.healthy >= s.desired && s.desired > 0 ? 'Healthy' : 'Degraded', s.healthy >= s.desired && s.desired > 0 ? 'ok' : 'bad'),
        ' r' + s.revision + ': ' + s.healthy + '/' + s.desired + ' healthy')));
  }

  function traffic(o) {
    const d = o.activeDeployment;
    if (d && d.stableRevision !== null && d.stableRevision !== undefined) return deploymentSplit(d);
    const weights = (o.observation && o.observation.productionWeights) || {};
    const entries = Object.entries(weights).filter(([, w]) => w > 0);
    if (entries.length > 1) {
      const [[r1, w1], [r2, w2]] = entries;
      return split(Number(r1), Number(r2), Math.round(100 * w2 / (w1 + w2)));
    }
    return split(o.service.stableRevision, null, 0);
  }

  // What the latest release came to. A rolled-back release stays red (with its reason) after its rollback succeeded,
  // until a later release succeeds: the rollback succeeding is not the release succeeding.
  function release(r) {
    if (!r) return h('span', { class: 'muted' }, 'none yet');
    const words = { InProgress: 'in progress', Succeeded: 'succeeded', RolledBack: 'rolled back', RollbackFailed: 'rollback failed', Failed: 'failed', Stopped: 'stopped' };
    // Acknowledged by a person: still what it was (rolled back, failed), no longer an open incident.
    const kind = r.state === 'Succeeded' ? 'ok' : r.isIncident ? 'bad' : r.acknowledged ? 'warn' : 'Pending';
    const a = r.acknowledged;
    return h('div', { 'data-deployment': r.deploymentId, 'data-release-state': r.state },
      h('span', { class: 'badge ' + kind, 'data-testid': 'release-state' }, 'r' + r.revision + ' ' + (words[r.state] || r.state)), ' ',
      h('a', { href: '#/deployments/' + enc(r.deploymentId), class: 'small' }, r.deploymentId),
      h('div', { class: 'small' + (kind === 'bad' ? ' incident-reason' : ' muted'), title: r.at }, ago(r.at) + (r.reason ? ': ' + r.reason : '')),
      a ? h('div', { class: 'small muted', 'data-testid': 'acknowledged', title: a.at }, 'acknowledged by ' + a.by + ' ' + ago(a.at) + (a.note ? ': ' + a.note : '')) : null);
  }

  // Blue/green keepPreviousFor: the previous revision still runs, without traffic, until the engine retires it.
  function warm(d) {
    if (!d || d.warmRevision === null || d.warmRevision === undefined || !d.warmUntil) return null;
    const until = new Date(d.warmUntil).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
    return h('div', { class: 'small muted', 'data-testid': 'warm', title: 'backstay continue --full ' + d.id + ' ends it now' }, 'r' + d.warmRevision + ' warm until ' + until);
  }

  function renderOverview() {
    const rows = state.overview.map((o) => {
      const d = o.activeDeployment;
      const incident = o.release && o.release.isIncident;
      return h('tr', { class: 'row' + (incident ? ' incident' : ''), 'data-service': o.service.name, 'data-testid': 'service-row' },
        h('td', {}, h('a', { href: '#/services/' + enc(o.service.name) }, h('strong', {}, o.service.name))),
        h('td', {}, o.service.platform),
        h('td', { 'data-testid': 'stable' }, o.service.stableRevision !== null && o.service.stableRevision !== undefined ? 'r' + o.service.stableRevision : '—', warm(o.lastDeployment)),
        h('td', { 'data-testid': 'in-progress' }, d
          ? h('div', { 'data-deployment': d.id }, h('a', { href: '#/deployments/' + enc(d.id) }, d.id), ' ', badge(d.state),
            h('div', { class: 'small muted' }, d.kind.toLowerCase() + ' r' + d.targetRevision + ' · step ' + Math.min(d.currentStep + 1, d.totalSteps) + '/' + d.totalSteps))
          : h('span', { class: 'muted' }, 'none')),
        h('td', {}, traffic(o)),
        h('td', {}, health(o)),
        h('td', { 'data-testid': 'drift' }, o.drift.length ? h('span', { class: 'drift', title: o.drift.join('\n') }, badge('drift', 'drift'), ' ', o.drift.join('; ')) : h('span', { class: 'muted' }, 'none')),
        h('td', { 'data-testid': 'release' }, release(o.release)),
        h('td', {}, menuButton('Actions for service ' + o.service.name, (button, focus) => openServiceMenu(o.service.name, button, focus))));
    });
    const recent = state.recent.map((d) => deploymentRow(d, true));
    showView(
      h('div', { class: 'card' },
        h('h1', {}, 'Services'),
        state.overview.length === 0
          ? h('p', { class: 'empty' }, 'No services yet. Deploy one with `backstay deploy --server …` or POST /api/services/NAME/deployments.')
          : h('table', { 'data-testid': 'services' },
            h('thead', {}, h('tr', {}, ['Service', 'Platform', 'Stable', 'In progress', 'Traffic', 'Health', 'Drift', 'Latest release'].map((t) => h('th', {}, t)),
              h('th', {}, h('span', { class: 'sr-only' }, 'Actions')))),
            h('tbody', {}, rows)),
        h('p', { class: 'small muted' }, 'Each service and deployment has its actions on its \u22ef button, or on a right-click.')),
      h('div', { class: 'card', 'data-testid': 'releases-card' }, h('div', { class: 'header-line' }, h('h2', {}, 'Recent releases'),
        h('a', { href: '#/releases', class: 'small' }, 'All releases')), releaseTable(state.releases)),
      h('div', { class: 'card' }, h('h2', {}, 'Recent deployments'), deploymentTable(recent, true)));
  }

  function deploymentTable(rows, withService) {
    if (rows.length === 0) return h('p', { class: 'empty' }, 'No deployments yet.');
    return h('table', { 'data-testid': 'deployments' },
      h('thead', {}, h('tr', {}, [withService ? 'Service' : null, 'Deployment', 'Kind', 'State', 'Revision', 'Strategy', 'Requested by', 'Created', 'Reason'].filter(Boolean).map((t) => h('th', {}, t)),
        h('th', {}, h('span', { class: 'sr-only' }, 'Actions')))),
      h('tbody', {}, rows));
  }

  function deploymentRow(d, withService) {
    return h('tr', { class: 'row', 'data-deployment': d.id, 'data-testid': 'deployment-row' },
      withService ? h('td', {}, h('a', { href: '#/services/' + enc(d.service) }, d.service)) : null,
      h('td', {}, h('a', { href: '#/deployments/' + enc(d.id), class: 'mono' }, d.id)),
      h('td', {}, d.kind),
      h('td', {}, badge(d.state)),
      h('td', {}, (d.stableRevision !== null && d.stableRevision !== undefined ? 'r' + d.stableRevision + ' → ' : '') + 'r' + d.targetRevision),
      h('td', {}, d.strategy),
      h('td', { class: 'small' }, d.requestedBy || ''),
      h('td', { class: 'small', title: d.createdAt }, ago(d.createdAt)),
      h('td', { class: 'small' }, d.reason || ''),
      h('td', {}, menuButton('Actions for deployment ' + d.id, (button, focus) => openDeploymentMenu(d.id, button, focus))));
  }

  // ---------- service ----------
  async function renderService(name) {
    const [service, revisions, deployments, drift, observation] = await Promise.all([
      api('/api/services/' + enc(name)), api('/api/services/' + enc(name) + '/revisions'),
      api('/api/services/' + enc(name) + '/deployments?limit=50'), api('/api/services/' + enc(name) + '/drift'),
      api('/api/services/' + enc(name) + '/observation')]);
    state.revisions = revisions;
    state.recent = deployments;
    if (!sameRoute('service', name)) return;
    const admin = state.role !== 'viewer'; // operator or admin: may continue, stop and roll back
    const active = deployments.find(isActive);
    showView(
      h('div', { class: 'card', 'data-service': name },
        h('div', { class: 'header-line' }, h('h1', {}, service.name), h('span', { class: 'badge' }, service.platform),
          drift.length ? badge('drift', 'drift') : null),
        h('dl', { class: 'kv' },
          h('dt', {}, 'Stable revision'), h('dd', {}, service.stableRevision ? 'r' + service.stableRevision : '—'),
          h('dt', {}, 'Instances'), h('dd', {}, String(service.desiredCount)),
          h('dt', {}, 'Now on the platform'), h('dd', {}, observed(observation, service.stableRevision)),
          h('dt', {}, 'In progress'), h('dd', {}, active ? h('a', { href: '#/deployments/' + enc(active.id) }, active.id + ' (' + active.state + ')') : 'none'),
          h('dt', {}, 'Drift'), h('dd', { class: drift.length ? 'drift' : 'muted' }, drift.length ? drift.join('; ') : 'none')),
        h('div', { class: 'actions' },
          h('button', { type: 'button', 'data-testid': 'action-rollback', disabled: !admin, onclick: () => rollbackService(name) }, 'Roll back…'),
          h('button', { type: 'button', 'data-testid': 'action-reset', disabled: state.role !== 'admin' || !!active, onclick: () => resetService(name) }, 'Reset…'))),
      h('div', { class: 'card' }, h('h2', {}, 'Revisions'),
        h('table', { 'data-testid': 'revisions' },
          h('thead', {}, h('tr', {}, ['Revision', 'Image', 'Digest', 'Commit', 'Message', 'Author', 'Created', ''].map((t) => h('th', {}, t)))),
          h('tbody', {}, revisions.map((r) => h('tr', { 'data-testid': 'revision-row', 'data-revision': String(r.number) },
            h('td', {}, 'r' + r.number, ' ', r.number === service.stableRevision ? badge('stable', 'ok') : null, r.removed ? h('span', { class: 'badge' }, 'removed') : null),
            h('td', { class: 'mono small' }, r.image),
            h('td', { class: 'mono small', title: r.digest || '' }, short(r.digest, 23) || '—'),
            h('td', { class: 'mono small', title: (r.provenance && r.provenance.commit) || '' }, short(r.provenance && r.provenance.commit, 10) || '—',
              r.provenance && r.provenance.dirty ? ' (dirty)' : ''),
            h('td', { class: 'small' }, (r.provenance && r.provenance.message) || ''),
            h('td', { class: 'small' }, (r.provenance && r.provenance.author) || ''),
            h('td', { class: 'small', title: r.createdAt }, ago(r.createdAt)),
            h('td', {}, !r.removed && r.number !== service.stableRevision
              ? h('button', { type: 'button', disabled: !admin, 'data-testid': 'rollback-to', onclick: () => rollbackService(name, r.number) }, 'Roll back to r' + r.number)
              : null)))))),
      h('div', { class: 'card' }, h('h2', {}, 'Deployments'), deploymentTable(deployments.map((d) => deploymentRow(d, false)), false)));
  }

  // ---------- releases ----------
  // A coordinated release of several services: one id, one outcome, one timeline. A release that was rolled back or
  // failed is an incident (red), whatever its rollbacks came to: the rollback succeeding is not the release succeeding.
  const RELEASE_ACTIVE = ['InProgress', 'Paused', 'RollingBack', 'Stopping'];
  const releaseActive = (r) => r && RELEASE_ACTIVE.includes(r.phase);
  const releaseIncident = (r) => r && (r.phase === 'RolledBack' || r.phase === 'Failed');

  function phaseBadge(r) {
    const kind = r.phase === 'Succeeded' ? 'ok' : releaseIncident(r) ? 'bad' : r.phase === 'Paused' || r.phase === 'Stopped' ? 'warn' : 'Pending';
    return h('span', { class: 'badge ' + kind, 'data-testid': 'release-phase', 'data-phase': r.phase }, r.phase);
  }

  function restoreMs(r) {
    if (present(r.timeToRestoreMs)) return r.timeToRestoreMs;
    return r.failedAt && r.restoredAt ? new Date(r.restoredAt).getTime() - new Date(r.failedAt).getTime() : null;
  }

  function revisions(m) {
    return (present(m.fromRevision) ? 'r' + m.fromRevision : 'new') + ' \u2192 r' + m.toRevision;
  }

  // Why it failed and how long it took to put everything back: only for a release that failed, in the incident colour.
  function releaseFailure(r, withoutRestore) {
    if (!r.reason && !r.failedService) return null;
    const ms = restoreMs(r);
    const bad = releaseIncident(r);
    return h('div', { class: 'small' + (bad ? ' incident-reason' : ' muted'), 'data-testid': 'release-reason' },
      r.failedService ? h('strong', {}, r.failedService + ' failed' + (r.failedAt ? ' at ' + time(r.failedAt) : '') + ': ') : null,
      r.reason || '',
      present(ms) && !withoutRestore ? h('div', { 'data-testid': 'time-to-restore' }, 'restored in ' + duration(ms / 1000) + (r.restoredAt ? ' (at ' + time(r.restoredAt) + ')' : '')) : null);
  }

  // The service whose failure ended the release: its own rollback may have succeeded, it still is the one that failed.
  function failedHere(r, m) {
    return m.service === r.failedService ? h('span', { class: 'badge bad', 'data-testid': 'member-failed' }, 'failed the release') : null;
  }

  function releaseRow(r) {
    return h('tr', { class: 'row' + (releaseIncident(r) ? ' incident' : ''), 'data-release': r.id, 'data-testid': 'release-row', 'data-phase': r.phase },
      h('td', {}, h('a', { href: '#/releases/' + enc(r.id) }, h('strong', {}, r.name)), h('div', { class: 'small mono muted' }, r.id)),
      h('td', {}, phaseBadge(r), r.waitsForPerson ? h('div', { class: 'small drift' }, 'waits for a person') : null),
      h('td', {}, h('ul', { class: 'members' }, r.members.map((m) =>
        h('li', { 'data-testid': 'release-member', 'data-member': m.service },
          h('a', { href: '#/services/' + enc(m.service) }, m.service), ' ', h('span', { class: 'small' }, revisions(m)), ' ', badge(m.state), failedHere(r, m))))),
      h('td', { class: 'small', title: r.createdAt }, ago(r.createdAt), r.requestedBy ? h('div', { class: 'muted' }, r.requestedBy) : null),
      h('td', {}, releaseFailure(r)));
  }

  function releaseTable(releases) {
    if (!releases || releases.length === 0) return h('p', { class: 'empty' }, 'No releases yet. Start one with `backstay release -f release.yaml` or POST /api/releases.');
    return h('table', { 'data-testid': 'releases' },
      h('thead', {}, h('tr', {}, ['Release', 'Outcome', 'Services (from \u2192 to, state)', 'Started', 'Failure'].map((t) => h('th', {}, t)))),
      h('tbody', {}, releases.map(releaseRow)));
  }

  function renderReleases() {
    showView(h('div', { class: 'card' }, h('h1', {}, 'Releases'), releaseTable(state.releases)));
  }

  // The release a deployment belongs to: the one whose member deployed it, or rolled it back for the release.
  function releaseOfDeployment(id) {
    for (const r of state.deploymentReleases || []) {
      for (const m of r.members || []) {
        if (m.deploymentId === id || m.rollbackDeploymentId === id) {
          const what = m.deploymentId === id ? 'part of release ' : 'rollback for release ';
          return [h('dt', {}, 'Release'), h('dd', { 'data-testid': 'deployment-release', 'data-release': r.id },
            what, h('a', { href: '#/releases/' + enc(r.id), class: 'in-text' }, r.name + ' (' + r.id + ')'), ' ', phaseBadge(r))];
        }
      }
    }
    return null;
  }

  // The failure moment on the timeline: the ServiceFailed event (else the first rollback), marked and said in words.
  function failureEvent(r, events) {
    if (!r.failedAt && !r.failedService) return null;
    return events.find((e) => e.type === 'ServiceFailed') || events.find((e) => e.type === 'RollingBack') || null;
  }

  function releaseTimeline(r, events) {
    if (events.length === 0) return h('p', { class: 'empty' }, 'No events yet.');
    const failure = failureEvent(r, events);
    return h('ol', { class: 'timeline release-timeline', 'data-testid': 'release-timeline' }, events.map((e) => {
      const failed = e === failure;
      const bad = ['ServiceFailed', 'ServiceRollbackFailed', 'Failed', 'RolledBack'].includes(e.type);
      return h('li', { class: failed ? 'failed failure-moment' : bad ? 'failed' : e.type === 'Succeeded' || e.type === 'ServiceRolledBack' ? 'done' : '',
        'data-testid': 'release-event', 'data-type': e.type, 'data-failure': failed ? 'true' : null },
        h('span', { class: 'small mono', title: e.at }, time(e.at)),
        h('strong', {}, e.type),
        h('span', {}, e.message),
        failed ? h('span', { class: 'badge bad', 'data-testid': 'failure-mark' }, 'release failed here') : null);
    }));
  }

  async function renderRelease(id) {
    const [r, events] = await Promise.all([api('/api/releases/' + enc(id)), api('/api/releases/' + enc(id) + '/events')]);
    if (!sameRoute('release', id)) return;
    state.release = r;
    state.releaseEvents = events;
    const ms = restoreMs(r);
    const bad = releaseIncident(r);
    showView(
      h('div', { class: 'card' + (bad ? ' incident-card' : ''), 'data-release': r.id, 'data-testid': 'release' },
        h('div', { class: 'header-line' },
          h('h1', {}, 'Release ', r.name, ' ', h('span', { class: 'mono' }, r.id)),
          phaseBadge(r)),
        h('dl', { class: 'kv' },
          h('dt', {}, 'Outcome'), h('dd', { 'data-testid': 'release-outcome' }, releaseActive(r) ? 'in progress (' + r.phase + ')' : r.phase,
            r.waitsForPerson ? h('span', { class: 'drift' }, ' · waits for a person: continue, roll back or stop') : null),
          h('dt', {}, 'On failure'), h('dd', {}, r.onFailure),
          h('dt', {}, 'Requested by'), h('dd', {}, r.requestedBy || '—'),
          h('dt', {}, 'Created'), h('dd', {}, new Date(r.createdAt).toLocaleString() + (r.finishedAt ? ' · finished ' + new Date(r.finishedAt).toLocaleString() : '')),
          r.failedService || r.reason ? [h('dt', {}, 'Failure'), h('dd', {}, releaseFailure(r, true))] : null,
          r.failedAt ? [h('dt', {}, 'Failed at'), h('dd', { 'data-testid': 'release-failed-at' }, new Date(r.failedAt).toLocaleString())] : null,
          present(ms) ? [h('dt', {}, 'Time to restore'), h('dd', {}, duration(ms / 1000) + ' (every service back at ' + time(r.restoredAt) + ')')] : null)),
      h('div', { class: 'card' }, h('h2', {}, 'Services'),
        h('table', { 'data-testid': 'release-members' },
          h('thead', {}, h('tr', {}, ['Service', 'Depends on', 'Revisions', 'State', 'Deployment', 'Started', 'Finished', 'Reason'].map((t) => h('th', {}, t)))),
          h('tbody', {}, r.members.map((m) => h('tr', { class: m.service === r.failedService || m.state === 'Failed' || m.state === 'RollbackFailed' ? 'incident' : '', 'data-testid': 'release-member', 'data-member': m.service },
            h('td', {}, h('a', { href: '#/services/' + enc(m.service) }, h('strong', {}, m.service))),
            h('td', { class: 'small' }, (m.dependsOn || []).join(', ') || '—'),
            h('td', {}, revisions(m)),
            h('td', {}, badge(m.state), ' ', failedHere(r, m)),
            h('td', {}, m.deploymentId ? h('a', { href: '#/deployments/' + enc(m.deploymentId), class: 'mono', 'data-testid': 'member-deployment' }, m.deploymentId) : h('span', { class: 'muted' }, 'not started'),
              m.rollbackDeploymentId ? h('div', { class: 'small' }, 'rollback ', h('a', { href: '#/deployments/' + enc(m.rollbackDeploymentId), class: 'mono', 'data-testid': 'member-rollback' }, m.rollbackDeploymentId)) : null),
            h('td', { class: 'small', title: m.startedAt || '' }, time(m.startedAt)),
            h('td', { class: 'small', title: m.finishedAt || '' }, time(m.finishedAt)),
            h('td', { class: 'small' + (m.state === 'Failed' || m.state === 'RollbackFailed' ? ' incident-reason' : '') }, m.reason || '')))))),
      h('div', { class: 'card' }, h('h2', {}, 'Timeline'), releaseTimeline(r, events)));
  }

  // ---------- deployment ----------
  // Chart series come from the server (GET /api/deployments/{id}/series): both revisions' points since the deployment
  // began, kept for as long as its revision is. Live points arrive as `series` messages on /api/events and are merged
  // in; a slower re-read (every 5 s while it runs) covers a dropped stream. A deployment that was rolled back carries on
  // with its rollback's points, and a rollback starts with the deployment's, so the colours follow the meaning
  // (stable / new), never the role a deployment gives a revision.
  const SERIES_REFRESH_MS = 5000;
  const GAP_SPACINGS = 3; // no line across more than three spacings without a point: an outage stays a gap
  const POINTS_AT_FULL_RATE = 1800; // SeriesPoint.PointsAtFullRate: the spacing grows with the deployment's age
  const COLORS = { stable: '#5b6b86', new: '#2f80ed', threshold: '#b91c1c', mark: '#92400e', grid: '#e3e6eb', text: '#5d6679' };
  let drawn = []; // the charts on screen: {canvas, spec}

  const ms = (iso) => new Date(iso).getTime();
  const present = (v) => v !== null && v !== undefined;

  function seriesIds(s) {
    return [s.doc.deploymentId, s.rollbackOf, s.rolledBackBy].filter(Boolean);
  }

  function mergePoints(s, points) {
    let added = false;
    for (const p of points) {
      const key = p.revision + '|' + p.at;
      if (s.keys.has(key)) continue;
      s.keys.add(key);
      s.points.push(Object.assign({}, p, { t: ms(p.at) }));
      added = true;
    }
    if (added) s.points.sort((a, b) => a.t - b.t);
    return added;
  }

  async function syncSeries(d) {
    const related = [d.rollbackOf, d.rolledBackBy].filter(Boolean).join(',');
    let s = state.series.get(d.id);
    const stale = s && Date.now() - s.fetched > SERIES_REFRESH_MS && (isActive(d) || s.wasActive);
    if (s && s.related === related && !stale) return s;
    const incremental = s && s.related === related && s.points.length > 0;
    const path = '/api/deployments/' + enc(d.id) + '/series' + (incremental ? '?after=' + enc(s.points[s.points.length - 1].at) : '');
    const doc = await api(path);
    if (!incremental) s = { keys: new Set(), points: [] };
    s.doc = doc;
    s.related = related;
    s.rollbackOf = d.rollbackOf;
    s.rolledBackBy = d.rolledBackBy;
    s.wasActive = isActive(d);
    s.fetched = Date.now();
    mergePoints(s, doc.points);
    state.series.set(d.id, s);
    return s;
  }

  function onSeriesMessage(m) {
    for (const s of state.series.values()) {
      if (seriesIds(s).includes(m.deploymentId) && mergePoints(s, m.points)) requestAnimationFrame(redrawCharts);
    }
  }

  // How far apart the engine takes points at time t (SeriesPoint.Spacing): a gap is more than GAP_SPACINGS of them.
  function gapAfter(doc, t) {
    const age = Math.max(0, t - ms(doc.startedAt));
    return GAP_SPACINGS * Math.max(doc.intervalMs, age / POINTS_AT_FULL_RATE);
  }

  // The points of one revision cut into runs with no gap inside; null values end a run too.
  function runs(s, revision, value) {
    const out = [];
    let run = [];
    let last = null;
    for (const p of s.points) {
      if (p.revision !== revision) continue;
      const v = value(p);
      if (last !== null && p.t - last > gapAfter(s.doc, p.t)) { if (run.length) out.push(run); run = []; }
      last = p.t;
      if (!present(v)) { if (run.length) out.push(run); run = []; continue; }
      run.push([p.t, v]);
    }
    if (run.length) out.push(run);
    return out;
  }

  // Stretches where neither revision has a point for longer than a gap: the controller or the platform was away.
  function outages(s) {
    const out = [];
    for (let i = 1; i < s.points.length; i++) {
      const a = s.points[i - 1].t; const b = s.points[i].t;
      if (b - a > gapAfter(s.doc, b)) out.push([a, b]);
    }
    return out;
  }

  // The moments the new revision's production weight changed, with the weight it went to.
  function weightChanges(s) {
    const out = [];
    let last = null;
    for (const p of s.points) {
      if (p.revision !== s.doc.newRevision) continue;
      if (last !== null && p.weight !== last) out.push([p.t, p.weight]);
      last = p.weight;
    }
    return out;
  }

  function chartSpecs(doc) {
    const windowSeconds = (doc.windowMs || 10000) / 1000;
    const th = doc.thresholds || {};
    return [
      { id: 'chart-rps', title: 'Request rate', unit: 'req/s', value: (p) => present(p.requests) ? p.requests / windowSeconds : null, threshold: null },
      { id: 'chart-errors', title: 'Error rate', unit: '%', value: (p) => present(p.errorRate) ? p.errorRate * 100 : null, threshold: present(th.errorRate) ? th.errorRate * 100 : null, thresholdName: 'maximum error rate' },
      { id: 'chart-latency', title: 'Latency p99 (thin: p50)', unit: 'ms', value: (p) => p.p99Ms, thin: (p) => p.p50Ms, threshold: present(th.latencyP99Ms) ? th.latencyP99Ms : null, thresholdName: 'maximum p99' },
      { id: 'chart-weight', title: 'Production weight', unit: '%', value: (p) => p.weight, threshold: null, step: true, max: 100 },
    ];
  }

  const fmt = (v) => (Number.isInteger(v) ? String(v) : Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2));

  function lastValue(s, revision, value) {
    for (let i = s.points.length - 1; i >= 0; i--) {
      const p = s.points[i];
      if (p.revision === revision && present(value(p))) return value(p);
    }
    return null;
  }

  function drawChart(canvas, s, spec) {
    const doc = s.doc;
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth || 300;
    const height = canvas.clientHeight || 170;
    canvas.width = width * ratio;
    canvas.height = height * ratio;
    const g = canvas.getContext('2d');
    g.scale(ratio, ratio);
    g.clearRect(0, 0, width, height);
    const left = 44; const right = 8; const top = 12; const bottom = 20;
    const revisions = [['stable', doc.stableRevision], ['new', doc.newRevision]].filter(([, r]) => present(r));
    const values = [];
    for (const p of s.points) {
      const v = spec.value(p); if (present(v)) values.push(v);
      if (spec.thin) { const w = spec.thin(p); if (present(w)) values.push(w); }
    }
    let max = spec.max || Math.max(spec.threshold || 0, ...values, 0) * 1.15;
    if (max <= 0) max = 1;
    const failedAt = doc.failedAt ? ms(doc.failedAt) : null;
    const first = s.points.length ? s.points[0].t : ms(doc.startedAt);
    let last = s.points.length ? s.points[s.points.length - 1].t : first;
    if (s.wasActive) last = Math.max(last, Date.now());
    if (failedAt) last = Math.max(last, failedAt);
    const span = Math.max(last - first, 10 * (doc.intervalMs || 1000)); // the whole series, at least ten spacings wide
    const x = (t) => left + (width - left - right) * ((t - first) / span);
    const y = (v) => top + (height - top - bottom) * (1 - Math.min(v, max) / max);
    g.font = '11px system-ui, sans-serif'; g.lineWidth = 1;
    for (const [a, b] of outages(s)) {
      g.fillStyle = '#eef0f3';
      g.fillRect(x(a), top, Math.max(1, x(b) - x(a)), height - top - bottom);
      g.fillStyle = COLORS.text;
      if (x(b) - x(a) > 40) g.fillText('no data', x(a) + 4, height - bottom - 4);
    }
    g.strokeStyle = COLORS.grid; g.fillStyle = COLORS.text;
    for (let i = 0; i <= 4; i++) {
      const v = max * i / 4;
      g.beginPath(); g.moveTo(left, y(v)); g.lineTo(width - right, y(v)); g.stroke();
      g.fillText(fmt(v), 4, y(v) + 4);
    }
    g.fillText(time(new Date(first).toISOString()), left, height - 5);
    const end = time(new Date(first + span).toISOString());
    g.fillText(end, width - right - g.measureText(end).width, height - 5);
    g.setLineDash([2, 3]); g.strokeStyle = COLORS.mark; g.fillStyle = COLORS.mark;
    for (const [t, w] of weightChanges(s)) {
      g.beginPath(); g.moveTo(x(t), top); g.lineTo(x(t), height - bottom); g.stroke();
      g.fillText('→' + w + '%', Math.min(x(t) + 2, width - right - 30), top + 9);
    }
    g.setLineDash([]);
    if (failedAt) {
      g.strokeStyle = COLORS.threshold; g.fillStyle = COLORS.threshold; g.lineWidth = 2;
      g.beginPath(); g.moveTo(x(failedAt), top); g.lineTo(x(failedAt), height - bottom); g.stroke();
      g.fillText('failed', Math.max(left, Math.min(x(failedAt) - 34, width - right - 34)), top + 22);
      g.lineWidth = 1;
    }
    if (present(spec.threshold)) {
      g.strokeStyle = COLORS.threshold; g.setLineDash([6, 4]); g.lineWidth = 1.5;
      g.beginPath(); g.moveTo(left, y(spec.threshold)); g.lineTo(width - right, y(spec.threshold)); g.stroke();
      g.setLineDash([]); g.fillStyle = COLORS.threshold;
      g.fillText('threshold ' + +spec.threshold.toFixed(2) + ' ' + spec.unit, left + 6, Math.max(top + 10, y(spec.threshold) - 4));
    }
    const line = (run, color, widthPx, alpha) => {
      g.strokeStyle = color; g.fillStyle = color; g.lineWidth = widthPx; g.globalAlpha = alpha;
      if (run.length === 1) { g.beginPath(); g.arc(x(run[0][0]), y(run[0][1]), 2, 0, 2 * Math.PI); g.fill(); }
      g.beginPath();
      run.forEach(([t, v], i) => {
        if (i === 0) { g.moveTo(x(t), y(v)); return; }
        if (spec.step) g.lineTo(x(t), y(run[i - 1][1]));
        g.lineTo(x(t), y(v));
      });
      g.stroke(); g.globalAlpha = 1;
    };
    for (const [role, revision] of revisions) {
      const color = COLORS[role];
      if (spec.thin) for (const run of runs(s, revision, spec.thin)) line(run, color, 1, 0.6);
      for (const run of runs(s, revision, spec.value)) line(run, color, role === 'new' ? 2.25 : 1.75, 1);
    }
    if (values.length === 0) {
      g.fillStyle = COLORS.text;
      g.fillText(s.points.length ? 'no traffic to measure yet' : 'no figures recorded yet', left + 10, top + (height - top - bottom) / 2 + 4);
    }
  }

  function redrawCharts() {
    drawn = drawn.filter((c) => c.canvas.isConnected);
    for (const c of drawn) {
      const s = state.series.get(c.deploymentId);
      if (!s) continue;
      drawChart(c.canvas, s, c.spec);
      c.canvas.setAttribute('aria-label', chartSummary(s, c.spec));
      const value = c.canvas.parentNode.querySelector('[data-testid=chart-value]');
      if (value) value.textContent = latestText(s, c.spec);
    }
  }

  function latestText(s, spec) {
    const doc = s.doc;
    return [['stable', doc.stableRevision], ['new', doc.newRevision]].filter(([, r]) => present(r))
      .map(([, r]) => { const v = lastValue(s, r, spec.value); return 'r' + r + ' ' + (present(v) ? fmt(v) + ' ' + spec.unit : '—'); }).join(' · ');
  }

  // The text alternative of a chart: what it shows, its latest figures, threshold, weight changes, failure and gaps.
  function chartSummary(s, spec) {
    const doc = s.doc;
    const parts = [spec.title + ' of stable r' + doc.stableRevision + (present(doc.newRevision) ? ' and new r' + doc.newRevision : '')];
    if (s.points.length) parts.push(s.points.length + ' points from ' + time(s.points[0].at) + ' to ' + time(s.points[s.points.length - 1].at));
    else parts.push('no points recorded yet');
    parts.push('latest ' + latestText(s, spec));
    if (present(spec.threshold)) parts.push(spec.thresholdName + ' ' + +spec.threshold.toFixed(2) + ' ' + spec.unit);
    const changes = weightChanges(s);
    if (changes.length) parts.push('new revision weight changed to ' + changes.map(([t, w]) => w + '% at ' + time(new Date(t).toISOString())).join(', '));
    if (doc.failedAt) parts.push('failed at ' + time(doc.failedAt));
    const gaps = outages(s).length;
    if (gaps) parts.push(gaps + ' gap' + (gaps > 1 ? 's' : '') + ' without data');
    return parts.join('; ') + '.';
  }

  // The figures as a table too: the latest point of each revision, weight changes and the failure.
  function seriesTable(s) {
    const doc = s.doc;
    const rows = [['stable', doc.stableRevision], ['new', doc.newRevision]].filter(([, r]) => present(r)).map(([role, r]) => {
      let p = null; let n = 0;
      for (const q of s.points) if (q.revision === r) { n++; p = q; }
      const cell = (v, unit, scale) => h('td', {}, present(v) ? fmt(v * (scale || 1)) + (unit ? ' ' + unit : '') : '—');
      return h('tr', { 'data-testid': 'series-row', 'data-role': role },
        h('th', { scope: 'row' }, role + ' r' + r), h('td', {}, String(n)), h('td', {}, p ? time(p.at) : '—'),
        cell(p && p.weight, '%'), cell(p && p.requests), cell(p && p.errorRate, '%', 100),
        cell(p && p.p50Ms, 'ms'), cell(p && p.p95Ms, 'ms'), cell(p && p.p99Ms, 'ms'));
    });
    const changes = weightChanges(s);
    return h('details', { class: 'series-table' }, h('summary', {}, 'Figures as a table'),
      h('table', { 'data-testid': 'series-table' },
        h('caption', { class: 'small muted' }, 'Latest point of each revision (figures over the analysis window)'),
        h('thead', {}, h('tr', {}, ['Revision', 'Points', 'Latest', 'Weight', 'Requests', 'Error rate', 'p50', 'p95', 'p99'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, rows)),
      h('p', { class: 'small' }, changes.length ? 'Weight of the new revision: ' + changes.map(([t, w]) => w + '% at ' + time(new Date(t).toISOString())).join(', ') + '.' : 'No weight change recorded.',
        doc.failedAt ? ' Failed at ' + time(doc.failedAt) + '.' : ''));
  }

  function charts(d) {
    const s = state.series.get(d.id);
    if (!s) return h('p', { class: 'empty' }, 'No figures.');
    const doc = s.doc;
    const legend = h('div', { class: 'legend chart-legend', 'data-testid': 'chart-legend' },
      h('span', { class: 'swatch s' }), ' stable r' + doc.stableRevision,
      present(doc.newRevision) ? [' ', h('span', { class: 'swatch t' }), ' new r' + doc.newRevision] : null,
      ' · ', h('span', { class: 'swatch threshold' }), ' threshold · ', h('span', { class: 'swatch mark' }), ' weight change',
      doc.failedAt ? [' · ', h('span', { class: 'swatch failed' }), ' failed ' + time(doc.failedAt)] : null);
    const nodes = chartSpecs(doc).map((spec) => {
      const canvas = h('canvas', { 'data-testid': spec.id, role: 'img', 'aria-label': chartSummary(s, spec) });
      return { node: h('div', { class: 'chart' }, h('div', { class: 'title' }, h('span', {}, spec.title), h('strong', { 'data-testid': 'chart-value' }, latestText(s, spec))), canvas), canvas, spec };
    });
    drawn = nodes.map((c) => ({ canvas: c.canvas, spec: c.spec, deploymentId: d.id }));
    requestAnimationFrame(redrawCharts);
    return h('div', { 'data-testid': 'charts', 'data-points': String(s.points.length) }, legend, h('div', { class: 'charts' }, nodes.map((c) => c.node)), seriesTable(s));
  }

  function timeline(d, events) {
    const plan = d.plan || {};
    const actions = plan.actions || [];
    const started = new Map();
    for (const e of events) if (e.type === 'StepStarted' && e.step !== null && e.step !== undefined) started.set(e.step, e.at);
    if (actions.length === 0) return h('p', { class: 'empty' }, d.kind === 'Deploy' ? 'No steps.' : 'A ' + d.kind.toLowerCase() + ' has no plan steps; its progress is in the event log.');
    return h('ol', { class: 'timeline', 'data-testid': 'timeline' }, actions.map((a, i) => {
      const done = i < d.currentStep || (i === d.currentStep && d.stepPhase === 'Completed') || d.state === 'Succeeded';
      const current = !done && i === d.currentStep && isActive(d) && d.stepPhase === 'Started';
      const failed = !done && i === d.currentStep && ['Failed', 'RolledBack', 'RollingBack', 'RollbackFailed', 'Stopped'].includes(d.state) && started.has(i);
      return h('li', { class: done ? 'done' : current ? 'current' : failed ? 'failed' : '', 'data-testid': 'step' },
        h('span', { class: 'n' }, String(i + 1)), h('span', {}, describe(a, d)),
        h('span', { class: 'small muted' }, started.has(i) ? time(started.get(i)) : ''),
        current && d.state === 'Paused' ? badge('Paused') : current ? badge('InProgress') : null);
    }));
  }

  function hooksTable(d, hooks) {
    if (hooks.length === 0) return h('p', { class: 'empty' }, 'No hooks ran.');
    const admin = state.role !== 'viewer'; // operator or admin: may continue, stop and roll back
    return h('table', { 'data-testid': 'hooks' },
      h('thead', {}, h('tr', {}, ['Stage', 'Kind', 'State', 'Started', 'Finished', 'Answer', 'Output', ''].map((t) => h('th', {}, t)))),
      h('tbody', {}, hooks.map((r) => h('tr', { 'data-testid': 'hook-row' },
        h('td', {}, r.stage + (r.index ? ' #' + (r.index + 1) : '')), h('td', {}, r.kind), h('td', {}, badge(r.state)),
        h('td', { class: 'small' }, time(r.startedAt)),
        h('td', { class: 'small' }, r.finishedAt ? time(r.finishedAt) : r.expiresAt ? 'expires ' + time(r.expiresAt) : ''),
        h('td', { class: 'small' }, r.answer ? r.answer + (r.answeredBy ? ' by ' + r.answeredBy : '') : ''),
        h('td', {}, r.output ? h('pre', { class: 'output', tabindex: '0', 'aria-label': 'Output of the ' + r.stage + ' hook' }, r.output) : ''),
        h('td', {}, r.state === 'AwaitingAction'
          ? h('button', { type: 'button', disabled: !admin, 'data-testid': 'hook-continue', onclick: () => continueDeployment(d.id, r.id) }, 'Continue')
          : null)))));
  }

  function eventLog(events) {
    return h('div', { class: 'events', tabindex: '0', role: 'region', 'aria-label': 'Event log, newest first' },
      h('table', { 'data-testid': 'events' },
        h('thead', {}, h('tr', {}, ['Time', 'Event', 'Message'].map((t) => h('th', {}, t)))),
        h('tbody', { id: 'event-body' }, events.slice().reverse().map(eventRow))));
  }

  function eventRow(e) {
    return h('tr', { 'data-testid': 'event-row', 'data-type': e.type, 'data-sequence': String(e.sequence) },
      h('td', { class: 'small mono' }, time(e.at)), h('td', {}, h('strong', {}, e.type)), h('td', {}, e.message));
  }

  async function loadDeployment(id) {
    const [d, hooks] = await Promise.all([api('/api/deployments/' + enc(id)), api('/api/deployments/' + enc(id) + '/hooks')]);
    state.observation = await api('/api/services/' + enc(d.service) + '/observation');
    const after = state.events.length && state.deployment && state.deployment.id === id ? state.events[state.events.length - 1].sequence : 0;
    const fresh = await api('/api/deployments/' + enc(id) + '/events?after=' + after);
    if (!state.deployment || state.deployment.id !== id) state.events = [];
    for (const e of fresh) if (!state.events.some((x) => x.sequence === e.sequence)) state.events.push(e);
    state.events.sort((a, b) => a.sequence - b.sequence);
    state.deployment = d;
    state.hooks = hooks;
    state.deploymentReleases = await api('/api/releases?deployment=' + enc(id));
    await syncSeries(d);
    return d;
  }

  async function renderDeployment(id) {
    const d = await loadDeployment(id);
    if (!sameRoute('deployment', id)) return;
    const admin = state.role !== 'viewer'; // operator or admin: may continue, stop and roll back
    const deployKind = d.kind === 'Deploy' && d.state !== 'RollingBack';
    const progress = (d && d.progress) || null;
    showView(
      h('div', { class: 'card', 'data-deployment': d.id, 'data-testid': 'deployment' },
        h('div', { class: 'header-line' },
          h('h1', {}, h('span', { class: 'mono' }, d.id)),
          h('span', { 'data-testid': 'deployment-state' }, badge(d.state)),
          h('a', { href: '#/services/' + enc(d.service) }, d.service)),
        h('dl', { class: 'kv' },
          h('dt', {}, 'Kind'), h('dd', {}, d.kind + ' · ' + d.strategy + ' · triggered by ' + d.trigger),
          h('dt', {}, 'Revisions'), h('dd', {}, (d.stableRevision ? 'r' + d.stableRevision + ' → ' : '') + 'r' + d.targetRevision),
          h('dt', {}, 'Step'), h('dd', {}, d.totalSteps ? Math.min(d.currentStep + 1, d.totalSteps) + ' of ' + d.totalSteps + ' (' + d.stepPhase + ')' : '—'),
          // A finished deployment's own figures are what it ended with, labelled so; what serves now is read from the platform.
          h('dt', {}, isActive(d) ? 'Traffic' : 'Traffic when it ended'), h('dd', { 'data-testid': 'recorded-traffic' }, deploymentSplit(d)),
          h('dt', {}, isActive(d) ? 'Instances' : 'Instances when it ended'), h('dd', { 'data-testid': 'recorded-instances' }, progress ? 'r' + d.targetRevision + ': ' + progress.targetHealthy + '/' + progress.targetDesired + ' healthy' +
            (d.stableRevision ? ' · r' + d.stableRevision + ': ' + progress.stableHealthy + '/' + progress.stableDesired + ' healthy' : '') : '—'),
          progress && progress.analysis ? [h('dt', {}, isActive(d) ? 'Analysis' : 'Analysis when it ended'), h('dd', {}, analysisReading(d, progress))] : null,
          h('dt', {}, 'Now on the platform'), h('dd', {}, observed(state.observation, d.kind === 'Rollback' ? d.targetRevision : d.stableRevision)),
          h('dt', {}, 'Requested by'), h('dd', { 'data-testid': 'requested-by' }, d.requestedBy || '—'),
          h('dt', {}, 'Created'), h('dd', {}, new Date(d.createdAt).toLocaleString() + (d.finishedAt ? ' · finished ' + new Date(d.finishedAt).toLocaleString() : '')),
          releaseOfDeployment(d.id),
          d.rollbackOf ? [h('dt', {}, 'Rolls back'), h('dd', {}, h('a', { href: '#/deployments/' + enc(d.rollbackOf) }, d.rollbackOf))] : null,
          d.rolledBackBy ? [h('dt', {}, 'Rolled back by'), h('dd', {}, h('a', { href: '#/deployments/' + enc(d.rolledBackBy) }, d.rolledBackBy))] : null,
          d.reason ? [h('dt', {}, 'Reason'), h('dd', {}, d.reason)] : null),
        h('div', { class: 'actions' },
          h('button', { type: 'button', class: 'primary', 'data-testid': 'action-continue', disabled: !admin || d.state !== 'Paused', onclick: () => continueDeployment(d.id) }, 'Continue'),
          h('button', { type: 'button', 'data-testid': 'action-stop', disabled: !admin || !isActive(d) || !deployKind, onclick: () => stopDeployment(d.id, false) }, 'Stop'),
          h('button', { type: 'button', 'data-testid': 'action-stop-rollback', disabled: !admin || !isActive(d) || !deployKind, onclick: () => stopDeployment(d.id, true) }, 'Stop and roll back'),
          h('button', { type: 'button', 'data-testid': 'action-rollback', disabled: !admin, onclick: () => rollbackService(d.service) }, 'Roll back ' + d.service + '…'))),
      h('div', { class: 'card' }, h('h2', {}, 'Figures: stable against new'), charts(d),
        h('p', { class: 'small muted' }, 'Recorded by the controller at each evaluation (at most one point per revision a second) for as long as the revision is kept; figures over the analysis window, request rate is requests in the window over its length. Dashed red: the analysis threshold; dotted: a change of the new revision\'s weight; red: the failure verdict; grey: no data (no line is drawn across it).')),
      h('div', { class: 'card' }, h('h2', {}, 'Analysis evidence'), analysisEvidence(d, state.events)),
      h('div', { class: 'grid' },
        h('div', { class: 'card' }, h('h2', {}, 'Steps'), timeline(d, state.events)),
        h('div', { class: 'card' }, h('h2', {}, 'Hooks'), hooksTable(d, state.hooks))),
      h('div', { class: 'card' }, h('h2', {}, 'Event log'), eventLog(state.events)));
  }

  // ---------- routing and refresh ----------
  function currentRoute() {
    const hash = location.hash || '#/';
    let m = /^#\/deployments\/(.+)$/.exec(hash);
    if (m) return { kind: 'deployment', id: decodeURIComponent(m[1]) };
    m = /^#\/services\/(.+)$/.exec(hash);
    if (m) return { kind: 'service', id: decodeURIComponent(m[1]) };
    m = /^#\/releases\/(.+)$/.exec(hash);
    if (m) return { kind: 'release', id: decodeURIComponent(m[1]) };
    if (/^#\/releases\/?$/.test(hash)) return { kind: 'releases', id: null };
    return { kind: 'overview', id: null };
  }

  function sameRoute(kind, id) {
    const route = currentRoute();
    return route.kind === kind && route.id === id;
  }

  let rendering = false;
  let again = false;
  async function render() {
    if (rendering) { again = true; return; }
    rendering = true;
    try {
      const route = currentRoute();
      state.route = route;
      if (route.kind === 'overview') {
        const [overview, recent, releases] = await Promise.all([api('/api/overview'), api('/api/deployments?limit=15'), api('/api/releases?limit=10')]);
        state.overview = overview;
        state.recent = recent;
        state.releases = releases;
        if (currentRoute().kind === 'overview') renderOverview();
      } else if (route.kind === 'service') {
        await renderService(route.id);
      } else if (route.kind === 'releases') {
        const releases = await api('/api/releases?limit=100');
        state.releases = releases;
        if (currentRoute().kind === 'releases') renderReleases();
      } else if (route.kind === 'release') {
        await renderRelease(route.id);
      } else {
        await renderDeployment(route.id);
      }
      state.answeredAt = new Date();
      stale.hidden = true;
    } catch (err) {
      if (err.status === undefined && state.answeredAt && view.childElementCount > 0) {
        // Backstay does not answer (killed, restarting, network): keep what it last said, say how old it is, retry.
        stale.hidden = false;
        stale.textContent = 'Backstay is not answering: this page shows what it said at ' + time(state.answeredAt.toISOString()) +
          ' (' + ago(state.answeredAt.toISOString()) + '). Retrying…';
      } else {
        showView(h('div', { class: 'card error', 'data-testid': 'error' }, err.message));
      }
    } finally {
      rendering = false;
      if (again) { again = false; scheduleRefresh(50); }
    }
  }

  function scheduleRefresh(delay) {
    clearTimeout(state.refreshTimer);
    state.refreshTimer = setTimeout(render, delay === undefined ? 250 : delay);
  }

  // An open, active deployment's header is re-read every second; chart points come with the event stream.
  setInterval(() => {
    if (dialog.open || !menu.hidden) return;
    const route = currentRoute();
    if (route.kind === 'deployment' && (!state.deployment || state.deployment.id !== route.id || isActive(state.deployment))) render();
    if (route.kind === 'release' && (!state.release || state.release.id !== route.id || releaseActive(state.release))) render();
  }, 1000);
  setInterval(() => { if (!dialog.open && menu.hidden) render(); }, 5000);

  function connect() {
    const source = new EventSource('/api/events', { withCredentials: true });
    source.addEventListener('open', () => { live.dataset.state = 'live'; live.textContent = 'live'; });
    source.addEventListener('error', () => { live.dataset.state = 'down'; live.textContent = 'reconnecting…'; });
    source.addEventListener('series', (message) => onSeriesMessage(JSON.parse(message.data)));
    source.addEventListener('deployment', (message) => {
      const e = JSON.parse(message.data);
      live.dataset.last = String(e.sequence);
      const route = currentRoute();
      if (route.kind === 'deployment' && route.id === e.deploymentId && !state.events.some((x) => x.sequence === e.sequence)) {
        state.events.push(e);
        const body = document.getElementById('event-body');
        if (body) body.prepend(eventRow(e));
      }
      if (!dialog.open && menu.hidden) scheduleRefresh();
    });
  }

  document.getElementById('logout').addEventListener('click', async () => {
    await fetch('/logout', { method: 'POST', credentials: 'same-origin' });
    location.replace('/login');
  });

  window.addEventListener('hashchange', () => { closeMenu(false); render(); });
  dialog.addEventListener('close', () => scheduleRefresh(100));

  (async function start() {
    try {
      const me = await api('/api/whoami');
      state.role = me.role;
      document.getElementById('who').textContent = me.user + ' (' + me.role + ')';
      document.body.dataset.role = me.role;
    } catch (err) {
      return;
    }
    connect();
    await render();
  })();
})();
