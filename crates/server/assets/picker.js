// Customer pickers: an input with `data-pick` offers active customers as the user types (a
// number, a name or an email), from GET /api/v1/customers/suggest, in its <datalist>. The
// form sends what was picked ("M0001042 Acme GmbH"); the server takes its number.
(function () {
  "use strict";
  var timer = null;
  function fill(input, list) {
    var box = document.getElementById(input.getAttribute("list"));
    if (!box) return;
    while (box.firstChild) box.removeChild(box.firstChild);
    list.forEach(function (c) {
      if (String(c.id) === input.dataset.self) return;
      var o = document.createElement("option");
      o.value = c.number + " " + c.name;
      o.label = c.kind + (c.status === "active" ? "" : " · " + c.status);
      box.appendChild(o);
    });
  }
  document.addEventListener("input", function (ev) {
    var input = ev.target;
    if (!input.matches || !input.matches("input[data-pick]")) return;
    var q = input.value.trim();
    clearTimeout(timer);
    if (q.length < 2) return;
    timer = setTimeout(function () {
      fetch("/api/v1/customers/suggest?limit=10&q=" + encodeURIComponent(q), { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : []; })
        .then(function (list) { fill(input, list); })
        .catch(function () {});
    }, 150);
  });
})();
