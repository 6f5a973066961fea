"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const S = SaltUI;

  async function refreshUploads() {
    const {data} = await S.api("/api/uploads");
    const body = $("uploads").tBodies[0];
    S.clear(body);
    for (const u of data) {
      const row = body.insertRow();
      const a = S.el("a", {href: "/flows/" + encodeURIComponent(u.id)}, u.name);
      row.insertCell().appendChild(a);
      row.insertCell().textContent = u.kind;
      row.insertCell().textContent = S.num(u.flows);
      row.insertCell().textContent = S.num(u.skipped_lines);
    }
  }

  async function refreshModels() {
    const {data} = await S.api("/api/models");
    S.status($("models-message"), data.available ? "" : data.message, !data.available);
    $("models-controls").hidden = !data.available;
    const select = $("model-select");
    while (select.options.length > 1) select.remove(1);
    for (const m of data.models) {
      const opt = S.el("option", {value: m.id}, m.name + " (" + m.source + ")");
      select.appendChild(opt);
    }
    select.value = data.current || "";
    const dl = $("model-download");
    S.clear(dl);
    const current = data.models.find((m) => m.id === data.current);
    if (current && current.downloadable) {
      dl.appendChild(S.el("a", {href: "/api/models/" + encodeURIComponent(current.id) + "/download",
                                 download: "joy-model.txt", id: "download-link"}, "download this model"));
    }
  }

  $("upload-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = $("upload-file").files[0];
    if (!file) return;
    S.status($("upload-status"), "Uploading and reading " + file.name + " (" + S.num(file.size) + " bytes)…");
    try {
      const info = await S.upload(file);
      let text = S.num(info.flows) + " flows read";
      if (info.skipped_lines) text += "; " + S.num(info.skipped_lines) + " lines skipped (" + info.errors.join("; ") + ")";
      S.status($("upload-status"), text);
      await refreshUploads();
      location.href = "/flows/" + encodeURIComponent(info.id);
    } catch (err) {
      S.status($("upload-status"), "Upload failed: " + err.message, true);
    }
  });

  $("model-select").addEventListener("change", async () => {
    try {
      await S.api("/api/models/select", {method: "POST", headers: {"Content-Type": "application/json"},
        body: JSON.stringify({id: $("model-select").value || null})});
      await refreshModels();
    } catch (err) { S.status($("train-status"), err.message, true); }
  });

  $("model-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = $("model-file").files[0];
    if (!file) return;
    try {
      const {data} = await S.api("/api/models?name=" + encodeURIComponent(file.name),
        {method: "POST", body: file, headers: {"Content-Type": "application/octet-stream"}});
      await S.api("/api/models/select", {method: "POST", headers: {"Content-Type": "application/json"},
        body: JSON.stringify({id: data.id})});
      S.status($("train-status"), "Model " + file.name + " loaded and chosen.");
      await refreshModels();
    } catch (err) { S.status($("train-status"), "Model not loaded: " + err.message, true); }
  });

  $("train-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const pos = $("train-pos").files[0], neg = $("train-neg").files[0];
    if (!pos || !neg) return;
    try {
      S.status($("train-status"), "Uploading the two sets…");
      const p = await S.upload(pos), n = await S.upload(neg);
      S.status($("train-status"), "Training on " + S.num(p.flows) + " positive and " + S.num(n.flows) + " negative flows…");
      const {data} = await S.api("/api/train", {method: "POST", headers: {"Content-Type": "application/json"},
        body: JSON.stringify({positive: p.id, negative: n.id, penalty: $("train-penalty").value,
                              C: Number($("train-c").value), seed: Number($("train-seed").value)})});
      S.status($("train-status"), "Trained; the new model is chosen and can be downloaded.");
      await refreshModels();
      await refreshUploads();
    } catch (err) { S.status($("train-status"), "Training failed: " + err.message, true); }
  });

  refreshUploads().catch((err) => S.status($("upload-status"), err.message, true));
  refreshModels().catch((err) => S.status($("models-message"), err.message, true));
})();
