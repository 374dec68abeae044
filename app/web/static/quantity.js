// Progressive enhancement of a quantity question (the page works without it): check the
// three numbers as they are typed, say what to fix next to the field, and redraw the
// preview of the distribution they describe (as app/web/quantity_pages.py draws it).
(function () {
  var summary = document.getElementById("errors");
  if (summary) summary.focus();
  var form = document.querySelector("form.quantity-form");
  var svg = document.getElementById("preview");
  if (!form || !svg) return;
  var names = ["q05", "q50", "q95"];
  var WIDTH = 320, BASE = 100, P = [0.05, 0.45, 0.45, 0.05];

  function parse(text) {
    var t = text.trim().replace(/[\s\u00a0\u202f]/g, "");
    if (t.indexOf(",") === t.lastIndexOf(",") && t.indexOf(".") < 0) t = t.replace(",", ".");
    if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(t)) return null;
    var n = Number(t);
    return isFinite(n) ? n : null;
  }
  function say(name, message) {
    var input = document.getElementById(name);
    var box = document.getElementById(name + "__error");
    box.textContent = message || "";
    box.hidden = !message;
    if (message) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
  }
  function draw(v) {
    var ok = v && v[0] < v[1] && v[1] < v[2];
    svg.classList.toggle("empty", !ok);
    if (!ok) return;
    var tail = 0.1 * (v[2] - v[0]);
    var edges = [v[0] - tail, v[0], v[1], v[2], v[2] + tail];
    var span = edges[4] - edges[0];
    var x = function (value) { return (value - edges[0]) / span * WIDTH; };
    var dens = P.map(function (p, i) { return p / (edges[i + 1] - edges[i]); });
    var top = Math.max.apply(null, dens);
    svg.querySelectorAll("rect.bin").forEach(function (rect) {
      var i = Number(rect.getAttribute("data-bin"));
      var h = dens[i] / top * (BASE - 10);
      rect.setAttribute("x", x(edges[i]).toFixed(2));
      rect.setAttribute("width", (x(edges[i + 1]) - x(edges[i])).toFixed(2));
      rect.setAttribute("y", (BASE - h).toFixed(2));
      rect.setAttribute("height", h.toFixed(2));
    });
    svg.querySelectorAll("[data-mark]").forEach(function (el) {
      var at = x(v[Number(el.getAttribute("data-mark"))]).toFixed(2);
      if (el.tagName === "text") el.setAttribute("x", at);
      else { el.setAttribute("x1", at); el.setAttribute("x2", at); }
    });
  }
  function check(touched) {
    var values = [], complete = true;
    var lower = form.hasAttribute("data-lower") ? Number(form.getAttribute("data-lower")) : null;
    var upper = form.hasAttribute("data-upper") ? Number(form.getAttribute("data-upper")) : null;
    names.forEach(function (name, i) {
      var text = document.getElementById(name).value;
      var n = text.trim() ? parse(text) : null;
      values[i] = n;
      if (n === null) complete = false;
      if (!touched[name]) return;
      if (text.trim() && n === null) say(name, form.getAttribute("data-msg-number"));
      else if (n !== null && lower !== null && n < lower) say(name, form.getAttribute("data-msg-min"));
      else if (n !== null && upper !== null && n > upper) say(name, form.getAttribute("data-msg-max"));
      else say(name, "");
    });
    if (complete) {
      if (touched.q05 && !(values[0] < values[1])) say("q05", form.getAttribute("data-msg-low"));
      if (touched.q95 && !(values[1] < values[2])) say("q95", form.getAttribute("data-msg-high"));
    }
    draw(complete ? values : null);
  }
  var touched = {};
  names.forEach(function (name) {
    var input = document.getElementById(name);
    input.addEventListener("input", function () { check(touched); });
    input.addEventListener("change", function () { touched[name] = true; check(touched); });
  });
})();
