// Progressive enhancement only (every page works without this script):
// - warn before leaving an item page with unsaved changes;
// - send the questionnaire's forms in the background, and when the service is busy (503)
//   or the connection drops, keep the page as it is and send again after the wait the
//   server asks for: nothing typed is lost.
(function () {
  var summary = document.getElementById("errors");
  if (summary) summary.focus();

  var form = document.querySelector("form.item-form");
  var dirty = false;
  if (form) {
    form.addEventListener("change", function () { dirty = true; });
    form.addEventListener("input", function () { dirty = true; });
    window.addEventListener("beforeunload", function (event) {
      if (dirty) { event.preventDefault(); event.returnValue = ""; }
    });
  }

  var MAX_TRIES = 8;

  function statusLine(target) {
    var line = target.querySelector(".send-status");
    if (!line) {
      line = document.createElement("p");
      line.className = "send-status";
      line.setAttribute("role", "status");
      line.setAttribute("aria-live", "polite");
      var actions = target.querySelector(".actions") || target.lastElementChild;
      target.insertBefore(line, actions);
    }
    return line;
  }

  function show(html) {
    document.open();
    document.write(html);
    document.close();
  }

  function send(target, data, tries) {
    var line = statusLine(target);
    var buttons = target.querySelectorAll("button[type=submit]");
    buttons.forEach(function (b) { b.disabled = true; });
    // getAttribute: a control named "action" (the save buttons) shadows form.action.
    fetch(target.getAttribute("action"), {
      method: "POST",
      body: new URLSearchParams(data),
      credentials: "same-origin",
      headers: { "Accept": "text/html" },
      redirect: "follow",
    }).then(function (response) {
      if (response.status === 503 && tries < MAX_TRIES) {
        var wait = parseInt(response.headers.get("Retry-After") || "2", 10);
        retry(target, data, tries, isNaN(wait) ? 2 : wait);
        return;
      }
      dirty = false;
      if (response.redirected) {
        window.location.assign(response.url);
        return;
      }
      return response.text().then(show);
    }).catch(function () {
      if (tries < MAX_TRIES) { retry(target, data, tries, 2); return; }
      buttons.forEach(function (b) { b.disabled = false; });
      line.textContent = "Your answers could not be sent: the connection is down. " +
        "They are still on this page; try again when you are back online.";
    });
  }

  function retry(target, data, tries, seconds) {
    var line = statusLine(target);
    // A little randomness, so that many pages refused at once do not return at once.
    var wait = Math.max(1, seconds) * (0.75 + Math.random() * 0.5);
    line.textContent = "The service is busy. Your answers are kept on this page and " +
      "will be sent again in " + Math.ceil(wait) + " s.";
    window.setTimeout(function () { send(target, data, tries + 1); }, wait * 1000);
  }

  var forms = document.querySelectorAll("form[method=post][action^='/survey']");
  forms.forEach(function (target) {
    if (!window.fetch || !window.FormData || !window.URLSearchParams) return;
    target.addEventListener("submit", function (event) {
      event.preventDefault();
      var data = new FormData(target);
      if (event.submitter && event.submitter.name) {
        data.append(event.submitter.name, event.submitter.value);
      }
      send(target, data, 0);
    });
  });
})();
