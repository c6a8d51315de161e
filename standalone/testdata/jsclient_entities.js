// Drives the standalone with the official JavaScript client (npm
// openwhisk) through packages and bindings, triggers and rules, a sequence
// with a failing component, namespace get, and web actions fetched without
// credentials. Usage: node jsclient_entities.js APIHOST AUTH; prints one
// JSON object of what it saw.
const openwhisk = require('openwhisk');

const [apihost, api_key] = process.argv.slice(2);
const ow = openwhisk({ apihost, api_key });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function record(id) {
  for (let i = 0; i < 600; i++) {
    try {
      return await ow.activations.get({ name: id });
    } catch (e) {
      await sleep(100);
    }
  }
  throw new Error('no record for ' + id);
}

async function failure(p) {
  try {
    return await p;
  } catch (e) {
    return { failed: e.statusCode, error: e.error };
  }
}

async function packages(out) {
  await ow.packages.create({ name: 'lib', package: { parameters: [{ key: 'a', value: 'pkg' }, { key: 'b', value: 'pkg' }] } });
  await ow.actions.create({ name: 'lib/show', action: 'function main(p) { delete p.__ow_headers; return p; }', kind: 'nodejs:20',
    params: { c: 'action' } });
  await ow.packages.create({ name: 'mybind', package: { binding: { namespace: 'guest', name: 'lib' }, parameters: [{ key: 'b', value: 'binding' }] } });
  out.merge = await ow.actions.invoke({ name: 'mybind/show', params: { d: 'inv' }, blocking: true, result: true });
  out.bindOfBind = await failure(ow.packages.create({ name: 'bb', package: { binding: { namespace: 'guest', name: 'mybind' } } }));
}

async function triggers(out) {
  await ow.triggers.create({ name: 'T', trigger: { parameters: [{ key: 't', value: 'trig' }] } });
  out.fireWithoutRule = await ow.triggers.invoke({ name: 'T', params: { x: 1 } });
  await ow.rules.create({ name: 'R', trigger: 'T', action: 'lib/show' });
  const fired = await ow.triggers.invoke({ name: 'T', params: { x: 1 } });
  const trig = await record(fired.activationId);
  const line = JSON.parse(trig.logs[0]);
  out.ruleLine = { rule: line.rule, action: line.action, success: line.success };
  out.ruleResult = (await record(line.activationId)).response.result;
  await ow.rules.disable({ name: 'R' });
  out.disabled = (await ow.rules.get({ name: 'R' })).status;
  out.fireDisabled = await ow.triggers.invoke({ name: 'T' });
  await ow.rules.enable({ name: 'R' });
  out.enabled = (await ow.rules.get({ name: 'R' })).status;
}

async function sequences(out) {
  await ow.actions.create({ name: 'inc', action: 'function main(p) { return {n: (p.n || 0) + 1}; }', kind: 'nodejs:20' });
  await ow.actions.create({ name: 'fail', action: 'function main(p) { return {error: "boom at " + p.n}; }', kind: 'nodejs:20' });
  await ow.actions.create({ name: 'seq', action: { exec: { kind: 'sequence', components: ['/_/inc', '/_/fail', '/_/inc'] } } });
  const res = await failure(ow.actions.invoke({ name: 'seq', params: { n: 1 }, blocking: true }));
  const seq = res.error;
  const causes = [];
  for (const id of seq.logs) {
    causes.push((await record(id)).cause === seq.activationId);
  }
  out.sequence = { failed: res.failed, result: seq.response.result, status: seq.response.status, components: seq.logs.length, causes };
}

async function web(out) {
  const exported = [{ key: 'web-export', value: true }];
  const webAction = (name, code, annotations) =>
    ow.actions.create({ name, action: { exec: { kind: 'nodejs:20', code }, annotations: exported.concat(annotations) } });
  await webAction('page', 'function main(p) { return {html: "<b>" + (p.who || "web") + "</b>", svg: "<svg/>", text: "plain", json: p.who}; }', []);
  await webAction('raw', 'function main(p) { return {statusCode: 201, headers: {"X-Q": p.__ow_query}, body: p.__ow_body}; }',
    [{ key: 'raw-http', value: true }]);
  await webAction('guarded', 'function main() { return {ok: true}; }', [{ key: 'require-whisk-auth', value: 'k3y' }]);
  const base = apihost + '/api/v1/web/guest/default/';
  const get = async (path, init) => {
    const r = await fetch(base + path, init);
    return { status: r.status, type: r.headers.get('content-type'), body: await r.text(), cors: r.headers.get('access-control-allow-origin'),
      q: r.headers.get('x-q'), allow: r.headers.get('access-control-allow-headers') };
  };
  out.web = {
    json: await get('page.json?who=js'),
    html: await get('page.html?who=js'),
    svg: await get('page.svg'),
    text: await get('page.text'),
    http: await get('raw.http?a=1', { method: 'POST', body: 'hello', headers: { 'content-type': 'text/plain' } }),
    noKey: await get('guarded.json'),
    key: await get('guarded.json', { headers: { 'X-Require-Whisk-Auth': 'k3y' } }),
    preflight: await get('page.json', { method: 'OPTIONS', headers: { 'Access-Control-Request-Headers': 'X-Custom' } }),
  };
}

(async () => {
  const out = {};
  await packages(out);
  await triggers(out);
  await sequences(out);
  await web(out);
  const ns = await ow.namespaces.get();
  out.namespace = { actions: ns.actions.length, packages: ns.packages.length, triggers: ns.triggers.length, rules: ns.rules.length };
  console.log(JSON.stringify(out));
})().catch((e) => {
  console.error(e.stack || e);
  process.exit(1);
});
