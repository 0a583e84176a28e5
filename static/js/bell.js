// The bell: polls the console's notifications feed and shows the unread count.
(function () {
  var bell = document.getElementById("bell");
  if (!bell) return;
  var count = document.getElementById("bell-count");
  function poll() {
    fetch(bell.dataset.feed, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) return;
        count.textContent = data.unread ? String(data.unread) : "";
        bell.classList.toggle("unread", data.unread > 0);
        bell.title = data.items.map(function (i) {
          return (i.ticket ? "#" + i.ticket + " " : "") + i.label;
        }).join("\n");
      })
      .catch(function () {});
  }
  poll();
  setInterval(poll, 30000);
})();
