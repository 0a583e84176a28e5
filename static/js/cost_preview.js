// Before logging time: ask the server what it adds to the client's bill and show it by the form.
(function () {
  var box = document.getElementById("cost-preview");
  if (!box) return;
  var forms = [["call", "phone"], ["time", null]];
  forms.forEach(function (pair) {
    var prefix = pair[0];
    var minutes = document.querySelector("input[name='" + prefix + "-minutes']");
    if (!minutes) return;
    var form = minutes.form;
    var note = document.createElement("p");
    note.className = "cost-preview";
    note.setAttribute("role", "status");
    minutes.insertAdjacentElement("afterend", note);
    var timer = null;
    function ask() {
      var started = form.querySelector("[name='" + prefix + "-started_at']");
      var kind = pair[1] || (form.querySelector("[name='" + prefix + "-kind']") || {}).value || "remote";
      if (!minutes.value) { note.textContent = ""; return; }
      var url = box.dataset.url + "?minutes=" + encodeURIComponent(minutes.value) +
        "&kind=" + encodeURIComponent(kind) +
        "&started=" + encodeURIComponent(started ? started.value : "");
      fetch(url, {credentials: "same-origin"}).then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (!data) return;
          note.textContent = data.message;
          note.classList.toggle("warn", !!data.costs);
        }).catch(function () {});
    }
    form.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(ask, 300); });
    form.addEventListener("change", ask);
  });
})();
