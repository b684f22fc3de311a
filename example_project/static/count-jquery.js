// The jQuery counting page's script (generic-detail-view-ajax-jquery), as
// django-hitcount's example does it: $.postCSRF to the endpoint, with the
// fields of window.hitcountJS, and the answer shown.
jQuery(function ($) {
  var fields = { hitcountPK: hitcountJS.hitcountPK, hitcountToken: hitcountJS.hitcountToken };
  $.postCSRF(hitcountJS.hitcountURL, fields).done(function (data) {
    $("#hit-counted-value").text(String(data.hit_counted));
    $("#hit-response").text(data.hit_message);
    // The counts below were read before this request: add what it added
    // (a hit is a view too; a repeat visit is a view only).
    var added = data.hit_counted ? "#total-hits, #hits-last-day, #views"
      : /has active hit$/.test(data.hit_message || "") ? "#views" : "";
    if (added) {
      $(added).text(function (i, count) { return String(Number(count) + 1); });
    }
    showVisit(document.getElementById("visits"));
  }).fail(function (xhr) {
    $("#hit-response").text("POST failed: " + xhr.status + " " + xhr.responseText);
  });
});
