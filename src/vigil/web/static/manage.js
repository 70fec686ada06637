/* Watchlists, subjects and authorizations. Every action is an API call; errors are shown as sent. */
"use strict";

(() => {
  const { api, esc, time, showError, showOk, hide, statusPill, toast } = Vigil;
  const URLS = {
    authorizations: "/api/authorizations",
    revoke: (id) => `/api/authorizations/${id}/revoke`,
    refuse: (id) => `/api/authorizations/${id}/refuse`,
    watchlists: "/api/watchlists",
    subjects: (id) => `/api/watchlists/${id}/subjects`,
    subject: (id) => `/api/subjects/${id}`,
  };
  const PURPOSE = { missing_person: "Missing person", victim_search: "Victim search", imminent_threat: "Imminent threat",
    serious_crime_suspect: "Serious crime suspect", consented_access: "Consented access" };
  const canManage = ["admin", "supervisor"].includes(document.body.dataset.role);

  function isoOrNull(value) { return value ? new Date(value).toISOString() : null; }

  /* ---- authorizations ---- */
  function authRow(a) {
    const expired = new Date(a.expires_at) < new Date();
    const status = a.status === "active" && expired ? `<span class="pill warn">expired</span>` : statusPill(a.status);
    const actions = a.status === "active" && canManage
      ? `<button class="danger small" data-revoke="${a.id}" data-ref="${esc(a.reference)}">Revoke</button>
         <button class="secondary small" data-refuse="${a.id}" data-ref="${esc(a.reference)}">Refused</button>` : "";
    return `<tr id="auth-${a.id}"><td class="mono">${esc(a.reference)}</td><td>${esc(PURPOSE[a.purpose] || a.purpose)}</td>
      <td>${esc(a.authority)}<div class="muted">${esc(a.legal_basis)}</div></td>
      <td>${a.cameras ? a.cameras.map(esc).join(", ") : "all cameras"}</td>
      <td>${time(a.valid_from)}<br><span class="muted">until</span> <b>${time(a.expires_at)}</b></td>
      <td>${status}</td><td style="white-space:nowrap">${actions}</td></tr>`;
  }

  async function loadAuthorizations() {
    try {
      const rows = await api("GET", URLS.authorizations);
      document.getElementById("auth-rows").innerHTML = rows.length ? rows.map(authRow).join("")
        : `<tr><td colspan="7" class="muted">No authorization recorded yet.</td></tr>`;
    } catch (err) { showError("auth-error", err); }
  }

  async function endAuthorization(id, ref, how) {
    const verb = how === "revoke" ? "Revoke" : "Record the refusal of";
    if (!confirm(`${verb} ${ref}? Every person, photo and alert found under it will be deleted now.`)) return;
    try {
      const purged = await api("POST", URLS[how](id));
      toast(`${esc(ref)} ended: purged ${purged.subjects} people, ${purged.templates} photos, ${purged.alerts} alerts.`);
      loadAuthorizations();
    } catch (err) { showError("auth-error", err); }
  }

  Vigil.pages.authorizations = () => {
    const form = document.getElementById("auth-form");
    document.getElementById("auth-rows").addEventListener("click", (ev) => {
      const b = ev.target.closest("button");
      if (!b) return;
      if (b.dataset.revoke) endAuthorization(b.dataset.revoke, b.dataset.ref, "revoke");
      if (b.dataset.refuse) endAuthorization(b.dataset.refuse, b.dataset.ref, "refuse");
    });
    loadAuthorizations();
    if (!form) return; // auditors: read only
    const defaultExpiry = () => {
      const inMonth = new Date(Date.now() + 30 * 86400e3);
      form.expires_at.value = new Date(inMonth.getTime() - inMonth.getTimezoneOffset() * 60e3).toISOString().slice(0, 16);
    };
    defaultExpiry();
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      hide("auth-error");
      const cameras = form.cameras.value.split(",").map((c) => c.trim()).filter(Boolean);
      const body = { reference: form.reference.value.trim(), purpose: form.purpose.value, legal_basis: form.legal_basis.value,
        authority: form.authority.value, expires_at: isoOrNull(form.expires_at.value),
        valid_from: isoOrNull(form.valid_from.value), cameras: cameras.length ? cameras : null };
      try {
        const a = await api("POST", URLS.authorizations, body);
        showOk("auth-result", `Authorization <b>${esc(a.reference)}</b> recorded; it expires ${time(a.expires_at)}.`);
        form.reset();
        defaultExpiry();
        loadAuthorizations();
      } catch (err) { showError("auth-result", err); }
    });
  };

  /* ---- watchlists and subjects ---- */
  let current = null;

  async function loadWatchlists() {
    try {
      const lists = await api("GET", URLS.watchlists);
      document.getElementById("wl-rows").innerHTML = lists.length ? lists.map((w) =>
        `<tr id="wl-${w.id}"><td><a href="#" data-wl="${w.id}" data-name="${esc(w.name)}">${esc(w.name)}</a></td>
         <td class="mono">${esc(w.authorization_reference)}</td><td>${esc(PURPOSE[w.purpose] || w.purpose)}</td><td>${w.subjects}</td></tr>`).join("")
        : `<tr><td colspan="4" class="muted">No watchlist yet.</td></tr>`;
      if (current) openWatchlist(current.id, current.name);
    } catch (err) { showError("wl-error", err); }
  }

  async function loadAuthOptions() {
    const select = document.getElementById("wl-auth");
    if (!select) return;
    try {
      const auths = (await api("GET", URLS.authorizations)).filter((a) => a.status === "active" && new Date(a.expires_at) > new Date());
      select.innerHTML = auths.length ? auths.map((a) => `<option value="${esc(a.reference)}">${esc(a.reference)} · ${esc(PURPOSE[a.purpose] || a.purpose)}</option>`).join("")
        : `<option value="">no active authorization: record one first</option>`;
    } catch (err) { showError("wl-error", err); }
  }

  async function openWatchlist(id, name) {
    current = { id, name };
    document.getElementById("subjects-panel").classList.remove("hidden");
    document.getElementById("subjects-title").textContent = name;
    try {
      const subjects = await api("GET", URLS.subjects(id));
      document.getElementById("subject-rows").innerHTML = subjects.length ? subjects.map((s) =>
        `<tr id="subject-${s.id}"><td>${esc(s.name)}</td><td>${s.templates}</td><td>${time(s.created_at)}</td>
         <td>${canManage ? `<button class="danger small" data-remove="${s.id}" data-name="${esc(s.name)}">Remove</button>` : ""}</td></tr>`).join("")
        : `<tr><td colspan="4" class="muted">Nobody enrolled.</td></tr>`;
    } catch (err) { showError("wl-error", err); }
  }

  const REASONS = { no_face: "no face found", several_faces: "more than one face", too_small: "face too small",
    too_blurred: "too blurred", not_an_image: "not an image", unsupported_format: "not JPEG or PNG", unreadable: "damaged file", too_large: "file too large",
    bad_pose: "face turned away", not_a_face: "not a human face" };
  function withoutName(p) {
    const text = p.message || "";
    return text.startsWith(p.photo + ": ") ? text.slice(p.photo.length + 2) : text;
  }

  function feedbackItem(p) {
    return p.accepted
      ? `<li class="ok">✓ ${esc(p.photo)}: accepted (quality ${(p.quality ?? 0).toFixed(2)})</li>`
      : `<li class="bad">✗ ${esc(p.photo)}: refused (<b>${esc(REASONS[p.reason] || p.reason || "error")}</b>) — ${esc(withoutName(p))}</li>`;
  }

  async function enroll(form) {
    const feedback = document.getElementById("enroll-feedback");
    feedback.innerHTML = `<li class="muted">Checking photos…</li>`;
    const data = new FormData();
    data.append("name", form.name.value.trim());
    for (const file of form.photos.files) data.append("photos", file, file.name);
    try {
      const result = await api("POST", URLS.subjects(current.id), data);
      feedback.innerHTML = result.photos.map(feedbackItem).join("")
        + (result.accepted ? "" : `<li class="bad">Nobody was enrolled: no photo passed. Fix the photos above and try again.</li>`);
      if (result.accepted) form.reset();
      loadWatchlists();
    } catch (err) {
      const body = err.body || {};
      feedback.innerHTML = body.photos ? body.photos.map(feedbackItem).join("") : "";
      feedback.insertAdjacentHTML("beforeend", `<li class="bad">${esc(err.message)}</li>`);
    }
  }

  Vigil.pages.watchlists = () => {
    loadWatchlists();
    loadAuthOptions();
    document.getElementById("wl-rows").addEventListener("click", (ev) => {
      const a = ev.target.closest("a[data-wl]");
      if (a) { ev.preventDefault(); openWatchlist(a.dataset.wl, a.dataset.name); }
    });
    document.getElementById("wl-form")?.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const form = ev.target;
      try {
        const w = await api("POST", URLS.watchlists, { name: form.name.value.trim(), authorization_reference: form.authorization_reference.value });
        showOk("wl-result", `Watchlist <b>${esc(w.name)}</b> created.`);
        form.reset();
        loadWatchlists();
      } catch (err) { showError("wl-result", err); }
    });
    document.getElementById("enroll-form")?.addEventListener("submit", (ev) => { ev.preventDefault(); enroll(ev.target); });
    document.getElementById("subject-rows").addEventListener("click", async (ev) => {
      const b = ev.target.closest("button[data-remove]");
      if (!b || !confirm(`Remove ${b.dataset.name}? Their photos and alerts are deleted.`)) return;
      try {
        const r = await api("DELETE", URLS.subject(b.dataset.remove));
        toast(`Removed ${esc(b.dataset.name)}: ${r.templates} photos and ${r.alerts} alerts deleted.`);
        loadWatchlists();
      } catch (err) { showError("wl-error", err); }
    });
  };
})();
