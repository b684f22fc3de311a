// The jQuery counting page's script (generic-detail-view-ajax-jquery), as
// django-hitcount's example does it: $.postCSRF to the endpoint, with the
// fields of window.hitcountJS, and the answer shown.
jQuery(function ($) {
  var fields = { hitcountPK: hitcountJS.hitcountPK, hitcountToken: hitcountJS.hitcountToken };
  $.postCSRF(hitcountJS.hitcountURL, fields).done(function (data) {
    $("#hit-counted-value").text(String(data.hit_counted));
    $("#hit-response").text(data.hit_message);
    // The counts below were read before this hit: add it (a hit is a
    // view too), and this visit, which the endpoint recorded.
    if (data.hit_counted) {
      $("#total-hits, #hits-last-day, #views").text(function (i, count) { return String(Number(count) + 1); });
    }
    showVisit(document.getElementById("visits"));
  }).fail(function (xhr) {
    $("#hit-response").text("POST failed: " + xhr.status + " " + xhr.responseText);
  });
});
