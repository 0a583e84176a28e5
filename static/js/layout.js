// Small screens (static/app.css): the header's navigation collapses behind a "Menu" button, and
// stacked table rows keep their column labels (cells the page did not label get their column
// heading as data-label). Without JavaScript the navigation simply stays open.
(function () {
  "use strict";
  function labelCells() {
    var tables = document.querySelectorAll("table.list");
    Array.prototype.forEach.call(tables, function (table) {
      var heads = table.querySelectorAll("thead th");
      if (!heads.length) { return; }
      var names = Array.prototype.map.call(heads, function (th) {
        return th.textContent.replace(/\s+/g, " ").trim();
      });
      Array.prototype.forEach.call(table.querySelectorAll("tbody tr"), function (tr) {
        var cells = tr.children;
        if (cells.length !== names.length) { return; }
        Array.prototype.forEach.call(cells, function (td, i) {
          if (td.tagName === "TD" && !td.hasAttribute("data-label")) {
            td.setAttribute("data-label", names[i]);
          }
        });
      });
    });
  }

  function menu() {
    var header = document.querySelector("header.top[data-menu-label]");
    if (!header || !header.querySelector("nav")) { return; }
    var nav = header.querySelector("nav");
    if (!nav.id) { nav.id = "main-nav"; }
    var button = document.createElement("button");
    button.type = "button";
    button.className = "menu-toggle";
    button.textContent = header.getAttribute("data-menu-label");
    button.setAttribute("aria-controls", nav.id);
    button.setAttribute("aria-expanded", "false");
    button.addEventListener("click", function () {
      var open = header.classList.toggle("open");
      button.setAttribute("aria-expanded", open ? "true" : "false");
    });
    header.querySelector(".brand").insertAdjacentElement("afterend", button);
    header.classList.add("collapsible");
  }

  function init() {
    menu();
    labelCells();
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
