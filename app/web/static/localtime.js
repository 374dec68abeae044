// Times in the viewer's time zone. Progressive enhancement: without this script the page
// shows every time in UTC, says so, and the server takes the times typed as UTC.
// - <time datetime="...UTC..."> elements are rewritten in local time (the UTC time stays
//   in their title);
// - in a form marked data-local-times, the date-and-time fields are shown in local time
//   ("utc": the values came from the server in UTC; "typed": they are what was typed), and
//   on sending, each field's hidden "<name>_offset" gets the offset from UTC in minutes
//   at that date (so a time across a daylight-saving change is still right).
(function () {
  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function localValue(date) {
    return date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate()) +
      "T" + pad(date.getHours()) + ":" + pad(date.getMinutes());
  }

  function offsetText(date) {
    var minutes = -date.getTimezoneOffset();
    var sign = minutes < 0 ? "-" : "+";
    minutes = Math.abs(minutes);
    return "UTC" + sign + pad(Math.floor(minutes / 60)) + ":" + pad(minutes % 60);
  }

  function zoneName() {
    try { return Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { return ""; }
  }

  var zone = zoneName();

  document.querySelectorAll("time[datetime]").forEach(function (element) {
    var date = new Date(element.getAttribute("datetime"));
    if (isNaN(date.getTime())) return;
    element.title = element.textContent;
    element.textContent = localValue(date).replace("T", " ") + " " + (zone || offsetText(date));
  });

  document.querySelectorAll("form[data-local-times]").forEach(function (form) {
    var fields = form.querySelectorAll("input[type=datetime-local]");
    if (form.getAttribute("data-local-times") === "utc") {
      fields.forEach(function (input) {
        if (!input.value) return;
        var date = new Date(input.value + "Z");
        if (!isNaN(date.getTime())) input.value = localValue(date);
      });
    }
    form.querySelectorAll("[data-zone-note]").forEach(function (note) {
      var now = new Date();
      note.textContent = "Times are in your time zone" +
        (zone ? ", " + zone + " (" + offsetText(now) + " now)." : " (" + offsetText(now) + ").");
    });
    form.addEventListener("submit", function () {
      fields.forEach(function (input) {
        var hidden = form.querySelector("input[type=hidden][name='" + input.name + "_offset']");
        if (!hidden) return;
        // A date and time without an offset is read as local time, at that date's offset.
        var date = new Date(input.value);
        hidden.value = input.value && !isNaN(date.getTime()) ? String(-date.getTimezoneOffset()) : "";
      });
    });
  });
})();
