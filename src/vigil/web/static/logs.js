/* The Logs page: this server process's recent records (GET /api/logs). Loaded on demand only,
   never on a timer: every load is an audited read. */
"use strict";

(() => {
  const { api, esc, time, showError, hide } = Vigil;
  const LEVEL_CLASS = { DEBUG: "", INFO: "info", WARNING: "warn", ERROR: "bad", CRITICAL: "bad" };

  function row(line) {
    const exc = line.exception ? ` <span class="muted">(${esc(line.exception)})</span>` : "";
    return `<tr class="log-line"><td style="white-space:nowrap">${time(line.time)}</td>
      <td><span class="pill ${LEVEL_CLASS[line.level] || ""}">${esc(line.level.toLowerCase())}</span></td>
      <td class="mono">${esc(line.logger)}</td><td class="mono">${esc(line.message)}${exc}</td></tr>`;
  }

  async function loadLogs() {
    const form = document.getElementById("logs-filter");
    const p = new URLSearchParams({ level: form.level.value, limit: String(form.limit.value || 200) });
    const body = document.getElementById("logs-rows");
    try {
      const lines = await api("GET", "/api/logs?" + p.toString());
      hide("logs-error");
      body.innerHTML = lines.length ? lines.map(row).join("")
        : `<tr><td colspan="4" class="muted" id="logs-empty">No record at this level yet.</td></tr>`;
    } catch (err) { showError("logs-error", err); }
  }

  Vigil.pages.logs = () => {
    loadLogs();
    document.getElementById("logs-filter").addEventListener("submit", (ev) => { ev.preventDefault(); loadLogs(); });
  };
})();
