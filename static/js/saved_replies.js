// Saved replies: insert the chosen one (placeholders filled by the server) into the reply.
(function () {
  var pick = document.getElementById("saved-reply");
  var body = document.querySelector("textarea[name='reply-body']");
  if (!pick || !body) return;
  pick.addEventListener("change", function () {
    if (!pick.value) return;
    var url = pick.dataset.url.replace(/0\.json$/, pick.value + ".json");
    fetch(url, {credentials: "same-origin"}).then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) return;
        body.value = body.value ? body.value + "\n\n" + data.text : data.text;
        body.dispatchEvent(new Event("input"));
        body.focus();
        pick.value = "";
      });
  });
})();
