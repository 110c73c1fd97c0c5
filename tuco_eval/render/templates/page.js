
(function () {
  "use strict";
  var MISSING = ["", "–", "—", "-"];
  function number(text) {
    var m = text.replace(/\u2212/g, "-").match(/^[+-]?\d+(\.\d+)?(e[+-]?\d+)?/i);
    return m ? parseFloat(m[0]) : NaN;
  }
  function cellText(row, col) {
    var cell = row.cells[col];
    if (!cell) return "";
    return (cell.dataset.sort !== undefined ? cell.dataset.sort : cell.textContent).trim();
  }
  function sortBy(table, th, col) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var descending = th.getAttribute("aria-sort") === "ascending";
    table.querySelectorAll("thead th").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", descending ? "descending" : "ascending");
    var texts = rows.map(function (r) { return cellText(r, col); });
    var present = texts.filter(function (t) { return MISSING.indexOf(t) < 0; });
    var numeric = present.length > 0 && present.every(function (t) { return !isNaN(number(t)); });
    var order = rows.map(function (_, i) { return i; });
    order.sort(function (a, b) {
      var ma = MISSING.indexOf(texts[a]) >= 0, mb = MISSING.indexOf(texts[b]) >= 0;
      if (ma || mb) return (ma - mb) || (a - b);  // empty cells stay last either way
      var c = numeric ? number(texts[a]) - number(texts[b])
                      : texts[a].localeCompare(texts[b], undefined, {numeric: true});
      return (descending ? -c : c) || (a - b);
    });
    order.forEach(function (i) { body.appendChild(rows[i]); });
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var head = table.tHead.rows[table.tHead.rows.length - 1];  // below any band row
    Array.prototype.forEach.call(head.cells, function (th, col) {
      th.tabIndex = 0;
      th.addEventListener("click", function () { sortBy(table, th, col); });
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(table, th, col); }
      });
    });
  });
  document.querySelectorAll("select[data-choices]").forEach(function (select) {
    function show() {  // the one element of data-choices whose data-choice is selected
      document.querySelectorAll(select.dataset.choices).forEach(function (el) {
        el.hidden = el.dataset.choice !== select.value;
      });
    }
    select.addEventListener("change", show);
    show();
  });
  document.querySelectorAll("input[data-filter]").forEach(function (input) {
    input.addEventListener("input", function () {
      var query = input.value.trim().toLowerCase();
      document.querySelectorAll(input.dataset.filter).forEach(function (el) {
        var text = (el.dataset.task !== undefined ? el.dataset.task : el.textContent).toLowerCase();
        el.hidden = query !== "" && text.indexOf(query) < 0;
      });
    });
  });
})();
