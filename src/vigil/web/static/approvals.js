/* Maintenance approvals (admins, supervisors): pending maintenance accounts and their Approve
   button. The server refuses an approval by the account's creator; its answer is shown as sent. */
"use strict";

(() => {
  const { api, esc, time, showError, hide, toast } = Vigil;

  function row(u) {
    return `<tr id="pending-${esc(u.username)}"><td><b>${esc(u.username)}</b></td><td>${esc(u.created_by || "")}</td>
      <td>${time(u.created_at)}</td><td>${u.expires_at ? time(u.expires_at) : ""}</td>
      <td><button class="ok small" data-approve="${u.id}" data-name="${esc(u.username)}">Approve</button></td></tr>`;
  }

  async function loadPending() {
    try {
      const pending = await api("GET", "/api/users/maintainers/pending");
      document.getElementById("approval-rows").innerHTML = pending.length ? pending.map(row).join("")
        : `<tr><td colspan="5" class="muted" id="approval-none">No maintenance account waits for approval.</td></tr>`;
    } catch (err) { showError("approval-error", err); }
  }

  Vigil.pages.approvals = () => {
    loadPending();
    document.getElementById("approval-rows").addEventListener("click", async (ev) => {
      const b = ev.target.closest("button[data-approve]");
      if (!b || !confirm(`Approve the maintenance account ${b.dataset.name}? It can then log in until its access ends.`)) return;
      try {
        await api("POST", `/api/users/${b.dataset.approve}/approve`);
        hide("approval-error");
        toast(`Maintenance account ${esc(b.dataset.name)} approved.`);
      } catch (err) { showError("approval-error", err); }
      loadPending();
    });
  };
})();
