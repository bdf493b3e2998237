/* How City Eye's scripts put data on a page: elements and text nodes, never HTML strings. Names, units, ids
 * and who acknowledged an alert come from Redis, and anything in Redis may carry markup (an old record, a
 * forged one); as text it is only ever shown, never parsed. Every script here builds its DOM with el().
 *
 * Dash loads assets in name order, so wall.js and drilldown*.js may take el at load time; camera_layer.js
 * loads before this file and looks it up when it draws. */
(function () {
  "use strict";

  const SVG_NS = "http://www.w3.org/2000/svg";
  const SVG_PREFIX = "svg:";

  function append(node, children) {
    if (children === null || children === undefined || children === false) return;
    if (Array.isArray(children)) children.forEach((child) => append(node, child));
    else node.appendChild(children instanceof Node ? children : document.createTextNode(String(children)));
  }

  // el("div", { class: "card", "data-id": id, style: { background: colour } }, [el("span", {}, name), " text"]).
  // A tag "svg:polyline" is made in SVG's namespace. Attributes that are null, undefined or false are left off;
  // children may be nodes, strings, numbers or (nested) arrays of them, with null and false skipped.
  function el(tag, attrs, children) {
    const node = tag.startsWith(SVG_PREFIX)
      ? document.createElementNS(SVG_NS, tag.slice(SVG_PREFIX.length))
      : document.createElement(tag);
    Object.entries(attrs || {}).forEach(([name, value]) => {
      if (value === null || value === undefined || value === false) return;
      if (name === "style" && typeof value === "object") Object.assign(node.style, value);
      else node.setAttribute(name, String(value));
    });
    append(node, children);
    return node;
  }

  window.cityeye = Object.assign({}, window.cityeye, { dom: { el: el } });
})();
