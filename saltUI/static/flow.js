"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const S = SaltUI;
  const SVG = "http://www.w3.org/2000/svg";
  const match = location.pathname.match(/^\/flows\/([A-Za-z0-9_-]+)\/([0-9]+)$/);
  const id = match ? match[1] : "", index = match ? Number(match[2]) : -1;
  $("back").href = "/flows/" + encodeURIComponent(id);

  function kv(table, key, value, cls) {
    const row = table.insertRow();
    row.appendChild(S.el("th", {}, key));
    const td = row.insertCell();
    td.textContent = value === null || value === undefined ? "" : String(value);
    if (cls) td.className = cls;
  }

  function summary(flow, record) {
    const t = $("summary");
    kv(t, "source", flow.sa + " port " + flow.sp);
    kv(t, "destination", flow.da + " port " + flow.dp);
    kv(t, "protocol", flow.proto);
    kv(t, "packets out / in", S.num(flow.num_pkts_out) + " / " + S.num(flow.num_pkts_in));
    kv(t, "bytes out / in", S.num(flow.bytes_out) + " / " + S.num(flow.bytes_in));
    kv(t, "start", S.time(flow.time_start));
    kv(t, "duration (s)", S.num(flow.duration, 6));
    if (flow.sni) kv(t, "SNI", flow.sni);
    if (record.community_id) kv(t, "community id", record.community_id);
    kv(t, "score", typeof flow.score === "number" ? flow.score.toFixed(4) + (flow.score_source === "model" ? " (chosen model)" : " (p_malware in the record)") : "none",
       "score " + S.scoreClass(flow.score));
  }

  function splt(record) {
    const packets = Array.isArray(record.packets) ? record.packets.filter((p) => p && typeof p === "object") : [];
    const box = $("splt");
    if (!packets.length) {
      $("splt-note").textContent = "This record lists no packets (joy writes them by default; num_pkts= sets how many).";
      box.appendChild(S.el("canvas", {width: 1, height: 1, "aria-hidden": "true"}));
      return;
    }
    const xs = [], outs = [], ins = [];
    let t = 0;
    for (const p of packets) {
      t += typeof p.ipt === "number" && isFinite(p.ipt) ? p.ipt : 0;
      const b = typeof p.b === "number" && isFinite(p.b) ? p.b : 0;
      xs.push(t);
      const inbound = p.dir === "<";
      outs.push(inbound ? null : b);
      ins.push(inbound ? -b : null);
    }
    const width = Math.max(320, Math.min(box.clientWidth || 900, 1100));
    const points = (color) => ({show: true, size: 7, stroke: color, fill: color});
    const opts = {
      width, height: 280,
      scales: {x: {time: false, range: (u, min, max) => [0, max > 0 ? max * 1.05 : 1]}},
      axes: [{label: "time since the flow's start (ms)"}, {label: "bytes (in < 0)", size: 70}],
      series: [{label: "ms"},
               {label: "client → server", stroke: "#1f6fd1", paths: () => null, points: points("#1f6fd1")},
               {label: "server → client", stroke: "#d1491f", paths: () => null, points: points("#d1491f")}],
      legend: {show: true},
    };
    if (typeof uPlot === "function") {
      new uPlot(opts, [xs, outs, ins], box);
    } else {
      box.appendChild(S.el("p", {class: "error"}, "the plotting library did not load"));
    }
    $("splt-note").textContent = packets.length + " packets listed; inter-arrival times from joy's ipt (ms).";
  }

  function heatmap(record) {
    const box = $("bd");
    const dist = Array.isArray(record.byte_dist) && record.byte_dist.length === 256 ? record.byte_dist : null;
    const cell = 22, pad = 28;
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("id", "bd-svg");
    svg.setAttribute("width", pad + 16 * cell);
    svg.setAttribute("height", pad + 16 * cell);
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", "byte distribution heat map");
    const max = dist ? Math.max(1, ...dist.map((v) => (typeof v === "number" && v > 0 ? v : 0))) : 1;
    for (let i = 0; i < 16; i++) {
      for (const [x, y] of [[pad + i * cell + cell / 2, pad - 8], [pad - 14, pad + i * cell + cell / 2 + 4]]) {
        const label = document.createElementNS(SVG, "text");
        label.setAttribute("x", x); label.setAttribute("y", y);
        label.setAttribute("class", "axis-label");
        label.setAttribute("text-anchor", "middle");
        label.textContent = i.toString(16);
        svg.appendChild(label);
      }
    }
    for (let v = 0; v < 256; v++) {
      const count = dist && typeof dist[v] === "number" && dist[v] > 0 ? dist[v] : 0;
      const level = count > 0 ? Math.log(1 + count) / Math.log(1 + max) : 0;
      const rect = document.createElementNS(SVG, "rect");
      rect.setAttribute("x", pad + (v % 16) * cell);
      rect.setAttribute("y", pad + Math.floor(v / 16) * cell);
      rect.setAttribute("width", cell - 1);
      rect.setAttribute("height", cell - 1);
      rect.setAttribute("class", "bd-cell");
      const light = Math.round(97 - 62 * level);
      rect.setAttribute("fill", dist ? "hsl(215, 70%, " + light + "%)" : "#eeeeee");
      const title = document.createElementNS(SVG, "title");
      const ch = v >= 0x20 && v < 0x7f ? " '" + String.fromCharCode(v) + "'" : "";
      title.textContent = "0x" + v.toString(16).padStart(2, "0") + ch + ": " + count;
      rect.appendChild(title);
      svg.appendChild(rect);
    }
    box.appendChild(svg);
    $("bd-note").textContent = dist ? "Total " + S.num(dist.reduce((a, b) => a + (typeof b === "number" ? b : 0), 0)) + " payload bytes counted; most frequent value seen " + S.num(max) + " times."
                                    : "This record has no byte_dist (run joy with dist=1); the grid is empty.";
  }

  function tree(value, depth) {
    if (depth > 8) return S.el("span", {}, "…");
    if (Array.isArray(value)) {
      const list = S.el("ol", {start: 0});
      for (const item of value.slice(0, 200)) {
        const li = S.el("li");
        li.appendChild(tree(item, depth + 1));
        list.appendChild(li);
      }
      if (value.length > 200) list.appendChild(S.el("li", {}, "… " + (value.length - 200) + " more"));
      return list;
    }
    if (value && typeof value === "object") {
      const table = S.el("table", {class: "kv"});
      for (const [k, v] of Object.entries(value).slice(0, 200)) {
        const row = table.insertRow();
        row.appendChild(S.el("th", {}, k));
        row.insertCell().appendChild(tree(v, depth + 1));
      }
      return table;
    }
    return S.el("span", {class: "value"}, value === null ? "null" : String(value));
  }

  function details(record) {
    const box = $("details");
    let any = false;
    for (const key of ["tls", "dns", "http", "fingerprints", "fingerprints_in", "inferences", "tls_sec", "linked_dns"]) {
      if (record[key] === undefined) continue;
      any = true;
      const section = S.el("section", {class: "detail", id: "detail-" + key});
      section.appendChild(S.el("h3", {}, key));
      section.appendChild(tree(record[key], 0));
      box.appendChild(section);
    }
    if (!any) box.appendChild(S.el("p", {class: "note"}, "No TLS, DNS or HTTP data in this record (joy's tls=1, dns=1, http=1)."));
  }

  async function main() {
    try {
      const {data} = await S.api("/api/flows/" + encodeURIComponent(id) + "/" + index);
      const flow = data.flow, record = data.record;
      $("title").textContent = "flow " + index + " of " + data.upload.name + ": " + flow.sa + " → " + flow.da;
      document.title = "saltUI — flow " + index;
      summary(flow, record);
      splt(record);
      heatmap(record);
      details(record);
      $("raw").textContent = JSON.stringify(record, null, 2);
      S.status($("status"), "");
      document.body.dataset.loaded = "1";
    } catch (err) {
      S.status($("status"), "Cannot show this flow: " + err.message, true);
    }
  }
  main();
})();
