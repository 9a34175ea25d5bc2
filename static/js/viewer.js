// The review page's image viewer (templates/reviewapp/queue/_image_viewer.html): zoom, pan,
// contrast and invert, by mouse and by keys that the page's action keys do not use:
// + / - zoom, arrows pan, c contrast, 0 reset. Keys are ignored while typing, with a
// modifier held, or while a dialog is open. review.js keeps every action key.
(function () {
  "use strict";
  var root = document.querySelector("[data-viewer]");
  if (!root) return;
  var stage = root.querySelector("[data-viewer-stage]");
  var img = root.querySelector("[data-viewer-img]");
  var tools = document.querySelector("[data-viewer-tools]");
  var level = tools.querySelector("[data-viewer-zoom-level]");
  var contrastInput = tools.querySelector("[data-viewer-contrast]");
  var invertInput = tools.querySelector("[data-viewer-invert]");
  var failed = root.querySelector("[data-viewer-failed]");
  var CONTRASTS = [1, 1.5, 2, 3];
  var MIN = 1, MAX = 8;
  var state = { scale: 1, x: 0, y: 0, contrast: 1, invert: false };

  function clampPan() {
    // Never pan the picture out of the frame: at most half the extra size either way.
    var w = stage.clientWidth, h = stage.clientHeight;
    var maxX = (w * (state.scale - 1)) / 2, maxY = (h * (state.scale - 1)) / 2;
    state.x = Math.max(-maxX, Math.min(maxX, state.x));
    state.y = Math.max(-maxY, Math.min(maxY, state.y));
  }
  function draw() {
    clampPan();
    img.style.transform = "translate(" + state.x + "px, " + state.y + "px) scale(" + state.scale + ")";
    img.style.filter = "contrast(" + state.contrast + ")" + (state.invert ? " invert(1)" : "");
    level.textContent = Math.round(state.scale * 100) + "%";
    contrastInput.value = String(state.contrast);
    invertInput.checked = state.invert;
    root.setAttribute("data-zoom", String(state.scale));
    root.setAttribute("data-contrast", String(state.contrast));
  }
  function zoom(factor) {
    var next = Math.max(MIN, Math.min(MAX, state.scale * factor));
    state.x *= next / state.scale;
    state.y *= next / state.scale;
    state.scale = Math.round(next * 100) / 100;
    draw();
  }
  function pan(dx, dy) { state.x += dx; state.y += dy; draw(); }
  function reset() { state = { scale: 1, x: 0, y: 0, contrast: 1, invert: false }; draw(); }
  function cycleContrast() {
    var i = CONTRASTS.indexOf(state.contrast);
    state.contrast = CONTRASTS[(i + 1) % CONTRASTS.length];
    draw();
  }

  tools.addEventListener("click", function (ev) {
    var z = ev.target.closest("[data-viewer-zoom]");
    if (z) { zoom(z.getAttribute("data-viewer-zoom") === "in" ? 1.25 : 0.8); return; }
    if (ev.target.closest("[data-viewer-reset]")) reset();
  });
  contrastInput.addEventListener("input", function () { state.contrast = parseFloat(contrastInput.value) || 1; draw(); });
  invertInput.addEventListener("change", function () { state.invert = invertInput.checked; draw(); });
  stage.addEventListener("wheel", function (ev) { ev.preventDefault(); zoom(ev.deltaY < 0 ? 1.15 : 1 / 1.15); }, { passive: false });
  var drag = null;
  stage.addEventListener("pointerdown", function (ev) {
    drag = { x: ev.clientX, y: ev.clientY };
    stage.setPointerCapture(ev.pointerId);
    stage.classList.add("dragging");
  });
  stage.addEventListener("pointermove", function (ev) {
    if (!drag) return;
    pan(ev.clientX - drag.x, ev.clientY - drag.y);
    drag = { x: ev.clientX, y: ev.clientY };
  });
  function endDrag() { drag = null; stage.classList.remove("dragging"); }
  stage.addEventListener("pointerup", endDrag);
  stage.addEventListener("pointercancel", endDrag);
  img.addEventListener("error", function () { failed.hidden = false; img.hidden = true; });

  function typing(el) {
    if (!el) return false;
    var tag = el.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable;
  }
  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.defaultPrevented) return;
    var active = document.activeElement;
    // The contrast slider is an input, but its own arrows are the point; leave it alone.
    if (typing(active) || document.querySelector("dialog[open]")) return;
    var step = Math.max(20, stage.clientWidth / 8);
    var keys = {
      "+": function () { zoom(1.25); }, "=": function () { zoom(1.25); },
      "-": function () { zoom(0.8); }, "_": function () { zoom(0.8); },
      "0": reset, "c": cycleContrast,
      "ArrowLeft": function () { pan(step, 0); }, "ArrowRight": function () { pan(-step, 0); },
      "ArrowUp": function () { pan(0, step); }, "ArrowDown": function () { pan(0, -step); }
    };
    var act = keys[ev.key];
    if (!act) return;
    // Arrows scroll the page when the picture is not zoomed (nothing to pan).
    if (ev.key.indexOf("Arrow") === 0 && state.scale === 1) return;
    ev.preventDefault();
    act();
  });
  draw();
})();
