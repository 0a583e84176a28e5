// @mention autocomplete in the internal note: typing "@" and letters lists matching active
// staff (from the console's staff-only feed); arrows move, Enter or Tab inserts the handle the
// note parser understands (helpdesk/notifications/mentions.py), Esc closes, a click inserts.
(function () {
  "use strict";
  var form = document.querySelector("form[data-mentions]");
  if (!form) { return; }
  var area = form.querySelector("textarea");
  if (!area) { return; }
  var url = form.getAttribute("data-mentions");
  var list = document.createElement("ul");
  list.id = area.id + "-mentions";
  list.className = "mention-list";
  list.setAttribute("role", "listbox");
  list.setAttribute("aria-label", form.getAttribute("data-mentions-label") || "");
  list.hidden = true;
  area.insertAdjacentElement("afterend", list);
  area.setAttribute("aria-autocomplete", "list");
  area.setAttribute("aria-controls", list.id);
  area.setAttribute("aria-expanded", "false");

  var people = [];
  var active = -1;
  var asked = 0;
  var timer = null;
  // "@" at the start or after a space or punctuation (not inside an address), then the letters.
  var trigger = /(^|[^\w.@])@([\w.\-]{0,50})$/;

  function query() {
    if (area.selectionStart !== area.selectionEnd) { return null; }
    var before = area.value.slice(0, area.selectionStart);
    var m = trigger.exec(before);
    return m ? {text: m[2], start: before.length - m[2].length - 1} : null;
  }

  function close() {
    list.hidden = true;
    list.textContent = "";
    people = [];
    active = -1;
    area.setAttribute("aria-expanded", "false");
    area.removeAttribute("aria-activedescendant");
  }

  function highlight(i) {
    active = i;
    Array.prototype.forEach.call(list.children, function (li, n) {
      li.setAttribute("aria-selected", n === i ? "true" : "false");
      li.classList.toggle("active", n === i);
    });
    if (i >= 0) {
      area.setAttribute("aria-activedescendant", list.children[i].id);
      list.children[i].scrollIntoView({block: "nearest"});
    }
  }

  function show(found) {
    people = found;
    list.textContent = "";
    if (!found.length) { close(); return; }
    found.forEach(function (p, n) {
      var li = document.createElement("li");
      li.id = list.id + "-" + n;
      li.setAttribute("role", "option");
      var name = document.createElement("span");
      name.className = "mention-name";
      name.textContent = p.name;
      var email = document.createElement("span");
      email.className = "mention-email";
      email.textContent = p.email;
      li.appendChild(name);
      li.appendChild(email);
      // mousedown, not click: the textarea keeps its focus and caret.
      li.addEventListener("mousedown", function (event) {
        event.preventDefault();
        insert(n);
      });
      list.appendChild(li);
    });
    list.hidden = false;
    area.setAttribute("aria-expanded", "true");
    highlight(0);
  }

  function ask() {
    var q = query();
    if (!q) { close(); return; }
    var ticket = ++asked;
    fetch(url + "?q=" + encodeURIComponent(q.text), {
      credentials: "same-origin", headers: {"Accept": "application/json"}
    })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (ticket !== asked) { return; }  // an older answer arriving late
        if (!data || !query()) { close(); return; }
        show(data.people || []);
      })
      .catch(close);
  }

  function insert(n) {
    var q = query();
    var person = people[n];
    if (!q || !person) { close(); return; }
    var end = area.selectionStart;
    var text = "@" + person.handle + " ";
    area.value = area.value.slice(0, q.start) + text + area.value.slice(end);
    var caret = q.start + text.length;
    area.setSelectionRange(caret, caret);
    close();
    area.focus();
  }

  area.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(ask, 150);
  });
  area.addEventListener("keydown", function (event) {
    if (list.hidden) { return; }
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      var n = people.length;
      highlight(((active + (event.key === "ArrowDown" ? 1 : -1)) % n + n) % n);
    } else if (event.key === "Enter" || event.key === "Tab") {
      if (active < 0) { return; }
      event.preventDefault();
      insert(active);
    } else if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      close();
    }
  });
  area.addEventListener("blur", function () { setTimeout(close, 100); });
})();
