// The prisma-guard dashboard: plain JavaScript over the REST API (no framework, no build step).
// Every change sends the session's CSRF token; text from the server is always set as text, never as HTML.
'use strict';

const state = { csrf: null, role: null, user: null, database: null, backups: [] };
const $ = (sel) => document.querySelector(sel);

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
  return e;
}

async function api(method, route, body) {
  const headers = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && state.csrf) headers['x-csrf-token'] = state.csrf;
  const r = await fetch(route, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
  const data = await r.json().catch(() => ({}));
  if (r.status === 401 && route !== '/api/login') showLogin();
  if (!r.ok) {
    const err = new Error(data.error ? data.error.message : `HTTP ${r.status}`);
    err.status = r.status;
    err.hint = data.error && data.error.hint;
    err.code = data.error && data.error.code;
    throw err;
  }
  return data;
}

const can = (role) => ['viewer', 'operator', 'admin'].indexOf(state.role) >= ['viewer', 'operator', 'admin'].indexOf(role);

function bytes(n) {
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${i === 0 ? n : n.toFixed(1)} ${u[i]}`;
}
const when = (iso) => (iso ? new Date(iso).toLocaleString() : '');
const scopeText = (s) => (s.type === 'tables' ? `tables: ${s.tables.join(', ')}` : s.type);

function showLogin() {
  $('#app').hidden = true;
  $('#logout').hidden = true;
  $('#who').textContent = '';
  $('#login').hidden = false;
}

async function start() {
  try {
    const s = await api('GET', '/api/session');
    Object.assign(state, { csrf: s.csrf, role: s.role, user: s.user, database: s.database });
    $('#target').textContent = s.target ? s.target.display : '';
  } catch {
    showLogin();
    return;
  }
  $('#login').hidden = true;
  $('#app').hidden = false;
  $('#logout').hidden = false;
  $('#who').textContent = `${state.user} (${state.role})`;
  $('#backup-now').hidden = !can('operator');
  $('#schedule-add').hidden = !can('admin');
  await Promise.all([loadStatus(), loadBackups()]);
}

$('#login-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const f = new FormData(e.target);
  $('#login-error').textContent = '';
  try {
    const r = await api('POST', '/api/login', { user: f.get('user'), password: f.get('password') });
    state.csrf = r.csrf;
    e.target.reset();
    await start();
  } catch (err) {
    $('#login-error').textContent = err.message;
  }
});

$('#logout').addEventListener('click', async () => {
  await api('POST', '/api/logout').catch(() => {});
  state.csrf = null;
  showLogin();
});

for (const b of document.querySelectorAll('nav button')) {
  b.addEventListener('click', () => {
    for (const x of document.querySelectorAll('nav button')) x.classList.toggle('active', x === b);
    for (const t of document.querySelectorAll('.tab')) t.hidden = t.id !== `tab-${b.dataset.tab}`;
    ({ backups: loadBackups, schedules: loadSchedules, audit: loadAudit, diff: loadDiffChoices })[b.dataset.tab]();
  });
}

async function loadStatus() {
  const s = await api('GET', '/api/status');
  const banner = $('#status');
  banner.className = `banner ${s.health.toLowerCase()}`;
  banner.replaceChildren(el('strong', {}, s.health), ' ', s.last ? `newest backup ${when(s.last.createdAt)}` : 'no backup yet', el('ul', {}, s.reasons.map((r) => el('li', {}, `${r.level}: ${r.message}`))));
}

async function loadBackups() {
  const q = new URLSearchParams({ limit: '1000' });
  if ($('#filter-kind').value) q.set('kind', $('#filter-kind').value);
  if ($('#filter-scope').value) q.set('scope', $('#filter-scope').value);
  const r = await api('GET', `/api/backups?${q}`);
  state.backups = r.backups;
  const labels = new Map(r.databases.flatMap((g) => g.backups.map((f) => [f, g.label])));
  $('#backup-count').textContent = `${r.total} backup${r.total === 1 ? '' : 's'}`;
  const rows = r.backups.map((m) => {
    const verified = m.verification ? (m.verification.ok ? 'verified' : 'FAILED') : 'not verified';
    const actions = el('td', { class: 'actions' });
    if (can('operator')) {
      actions.append(el('button', { type: 'button', onclick: () => runJob('POST', `/api/backups/${encodeURIComponent(m.file)}/verify`, `Verify ${m.file}`) }, 'Verify'));
      actions.append(el('button', { type: 'button', onclick: () => pin(m) }, m.pinned ? 'Unpin' : 'Pin'));
    }
    if (can('admin')) {
      actions.append(el('button', { type: 'button', onclick: () => openRestore(m) }, 'Restore'));
      actions.append(el('button', { type: 'button', class: 'danger', onclick: () => remove(m) }, 'Delete'));
    }
    return el('tr', { 'data-file': m.file },
      el('td', { class: 'file' }, m.file),
      el('td', {}, labels.get(m.file) || m.database),
      el('td', {}, m.kind),
      el('td', {}, scopeText(m.scope)),
      el('td', { class: 'num' }, bytes(m.sizeBytes)),
      el('td', {}, when(m.createdAt)),
      el('td', { class: 'num' }, `${m.durationMs} ms`),
      el('td', { class: m.verification && !m.verification.ok ? 'bad' : '' }, verified),
      el('td', {}, m.pinned ? (m.pinnedUntil ? `until ${when(m.pinnedUntil)}` : 'pinned') : ''),
      actions);
  });
  $('#backups tbody').replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { colspan: '10', class: 'muted' }, 'No backups yet.'))]));
}
$('#filter-kind').addEventListener('change', loadBackups);
$('#filter-scope').addEventListener('change', loadBackups);

async function pin(m) {
  try {
    await api('POST', `/api/backups/${encodeURIComponent(m.file)}/${m.pinned ? 'unpin' : 'pin'}`, {});
  } catch (err) {
    notice(err.message, true);
  }
  await loadBackups();
}

async function remove(m) {
  if (!confirm(`Delete ${m.file}? This cannot be undone.`)) return;
  try {
    await api('DELETE', `/api/backups/${encodeURIComponent(m.file)}`);
    notice(`Deleted ${m.file}.`);
  } catch (err) {
    notice(err.message, true);
  }
  await loadBackups();
}

function notice(text, bad = false) {
  const n = el('div', { class: `job ${bad ? 'failed' : 'succeeded'}` }, text);
  $('#jobs').prepend(n);
  setTimeout(() => n.remove(), 15000);
}

/** Starts a job and shows its live progress (Server-Sent Events) until it is done. */
async function runJob(method, route, title, body = {}) {
  const box = el('div', { class: 'job running' }, el('strong', {}, title), ' ', el('span', { class: 'progress' }, 'starting...'));
  $('#jobs').prepend(box);
  let job;
  try {
    job = (await api(method, route, body)).job;
  } catch (err) {
    box.className = 'job failed';
    box.querySelector('.progress').textContent = err.message;
    return null;
  }
  return new Promise((resolve) => {
    const es = new EventSource(`/api/jobs/${job.id}/events`);
    const show = (t) => (box.querySelector('.progress').textContent = t);
    es.addEventListener('progress', (e) => {
      const p = JSON.parse(e.data);
      show(`${p.step}: ${p.done}${p.total ? ` / ${p.total}` : ''}`);
    });
    es.addEventListener('info', (e) => show(JSON.parse(e.data).message));
    es.addEventListener('done', async () => {
      es.close();
      const final = (await api('GET', `/api/jobs/${job.id}`)).job;
      box.className = `job ${final.state}`;
      show(final.state === 'succeeded' ? 'done' : `failed: ${final.error.message}${final.error.hint ? ` (${final.error.hint})` : ''}`);
      setTimeout(() => box.remove(), 30000);
      await Promise.all([loadBackups(), loadStatus()]);
      resolve(final);
    });
    es.onerror = () => {
      if (es.readyState === EventSource.CLOSED) resolve(null);
    };
  });
}

$('#backup-now').addEventListener('click', () => runJob('POST', '/api/backups', 'Back up now', { reason: 'dashboard' }));

// Restore: plan (dry run) -> review -> confirm with the database name or the password.
let planId = null;
let restoring = null;
function openRestore(m) {
  restoring = m;
  planId = null;
  $('#restore-file').textContent = m.file;
  $('#restore-body').replaceChildren();
  $('#restore-confirm').hidden = true;
  $('#restore-error').textContent = '';
  $('#restore-typed').value = '';
  $('#restore-dialog').showModal();
}

$('#restore-plan').addEventListener('click', async () => {
  $('#restore-error').textContent = '';
  $('#restore-body').replaceChildren(el('p', { class: 'muted' }, 'Comparing the backup with the live data...'));
  try {
    const mode = $('#restore-mode').value || undefined;
    const r = await api('POST', '/api/restores', { backup: restoring.file, mode, dryRun: true });
    planId = r.planId;
    renderPlan(r.plan, r.expiresAt);
    $('#restore-target').textContent = r.plan.target;
    $('#restore-dbname').textContent = r.confirm.database;
    $('#restore-confirm').hidden = false;
  } catch (err) {
    $('#restore-body').replaceChildren();
    $('#restore-error').textContent = `${err.message}${err.hint ? ` ${err.hint}` : ''}`;
  }
});

function renderPlan(plan, expiresAt) {
  const warn = [];
  if (plan.otherDatabase) warn.push(el('p', { class: 'warning' }, `!!! ANOTHER DATABASE: this backup is of ${plan.otherDatabase.backup}; it will replace the data of ${plan.otherDatabase.target}.`));
  if (plan.dropTables.length) warn.push(el('p', { class: 'warning' }, `Tables dropped: ${plan.dropTables.map((t) => `${t.name} (${t.rows} rows)`).join(', ')}`));
  if (plan.mode === 'full' && plan.schemaDifferences.length) warn.push(el('p', { class: 'warning' }, `Schema changes undone: ${plan.schemaDifferences.map((d) => d.text).join('; ')}`));
  const rows = plan.tables.map((t) => el('tr', {},
    el('td', {}, t.name),
    el('td', { class: 'num' }, t.remove === null ? '(new)' : t.remove),
    el('td', { class: 'num' }, t.insert),
    el('td', { class: 'num del' }, t.rows ? t.rows.delete : ''),
    el('td', { class: 'num ins' }, t.rows ? t.rows.insert : ''),
    el('td', { class: 'num upd' }, t.rows ? t.rows.update : ''),
    el('td', { class: 'num' }, t.rows ? t.rows.unchanged : '')));
  $('#restore-body').replaceChildren(
    el('p', {}, `${plan.mode} mode into ${plan.target}; ${plan.backup.rowsTotal} rows from a ${plan.backup.kind} backup of ${when(plan.backup.createdAt)}. ${plan.safetyBackup ? 'A safety backup is taken first.' : 'No safety backup (the database is empty).'} The plan expires ${when(expiresAt)}.`),
    ...warn,
    el('table', { id: 'plan' },
      el('thead', {}, el('tr', {}, el('th', {}, 'Table'), el('th', { class: 'num' }, 'Rows now'), el('th', { class: 'num' }, 'Rows after'), el('th', { class: 'num' }, 'Deleted'), el('th', { class: 'num' }, 'Inserted'), el('th', { class: 'num' }, 'Updated'), el('th', { class: 'num' }, 'Unchanged'))),
      el('tbody', {}, rows)));
}

// Enter in the confirmation field restores (it would otherwise submit the dialog's form and close it).
$('#restore-typed').addEventListener('keydown', (e) => {
  if (e.key !== 'Enter') return;
  e.preventDefault();
  $('#restore-go').click();
});

$('#restore-go').addEventListener('click', async () => {
  const typed = $('#restore-typed').value;
  const body = typed === $('#restore-dbname').textContent ? { database: typed } : { password: typed };
  $('#restore-error').textContent = '';
  $('#restore-go').disabled = true;
  try {
    const job = await runJob('POST', `/api/restores/${planId}/confirm`, `Restore ${restoring.file}`, body);
    if (job && job.state === 'succeeded') {
      $('#restore-body').replaceChildren(el('p', { class: 'ok' }, `Restored: the proof matches for ${Object.keys(job.result.proof.tables).length} table(s).${job.result.safetyBackup ? ` Safety backup: ${job.result.safetyBackup.split('/').pop()}` : ''}`));
      $('#restore-confirm').hidden = true;
    } else if (job) {
      $('#restore-error').textContent = `${job.error.message} ${job.error.hint || ''}`;
      $('#restore-confirm').hidden = true;
    } else {
      $('#restore-error').textContent = 'The restore was not started (see the message above the table).';
    }
  } finally {
    $('#restore-go').disabled = false;
  }
});

async function loadSchedules() {
  const r = await api('GET', '/api/schedules');
  $('#schedule-source').textContent = r.source === 'file' ? 'Saved schedules (the running scheduler picks up changes within seconds).' : 'From the environment (BACKUP_SCHEDULE_*); the first change saves them beside the backups.';
  const admin = can('admin');
  $('#schedules tbody').replaceChildren(...r.schedules.map((s) => {
    const cron = el('input', { value: s.cron, disabled: !admin, 'aria-label': `cron of ${s.name}` });
    const tz = el('input', { value: s.timeZone, disabled: !admin, 'aria-label': `time zone of ${s.name}` });
    const enabled = el('input', { type: 'checkbox', checked: s.enabled, disabled: !admin, 'aria-label': `${s.name} enabled` });
    const save = async (patch) => {
      $('#schedule-error').textContent = '';
      try {
        await api('PUT', `/api/schedules/${encodeURIComponent(s.name)}`, patch);
      } catch (err) {
        $('#schedule-error').textContent = `${err.message}${err.hint ? ` ${err.hint}` : ''}`;
      }
      await loadSchedules();
    };
    return el('tr', { 'data-schedule': s.name },
      el('td', {}, s.name), el('td', {}, cron), el('td', {}, tz), el('td', {}, enabled),
      el('td', { class: 'next' }, s.nextRuns.map((t) => el('div', {}, when(t)))),
      el('td', { class: 'actions' }, admin ? [
        el('button', { type: 'button', onclick: () => save({ cron: cron.value, timeZone: tz.value, enabled: enabled.checked }) }, 'Save'),
        el('button', { type: 'button', class: 'danger', onclick: async () => { await api('DELETE', `/api/schedules/${encodeURIComponent(s.name)}`).catch((e) => ($('#schedule-error').textContent = e.message)); await loadSchedules(); } }, 'Delete'),
      ] : []));
  }));
}

$('#schedule-add').addEventListener('submit', async (e) => {
  e.preventDefault();
  const f = new FormData(e.target);
  $('#schedule-error').textContent = '';
  try {
    await api('POST', '/api/schedules', { name: f.get('name'), cron: f.get('cron'), timeZone: f.get('timeZone'), enabled: true });
    e.target.reset();
  } catch (err) {
    $('#schedule-error').textContent = `${err.message}${err.hint ? ` ${err.hint}` : ''}`;
  }
  await loadSchedules();
});

async function loadAudit() {
  const r = await api('GET', '/api/audit?limit=200');
  $('#audit tbody').replaceChildren(...r.entries.map((e) => el('tr', { class: e.result },
    el('td', {}, when(e.time)), el('td', {}, `${e.actor}${e.role ? ` (${e.role})` : ''}`), el('td', {}, e.from), el('td', {}, e.action),
    el('td', { class: 'file' }, [e.backup, e.plan ? `plan ${e.plan}` : null].filter(Boolean).join(' / ')), el('td', {}, e.result),
    el('td', {}, e.detail ? JSON.stringify(e.detail) : ''))));
}

async function loadDiffChoices() {
  if (!state.backups.length) await loadBackups();
  const opts = () => state.backups.map((m) => el('option', { value: m.file }, m.file));
  $('#diff-a').replaceChildren(...opts());
  $('#diff-b').replaceChildren(el('option', { value: '' }, 'the live database'), ...opts());
}

$('#diff-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const a = $('#diff-a').value;
  const b = $('#diff-b').value;
  const out = $('#diff-result');
  out.replaceChildren(el('p', { class: 'muted' }, 'Comparing...'));
  try {
    const r = await api('GET', `/api/diff?${new URLSearchParams(b ? { a, b } : { a, live: 'true' })}`);
    out.replaceChildren(
      el('p', {}, r.equal ? 'No differences.' : `${r.totals.different} table(s) differ: ${r.totals.added} rows added, ${r.totals.removed} removed, ${r.totals.changed} changed.`),
      r.schema.length ? el('ul', {}, r.schema.map((d) => el('li', {}, d.text))) : '',
      el('table', {}, el('thead', {}, el('tr', {}, ['Table', 'Status', 'Rows (from)', 'Rows (to)', 'Added', 'Removed', 'Changed'].map((h) => el('th', {}, h)))),
        el('tbody', {}, r.tables.map((t) => el('tr', { class: t.status === 'same' ? '' : 'changed' }, el('td', {}, t.table), el('td', {}, t.status), el('td', { class: 'num' }, t.leftRows ?? ''), el('td', { class: 'num' }, t.rightRows ?? ''), el('td', { class: 'num' }, t.added), el('td', { class: 'num' }, t.removed), el('td', { class: 'num' }, t.changed))))));
  } catch (err) {
    out.replaceChildren(el('p', { class: 'error' }, err.message));
  }
});

start();
