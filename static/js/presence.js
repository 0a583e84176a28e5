// Collision warning: heartbeat every few seconds, show who else is viewing or replying.
(function () {
  var box = document.getElementById("presence");
  if (!box) return;
  var body = document.querySelector("textarea[name='reply-body']");
  var state = "viewing";
  if (body) {
    body.addEventListener("input", function () { state = body.value.trim() ? "replying" : "viewing"; beat(); });
  }
  function beat() {
    var form = new FormData();
    form.append("state", state);
    form.append("seen", box.dataset.seen);
    fetch(box.dataset.url, {method: "POST", body: form, credentials: "same-origin",
                            headers: {"X-CSRFToken": box.dataset.csrf}})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) return;
        var lines = data.others.map(function (o) { return o.text; });
        if (data.stale) lines.push(data.stale_text);
        box.textContent = lines.join(" · ");
        box.classList.toggle("active", lines.length > 0);
      })
      .catch(function () {});
  }
  beat();
  setInterval(beat, 3000);
})();
