// The bell: a notification panel in the header. Without JavaScript the bell is a link to the
// full page; with it, a button opens a dropdown of the latest items (fetched from the console's
// JSON feed, polled every 30 seconds so the count updates without a reload). Keyboard: Enter or
// Space opens, Esc closes and returns focus to the bell, arrow keys move through the items.
(function () {
  "use strict";
  var wrap = document.getElementById("bell-wrap");
  if (!wrap) { return; }
  var link = document.getElementById("bell");
  var button = document.getElementById("bell-button");
  var panel = document.getElementById("bell-panel");
  var list = document.getElementById("bell-list");
  var empty = document.getElementById("bell-empty");
  var readAll = document.getElementById("bell-read-all");
  var counts = wrap.querySelectorAll(".bell-count");
  var unreadLabel = list.getAttribute("data-unread-label");
  var items = [];

  link.hidden = true;
  button.hidden = false;

  function setCount(n) {
    Array.prototype.forEach.call(counts, function (c) { c.textContent = n ? String(n) : ""; });
    link.classList.toggle("unread", n > 0);
    button.classList.toggle("unread", n > 0);
    readAll.disabled = !n;
  }

  function render() {
    // Keep the keyboard where it was: a poll redraws the list under the reader's focus.
    var focused = list.contains(document.activeElement) ?
      document.activeElement.getAttribute("data-id") : null;
    list.textContent = "";
    items.forEach(function (item) {
      var li = document.createElement("li");
      li.className = item.unread ? "unread" : "read";
      var a = document.createElement("a");
      a.href = item.url || link.getAttribute("href");
      a.setAttribute("data-id", String(item.id));
      if (item.unread) {
        var mark = document.createElement("span");
        mark.className = "bell-dot";
        mark.textContent = unreadLabel;
        a.appendChild(mark);
      }
      var text = document.createElement("span");
      text.className = "bell-text";
      text.textContent = item.text;
      a.appendChild(text);
      if (item.ticket) {
        var ticket = document.createElement("span");
        ticket.className = "bell-ticket";
        ticket.textContent = "#" + item.ticket + " " + (item.subject || "");
        a.appendChild(ticket);
      }
      var meta = document.createElement("span");
      meta.className = "bell-meta";
      var time = document.createElement("time");
      time.setAttribute("datetime", item.at);
      time.title = item.when;
      time.textContent = item.ago;
      if (item.who) { meta.appendChild(document.createTextNode(item.who + " · ")); }
      meta.appendChild(time);
      a.appendChild(meta);
      li.appendChild(a);
      list.appendChild(li);
    });
    empty.hidden = items.length > 0;
    if (focused) {
      var again = list.querySelector('a[data-id="' + focused + '"]');
      (again || panel).focus();
    }
  }

  function poll() {
    return fetch(wrap.getAttribute("data-feed"), {
      credentials: "same-origin", headers: {"Accept": "application/json"}
    })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        items = data.items || [];
        setCount(data.unread);
        render();
      })
      .catch(function () {});
  }

  function markRead(id) {
    var form = new FormData();
    if (id) { form.append("id", id); }
    return fetch(wrap.getAttribute("data-read"), {
      method: "POST", body: form, credentials: "same-origin",
      headers: {"Accept": "application/json", "X-CSRFToken": wrap.getAttribute("data-csrf")}
    }).then(function (r) { return r.ok ? r.json() : null; });
  }

  function links() { return Array.prototype.slice.call(list.querySelectorAll("a")); }

  function isOpen() { return !panel.hidden; }

  function focusFirst() { (links()[0] || panel).focus(); }

  function open() {
    panel.hidden = false;
    button.setAttribute("aria-expanded", "true");
    focusFirst();
    poll().then(function () {
      if (isOpen() && (document.activeElement === panel || !wrap.contains(document.activeElement))) {
        focusFirst();
      }
    });
  }

  function close(returnFocus) {
    if (!isOpen()) { return; }
    panel.hidden = true;
    button.setAttribute("aria-expanded", "false");
    if (returnFocus) { button.focus(); }
  }

  button.addEventListener("click", function () {
    if (isOpen()) { close(true); } else { open(); }
  });

  wrap.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && isOpen()) {
      event.preventDefault();
      close(true);
      return;
    }
    if (!isOpen() || (event.key !== "ArrowDown" && event.key !== "ArrowUp")) { return; }
    var all = links();
    if (!all.length) { return; }
    var at = all.indexOf(document.activeElement);
    var next = event.key === "ArrowDown" ? at + 1 : at - 1;
    if (next < 0) { next = all.length - 1; }
    if (next >= all.length) { next = 0; }
    event.preventDefault();
    all[next].focus();
  });

  // Leaving the panel (a click elsewhere, Tab past its end) closes it.
  document.addEventListener("click", function (event) {
    if (isOpen() && !wrap.contains(event.target)) { close(false); }
  });
  wrap.addEventListener("focusout", function (event) {
    if (isOpen() && event.relatedTarget && !wrap.contains(event.relatedTarget)) { close(false); }
  });

  // An item opens its ticket; the ticket page marks it read, and so do we before leaving
  // (an item without a ticket opens the full page).
  list.addEventListener("click", function (event) {
    var a = event.target.closest("a[data-id]");
    if (!a || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) { return; }
    event.preventDefault();
    var go = function () { window.location.assign(a.href); };
    markRead(a.getAttribute("data-id")).then(go, go);
  });

  readAll.addEventListener("click", function () {
    markRead(null).then(function (data) {
      if (!data) { return; }
      items.forEach(function (i) { i.unread = false; });
      setCount(data.unread);
      render();
      button.focus();
    });
  });

  setCount(parseInt(counts[0].textContent, 10) || 0);
  poll();
  setInterval(poll, 30000);
})();
