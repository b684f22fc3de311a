/*!
 * hitcount.js: counts a page's hit with rocket-hitcount's AJAX endpoint.
 * No dependencies. Served by the rocket_hitcount fairing at
 * <base_path>/static/hitcount.js; copy it into your own static folder if you
 * prefer.
 *
 *   HitCount.postCSRF(url, data)  -> Promise of the endpoint's JSON answer
 *   HitCount.countHit(vars)       -> the same, for window.hitcountJS
 *                                    ({hitcountPK, hitcountURL, hitcountToken},
 *                                    and hitcountCSRF: false without cookies)
 *   HitCount.beacon(vars)         -> navigator.sendBeacon, for page unloads
 *
 * Loaded as <script src=".../hitcount.js" data-hitcount-pk="1"
 * data-hitcount-url="/hitcount/hit/ajax/" data-hitcount-token="...">
 * (what the `insert_hit_count_js` Tera function prints), it sets
 * window.hitcountJS and counts the hit at once, with no inline script
 * (a Content-Security-Policy of script-src 'self' allows it); with
 * data-hitcount-debug it logs the answer to the console.
 *
 * The CSRF token is read from the `csrftoken` cookie (set HitCount.csrfCookie
 * if you renamed it with `csrf_cookie_name`); when the page came without it
 * (a page cached by a CDN), it is fetched from <base>/csrf/ first. A site
 * that sets no cookies (`cookie.mode = "none"`) says so with
 * data-hitcount-csrf="off" or hitcountCSRF: false in window.hitcountJS (or
 * the vars passed), and no token is asked for.
 */
(function (global) {
  "use strict";

  function readCookie(name) {
    var parts = document.cookie ? document.cookie.split("; ") : [];
    for (var i = 0; i < parts.length; i++) {
      var eq = parts[i].indexOf("=");
      if (parts[i].substring(0, eq) === name) {
        return decodeURIComponent(parts[i].substring(eq + 1));
      }
    }
    return null;
  }

  // Whether `url` is on this page's origin: the CSRF token goes nowhere else.
  function sameOrigin(url) {
    return new URL(url, global.location.href).origin === global.location.origin;
  }

  // <base>/hit/ajax/ -> <base>/csrf/, unless HitCount.csrfURL says where.
  function csrfURL(url) {
    if (HitCount.csrfURL) {
      return HitCount.csrfURL;
    }
    var path = new URL(url, global.location.href).pathname;
    if (!/hit\/ajax\/?$/.test(path)) {
      throw new Error("hitcount.js: no CSRF cookie; set HitCount.csrfURL to <base_path>/csrf/");
    }
    return path.replace(/hit\/ajax\/?$/, "csrf/");
  }

  // The CSRF token: the cookie's, else, when `fetchMissing`, the one
  // <base>/csrf/ hands out.
  function csrfToken(url, fetchMissing) {
    var token = readCookie(HitCount.csrfCookie);
    if (token || !fetchMissing) {
      return Promise.resolve(token);
    }
    return fetch(csrfURL(url), { credentials: "same-origin" })
      .then(answer)
      .then(function (json) { return json.csrftoken; });
  }

  // The JSON of an answer, error answers included; a body that is not JSON
  // (a proxy's error page, say) rejects with the HTTP status.
  function answer(response) {
    return response.json().catch(function () {
      throw new Error("hitcount.js: HTTP " + response.status + " without a JSON body");
    });
  }

  function formOf(data) {
    var form = new URLSearchParams();
    Object.keys(data || {}).forEach(function (key) {
      if (data[key] !== undefined && data[key] !== null) {
        form.append(key, String(data[key]));
      }
    });
    return form;
  }

  // POSTs `data` as a form with the CSRF token (to this origin only;
  // when the page's window.hitcountJS says hitcountCSRF: false, only a
  // token the page has as a cookie, none is asked for); resolves to the
  // JSON answer, also for error answers, which carry `error_message`.
  function postCSRF(url, data) {
    var vars = global.hitcountJS;
    return post(url, data, !(vars && vars.hitcountCSRF === false));
  }

  // POSTs `data` as a form, with the CSRF token of the page's cookie,
  // asked for when it has none and `csrf` is set.
  function post(url, data, csrf) {
    return Promise.resolve().then(function () {
      var headers = {
        "X-Requested-With": "XMLHttpRequest",
        "Content-Type": "application/x-www-form-urlencoded"
      };
      var token = sameOrigin(url) ? csrfToken(url, csrf) : Promise.resolve(null);
      return token.then(function (token) {
        if (token) {
          headers["X-CSRFToken"] = token;
        }
        return fetch(url, {
          method: "POST",
          credentials: "same-origin",
          headers: headers,
          body: formOf(data).toString()
        }).then(answer);
      });
    });
  }

  function fields(vars) {
    vars = vars || global.hitcountJS || {};
    return {
      url: vars.hitcountURL,
      data: { hitcountPK: vars.hitcountPK, hitcountToken: vars.hitcountToken },
      csrf: vars.hitcountCSRF !== false
    };
  }

  // Counts the hit described by `vars` (default: window.hitcountJS).
  function countHit(vars) {
    var hit = fields(vars);
    return post(hit.url, hit.data, hit.csrf);
  }

  // Counts with navigator.sendBeacon, which survives the page unloading but
  // cannot send headers: the CSRF token travels in the form instead.
  // Returns whether the browser queued the beacon.
  function beacon(vars) {
    var hit = fields(vars);
    var token = hit.csrf ? readCookie(HitCount.csrfCookie) : null;
    if (!navigator.sendBeacon || (hit.csrf && !token) || !sameOrigin(hit.url)) {
      return false;
    }
    var form = formOf(hit.data);
    if (token) {
      form.append("csrfmiddlewaretoken", token);
    }
    return navigator.sendBeacon(hit.url, form);
  }

  var HitCount = {
    postCSRF: postCSRF,
    countHit: countHit,
    beacon: beacon,
    csrfCookie: "csrftoken",
    csrfURL: null
  };
  global.HitCount = HitCount;
  global.postCSRF = postCSRF;

  // Loaded with the hit in its data- attributes: count it now.
  var script = document.currentScript;
  if (script && script.dataset.hitcountPk) {
    var vars = {
      hitcountPK: script.dataset.hitcountPk,
      hitcountURL: script.dataset.hitcountUrl,
      hitcountToken: script.dataset.hitcountToken,
      hitcountCSRF: script.dataset.hitcountCsrf !== "off"
    };
    global.hitcountJS = global.hitcountJS || vars;
    var counted = countHit(vars);
    if ("hitcountDebug" in script.dataset) {
      counted.then(function (answer) { console.log("rocket-hitcount:", answer); },
        function (error) { console.error("rocket-hitcount:", error); });
    } else {
      counted.catch(function () {});
    }
  }
})(window);
