// The till's own script: keeps the scanner field focused (a keyboard-wedge scanner types the
// barcode and Enter into whatever has focus), and hears price changes from the server
// (server-sent events from /till/{store}/prices): when a price in the cart changes, the cart
// is asked for again and comes back priced by the price book. No price is computed here.
(function () {
  "use strict";
  var till = document.getElementById("till");
  if (!till) return;
  var store = till.getAttribute("data-store");
  var lang = till.getAttribute("data-lang");
  var base = "/till/" + encodeURIComponent(store);
  function focusScan() {
    var scan = document.getElementById("scan-input");
    if (scan && !document.activeElement.matches("input:not(#scan-input), select, textarea")) scan.focus();
  }
  document.body.addEventListener("htmx:afterSwap", focusScan);
  focusScan();
  function cartQuery() {
    var sale = document.getElementById("sale");
    var params = new URLSearchParams();
    if (sale) {
      sale.querySelectorAll("input[name=line], input[name=mobile]").forEach(function (i) {
        if (i.value) params.append(i.name, i.value);
      });
    }
    if (lang === "en") params.append("lang", "en");
    return params.toString();
  }
  var news = document.getElementById("price-news");
  var source = new EventSource(base + "/prices");
  source.addEventListener("ready", function () { till.setAttribute("data-live", "true"); });
  source.addEventListener("error", function () { till.setAttribute("data-live", "false"); });
  source.addEventListener("price", function (e) {
    var p = JSON.parse(e.data);
    if (news) {
      var item = document.createElement("li");
      item.textContent = p.sku_code + " · " + p.list_price + " · v" + p.price_version;
      news.insertBefore(item, news.firstChild);
    }
    var sale = document.getElementById("sale");
    var inCart = sale && Array.prototype.some.call(sale.querySelectorAll("input[name=line]"), function (i) {
      return i.value.split("*")[0] === p.sku_code;
    });
    if (inCart && window.htmx) {
      htmx.ajax("GET", base + "/cart?" + cartQuery(), { target: "#cart", swap: "outerHTML" });
    }
  });
})();
