// A tiny chat over Server-Sent Events: one page, one Channel, one POST route.
//
//   node examples/sse-chat.mjs       then open http://127.0.0.1:3000/ in two tabs
//
// Messages get monotonic ids; a tab that loses its connection reconnects with Last-Event-ID
// and gets what it missed from the channel's replay ring (or a "gap" event if it was away too
// long). Responses are compressed when the browser accepts it; events still arrive one by one.
import { App, Channel, compress, html, HttpError, sse } from '../dist/index.js'; // 'catzilla' when installed

const app = new App();
const chat = new Channel({ replay: 500, policy: 'drop-oldest', sse: { retry: 1000 } });

app.use(compress());

app.get('/', () => html(PAGE));

app.get('/events', (req) => chat.subscribe(req));

app.post('/send', async (req) => {
  const { name, text } = await req.json();
  if (typeof text !== 'string' || text.trim() === '' || text.length > 500) throw new HttpError(400, 'text must be 1 to 500 characters');
  const id = await chat.publish({ event: 'message', data: { name: String(name || 'anon').slice(0, 40), text, at: Date.now() } });
  return { id };
});

// A second, channel-less stream: a clock that ends after 10 ticks.
app.get('/clock', (req) => sse(req, async (stream) => {
  for (let i = 0; i < 10 && !stream.closed; i++) {
    await stream.send({ event: 'tick', id: i, data: new Date().toISOString() });
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}));

app.get('/stats', () => chat.stats());

const PAGE = `<!doctype html>
<meta charset="utf-8"><title>catzilla chat</title>
<style>body{font:15px system-ui;max-width:40em;margin:2em auto}#log{border:1px solid #ccc;height:20em;overflow:auto;padding:.5em}.gap{color:#a00}</style>
<h1>catzilla chat</h1>
<div id="log"></div>
<form id="f"><input id="name" placeholder="name" size="8"> <input id="text" placeholder="message" size="40" autofocus> <button>send</button></form>
<p id="status">connecting...</p>
<script>
const log = document.getElementById('log');
const line = (text, cls) => { const p = document.createElement('div'); p.textContent = text; if (cls) p.className = cls; log.append(p); log.scrollTop = log.scrollHeight; };
const es = new EventSource('/events');
es.onopen = () => { document.getElementById('status').textContent = 'connected'; };
es.onerror = () => { document.getElementById('status').textContent = 'reconnecting...'; };
es.addEventListener('message', (e) => { const m = JSON.parse(e.data); line('#' + e.lastEventId + ' ' + m.name + ': ' + m.text); });
es.addEventListener('gap', (e) => line('(missed messages older than the server keeps: ' + e.data + ')', 'gap'));
document.getElementById('f').onsubmit = async (ev) => {
  ev.preventDefault();
  const text = document.getElementById('text');
  await fetch('/send', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ name: document.getElementById('name').value, text: text.value }) });
  text.value = '';
};
</script>`;

const { port } = await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 3000) });
console.log(`chat on http://127.0.0.1:${port}/`);
process.once('SIGINT', () => app.close());
