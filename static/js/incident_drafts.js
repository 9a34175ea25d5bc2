// The incident page's communication drafts: "Copy" puts a draft's text on the clipboard
// (the page's CSP allows no inline script, so this file is loaded by the section).
(function () {
  "use strict";
  function say(id, text) {
    var out = document.querySelector('[data-copied="' + id + '"]');
    if (out) out.textContent = text;
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var id = button.getAttribute("data-copy");
    var area = document.getElementById(id);
    if (!area) return;
    var done = function () { say(id, "Copied."); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(area.value).then(done, function () {
        area.select();
        say(id, "Selected: press Ctrl+C to copy.");
      });
    } else {
      area.focus();
      area.select();
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      if (ok) { done(); } else { say(id, "Selected: press Ctrl+C to copy."); }
    }
  });
})();
