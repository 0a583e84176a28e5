// Import with a progress bar: the form is sent in the background while the status is polled.
(function () {
  "use strict";
  var form = document.querySelector("form.import-run");
  if (!form || !window.fetch) { return; }
  var bar = document.getElementById("import-progress");
  var text = document.getElementById("import-progress-text");
  var button = document.getElementById("import-button");
  var statusUrl = form.getAttribute("data-status-url");
  var timer = null;

  function poll() {
    fetch(statusUrl, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (s) {
        if (!s) { return; }
        bar.value = s.percent;
        bar.textContent = s.percent + "%";
        text.textContent = s.percent + "% (" + s.line + " / " + s.total + ")";
      })
      .catch(function () {});
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (button.disabled) { return; }
    button.disabled = true;
    bar.hidden = false;
    timer = window.setInterval(poll, 500);
    fetch(form.action, {method: "POST", body: new FormData(form), credentials: "same-origin",
                        headers: {"Accept": "application/json"}})
      .then(function (r) { return r.json(); })
      .then(function (data) { window.location.assign(data.redirect); })
      .catch(function () { form.submit(); })
      .finally(function () { window.clearInterval(timer); });
  });
})();
