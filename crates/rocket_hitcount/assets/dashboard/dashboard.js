// The hit log's selection: "select all" and the "N of M selected" count.
// The page works without it; this only saves clicks.
(function () {
  "use strict";
  var form = document.getElementById("actions");
  if (!form) {
    return;
  }
  var all = document.getElementById("select-all");
  var count = document.getElementById("selected-count");
  var boxes = Array.prototype.slice.call(form.querySelectorAll('input[name="selected"]'));
  function update() {
    var selected = boxes.filter(function (box) { return box.checked; }).length;
    if (count) {
      count.textContent = selected + " of " + boxes.length + " selected";
    }
    if (all) {
      all.checked = selected > 0 && selected === boxes.length;
      all.indeterminate = selected > 0 && selected < boxes.length;
    }
  }
  if (all) {
    all.hidden = false;
    all.addEventListener("change", function () {
      boxes.forEach(function (box) { box.checked = all.checked; });
      update();
    });
  }
  boxes.forEach(function (box) { box.addEventListener("change", update); });
  update();
}());
