/**
 * The dashboard page: one self-contained HTML document (inline CSS and script, charts
 * drawn on canvases, no external resources). It subscribes to `<its own path>/events`
 * with its own query string and keeps the last 120 samples. `window.__dashboard` holds
 * the sample count and the last sample (tests read it).
 */
export const DASHBOARD_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>catzilla dashboard</title>
<style>
  :root { --bg: #0f1419; --panel: #182029; --line: #2a3541; --text: #e6edf3; --muted: #8b98a5; --a: #4fb3ff; --b: #f5a623; --ok: #3fb950; --bad: #f85149; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; background: var(--bg); color: var(--text); }
  header { display: flex; align-items: baseline; gap: 16px; padding: 16px 24px; border-bottom: 1px solid var(--line); }
  header h1 { margin: 0; font-size: 18px; font-weight: 600; }
  #status { color: var(--muted); font-size: 13px; }
  #status.live::before { content: "\\25CF "; color: var(--ok); }
  #status.down::before { content: "\\25CF "; color: var(--bad); }
  main { padding: 16px 24px; display: grid; gap: 16px; }
  .cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(160px, 1fr)); gap: 12px; }
  .card { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
  .card .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
  .card .value { white-space: nowrap; font-size: 20px; font-weight: 600; font-variant-numeric: tabular-nums; margin-top: 4px; }
  .charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(360px, 1fr)); gap: 12px; }
  .chart { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
  .chart h2, section h2 { margin: 0 0 8px; font-size: 13px; font-weight: 600; color: var(--muted); }
  .chart canvas { width: 100%; height: 180px; display: block; }
  .legend span { margin-right: 12px; font-size: 12px; color: var(--muted); }
  .legend i { display: inline-block; width: 10px; height: 3px; margin-right: 4px; vertical-align: middle; }
  section { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; overflow-x: auto; }
  table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; font-size: 13px; }
  th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); white-space: nowrap; }
  th { color: var(--muted); font-weight: 500; }
  td.num, th.num { text-align: right; }
  .state-backpressured { color: var(--b); }
  .empty { color: var(--muted); text-align: center; padding: 16px; }
</style>
</head>
<body>
<header><h1>catzilla</h1><span id="status">connecting…</span></header>
<main>
  <div class="cards">
    <div class="card"><div class="label">Requests / s</div><div class="value" id="rps" data-value="0">–</div></div>
    <div class="card"><div class="label">Sent / s</div><div class="value" id="bps" data-value="0">–</div></div>
    <div class="card"><div class="label">Streamed / s</div><div class="value" id="sps" data-value="0">–</div></div>
    <div class="card"><div class="label">Active streams</div><div class="value" id="active" data-value="0">–</div></div>
    <div class="card"><div class="label">Connections</div><div class="value" id="connections" data-value="0">–</div></div>
    <div class="card"><div class="label">Sent in all</div><div class="value" id="sent-total" data-value="0">–</div></div>
    <div class="card"><div class="label">Streams done / aborted</div><div class="value" id="streams-done" data-value="0">–</div></div>
  </div>
  <div class="charts">
    <div class="chart"><h2>Throughput</h2><div class="legend"><span><i style="background:var(--a)"></i>sent bytes/s</span><span><i style="background:var(--b)"></i>requests/s (right axis)</span></div><canvas id="throughput"></canvas></div>
    <div class="chart"><h2>Active streams</h2><div class="legend"><span><i style="background:var(--a)"></i>streams</span><span><i style="background:var(--b)"></i>connections</span></div><canvas id="streams-chart"></canvas></div>
  </div>
  <section>
    <h2>Live streams <span id="stream-count"></span></h2>
    <table id="streams">
      <thead><tr><th>id</th><th>route</th><th>path</th><th>client</th><th>state</th><th class="num">age</th><th class="num">sent</th><th class="num">queued</th><th class="num">backpressured</th><th class="num">last write</th><th class="num">compression</th></tr></thead>
      <tbody><tr><td class="empty" colspan="11">no live streams</td></tr></tbody>
    </table>
  </section>
