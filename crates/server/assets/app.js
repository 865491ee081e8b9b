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
      var view = input.dataset.view ? "&view=" + encodeURIComponent(input.dataset.view) : "";
      fetch("/api/v1/customers/suggest?limit=10" + view + "&q=" + encodeURIComponent(q), { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : []; })
        .then(function (list) { fill(input, list); })
        .catch(function () {});
    }, 150);
  });
})();

// Dialogs over the page. A link or form with `hx-get`/`hx-post` aimed at #modal-body loads a
// page's content into the <dialog> (htmx picks `main > *` out of the answer). The dialog
// traps focus (showModal makes the rest of the page inert), names itself by the loaded
// heading, sends the forms inside it through htmx too, and closes on its ✕, Escape or a
// `data-close` link (Cancel). After a change made in it, the page beneath refreshes; focus
// returns to what opened it. Without scripts every one of these is an ordinary page.
(function () {
  "use strict";
  var opener = null;
  var changed = false;
  function modal() { return document.getElementById("modal"); }
  function body() { return document.getElementById("modal-body"); }

  document.addEventListener("htmx:beforeRequest", function (ev) {
    var m = modal();
    var target = ev.detail.target;
    if (!m || !target || target.id !== "modal-body") return;
    if (!m.open) {
      opener = document.activeElement;
      changed = false;
    }
  });

  document.addEventListener("htmx:afterRequest", function (ev) {
    var target = ev.detail.target;
    var xhr = ev.detail.xhr;
    // The server marks the outcome of a change; opening a dialog (even by a POST) is none.
    if (target && target.id === "modal-body" && xhr && xhr.getResponseHeader("X-Offboard-Changed")) {
      changed = true;
    }
  });

  document.addEventListener("htmx:afterSwap", function (ev) {
    var m = modal();
    var b = body();
    if (!m || ev.detail.target !== b) return;
    // Forms inside the dialog stay in it.
    b.querySelectorAll("form").forEach(function (f) {
      if (f.hasAttribute("hx-post") || f.hasAttribute("hx-get")) return;
      var method = (f.getAttribute("method") || "get").toLowerCase();
      f.setAttribute(method === "post" ? "hx-post" : "hx-get", f.getAttribute("action") || "");
    });
    b.querySelectorAll("a[href^='javascript:history.back']").forEach(function (a) {
      a.setAttribute("data-close", "");
    });
    b.querySelectorAll("a[href='/customers'], a[href^='/customers?view']").forEach(function (a) {
      if (/^\s*(Cancel|Back to customers)\s*$/.test(a.textContent)) a.setAttribute("data-close", "");
    });
    window.htmx.process(b);
    var h = b.querySelector("h1");
    if (h) h.id = "modal-title";
    if (!m.open) m.showModal();
    var first = b.querySelector("[autofocus], .decide button, form button, select, input:not([type=hidden]), a.button, button");
    if (first) first.focus();
  });

  document.addEventListener("click", function (ev) {
    var close = ev.target.closest && ev.target.closest("#modal [data-close]");
    if (!close) return;
    ev.preventDefault();
    modal().close();
  });

  document.addEventListener("close", function (ev) {
    if (ev.target !== modal()) return;
    body().innerHTML = "";
    var back = opener;
    opener = null;
    if (changed) {
      changed = false;
      // What was done shows in the page beneath: it is read again — or, when the page's own
      // customer or record is gone (deleted, erased), the list is shown instead.
      fetch(window.location.href, { method: "HEAD", credentials: "same-origin" }).then(function (r) {
        if (r.status === 404) {
          window.location.assign("/customers");
          return;
        }
        window.htmx.ajax("GET", window.location.href, { target: "main", select: "main > *", swap: "innerHTML ignoreTitle:true" })
          .then(function () {
            var again = back && back.id ? document.getElementById(back.id) : null;
            (again || document.getElementById("main")).focus();
          });
      });
    } else if (back && document.contains(back)) {
      back.focus();
    }
  }, true);
})();

// "Select every customer on this page": the header's checkbox ticks the rows.
document.addEventListener("change", function (ev) {
  "use strict";
  var all = ev.target;
  if (!all.matches || !all.matches("input[data-check-page]")) return;
  var form = all.closest("form");
  if (!form) return;
  form.querySelectorAll("input[name=id]").forEach(function (box) { box.checked = all.checked; });
  if (!all.checked) {
    var every = form.querySelector("input[name=all]");
    if (every) every.checked = false;
  }
});

// "Select all N customers of this list" means every row too; a row unticked afterwards means
// not all of them any more: the selection is what the boxes show.
document.addEventListener("change", function (ev) {
  "use strict";
  var box = ev.target;
  var form = box.closest && box.closest("form.selection");
  if (!form) return;
  var every = form.querySelector("input[name=all]");
  var page = form.querySelector("input[data-check-page]");
  if (box.matches("input[name=all]") && box.checked) {
    form.querySelectorAll("input[name=id]").forEach(function (b) { b.checked = true; });
    if (page) page.checked = true;
  } else if (box.matches("input[name=id]") && !box.checked) {
    if (every) every.checked = false;
    if (page) page.checked = false;
  }
});

// A form marked data-autosubmit (the merge wizard) shows its new preview as soon as a choice
// changes: the plan on the page is always the plan of the choices on the page.
document.addEventListener("change", function (ev) {
  "use strict";
  var input = ev.target;
  var form = input.form;
  if (!form || !form.hasAttribute("data-autosubmit") || input.type !== "radio") return;
  if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); }
});
