// The dependency-free counting page's script (generic-detail-view-ajax):
// counts the hit described by window.hitcountJS, which the page's
// insert_hit_count_js_variables wrote, and shows the endpoint's answer.
HitCount.countHit(hitcountJS).then(function (data) {
  document.getElementById("hit-counted-value").textContent = String(data.hit_counted);
  document.getElementById("hit-response").textContent = data.hit_message || data.error_message;
  // The counts below were read before this request: add what it added
  // (a hit is a view too; a repeat visit is a view only).
  var added = data.hit_counted ? ["total-hits", "hits-last-day", "views"]
    : /has active hit$/.test(data.hit_message || "") ? ["views"] : [];
  added.forEach(function (id) {
    var count = document.getElementById(id);
    count.textContent = String(Number(count.textContent) + 1);
  });
  showVisit(document.getElementById("visits"));
}, function (error) {
  document.getElementById("hit-response").textContent = "POST failed: " + error;
});
