// Failure-mode tag picker on the review page: turns the plain <select multiple> (which stays
// the form's value and the no-JS fallback) into a searchable combobox with a listbox, after
// the WAI-ARIA "combobox with listbox popup" pattern.
// Keys in the search box: ArrowDown / ArrowUp move through the options (they never select),
// Enter or Space selects or unselects the highlighted option, Escape closes the list,
// Backspace in an empty box removes the last tag. Typing filters by title.
(function () {
  "use strict";
  var select = document.querySelector("select[data-tag-picker]");
  if (!select) return;
  var doc = document;

  function el(tag, attrs, text) {
    var node = doc.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text) node.textContent = text;
    return node;
  }

  var picker = el("div", { "class": "tag-picker" });
  var chips = el("ul", { "class": "tag-chips plain", "aria-label": "Chosen failure modes" });
  var input = el("input", {
    type: "text", id: "id_tags_search", role: "combobox", autocomplete: "off",
    "aria-autocomplete": "list", "aria-expanded": "false", "aria-controls": "tags-listbox",
    placeholder: "Search failure modes\u2026",
  });
  var list = el("ul", { id: "tags-listbox", role: "listbox", "aria-multiselectable": "true",
    "aria-label": "Failure modes", "class": "tag-listbox" });
  list.hidden = true;
  var status = el("p", { "class": "visually-hidden", role: "status" });
  picker.append(chips, input, list, status);
  select.hidden = true;
  select.setAttribute("aria-hidden", "true");
  select.insertAdjacentElement("afterend", picker);
  var label = doc.querySelector('label[for="' + select.id + '"]');
  if (label) label.setAttribute("for", input.id);
  var describedBy = select.getAttribute("aria-describedby");
  if (describedBy) input.setAttribute("aria-describedby", describedBy);

  // One listbox row per <option>, under its group's heading ("Matching this item" first).
  var rows = [];
  Array.prototype.forEach.call(select.querySelectorAll("optgroup"), function (group, g) {
    var heading = el("li", { role: "presentation", "class": "tag-group", id: "tags-group-" + g },
      group.label);
    list.append(heading);
    Array.prototype.forEach.call(group.querySelectorAll("option"), function (option) {
      var row = el("li", { role: "option", id: "tag-opt-" + rows.length,
        "aria-selected": option.selected ? "true" : "false", "data-slug": option.value });
      row.append(el("span", { "class": "tick", "aria-hidden": "true" }));
      row.append(doc.createTextNode(option.textContent));
      var severity = option.getAttribute("data-severity");
      if (severity) {
        var cls = severity === "S1" ? "red" : severity === "S2" ? "amber" : "grey";
        row.append(doc.createTextNode(" "), el("span", { "class": "badge " + cls }, severity));
      }
      list.append(row);
      rows.push({ row: row, option: option, heading: heading,
        text: (option.textContent + " " + option.value).toLowerCase() });
    });
  });

  var active = -1;  // index into rows of the highlighted option, -1 for none
  function shown() { return rows.filter(function (r) { return !r.row.hidden; }); }
  function open() {
    if (!list.hidden) return;
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
  }
  function close() {
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
    highlight(-1);
  }
  function highlight(index) {
    if (active >= 0) rows[active].row.classList.remove("active");
    active = index;
    if (index >= 0) {
      rows[index].row.classList.add("active");
      input.setAttribute("aria-activedescendant", rows[index].row.id);
      rows[index].row.scrollIntoView({ block: "nearest" });
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  }
  function move(step) {
    var visible = shown();
    if (!visible.length) return;
    open();
    var at = visible.findIndex(function (r) { return rows.indexOf(r) === active; });
    at = at < 0 ? (step > 0 ? 0 : visible.length - 1)
      : Math.max(0, Math.min(visible.length - 1, at + step));
    highlight(rows.indexOf(visible[at]));
  }
  function filter() {
    var words = input.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    rows.forEach(function (r) {
      r.row.hidden = !words.every(function (w) { return r.text.indexOf(w) >= 0; });
    });
    // A group heading shows only while one of its options does.
    Array.prototype.forEach.call(list.querySelectorAll(".tag-group"), function (heading) {
      heading.hidden = !rows.some(function (r) { return r.heading === heading && !r.row.hidden; });
    });
    highlight(-1);
    var n = shown().length;
    status.textContent = n ? n + (n === 1 ? " failure mode" : " failure modes") : "No failure mode matches.";
  }
  function toggle(index) {
    var r = rows[index];
    r.option.selected = !r.option.selected;
    r.row.setAttribute("aria-selected", r.option.selected ? "true" : "false");
    status.textContent = (r.option.selected ? "Tagged: " : "Removed: ") + r.option.textContent;
    renderChips();
  }
  function renderChips() {
    chips.textContent = "";
    rows.forEach(function (r, index) {
      if (!r.option.selected) return;
      var chip = el("li", { "class": "tag-chip" });
      var remove = el("button", { type: "button", "class": "link",
        "aria-label": "Remove " + r.option.textContent }, "\u00d7");
      remove.addEventListener("click", function () { toggle(index); input.focus(); });
      chip.append(doc.createTextNode(r.option.textContent + " "), remove);
      chips.append(chip);
    });
  }

  input.addEventListener("input", function () { filter(); open(); });
  input.addEventListener("focus", function () { filter(); open(); });
  input.addEventListener("keydown", function (ev) {
    if (ev.key === "ArrowDown") { ev.preventDefault(); move(1); return; }
    if (ev.key === "ArrowUp") { ev.preventDefault(); move(-1); return; }
    if (ev.key === "Enter") {
      // Never submits the decision from here: Enter picks the highlighted option or nothing.
      ev.preventDefault();
      if (!list.hidden && active >= 0) toggle(active);
      return;
    }
    if (ev.key === " " && !list.hidden && active >= 0) { ev.preventDefault(); toggle(active); return; }
    if (ev.key === "Escape" && !list.hidden) {
      // Close the list only; a second Escape leaves the box (the page's own handler).
      ev.preventDefault();
      ev.stopPropagation();
      close();
      return;
    }
    if (ev.key === "Backspace" && !input.value) {
      var last = rows.map(function (r, i) { return r.option.selected ? i : -1; })
        .filter(function (i) { return i >= 0; }).pop();
      if (last !== undefined) toggle(last);
    }
  });
  list.addEventListener("mousedown", function (ev) { ev.preventDefault(); });  // keep focus
  list.addEventListener("click", function (ev) {
    var row = ev.target.closest && ev.target.closest('[role="option"]');
    if (!row) return;
    var index = rows.findIndex(function (r) { return r.row === row; });
    highlight(index);
    toggle(index);
  });
  picker.addEventListener("focusout", function (ev) {
    if (!picker.contains(ev.relatedTarget)) close();
  });
  renderChips();
})();
