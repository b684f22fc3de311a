// The AJAX pages are rendered before their script's request records this
// visit: once the endpoint has answered, count it in "You have visited
// this page N times" (N before this visit is the paragraph's data-visits).
function showVisit(paragraph) {
  if (!paragraph) return; // visit counts are off (cookie.visit_counts)
  var n = Number(paragraph.getAttribute("data-visits")) + 1;
  paragraph.textContent = "You have visited this page " + n + (n === 1 ? " time." : " times.");
}
