// The progress bar of a preview or import running in the background: the status is polled and
// the page reloaded when the work is done (the finished page shows the preview or the result).
(function () {
  "use strict";
  var box = document.querySelector(".import-progress[data-status-url]");
  if (!box || !window.fetch) { return; }
  var bar = document.getElementById("import-progress");
  var text = document.getElementById("import-progress-text");
  var statusUrl = box.getAttribute("data-status-url");
  var template = text.getAttribute("data-template") || "{done} / {total}";

  function show(s) {
    bar.value = s.percent;
    bar.textContent = s.percent + "%";
    text.textContent = s.percent + "% · " +
      template.replace("{done}", s.line).replace("{total}", s.total);
  }

  function poll() {
    fetch(statusUrl, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (s) {
        if (!s) { window.setTimeout(poll, 2000); return; }
        show(s);
        if (s.working) { window.setTimeout(poll, 600); } else { window.location.reload(); }
      })
      .catch(function () { window.setTimeout(poll, 2000); });
  }

  window.setTimeout(poll, 300);
})();
