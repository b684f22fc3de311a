/*!
 * hitcount.js: counts a page's hit with rocket-hitcount's AJAX endpoint.
 * No dependencies. Served by the rocket_hitcount fairing at
 * <base_path>/static/hitcount.js; copy it into your own static folder if you
 * prefer.
 *
 *   HitCount.postCSRF(url, data)  -> Promise of the endpoint's JSON answer
 *   HitCount.countHit(vars)       -> the same, for window.hitcountJS
 *                                    ({hitcountPK, hitcountURL, hitcountToken})
 *   HitCount.beacon(vars)         -> navigator.sendBeacon, for page unloads
 *
 * The CSRF token is read from the `csrftoken` cookie (set HitCount.csrfCookie
 * if you renamed it with `csrf_cookie_name`); when the page came without it
 * (a page cached by a CDN), it is fetched from <base>/csrf/ first.
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

  // <base>/hit/ajax/ -> <base>/csrf/
  function csrfURL(url) {
    return url.replace(/hit\/ajax\/?$/, "csrf/");
  }

  function csrfToken(url) {
    var token = readCookie(HitCount.csrfCookie);
    if (token) {
      return Promise.resolve(token);
    }
    return fetch(csrfURL(url), { credentials: "same-origin" })
      .then(function (response) { return response.json(); })
      .then(function (json) { return json.csrftoken; });
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

  // POSTs `data` as a form with the CSRF token; resolves to the JSON answer
  // (also for error answers, which carry `error_message`).
  function postCSRF(url, data) {
    return csrfToken(url).then(function (token) {
      return fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: {
          "X-CSRFToken": token,
          "X-Requested-With": "XMLHttpRequest",
          "Content-Type": "application/x-www-form-urlencoded"
        },
        body: formOf(data).toString()
      }).then(function (response) { return response.json(); });
    });
  }

  function fields(vars) {
    vars = vars || global.hitcountJS || {};
    return {
      url: vars.hitcountURL,
      data: { hitcountPK: vars.hitcountPK, hitcountToken: vars.hitcountToken }
    };
  }

  // Counts the hit described by `vars` (default: window.hitcountJS).
  function countHit(vars) {
    var hit = fields(vars);
    return postCSRF(hit.url, hit.data);
  }

  // Counts with navigator.sendBeacon, which survives the page unloading but
  // cannot send headers: the CSRF token travels in the form instead.
  // Returns whether the browser queued the beacon.
  function beacon(vars) {
    var hit = fields(vars);
    var token = readCookie(HitCount.csrfCookie);
    if (!navigator.sendBeacon || !token) {
      return false;
    }
    var form = formOf(hit.data);
    form.append("csrfmiddlewaretoken", token);
    return navigator.sendBeacon(hit.url, form);
  }

  var HitCount = { postCSRF: postCSRF, countHit: countHit, beacon: beacon, csrfCookie: "csrftoken" };
  global.HitCount = HitCount;
  global.postCSRF = postCSRF;
})(window);
