// Runs assets/hitcount.js in Node against a running app: a browser-like
// window (location, document.cookie, fetch keeping cookies and sending
// Origin), then counts a hit twice through HitCount.countHit() and posts a
// forged token through HitCount.postCSRF(), and counts once more as the
// script loaded with data- attributes does. Prints the four answers, the
// paths fetched and the cookies kept. The page's variables take
// hitcountCSRF from the JSON's `csrf`, as a page of a site with
// `cookie.mode = "none"` must.
// Usage: node hitcount_check.mjs <base URL> <path of hitcount.js>
import fs from "node:fs";
const base = process.argv[2];
globalThis.window = globalThis;
globalThis.location = new URL(base + "/post/2");
const jar = {};
globalThis.document = { get cookie() { return Object.entries(jar).map(([k, v]) => k + "=" + v).join("; "); } };
const realFetch = fetch;
const fetched = [];
globalThis.fetch = async (url, opts = {}) => {
  url = new URL(url, location.href);
  fetched.push(url.pathname);
  opts.headers = { ...(opts.headers || {}), Cookie: document.cookie, Origin: location.origin, "User-Agent": "Mozilla/5.0 (node check)" };
  const r = await realFetch(url, opts);
  for (const c of r.headers.getSetCookie()) { const kv = c.split(";")[0]; const i = kv.indexOf("="); jar[kv.slice(0, i)] = kv.slice(i + 1); }
  return r;
};
const source = fs.readFileSync(process.argv[3], "utf8");
(0, eval)(source);
const vars = await (await fetch("/post/2/js")).json();
window.hitcountJS = { hitcountPK: vars.pk, hitcountURL: vars.ajax_url, hitcountToken: vars.token, hitcountCSRF: vars.csrf };
const first = await HitCount.countHit();
const second = await HitCount.countHit();
const forged = await HitCount.postCSRF(vars.ajax_url, { hitcountPK: vars.pk, hitcountToken: "x" });
// Loaded as `insert_hit_count_js` prints it (its data- attributes, with
// data-hitcount-csrf="off" where the JSON says no CSRF), the script counts
// at once; with data-hitcount-debug it logs the answer.
const attrs = await (await fetch("/post/3/js")).json();
const loaded = await new Promise((resolve) => {
  const log = console.log;
  console.log = (_, answer) => { console.log = log; resolve(answer); };
  const dataset = { hitcountPk: String(attrs.pk), hitcountUrl: attrs.ajax_url, hitcountToken: attrs.token, hitcountDebug: "" };
  if (!attrs.csrf) {
    dataset.hitcountCsrf = "off";
  }
  document.currentScript = { dataset };
  window.hitcountJS = undefined;
  (0, eval)(source);
});
console.log(JSON.stringify({ first, second, forged, loaded, fetched, cookies: document.cookie }));
