// Every page's few behaviours of its own, bound by data attributes: the pages carry no
// inline script (their Content-Security-Policy runs scripts from this server only).
(function () {
  "use strict";
  document.addEventListener("click", function (e) {
    var button = e.target.closest && e.target.closest("[data-action]");
    if (!button) return;
    var action = button.getAttribute("data-action");
    if (action === "print") window.print();
    else if (action === "reload") window.location.reload();
  });
  // A form marked data-reset is emptied once its request is answered (the till's scan field).
  document.addEventListener("htmx:afterRequest", function (e) {
    var form = e.detail && e.detail.elt;
    if (form && form.matches && form.matches("form[data-reset]")) form.reset();
  });
})();
