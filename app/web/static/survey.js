// Progressive enhancement only (every page works without this script):
// - warn before leaving an item page with unsaved changes, and keep a local draft of what
//   is typed there until it is saved;
// - send the questionnaire's forms in the background, and when the service is busy (503)
//   or the connection drops, keep the page as it is and send again after the wait the
//   server asks for: nothing typed is lost.
(function () {
  // The sentences this script writes come from the page, in the reader's language.
  var texts = document.getElementById("survey-texts");
  function text(name, english) {
    return (texts && texts.getAttribute("data-" + name)) || english;
  }
  var summary = document.getElementById("errors");
  if (summary) summary.focus();

  var form = document.querySelector("form.item-form");
  var dirty = false;
  var draft = form ? localDraft(form) : null;
  if (form) {
    form.addEventListener("change", function () { dirty = true; draft.keep(); });
    form.addEventListener("input", function () { dirty = true; draft.keep(); });
    window.addEventListener("beforeunload", function (event) {
      if (dirty) { event.preventDefault(); event.returnValue = ""; }
    });
    draft.restore();
  }

  // A copy of what is typed on an item page, in this browser only, until the server has
  // saved it: a failed save, an expired session, a closed tab or a dropped connection
  // loses nothing. Restored when the page is opened again; removed once saved.
  function localDraft(target) {
    var key = target.getAttribute("data-draft-key");
    var store = null;
    try { store = window.localStorage; } catch (e) { store = null; }
    function fields() {
      var out = {};
      target.querySelectorAll("textarea[name], input[type=radio][name]:checked, " +
                              "input[type=checkbox][name]").forEach(function (el) {
        if (el.type === "checkbox") { out[el.name] = el.checked ? el.value : ""; }
        else { out[el.name] = el.value; }
      });
      return out;
    }
    function same(a, b) { return JSON.stringify(a) === JSON.stringify(b); }
    var initial = fields();
    return {
      keep: function () {
        if (!store || !key) return;
        var now = fields();
        try {
          if (same(now, initial)) { store.removeItem(key); }
          else { store.setItem(key, JSON.stringify(now)); }
        } catch (e) { /* storage full or refused: the page itself still holds the text */ }
      },
      forget: function () { if (store && key) { try { store.removeItem(key); } catch (e) {} } },
      restore: function () {
        if (!store || !key) return;
        var saved = null;
        try { saved = JSON.parse(store.getItem(key) || "null"); } catch (e) { saved = null; }
        if (!saved) return;
        if (same(saved, initial)) { store.removeItem(key); return; }  // saved meanwhile
        Object.keys(saved).forEach(function (name) {
          var value = saved[name];
          target.querySelectorAll("[name='" + name.replace(/'/g, "") + "']").forEach(function (el) {
            if (el.type === "radio") { el.checked = el.value === value; }
            else if (el.type === "checkbox") { el.checked = value !== ""; }
            else { el.value = value; }
          });
        });
        dirty = true;
        // At the top of the form, where it is seen before anything else on the page.
        var line = document.createElement("p");
        line.className = "notice draft-restored";
        line.setAttribute("role", "status");
        line.textContent = text("restored", "Restored what you typed here earlier that " +
          "was not saved yet. Save to keep it.") + " ";
        target.insertBefore(line, target.firstChild);
        var discard = document.createElement("button");
        discard.type = "button";
        discard.textContent = text("discard", "Discard it");
        discard.addEventListener("click", function () {
          store.removeItem(key);
          dirty = false;
          window.location.reload();
        });
        line.appendChild(discard);
      },
    };
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
      if (response.redirected) {
        // Saved (the server moves on only after a save): the local copy is no longer needed.
        dirty = false;
        if (draft && target === form) draft.forget();
        window.location.assign(response.url);
        return;
      }
      dirty = false;
      return response.text().then(show);
    }).catch(function () {
      if (tries < MAX_TRIES) { retry(target, data, tries, 2); return; }
      buttons.forEach(function (b) { b.disabled = false; });
      line.textContent = text("offline", "Your answers could not be sent: the connection " +
        "is down. They are still on this page; try again when you are back online.");
    });
  }

  function retry(target, data, tries, seconds) {
    var line = statusLine(target);
    // A little randomness, so that many pages refused at once do not return at once.
    var wait = Math.max(1, seconds) * (0.75 + Math.random() * 0.5);
    line.textContent = text("busy", "The service is busy. Your answers are kept on this " +
      "page and will be sent again in {seconds} s.").replace("{seconds}", Math.ceil(wait));
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
