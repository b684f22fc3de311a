/*!
 * jquery.postcsrf.js: the $.postCSRF plugin of django-hitcount, for
 * rocket-hitcount. Works with jQuery 3 and 4. Served by the rocket_hitcount
 * fairing at <base_path>/static/jquery.postcsrf.js.
 *
 *   $.postCSRF(url, data, callback, type)
 *
 * Same call shape as $.post: POSTs `data` to `url` with the CSRF token from
 * the `csrftoken` cookie in the X-CSRFToken header, and calls
 * `callback(data, textStatus, jqXHR)` on success. Returns a promise-like
 * jqXHR (error answers reject it; their JSON is in jqXHR.responseJSON).
 * Set $.postCSRF.csrfCookie if you renamed the cookie with `csrf_cookie_name`.
 * A site without cookies (`cookie.mode = "none"`) writes hitcountCSRF: false
 * in window.hitcountJS: then only a token the page has as a cookie is sent,
 * and none is asked for.
 */
(function ($) {
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
    return new URL(url, window.location.href).origin === window.location.origin;
  }

  function send(url, data, callback, type, token) {
    return $.ajax({
      url: url,
      type: "POST",
      data: data,
      success: callback,
      dataType: type || "json",
      headers: token ? { "X-CSRFToken": token } : {}
    });
  }

  $.postCSRF = function (url, data, callback, type) {
    if (typeof data === "function") {
      // $.postCSRF(url, callback, type), as $.post allows.
      type = type || callback;
      callback = data;
      data = undefined;
    }
    if (!sameOrigin(url)) {
      return send(url, data, callback, type, null);
    }
    var token = readCookie($.postCSRF.csrfCookie);
    var vars = window.hitcountJS;
    if (token || (vars && vars.hitcountCSRF === false)) {
      return send(url, data, callback, type, token);
    }
    // A page cached without its cookie: fetch the token first (the answer
    // is then a promise, not the jqXHR).
    var csrfURL = $.postCSRF.csrfURL || url.replace(/hit\/ajax\/?$/, "csrf/");
    return $.getJSON(csrfURL).then(function (json) {
      return send(url, data, callback, type, json.csrftoken);
    });
  };
  $.postCSRF.csrfCookie = "csrftoken";
  $.postCSRF.csrfURL = null;
})(jQuery);
