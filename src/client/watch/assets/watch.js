// The watch page's script: polls a small JSON and updates the page in place (no reload), so
// videos keep playing and only new frames are fetched. The buttons post to the same commands the
// command line runs, with the page's token in a header.
'use strict';
(() => {
  const token = document.querySelector('meta[name="starry-token"]').content;
  const $ = (id) => document.getElementById(id);
  const el = (tag, { dataset = {}, ...props } = {}, ...children) => {
    const node = Object.assign(document.createElement(tag), props);
    Object.assign(node.dataset, dataset);
    for (const c of children) node.append(c);
    return node;
  };
  const REFRESH_MS = 1000;

  function duration(s) {
    if (s === null || !isFinite(s)) return '?';
    s = Math.round(s);
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    return h ? `${h}h${String(m).padStart(2, '0')}m` : m ? `${m}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
  }

  async function getJson(url) {
    const res = await fetch(url, { credentials: 'same-origin', cache: 'no-store' });
    const body = await res.json();
    if (!res.ok) throw new Error(body.error || res.statusText);
    return body;
  }

  function showError(err) {
    $('error').hidden = !err;
    $('error').textContent = err ? String(err.message || err) : '';
  }

  function poll(load, every) {
    const tick = async () => {
      try {
        await load();
        showError(null);
        $('updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
      } catch (err) {
        showError(err);
      }
      setTimeout(tick, every);
    };
    tick();
  }

  // ---- the list of renders ----
  async function loadList() {
    const { renders } = await getJson('/api/renders');
    const rows = renders.map((r) =>
      el('tr', {},
        el('td', {}, el('a', { href: `/renders/${encodeURIComponent(r.id)}`, textContent: r.id })),
        el('td', {}, el('span', { className: `badge ${r.state.replace(/\s/g, '-')}`, textContent: r.state })),
        el('td', { textContent: new Date(r.startedAt).toLocaleString() }),
        el('td', { className: 'path', textContent: r.output || '-' })));
    $('renders').tBodies[0].replaceChildren(...rows);
    $('empty').hidden = renders.length > 0;
  }

  // ---- one render ----
  const id = document.body.dataset.render;
  let last = null;
  let framesKey = '';

  function frameCard(f) {
    const pictures = el('div', { className: 'pictures' },
      el('figure', {}, el('img', { src: f.thumb, alt: `frame ${f.frame}`, loading: 'lazy' }), el('figcaption', { textContent: f.stylized ? 'stylized' : 'copied (not stylized)' })));
    if (f.original) pictures.append(el('figure', {}, el('img', { src: f.original, alt: `frame ${f.frame} original`, loading: 'lazy' }), el('figcaption', { textContent: 'original' })));
    const facts = `${f.steps} steps · ${f.seconds.toFixed(2)} s · attempt ${f.attempt} · ${f.worker}${f.degraded ? ' · reduced size' : ''}`;
    return el('div', { className: 'frame', dataset: { frame: f.frame } }, el('div', { className: 'frame-no', textContent: `frame ${f.frame}` }), pictures, el('div', { className: 'facts', textContent: facts }));
  }

  // Only the newest segment loads its first picture: each loading video holds one of the
  // browser's few connections to this server, which the page's refresh needs too.
  function segmentCard(s) {
    const video = el('video', { src: s.url, controls: true, preload: 'none', muted: true });
    return el('div', { className: 'segment', dataset: { url: s.url } }, video, el('div', { className: 'facts', textContent: `chunk ${s.index + 1}: frames ${s.first}–${s.last}` }));
  }

  function drawRender(p) {
    last = p;
    $('state').textContent = p.state + (p.stylized ? '' : ' · NOT STYLIZED (copy engine)');
    $('state').className = `badge ${p.state}`;
    $('files').textContent = [p.input, p.output].filter(Boolean).join(' → ');
    const total = p.total || 0;
    $('bar').style.width = total ? `${(100 * p.done) / total}%` : '0';
    const parts = [`${p.done} / ${total || '?'} frames`];
    if (p.phase && p.phase !== 'styling') parts.push(p.phase);
    if (p.meanSecondsPerFrame !== null) parts.push(`${p.meanSecondsPerFrame.toFixed(2)} s/frame`);
    if (p.etaSeconds !== null && p.phase === 'styling') parts.push(`ETA ${duration(p.etaSeconds)}`);
    if (p.epochs !== null) parts.push(`${p.epochs} epochs`);
    if (p.failed.count) parts.push(`${p.failed.count} failed`);
    if (p.skipped.count) parts.push(`${p.skipped.count} skipped`);
    $('counts').textContent = parts.join(' · ');
    const note = p.message || (p.served ? '' : p.state === 'interrupted' ? 'Interrupted: no start-render serves this render. Run its start-render command again to resume it; nothing is lost.' : '');
    $('message').hidden = !note;
    $('message').textContent = note;

    const running = p.served && ['running', 'paused', 'needs-attention'].includes(p.state);
    document.querySelectorAll('#controls button').forEach((b) => (b.disabled = !running));
    $('controls').querySelector('[data-action="pause"]').disabled = !running || p.state === 'paused';
    $('controls').querySelector('[data-action="resume"]').disabled = !running || p.state !== 'paused';
    if (document.activeElement !== $('epochs') && p.epochs !== null) $('epochs').value = p.epochs;

    $('attention').hidden = p.failed.count === 0;
    $('failed-summary').textContent = p.failed.count ? `${p.failed.count} frame(s) failed on every attempt: ${p.failed.ranges}` : '';
    $('failed-reasons').replaceChildren(...p.failed.groups.map((g) => el('li', { textContent: `${g.count} × ${g.reason} (frames ${g.sample.join(', ')}${g.count > g.sample.length ? ', …' : ''})` })));
    $('attention').querySelectorAll('button').forEach((b) => (b.disabled = !p.served || p.state !== 'needs-attention'));

    $('strip').replaceChildren(...p.chunks.cells.map((cell, i) => {
      const first = p.chunks.framesPerChunk ? i * p.chunks.framesPerChunk + 1 : null;
      return el('span', { className: `cell ${cell}`, title: `chunk ${i + 1}${first ? ` (from frame ${first})` : ''}: ${cell}` });
    }));
    $('chunk-counts').textContent = Object.entries(p.chunks.counts).map(([k, v]) => `${v} ${k}`).join(' · ');
    $('live').textContent = p.live.map((l) => `frame ${l.frame} step ${l.step}/${l.totalSteps}`).join(' · ');

    const key = p.frames.map((f) => `${f.frame}@${f.finishedAt}`).join(',');
    if (key !== framesKey) {
      framesKey = key;
      $('frames').replaceChildren(...p.frames.map(frameCard));
    }
    $('no-frames').hidden = p.frames.length > 0;

    // New segments are appended; those already on the page keep playing.
    const shown = new Set([...$('segments').children].map((c) => c.dataset.url));
    for (const s of p.segments) if (!shown.has(s.url)) $('segments').append(segmentCard(s));
    const newest = $('segments').lastElementChild;
    if (newest && newest.firstChild.preload === 'none') newest.firstChild.preload = 'metadata';
    $('segment-count').textContent = p.segments.length ? `${p.segments.length} encoded, playable now` : '';
    $('video-section').hidden = !p.video;
    if (p.video && $('video').getAttribute('src') !== p.video) $('video').src = p.video;
  }

  async function act(action) {
    const body = action === 'set-epochs' ? { epochs: Number($('epochs').value) } : {};
    if (action === 'cancel' && !confirm(`Cancel render ${id}? Finished frames stay on disk.`)) return;
    $('answer').textContent = `${action}…`;
    try {
      const res = await fetch(`/api/renders/${encodeURIComponent(id)}/${action}`, {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', 'X-Starry-Token': token },
        body: JSON.stringify(body),
      });
      const answer = await res.json();
      $('answer').textContent = res.ok ? answer.lines.join(' ') : `refused: ${answer.error}`;
      $('answer').className = res.ok ? 'muted' : 'error';
    } catch (err) {
      $('answer').textContent = String(err);
    }
  }

  if (document.body.dataset.page === 'list') {
    poll(loadList, 2 * REFRESH_MS);
  } else {
    document.querySelectorAll('button[data-action]').forEach((b) => b.addEventListener('click', () => act(b.dataset.action)));
    poll(async () => drawRender(await getJson(`/api/renders/${encodeURIComponent(id)}`)), REFRESH_MS);
  }
  window.starryWatch = { last: () => last };
})();
