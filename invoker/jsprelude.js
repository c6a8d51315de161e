// The Node.js surface of the nodejs runtime beyond what goja and
// goja_nodejs give: run once in every new VM before the action's code.
// It receives the Go natives and installs globals; what it keeps for the
// runner is returned.
(function (go) {
  'use strict';
  const g = globalThis;
  g.global = g;

  // Explicit allocations larger than the action's memory limit fail
  // before they are made, as a RangeError like V8's "Array buffer
  // allocation failed"; see jsvm.go for what is not bounded. Each guarded
  // constructor keeps the original's prototype, so instanceof and
  // subclasses behave as before.
  const limit = go.maxAlloc;
  const tooBig = (n) => {
    if (typeof n === 'number' && n > limit) {
      throw new RangeError('Array buffer allocation failed: ' + n + ' bytes exceed the action\'s memory limit');
    }
  };
  const guard = (name, size) => {
    const Orig = g[name];
    const Guarded = function (...args) {
      if (new.target === undefined) throw new TypeError('Constructor ' + name + ' requires \'new\'');
      tooBig(size(args));
      return Reflect.construct(Orig, args, new.target === Guarded ? Orig : new.target);
    };
    Object.defineProperty(Guarded, 'name', { value: name });
    Object.defineProperty(Guarded, 'length', { value: Orig.length });
    Guarded.prototype = Orig.prototype;
    Object.setPrototypeOf(Guarded, Object.getPrototypeOf(Orig));
    for (const k of Reflect.ownKeys(Orig)) {
      if (!['prototype', 'name', 'length'].includes(k)) Object.defineProperty(Guarded, k, Object.getOwnPropertyDescriptor(Orig, k));
    }
    Object.defineProperty(Orig.prototype, 'constructor', { value: Guarded, writable: true, configurable: true });
    g[name] = Guarded;
  };
  guard('ArrayBuffer', (a) => a[0]);
  for (const name of ['Int8Array', 'Uint8Array', 'Uint8ClampedArray', 'Int16Array', 'Uint16Array', 'Int32Array',
    'Uint32Array', 'Float32Array', 'Float64Array', 'BigInt64Array', 'BigUint64Array']) {
    const bytes = g[name].BYTES_PER_ELEMENT;
    guard(name, (a) => (typeof a[0] === 'number' ? a[0] * bytes : 0));
  }
  const strGuard = (name, size) => {
    const orig = String.prototype[name];
    Object.defineProperty(String.prototype, name, {
      value: function (...a) { tooBig(size(String(this), a) * 2); return orig.apply(this, a); },
      writable: true, configurable: true,
    });
  };
  strGuard('repeat', (s, a) => s.length * Number(a[0]));
  strGuard('padStart', (s, a) => Number(a[0]));
  strGuard('padEnd', (s, a) => Number(a[0]));
  for (const name of ['alloc', 'allocUnsafe', 'allocUnsafeSlow']) {
    const orig = Buffer[name];
    Buffer[name] = function (n, ...rest) { tooBig(n); return orig.call(this, n, ...rest); };
  }

  // Timers: an exception in a callback ends the activation, as it ends the
  // Node process of a stock container. Pending timers are known, so that
  // they can be cleared when the activation ends; any clear* clears any
  // kind, as in Node.
  const pending = new Map(); // handle -> the clear function of its kind
  const wrapTimer = (set, clear, once) => [function (fn, ...rest) {
    if (typeof fn !== 'function') {
      throw new TypeError('The "callback" argument must be of type function. Received ' + typeof fn);
    }
    const h = set(function (...a) {
      if (once) pending.delete(h);
      try { fn.apply(this, a); } catch (e) { go.uncaught(e); }
    }, ...rest);
    pending.set(h, clear);
    return h;
  }, function (h) {
    const c = pending.get(h);
    if (c) {
      pending.delete(h);
      c(h);
    }
  }];
  [g.setTimeout, g.clearTimeout] = wrapTimer(g.setTimeout, g.clearTimeout, true);
  [g.setInterval, g.clearInterval] = wrapTimer(g.setInterval, g.clearInterval, false);
  [g.setImmediate, g.clearImmediate] = wrapTimer(g.setImmediate, g.clearImmediate, true);
  const clearTimers = () => {
    for (const [h, c] of pending) c(h);
    pending.clear();
  };
  g.queueMicrotask = (fn) => {
    if (typeof fn !== 'function') throw new TypeError('The "callback" argument must be of type function. Received ' + typeof fn);
    Promise.resolve().then(() => { try { fn(); } catch (e) { go.uncaught(e); } });
  };

  const process = go.process;
  process.nextTick = (fn, ...a) => g.queueMicrotask(() => fn(...a));
  g.process = process;

  class TextEncoder {
    get encoding() { return 'utf-8'; }
    encode(s = '') { return new Uint8Array(go.utf8Encode(String(s))); }
  }
  const utf8Labels = ['utf-8', 'utf8', 'unicode-1-1-utf-8'];
  class TextDecoder {
    constructor(label = 'utf-8', options = {}) {
      if (!utf8Labels.includes(String(label).toLowerCase().trim())) {
        throw new RangeError('The "' + label + '" encoding is not supported');
      }
      this.fatal = !!options.fatal;
      this.ignoreBOM = !!options.ignoreBOM;
    }
    get encoding() { return 'utf-8'; }
    decode(input) {
      if (input === undefined) return '';
      return go.utf8Decode(bytesOf(input), this.fatal, this.ignoreBOM);
    }
  }
  g.TextEncoder = TextEncoder;

  g.crypto = {
    randomUUID: () => go.crypto.randomUUID(),
    getRandomValues(view) {
      if (!ArrayBuffer.isView(view) || view instanceof Float32Array || view instanceof Float64Array || view instanceof DataView) {
        throw new TypeError('The data argument must be an integer-type TypedArray');
      }
      go.crypto.getRandomValues(bytesOf(view));
      return view;
    },
  };
  g.TextDecoder = TextDecoder;

  // bytesOf is a Uint8Array view of an ArrayBuffer or any view of one.
  function bytesOf(x) {
    if (x instanceof ArrayBuffer) return new Uint8Array(x);
    if (ArrayBuffer.isView(x)) return new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
    throw new TypeError('The "input" argument must be an instance of ArrayBuffer or ArrayBufferView');
  }

  g.atob = (s) => go.atob(String(s));
  g.btoa = (s) => go.btoa(String(s));

  class Headers {
    constructor(init) {
      this._m = new Map();
      if (init == null) return;
      if (init instanceof Headers || Array.isArray(init)) {
        for (const [k, v] of init) this.append(k, v);
      } else {
        for (const k of Object.keys(init)) this.append(k, init[k]);
      }
    }
    append(k, v) {
      k = String(k).toLowerCase();
      v = String(v);
      const old = this._m.get(k);
      this._m.set(k, old === undefined ? v : old + ', ' + v);
    }
    set(k, v) { this._m.set(String(k).toLowerCase(), String(v)); }
    get(k) { const v = this._m.get(String(k).toLowerCase()); return v === undefined ? null : v; }
    has(k) { return this._m.has(String(k).toLowerCase()); }
    delete(k) { this._m.delete(String(k).toLowerCase()); }
    forEach(cb, thisArg) { for (const [k, v] of this) cb.call(thisArg, v, k, this); }
    * entries() { yield * [...this._m.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)); }
    * keys() { for (const [k] of this.entries()) yield k; }
    * values() { for (const [, v] of this.entries()) yield v; }
    [Symbol.iterator]() { return this.entries(); }
  }

  class Response {
    constructor(body = null, init = {}) {
      this.status = init.status === undefined ? 200 : init.status;
      this.statusText = init.statusText === undefined ? '' : String(init.statusText);
      this.headers = new Headers(init.headers);
      this.ok = this.status >= 200 && this.status < 300;
      this.url = '';
      this.redirected = false;
      this.type = 'default';
      this.bodyUsed = false;
      if (body == null) this._body = new Uint8Array(0);
      else if (typeof body === 'string') this._body = new TextEncoder().encode(body);
      else this._body = new Uint8Array(bytesOf(body));
    }
    _consume() {
      if (this.bodyUsed) return Promise.reject(new TypeError('Body is unusable: Body has already been read'));
      this.bodyUsed = true;
      return Promise.resolve(this._body);
    }
    arrayBuffer() { return this._consume().then((b) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)); }
    text() { return this._consume().then((b) => new TextDecoder().decode(b)); }
    json() { return this.text().then((t) => JSON.parse(t)); }
    clone() {
      if (this.bodyUsed) throw new TypeError('Response.clone: Body has already been consumed.');
      const r = new Response(this._body, this);
      r.url = this.url;
      r.redirected = this.redirected;
      r.type = this.type;
      return r;
    }
  }
  g.Headers = Headers;
  g.Response = Response;

  g.fetch = function fetch(input, init = {}) {
    return new Promise((resolve, reject) => {
      const url = typeof input === 'string' ? input
        : input instanceof URL ? input.href
          : input && typeof input.url === 'string' ? input.url : String(input);
      const method = String(init.method || 'GET').toUpperCase();
      const headers = new Headers(init.headers);
      let body = init.body;
      if (body != null) {
        if (method === 'GET' || method === 'HEAD') {
          throw new TypeError('Request with GET/HEAD method cannot have body.');
        }
        if (body instanceof URLSearchParams) {
          if (!headers.has('content-type')) headers.set('content-type', 'application/x-www-form-urlencoded;charset=UTF-8');
          body = body.toString();
        } else if (body instanceof ArrayBuffer || ArrayBuffer.isView(body)) {
          body = new Uint8Array(bytesOf(body));
        } else {
          body = String(body);
          if (!headers.has('content-type')) headers.set('content-type', 'text/plain;charset=UTF-8');
        }
        if (typeof body === 'string') body = new TextEncoder().encode(body);
      }
      go.fetch(url, method, [...headers], body == null ? null : body, init.redirect || 'follow').then((r) => {
        const res = new Response(r.body, { status: r.status, statusText: r.statusText, headers: r.headers });
        res.url = r.url;
        res.redirected = r.redirected;
        res.type = 'basic';
        resolve(res);
      }, reject);
    });
  };

  // serializeError is npm serialize-error's (the stock runtime wraps a
  // rejection's reason with it): an object's own enumerable properties,
  // plus name, message, stack, code and cause, circular references
  // replaced.
  const common = ['name', 'message', 'stack', 'code', 'cause'];
  function destroyCircular(from, seen) {
    const to = Array.isArray(from) ? [] : {};
    seen.push(from);
    if (typeof from.toJSON === 'function' && !(from instanceof Error)) return from.toJSON();
    for (const [key, value] of Object.entries(from)) {
      if (value instanceof Buffer) { to[key] = '[object Buffer]'; continue; }
      if (value !== null && typeof value === 'object' && typeof value.pipe === 'function') { to[key] = '[object Stream]'; continue; }
      if (typeof value === 'function') continue;
      if (!value || typeof value !== 'object') { to[key] = value; continue; }
      to[key] = seen.includes(value) ? '[Circular]' : destroyCircular(value, seen.slice());
    }
    for (const p of common) {
      const v = from[p];
      if (v !== undefined && v !== null && !(p in to)) {
        to[p] = v instanceof Error ? destroyCircular(v, seen.slice()) : v;
      }
    }
    return to;
  }
  function serializeError(value) {
    if (typeof value === 'object' && value !== null) return destroyCircular(value, []);
    if (typeof value === 'function') return '[Function: ' + (value.name || 'anonymous') + ']';
    return value;
  }

  // inspect and format are Node's util.inspect and util.format for the
  // common cases (console output): depth 2, one line up to 72 characters,
  // otherwise one entry a line.
  const identifier = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
  const quote = (s) => "'" + s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n') + "'";
  function inspect(v, opts = {}) {
    const depth = opts.depth === undefined ? 2 : opts.depth;
    const seen = [];
    const fmt = (v, level, top) => {
      switch (typeof v) {
        case 'string': return top ? v : quote(v);
        case 'number': return Object.is(v, -0) ? '-0' : String(v);
        case 'bigint': return v + 'n';
        case 'undefined': return 'undefined';
        case 'symbol': return v.toString();
        case 'boolean': return String(v);
        case 'function': {
          const isClass = /^class\b/.test(Function.prototype.toString.call(v));
          return isClass ? '[class ' + (v.name || '(anonymous)') + ']' : '[Function: ' + (v.name || '(anonymous)') + ']';
        }
      }
      if (v === null) return 'null';
      if (v instanceof Error) return v.stack ? String(v.stack) : '[' + String(v) + ']';
      if (v instanceof Date) return isNaN(v) ? 'Invalid Date' : v.toISOString();
      if (v instanceof RegExp) return String(v);
      if (seen.includes(v)) return '[Circular]';
      let open, close, items, prefix = '';
      if (Array.isArray(v)) {
        if (level > depth) return '[Array]';
        seen.push(v);
        items = v.slice(0, 100).map((x) => fmt(x, level + 1));
        if (v.length > 100) items.push('... ' + (v.length - 100) + ' more items');
        [open, close] = ['[', ']'];
      } else if (v instanceof Buffer) {
        const hex = Array.from(v.subarray(0, 50), (b) => b.toString(16).padStart(2, '0'));
        return '<Buffer' + (hex.length ? ' ' + hex.join(' ') : '') + (v.length > 50 ? ' ... ' + (v.length - 50) + ' more bytes' : '') + '>';
      } else if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
        if (level > depth) return '[' + v.constructor.name + ']';
        items = Array.from(v.subarray(0, 100), (x) => fmt(x, level + 1));
        [open, close, prefix] = ['[', ']', v.constructor.name + '(' + v.length + ') '];
      } else if (v instanceof Map || v instanceof Set) {
        const name = v instanceof Map ? 'Map' : 'Set';
        if (level > depth) return '[' + name + ']';
        seen.push(v);
        items = v instanceof Map ? [...v].map(([k, x]) => fmt(k, level + 1) + ' => ' + fmt(x, level + 1))
          : [...v].map((x) => fmt(x, level + 1));
        [open, close, prefix] = ['{', '}', name + '(' + v.size + ') '];
      } else if (v instanceof Promise) {
        return 'Promise { <pending> }';
      } else {
        const proto = Object.getPrototypeOf(v);
        const name = proto === null ? '[Object: null prototype]' : proto.constructor && proto.constructor.name !== 'Object' ? proto.constructor.name : '';
        if (level > depth) return '[' + (name || 'Object') + ']';
        seen.push(v);
        items = Object.keys(v).map((k) => (identifier.test(k) ? k : quote(k)) + ': ' + fmt(v[k], level + 1));
        [open, close, prefix] = ['{', '}', name ? name + ' ' : ''];
      }
      seen.pop();
      if (items.length === 0) return prefix + open + close;
      const line = prefix + open + ' ' + items.join(', ') + ' ' + close;
      if (line.length <= 72 && !line.includes('\n')) return line;
      const pad = '  '.repeat(level + 1);
      return prefix + open + '\n' + items.map((s) => pad + s.replace(/\n/g, '\n' + pad)).join(',\n') + '\n' + '  '.repeat(level) + close;
    };
    return fmt(v, 0, false);
  }
  function format(f, ...args) {
    const show = (v) => (typeof v === 'string' ? v : inspect(v));
    if (typeof f !== 'string') return [f, ...args].map(show).join(' ');
    let i = 0;
    let out = f.replace(/%[sdifjoOc%]/g, (m) => {
      if (m === '%%') return '%';
      if (i >= args.length) return m;
      const v = args[i++];
      switch (m) {
        case '%s': return typeof v === 'string' ? v : typeof v === 'bigint' ? v + 'n' : typeof v === 'object' && v !== null ? inspect(v, { depth: 0 }) : String(v);
        case '%d': return typeof v === 'bigint' ? v + 'n' : typeof v === 'object' ? 'NaN' : String(Number(v));
        case '%i': return typeof v === 'bigint' ? v + 'n' : String(parseInt(v));
        case '%f': return String(parseFloat(v));
        case '%j': try { return JSON.stringify(v); } catch (e) { return '[Circular]'; }
        case '%c': return '';
        default: return inspect(v, { depth: 4 });
      }
    });
    for (; i < args.length; i++) out += ' ' + show(args[i]);
    return out;
  }

  // run is the stock NodeActionRunner: main's value or promise settles
  // the activation; a rejection becomes {error: serializeError(reason)};
  // a throw fails it.
  function run(main, args, done) {
    let result;
    try {
      result = main(args);
    } catch (e) {
      done(false, e);
      return;
    }
    Promise.resolve(result).then(
      (r) => done(true, r === undefined ? {} : r),
      (e) => done(true, { error: e ? serializeError(e) : {} })).catch((e) => done(false, e));
  }
  return { run, clearTimers, format, inspect };
})
