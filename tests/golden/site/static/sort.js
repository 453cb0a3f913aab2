/* Sort any table with the class "sortable" by clicking a column header.
 *
 * Progressive enhancement: without JavaScript the tables are plain, already
 * ranked tables. With it, each header becomes a button (so it is reachable
 * with Tab and pressed with Enter or Space). A cell's data-sort attribute, when
 * present, is the value sorted on; numbers compare as numbers, text with a
 * natural order; empty values always go last. The first press uses the
 * header's data-first direction (best first for scores), the next one flips.
 */
(function () {
  "use strict";

  function cellValue(row, index) {
    var cell = row.cells[index];
    if (!cell) {
      return "";
    }
    var value = cell.getAttribute("data-sort");
    return (value !== null ? value : cell.textContent).trim();
  }

  function isNumber(text) {
    return text !== "" && isFinite(Number(text));
  }

  function comparator(numeric, descending) {
    var collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });
    return function (a, b) {
      if (a.value === "" || b.value === "") {
        if (a.value === b.value) {
          return a.position - b.position;
        }
        return a.value === "" ? 1 : -1;
      }
      var order = numeric ? Number(a.value) - Number(b.value) : collator.compare(a.value, b.value);
      if (descending) {
        order = -order;
      }
      return order !== 0 ? order : a.position - b.position;
    };
  }

  function sortTable(table, header, index) {
    var body = table.tBodies[0];
    var current = header.getAttribute("aria-sort");
    var direction;
    if (current === "ascending") {
      direction = "descending";
    } else if (current === "descending") {
      direction = "ascending";
    } else {
      direction = header.getAttribute("data-first") || "ascending";
    }
    var entries = Array.prototype.map.call(body.rows, function (row, position) {
      return { row: row, value: cellValue(row, index), position: position };
    });
    var numeric = entries.every(function (entry) {
      return entry.value === "" || isNumber(entry.value);
    });
    entries.sort(comparator(numeric, direction === "descending"));
    Array.prototype.forEach.call(header.parentNode.cells, function (cell) {
      cell.removeAttribute("aria-sort");
    });
    header.setAttribute("aria-sort", direction);
    entries.forEach(function (entry) {
      body.appendChild(entry.row);
    });
  }

  function enhance(table) {
    if (!table.tHead || !table.tBodies.length) {
      return;
    }
    var headers = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(headers, function (header, index) {
      if (header.hasAttribute("data-nosort")) {
        return;
      }
      var button = document.createElement("button");
      button.type = "button";
      button.className = "sort-button";
      while (header.firstChild) {
        button.appendChild(header.firstChild);
      }
      header.appendChild(button);
      button.addEventListener("click", function () {
        sortTable(table, header, index);
      });
    });
    table.classList.add("is-sortable");
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), enhance);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
