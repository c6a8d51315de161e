// Drives `faasedge standalone` with the official JavaScript client (npm
// openwhisk): nodejs actions as users write them, and the catalog's utils.
// Usage: node jsclient.js APIHOST AUTH LOOPBACK_URL; prints one JSON object.
const openwhisk = require('openwhisk');

const [apihost, api_key, loopback] = process.argv.slice(2);
const ow = openwhisk({ apihost, api_key });

const actions = {
  // OpenWhisk's own asynchronous example.
  'js-timer': `function main() {
    return new Promise(resolve => setTimeout(() => resolve({ done: true }), 100));
  }`,
  'js-promise': `async function main(p) {
    const [a, b] = await Promise.all([p.a, new Promise(r => setImmediate(() => r(p.b)))]);
    return { sum: a + b };
  }`,
  'js-fetch': `async function main(p) {
    const r = await fetch(p.url + '/greet', { method: 'POST', body: JSON.stringify({ who: 'js' }),
      headers: { 'content-type': 'application/json' } });
    return { status: r.status, ok: r.ok, type: r.headers.get('content-type'), body: await r.json() };
  }`,
  'js-url': `const url = require('url');
  function main(p) {
    const u = new url.URL(p.href);
    return { host: u.hostname, port: u.port, q: u.searchParams.get('q') };
  }`,
  'js-throw': `function main() { throw new Error('broken'); }`,
  'js-reject': `function main() { return Promise.reject(new Error('refused')); }`,
};

async function invoke(name, params = {}) {
  try {
    return await ow.actions.invoke({ name, params, blocking: true, result: true });
  } catch (e) {
    return { failed: e.statusCode, error: e.error && e.error.response ? e.error.response.result : e.message };
  }
}

(async () => {
  for (const [name, action] of Object.entries(actions)) {
    await ow.actions.update({ name, action, kind: 'nodejs:20' });
  }
  const out = {
    timer: await invoke('js-timer'),
    promise: await invoke('js-promise', { a: 1, b: 2 }),
    fetch: await invoke('js-fetch', { url: loopback }),
    url: await invoke('js-url', { href: 'http://example.org:8080/p?q=1' }),
    throw: await invoke('js-throw'),
    reject: await invoke('js-reject'),
    sort: await invoke('/whisk.system/utils/sort', { lines: ['c', 'a', 'b'] }),
    echo: await invoke('/whisk.system/utils/echo', { payload: 'Five fuzzy felines' }),
  };
  console.log(JSON.stringify(out));
})().catch((e) => {
  console.error(e.stack || e);
  process.exit(1);
});
