"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const S = SaltUI;
  const match = location.pathname.match(/^\/flows\/([A-Za-z0-9_-]+)\/?$/);
  const id = match ? match[1] : "";
  const FILTERS = ["addr", "port", "pr", "sni", "score_min", "score_max"];
  const initial = new URLSearchParams(location.search);
  const state = {offset: Number(initial.get("offset")) || 0,
                 limit: Number(initial.get("limit")) || 100,
                 sort: initial.get("sort") || "", filters: {}};
  for (const f of FILTERS) {
    if (initial.get(f)) { state.filters[f] = initial.get(f); $("filter").elements[f].value = initial.get(f); }
  }
  $("limit").value = String(state.limit);

  function query() {
    const q = new URLSearchParams();
    q.set("offset", state.offset); q.set("limit", state.limit);
    if (state.sort) q.set("sort", state.sort);
    for (const [k, v] of Object.entries(state.filters)) if (v !== "") q.set(k, v);
    return q;
  }

  function cell(row, text, cls) {
    const td = row.insertCell();
    td.textContent = text;
    if (cls) td.className = cls;
    return td;
  }

  async function load() {
    const q = query();
    history.replaceState(null, "", location.pathname + "?" + q.toString());
    const started = performance.now();
    let result;
    try {
      result = await S.api("/api/flows/" + encodeURIComponent(id) + "?" + q.toString());
    } catch (err) {
      S.status($("status"), "Cannot show these flows: " + err.message, true);
      return;
    }
    const flows = result.data;
    const total = Number(result.response.headers.get("X-Total-Count")) || 0;
    const body = $("flows").tBodies[0];
    const fresh = document.createElement("tbody");
    for (const f of flows) {
      const row = fresh.insertRow();
      row.className = "flow";
      row.dataset.index = f.index;
      const link = S.el("a", {href: "/flows/" + encodeURIComponent(id) + "/" + f.index}, f.index);
      row.insertCell().appendChild(link);
      cell(row, f.sa); cell(row, f.sp, "num"); cell(row, f.da); cell(row, f.dp, "num");
      cell(row, f.proto);
      cell(row, S.num(f.num_pkts_out), "num"); cell(row, S.num(f.num_pkts_in), "num");
      cell(row, S.num(f.bytes_out), "num"); cell(row, S.num(f.bytes_in), "num");
      cell(row, S.time(f.time_start)); cell(row, S.num(f.duration, 3), "num");
      cell(row, f.sni, "sni");
      const sc = cell(row, typeof f.score === "number" ? f.score.toFixed(3) : "", "num score " + S.scoreClass(f.score));
      if (f.score_source) sc.title = f.score_source === "model" ? "from the chosen model" : "p_malware in the record";
    }
    body.parentNode.replaceChild(fresh, body);
    const last = Math.min(state.offset + flows.length, total);
    $("page").textContent = total ? (S.num(state.offset + 1) + "–" + S.num(last) + " of " + S.num(total)) : "no flows";
    $("prev").disabled = state.offset <= 0;
    $("next").disabled = last >= total;
    for (const th of document.querySelectorAll("th[data-sort]")) {
      const key = th.dataset.sort;
      th.classList.toggle("sorted-asc", state.sort === key);
      th.classList.toggle("sorted-desc", state.sort === "-" + key);
    }
    S.status($("status"), S.num(total) + " flows" + (Object.values(state.filters).some((v) => v) ? " match the filter" : "") +
      " (page shown in " + Math.round(performance.now() - started) + " ms)");
    document.body.dataset.loaded = "1";
  }

  async function header() {
    try {
      const {data} = await S.api("/api/uploads");
      const u = data.find((x) => x.id === id);
      if (u) {
        $("upload-name").textContent = u.name + " — " + S.num(u.flows) + " flows" +
          (u.skipped_lines ? ", " + S.num(u.skipped_lines) + " lines skipped" : "");
        document.title = "saltUI — " + u.name;
      }
    } catch (err) { /* the table load reports errors */ }
  }

  $("filter").addEventListener("submit", (event) => {
    event.preventDefault();
    for (const f of FILTERS) state.filters[f] = $("filter").elements[f].value.trim();
    state.offset = 0;
    load();
  });
  $("filter").addEventListener("reset", () => {
    state.filters = {}; state.offset = 0;
    setTimeout(load, 0);
  });
  $("prev").addEventListener("click", () => { state.offset = Math.max(0, state.offset - state.limit); load(); });
  $("next").addEventListener("click", () => { state.offset += state.limit; load(); });
  $("limit").addEventListener("change", () => { state.limit = Number($("limit").value); state.offset = 0; load(); });
  for (const th of document.querySelectorAll("th[data-sort]")) {
    th.tabIndex = 0;
    th.addEventListener("click", () => {
      const key = th.dataset.sort;
      state.sort = state.sort === key ? "-" + key : key;
      state.offset = 0;
      load();
    });
  }
  header();
  load();
})();