</main>
<script>
(() => {
  const KEEP = 120;
  const history = [];
  const state = { samples: 0, opens: 0, errors: 0, last: null };
  window.__dashboard = state;
  const $ = (id) => document.getElementById(id);

  function bytes(n) {
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? String(Math.round(n)) : n.toFixed(n < 10 ? 2 : 1)) + ' ' + units[i];
  }
  function num(n) { return n >= 100 ? Math.round(n).toLocaleString('en') : (Math.round(n * 10) / 10).toString(); }
  function ms(n) { return n < 1000 ? Math.round(n) + ' ms' : (n / 1000).toFixed(n < 10000 ? 1 : 0) + ' s'; }
  function set(id, value, text) { const el = $(id); el.dataset.value = String(value); el.textContent = text; }
  function cell(text, cls) { const td = document.createElement('td'); td.textContent = text; if (cls) td.className = cls; return td; }

  function drawChart(canvas, series, formatLeft) {
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth, h = canvas.clientHeight;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) { canvas.width = Math.round(w * dpr); canvas.height = Math.round(h * dpr); }
    const ctx = canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const styles = getComputedStyle(document.documentElement);
    const pad = { l: 86, r: 44, t: 8, b: 18 };
    const pw = w - pad.l - pad.r, ph = h - pad.t - pad.b;
    ctx.font = '11px system-ui, sans-serif';
    ctx.strokeStyle = styles.getPropertyValue('--line');
    ctx.fillStyle = styles.getPropertyValue('--muted');
    ctx.lineWidth = 1;
    const peak = (list) => Math.max(1, ...list.flatMap((s) => s.values)) * 1.1;
    const leftMax = peak(series.filter((s) => s.axis !== 'right'));
    const right = series.filter((s) => s.axis === 'right');
    const rightMax = peak(right);
    for (let g = 0; g <= 4; g++) {
      const y = pad.t + ph - (ph * g) / 4;
      ctx.beginPath(); ctx.moveTo(pad.l, y); ctx.lineTo(pad.l + pw, y); ctx.stroke();
      ctx.textAlign = 'right'; ctx.fillText(formatLeft((leftMax * g) / 4), pad.l - 6, y + 4);
      if (right.length > 0) { ctx.textAlign = 'left'; ctx.fillText(num((rightMax * g) / 4), pad.l + pw + 6, y + 4); }
    }
    ctx.textAlign = 'left'; ctx.fillText('last ' + KEEP + ' samples', pad.l, h - 4);
    for (const s of series) {
      const max = s.axis === 'right' ? rightMax : leftMax;
      ctx.strokeStyle = styles.getPropertyValue(s.color);
      ctx.lineWidth = 2;
      ctx.beginPath();
      s.values.forEach((v, i) => {
        const x = pad.l + (pw * (KEEP - s.values.length + i)) / (KEEP - 1);
        const y = pad.t + ph - (ph * v) / max;
        if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
      });
      ctx.stroke();
    }
  }

  function render(sample) {
    set('rps', sample.requestsPerSecond, num(sample.requestsPerSecond));
    set('bps', sample.sentBytesPerSecond, bytes(sample.sentBytesPerSecond) + '/s');
    set('sps', sample.streamedBytesPerSecond, bytes(sample.streamedBytesPerSecond) + '/s');
    set('active', sample.activeStreams, String(sample.activeStreams));
    set('connections', sample.connections, String(sample.connections));
    set('sent-total', sample.totals.sentBytes, bytes(sample.totals.sentBytes));
    set('streams-done', sample.totals.streamsCompleted, sample.totals.streamsCompleted + ' / ' + sample.totals.streamsAborted);
    drawChart($('throughput'), [
      { values: history.map((s) => s.sentBytesPerSecond), color: '--a' },
      { values: history.map((s) => s.requestsPerSecond), color: '--b', axis: 'right' },
    ], (v) => bytes(v) + '/s');
    drawChart($('streams-chart'), [
      { values: history.map((s) => s.activeStreams), color: '--a' },
      { values: history.map((s) => s.connections), color: '--b' },
    ], num);
    const body = document.querySelector('#streams tbody');
    body.replaceChildren();
    $('stream-count').textContent = sample.streamCount > sample.streams.length ? '(' + sample.streams.length + ' of ' + sample.streamCount + ')' : '(' + sample.streamCount + ')';
    if (sample.streams.length === 0) {
      const tr = document.createElement('tr');
      tr.appendChild(cell('no live streams', 'empty')).colSpan = 11;
      body.appendChild(tr);
      return;
    }
    for (const s of sample.streams) {
      const tr = document.createElement('tr');
      tr.dataset.id = String(s.id);
      tr.append(
        cell(String(s.id)), cell(s.route), cell(s.method + ' ' + s.path), cell(s.client.address + ':' + s.client.port),
        cell(s.state, 'state-' + s.state), cell(ms(s.ageMs), 'num'), cell(bytes(s.bytesSent), 'num'), cell(bytes(s.queuedBytes), 'num'),
        cell(ms(s.backpressureMs), 'num'), cell(s.lastWriteAt === null ? '–' : ms(Math.max(0, sample.time - s.lastWriteAt)) + ' ago', 'num'),
        cell(s.compression === null ? '–' : s.compression.encoding + (s.compression.ratio === null ? '' : ' ' + s.compression.ratio.toFixed(1) + '×'), 'num'),
      );
      body.appendChild(tr);
    }
  }

  const events = new EventSource(location.pathname.replace(/\\/$/, '') + '/events' + location.search);
  events.onopen = () => { state.opens++; $('status').textContent = 'live'; $('status').className = 'live'; };
  events.onerror = () => { state.errors++; $('status').textContent = 'reconnecting…'; $('status').className = 'down'; };
  events.addEventListener('sample', (e) => {
    const sample = JSON.parse(e.data);
    history.push(sample);
    if (history.length > KEEP) history.shift();
    state.samples++;
    state.last = sample;
    render(sample);
  });
  window.addEventListener('resize', () => { if (state.last) render(state.last); });
})();
</script>
</body>
</html>
`;
