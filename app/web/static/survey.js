// Progressive enhancement only: warn before leaving an item page with unsaved changes.
(function () {
  var form = document.querySelector("form.item-form");
  if (!form) return;
  var dirty = false;
  form.addEventListener("change", function () { dirty = true; });
  form.addEventListener("input", function () { dirty = true; });
  form.addEventListener("submit", function () { dirty = false; });
  window.addEventListener("beforeunload", function (event) {
    if (dirty) { event.preventDefault(); event.returnValue = ""; }
  });
  var summary = document.getElementById("errors");
  if (summary) summary.focus();
})();
