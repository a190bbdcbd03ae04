// The lineage graph: selecting a node dims everything that is neither upstream nor
// downstream of it. Nodes are focusable; Enter or Space selects, Escape clears.
(function () {
  "use strict";
  const svg = document.getElementById("lineage");
  if (!svg) return;
  const edges = Array.from(svg.querySelectorAll(".edge"));
  const nodes = Array.from(svg.querySelectorAll(".node"));
  function reach(start, forward) {
    const seen = new Set([start]);
    const todo = [start];
    while (todo.length) {
      const at = todo.pop();
      edges.forEach(function (e) {
        const from = e.dataset.from, to = e.dataset.to;
        const next = forward ? (from === at ? to : null) : (to === at ? from : null);
        if (next && !seen.has(next)) { seen.add(next); todo.push(next); }
      });
    }
    return seen;
  }
  function clear() {
    nodes.concat(edges).forEach(function (el) { el.classList.remove("dim", "focus"); });
    svg.removeAttribute("data-selected");
  }
  function select(node) {
    const id = node.dataset.id;
    if (svg.dataset.selected === id) { clear(); return; }
    const linked = new Set([...reach(id, true), ...reach(id, false)]);
    nodes.forEach(function (n) {
      n.classList.toggle("dim", !linked.has(n.dataset.id));
      n.classList.toggle("focus", n === node);
    });
    edges.forEach(function (e) {
      e.classList.toggle("dim", !(linked.has(e.dataset.from) && linked.has(e.dataset.to)));
    });
    svg.dataset.selected = id;
  }
  nodes.forEach(function (node) {
    node.addEventListener("click", function () { select(node); });
    node.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); select(node); }
      if (event.key === "Escape") clear();
    });
  });
})();
