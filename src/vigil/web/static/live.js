/* Live page: camera grid with status and blurred preview images. */
"use strict";

(() => {
  const { api, esc, ago, showError, hide, toast } = Vigil;
  const STATE_CLASS = { running: "ok", connected: "ok", connecting: "warn", reconnecting: "warn", failed: "bad", stopped: "", ended: "" };

  function tile(cam) {
    const st = cam.status || { state: cam.running ? "starting" : "stopped" };
    const cls = STATE_CLASS[st.state] ?? "warn";
    const err = st.last_error ? `<div class="err" title="${esc(st.last_error)}">⚠ ${esc(st.last_error)}</div>` : "";
    const view = cam.running
      ? `<img alt="preview of ${esc(cam.name)}" data-cam="${esc(cam.name)}" data-id="${cam.id}">`
      : `<span>${cam.enabled ? "not running" : "disabled"}</span>`;
    return `<div class="cam" id="cam-${esc(cam.name)}" data-state="${esc(st.state)}">
      <div class="view">${view}<div class="overlay"><span class="pill ${cls}" data-role="state">${esc(st.state)}</span></div></div>
      <div class="meta">
        <div class="row"><b>${esc(cam.name)}</b><span class="muted mono" title="${esc(cam.url)}">${esc(cam.url.length > 38 ? "…" + cam.url.slice(-37) : cam.url)}</span></div>
        <div class="stats">
          <span>fps <b data-role="fps">${(st.fps_analysed ?? 0).toFixed(1)}</b> / ${(st.fps_in ?? 0).toFixed(1)} in</span>
          <span>drops <b data-role="drops">${st.drops ?? 0}</b></span>
          <span>reconnects <b>${st.reconnects ?? 0}</b></span>
          <span>last frame <b>${esc(ago(st.last_frame_at))}</b></span>
        </div>
        ${err}
      </div></div>`;
  }

  async function refreshPreviews() {
    for (const img of document.querySelectorAll("img[data-cam]")) {
      const url = `/api/cameras/${img.dataset.id}/preview?t=${Date.now()}`;
      const probe = new Image();
      probe.onload = () => { img.src = probe.src; };
      probe.src = url; // a camera without a frame yet answers 404/204: keep the old image
    }
  }

  async function refresh() {
    try {
      const cams = await api("GET", "/api/cameras");
      hide("live-error");
      const box = document.getElementById("cams");
      if (!cams.length) box.innerHTML = `<div class="panel muted">No cameras yet. An administrator can add one on the <a href="/cameras">Cameras</a> page.</div>`;
      else {
        const srcs = {};
        box.querySelectorAll("img[data-cam]").forEach((i) => { srcs[i.dataset.cam] = i.src; });
        box.innerHTML = cams.map(tile).join("");
        box.querySelectorAll("img[data-cam]").forEach((i) => { if (srcs[i.dataset.cam]) i.src = srcs[i.dataset.cam]; });
      }
      const live = cams.filter((c) => c.status && (c.status.state === "running" || c.status.state === "connected")).length;
      document.getElementById("cams-summary").textContent = `${live} of ${cams.length} cameras live`;
    } catch (err) { showError("live-error", err); }
  }

  function showBlur(on) {
    document.getElementById("blur-note").textContent = on
      ? "Every face is blurred in previews." : "Preview blur is OFF for this deployment (recorded in the audit log).";
  }

  async function loadBlur() {
    const toggle = document.getElementById("blur-toggle");
    try {
      const s = await api("GET", "/api/settings");
      if (toggle) toggle.checked = s.preview_blur;
      showBlur(s.preview_blur);
    } catch (err) { /* operators may not read settings; the note keeps the safe default text */ }
    if (toggle) toggle.dataset.loaded = "true";
  }

  function initBlur() {
    const toggle = document.getElementById("blur-toggle");
    if (toggle) {
      // One listener, attached before the settings load, so an early click is never lost.
      toggle.addEventListener("change", async () => {
        try {
          await api("PUT", "/api/settings", { preview_blur: toggle.checked });
          toast(toggle.checked ? "Faces are blurred in previews." : "Preview blur switched off (audited).");
          await loadBlur();
        } catch (err) { toggle.checked = !toggle.checked; showError("live-error", err); }
      });
    }
    loadBlur();
  }

  Vigil.pages.live = () => {
    refresh().then(refreshPreviews);
    initBlur();
    setInterval(refresh, 3000);
    setInterval(refreshPreviews, 1000);
  };
})();
