// The queue list's bulk bar: "Assign to" offers only the people who can take every selected
// item (the leads, and the reviewers in the pools of all the selected items' models). The
// server checks the same rule again; this only keeps the list honest. Works after htmx swaps
// the results (event delegation on the document).
(function () {
  "use strict";

  function selectedModels(form) {
    var scope = form.querySelector("input[name=scope]:checked");
    var boxes = form.querySelectorAll("input[name=items][data-model]");
    var models = {};
    for (var i = 0; i < boxes.length; i++) {
      if ((scope && scope.value === "filter") || boxes[i].checked) {
        models[boxes[i].dataset.model] = true;
      }
    }
    return Object.keys(models);
  }

  function update() {
    var form = document.getElementById("bulk-form");
    if (!form) return;
    var select = form.querySelector("select[name=assignee]");
    var hint = document.getElementById("bulk-hint");
    if (!select) return;
    var models = selectedModels(form);
    var reviewers = 0;
    for (var i = 0; i < select.options.length; i++) {
      var option = select.options[i];
      if (!option.value) continue;
      var pools = (option.dataset.pools || "").split(" ");
      var ok = option.dataset.pools === "*" || models.every(function (m) { return pools.indexOf(m) >= 0; });
      option.disabled = !ok;
      option.hidden = !ok;
      if (ok && option.dataset.pools !== "*") reviewers++;
      if (!ok && option.selected) select.value = "";
    }
    // Links other apps offer for the selection ("Open an incident" → ?items=1,2,3).
    var ids = [];
    var checked = form.querySelectorAll("input[name=items]:checked");
    for (var j = 0; j < checked.length; j++) ids.push(checked[j].value);
    var links = document.querySelectorAll("a[data-bulk-link]");
    for (var k = 0; k < links.length; k++) {
      links[k].href = links[k].dataset.bulkLink + ids.join(",");
      links[k].setAttribute("aria-disabled", ids.length ? "false" : "true");
    }
    if (hint) {
      hint.textContent = !models.length ? "" : (reviewers ? hint.dataset.some : hint.dataset.none);
    }
  }

  document.addEventListener("change", function (event) {
    if (event.target.closest && event.target.closest("#bulk-form")) update();
  });
  document.addEventListener("htmx:afterSwap", update);
  document.addEventListener("DOMContentLoaded", update);
})();
