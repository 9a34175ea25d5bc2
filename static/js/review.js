// Failsafe review queue: keyboard shortcuts, lease renewal, undo toast, row navigation.
// Everything here is an enhancement: every action is a plain form post without it.
(function () {
  "use strict";
  var doc = document;

  function typing(el) {
    if (!el) return false;
    var tag = el.tagName;
    // A radio or checkbox (the queue's filters) takes no letters: the page's keys still work.
    if (tag === "INPUT" && /^(radio|checkbox|button|submit|reset)$/.test(el.type)) return false;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable;
  }
  function csrf() {
    var input = doc.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }
  function showKeys() {
    var dlg = doc.getElementById("keys-help");
    if (dlg && !dlg.open) dlg.showModal();
  }
  doc.querySelectorAll("[data-show-keys]").forEach(function (b) { b.addEventListener("click", showKeys); });

  // --- undo toast: counts down, then disappears (the server refuses a late undo anyway) ---
  var toast = doc.querySelector(".toast[data-undo-seconds]");
  if (toast) {
    var left = parseInt(toast.getAttribute("data-undo-seconds"), 10) || 0;
    var counter = toast.querySelector("[data-countdown]");
    var undoForm = toast.querySelector("form");
    var tick = setInterval(function () {
      left -= 1;
      if (counter) counter.textContent = Math.max(left, 0) + " s";
      if (left <= 0) {
        clearInterval(tick);
        if (undoForm) undoForm.remove();
        setTimeout(function () { toast.classList.add("gone"); }, 2500);
      }
    }, 1000);
    if (!undoForm) setTimeout(function () { toast.classList.add("gone"); }, 4000);
  }
  function undo() {
    var form = doc.querySelector(".toast form");
    if (form) form.submit();
  }

  // --- SLA countdown in the review header (the server-rendered text is the no-JS fallback) ---
  var sla = doc.querySelector(".review-head [data-sla]");
  if (sla) {
    var due = Date.parse(sla.getAttribute("data-sla"));
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    var tickSla = function () {
      var left = Math.round((due - Date.now()) / 1000);
      if (left <= 0) {
        sla.className = "badge red";
        sla.textContent = "⚠ SLA breached";
        return;
      }
      var h = Math.floor(left / 3600), m = Math.floor((left % 3600) / 60), sec = left % 60;
      sla.textContent = "SLA " + (h ? h + ":" + pad(m) : pad(m)) + ":" + pad(sec);
    };
    tickSla();
    setInterval(tickSla, 1000);
  }

  // --- review page ---------------------------------------------------------------------
  var review = doc.getElementById("review");
  var form = doc.getElementById("decide-form");
  var mode = null;
  // Suggestion masking: the model's answer is hidden and the reviewer picks a label ("label").
  var masked = !!(form && form.hasAttribute("data-masked"));
  // What Enter will do, said before it happens (and read out: the hint is a live region).
  function modeWords(action) {
    var label = form && form.querySelector("#id_label");
    if (action === "override") {
      return label && label.value ? "Enter to override as " + label.value + "."
        : "Override: pick the correct label (1–9), give a reason, then Enter.";
    }
    if (action === "label") {
      return label && label.value ? "Enter to submit " + label.value + " as your label."
        : "Pick the label you think is right (1–9), then Enter.";
    }
    if (action === "escalate") return "Enter to escalate to a lead, with your note.";
    if (action === "defer") {
      // Without a "not before" time the page says where the item goes (the field's own help,
      // which screen readers get from the field).
      var wake = form && form.querySelector("#id_wake_at");
      var help = doc.getElementById("wake-help");
      return "Enter to defer, with your note." +
        (wake && !wake.value && help ? " " + help.textContent.trim() : "");
    }
    return "Press a, o, e or d to choose an action; Enter submits only the chosen one.";
  }
  function setMode(action) {
    mode = action;
    if (!form) return;
    form.querySelectorAll("[data-action]").forEach(function (b) {
      var chosen = b.getAttribute("data-action") === action;
      b.classList.toggle("mode", chosen);
    });
    var hint = form.querySelector("[data-mode-hint]");
    if (hint) {
      hint.classList.remove("needs-action");
      hint.classList.toggle("chosen", !!action);
      hint.textContent = modeWords(action);
    }
  }
  // Enter in a text box submits only the action the reviewer chose; without one it says so.
  function enterPressed() {
    if (mode) { submitAs(mode); return; }
    var hint = form.querySelector("[data-mode-hint]");
    if (hint) {
      hint.classList.remove("chosen");
      hint.classList.add("needs-action");
      hint.textContent = "Choose an action (a, o, e, d).";
    }
  }
  function submitAs(action) {
    var button = form.querySelector('[data-action="' + action + '"]');
    if (!button) return;
    if (form.requestSubmit) form.requestSubmit(button); else button.click();
  }
  // On a masked item "a" cannot accept what the reviewer has not seen: it asks for a label
  // (the picker gets focus, so digits and arrows pick there) and says so in the live region.
  function askLabel() {
    var picker = form.querySelector("#id_label");
    if (picker && picker.value) { setMode("label"); submitAs("label"); return; }
    setMode("label");
    var hint = form.querySelector("[data-mode-hint]");
    if (hint) { hint.classList.add("needs-action"); hint.textContent = "Pick the label you think is right"; }
    if (picker) { picker.classList.add("wants-label"); picker.focus(); }
  }
  function toggleGuideline() {
    var panel = doc.getElementById("guideline-panel");
    if (!panel) return;
    panel.hidden = !panel.hidden;
    // Beside the item, not over it: the review content makes room while it is open.
    doc.body.classList.toggle("guideline-open", !panel.hidden);
  }
  doc.querySelectorAll("[data-toggle-guideline]").forEach(function (b) { b.addEventListener("click", toggleGuideline); });

  if (form) {
    var label = form.querySelector("#id_label");
    var reason = form.querySelector("#id_reason");
    form.querySelectorAll("#id_reason, #id_wake_at").forEach(function (box) {
      box.addEventListener("keydown", function (ev) {
        if (ev.key === "Enter" && !ev.isComposing) {
          ev.preventDefault();
          enterPressed();
        }
      });
    });
    var wakeAt = form.querySelector("#id_wake_at");
    if (wakeAt) {
      wakeAt.addEventListener("change", function () { if (mode === "defer") setMode(mode); });
    }
    form.addEventListener("submit", function () {
      form.querySelectorAll("button[type=submit]").forEach(function (b) { b.setAttribute("aria-busy", "true"); });
    });
    // Keep the lease while the page is open; a lost claim is said plainly, at once.
    var renewUrl = review.getAttribute("data-renew-url");
    var generation = review.getAttribute("data-generation");
    function renew() {
      var body = new URLSearchParams({ generation: generation });
      fetch(renewUrl, { method: "POST", body: body, credentials: "same-origin",
        headers: { "X-CSRFToken": csrf() } }).then(function (r) {
        if (r.status === 409 || r.status === 403) {
          var banner = doc.querySelector("[data-claim-lost]");
          if (banner) {
            banner.hidden = false;
            r.json().then(function (j) {
              var msgs = j && j.errors ? Object.values(j.errors).flat() : [];
              if (msgs.length) banner.firstChild.textContent = msgs.join(" ") + " ";
            }).catch(function () {});
          }
          form.querySelectorAll("button, input, select").forEach(function (el) { el.disabled = true; });
          clearInterval(renewTimer);
        }
      }).catch(function () { /* offline: try again next time */ });
    }
    var renewTimer = setInterval(renew, 60000);
    doc.addEventListener("visibilitychange", function () { if (!doc.hidden) renew(); });
  }

  // --- list pages: j / k / Enter over rows -------------------------------------------------
  var selected = -1;
  function rows() { return Array.prototype.slice.call(doc.querySelectorAll("[data-list] tbody tr")); }
  function move(step) {
    var list = rows();
    if (!list.length) return;
    if (selected >= 0 && list[selected]) list[selected].classList.remove("kbd-selected");
    selected = Math.max(0, Math.min(list.length - 1, selected + step));
    list[selected].classList.add("kbd-selected");
    list[selected].scrollIntoView({ block: "nearest" });
  }
  doc.addEventListener("click", function (ev) {
    var tr = ev.target.closest && ev.target.closest("[data-list] tbody tr[data-href]");
    if (tr && !ev.target.closest("a, input, button, label, select")) window.location = tr.getAttribute("data-href");
  });

  doc.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    var active = doc.activeElement;
    if (ev.key === "Escape") {
      if (typing(active)) active.blur();
      var panel = doc.getElementById("guideline-panel");
      if (panel && !panel.hidden) toggleGuideline();
      return;
    }
    if (typing(active)) return;
    var key = ev.key;
    if (key === "?") { ev.preventDefault(); showKeys(); return; }
    if (key === "u") { undo(); return; }
    if (form) {
      if (masked && (key === "a" || key === "o")) { ev.preventDefault(); askLabel(); return; }
      if (key === "a") { ev.preventDefault(); submitAs("accept"); return; }
      if (key === "o") {
        ev.preventDefault();
        setMode("override");
        // Without a label yet, digits pick one; focus stays off the select so they reach us.
        if (label.value) reason.focus(); else label.classList.add("wants-label");
        return;
      }
      if (key === "e") { ev.preventDefault(); setMode("escalate"); reason.focus(); return; }
      if (key === "d") { ev.preventDefault(); setMode("defer"); reason.focus(); return; }
      if (key === "g") { ev.preventDefault(); toggleGuideline(); return; }
      if (/^[1-9]$/.test(key) && label) {
        var option = label.options[parseInt(key, 10)];
        if (option) { ev.preventDefault(); label.value = option.value; label.classList.remove("wants-label"); setMode(masked ? "label" : "override"); reason.focus(); }
        return;
      }
    } else if (review && key === "g") { toggleGuideline(); return; }
    if (key === "j") { move(1); return; }
    if (key === "k") { move(-1); return; }
    if (key === "Enter" && selected >= 0) {
      var tr = rows()[selected];
      if (tr) window.location = tr.getAttribute("data-href");
      return;
    }
    if (key === "s") {
      var start = doc.querySelector('[data-key="s"]');
      if (start) { ev.preventDefault(); start.click(); }
    }
  });
  // A label chosen with the mouse also means "override"; digits work inside the select too.
  if (form) {
    var labelSelect = form.querySelector("#id_label");
    labelSelect.addEventListener("change", function () { setMode(masked ? "label" : "override"); labelSelect.classList.remove("wants-label"); });
    labelSelect.addEventListener("keydown", function (ev) {
      if (/^[1-9]$/.test(ev.key) && labelSelect.options[parseInt(ev.key, 10)]) {
        ev.preventDefault();
        labelSelect.value = labelSelect.options[parseInt(ev.key, 10)].value;
        labelSelect.classList.remove("wants-label");
        setMode(masked ? "label" : "override");
        form.querySelector("#id_reason").focus();
      }
    });
  }
})();
