// saltUI shared helpers.  Data from uploads is only ever shown through textContent
// (or SVG attributes set with setAttribute), never parsed as HTML.
"use strict";

const SaltUI = {
  el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== undefined && v !== null) node.setAttribute(k, String(v));
    }
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  },
  clear(node) { while (node.firstChild) node.removeChild(node.firstChild); },
  async api(url, options) {
    options = options || {};
    const headers = Object.assign({"X-Saltui": "1"}, options.headers || {});
    const response = await fetch(url, Object.assign({}, options, {headers, credentials: "same-origin"}));
    const type = response.headers.get("Content-Type") || "";
    let data = null;
    if (type.startsWith("application/json")) data = await response.json();
    if (!response.ok) {
      const message = data && data.error ? data.error : response.status + " " + response.statusText;
      throw new Error(message);
    }
    return {data, response};
  },
  async upload(file) {
    const url = "/api/upload?name=" + encodeURIComponent(file.name || "upload");
    const {data} = await SaltUI.api(url, {method: "POST", body: file,
      headers: {"Content-Type": "application/octet-stream"}});
    return data;
  },
  num(v, digits) {
    if (v === null || v === undefined) return "";
    if (typeof v !== "number") return String(v);
    return digits === undefined ? v.toLocaleString("en") : v.toFixed(digits);
  },
  time(t) {
    if (typeof t !== "number") return "";
    const d = new Date(t * 1000);
    return isNaN(d) ? String(t) : d.toISOString().replace("T", " ").replace("Z", "");
  },
  scoreClass(s) {
    if (typeof s !== "number") return "score-none";
    if (s >= 0.8) return "score-high";
    if (s >= 0.5) return "score-mid";
    return "score-low";
  },
  status(node, text, isError) {
    node.textContent = text;
    node.classList.toggle("error", !!isError);
  },
};
