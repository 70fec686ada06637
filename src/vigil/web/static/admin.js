/* Cameras, users and the audit log. Every action is an API call; errors are shown as sent. */
"use strict";

(() => {
  const { api, esc, time, ago, showError, showOk, hide, statusPill, toast } = Vigil;
  const URLS = {
    cameras: "/api/cameras",
    camera: (id) => `/api/cameras/${id}`,
    test: (id) => `/api/cameras/${id}/test`,
    testUrl: "/api/cameras/test",
    start: (id) => `/api/cameras/${id}/start`,
    stop: (id) => `/api/cameras/${id}/stop`,
    restart: (id) => `/api/cameras/${id}/restart`,
    users: "/api/users",
    user: (id) => `/api/users/${id}`,
    reset: (id) => `/api/users/${id}/reset-password`,
    audit: "/api/audit",
  };
  const canManage = ["admin", "supervisor"].includes(document.body.dataset.role);
  const canRestart = document.body.dataset.role === "maintainer";

  /* ---- cameras ---- */
  let cameras = [];

  function camRow(c) {
    const st = c.status || {};
    const state = st.state || (c.running ? "starting" : (c.enabled ? "stopped" : "disabled"));
    const run = c.running ? `<button class="secondary small" data-stop="${c.id}">Stop</button>
      <button class="secondary small" data-restart="${c.id}">Restart</button>`
      : `<button class="ok small" data-start="${c.id}">Start</button>`;
    const edit = canManage ? `<button class="secondary small" data-test="${c.id}">Test</button> ${run}
      <button class="secondary small" data-edit="${c.id}">Edit</button>
      <button class="danger small" data-delete="${c.id}" data-name="${esc(c.name)}">Remove</button>`
      : (canRestart ? run : "");  /* a maintainer restarts cameras, nothing else */
    return `<tr id="camrow-${esc(c.name)}"><td><b>${esc(c.name)}</b></td><td class="cam-group">${esc(c.group)}</td><td class="mono">${esc(c.url)}</td>
      <td>${statusPill(state)}<div class="muted">${st.since ? "since " + esc(ago(st.since)) : ""}</div></td>
      <td class="mono">${esc(st.node || (st.state ? "local" : ""))}</td>
      <td>${(st.fps_analysed ?? 0).toFixed(1)} / ${(st.fps_in ?? 0).toFixed(1)} <span class="muted">(cap ${c.max_fps})</span></td>
      <td>${st.drops ?? 0}</td><td class="err">${esc(st.last_error || "")}</td><td style="white-space:nowrap">${edit}</td></tr>`;
  }

  async function loadCameras() {
    try {
      cameras = await api("GET", URLS.cameras);
      document.getElementById("cam-rows").innerHTML = cameras.length ? cameras.map(camRow).join("")
        : `<tr><td colspan="9" class="muted">No camera yet.</td></tr>`;
      const groups = document.getElementById("cam-group-list");
      if (groups) groups.innerHTML = [...new Set(cameras.map((c) => c.group))].sort()
        .map((g) => `<option value="${esc(g)}"></option>`).join("");
    } catch (err) { showError("cam-error", err); }
  }

  function resetCamForm(form) {
    form.reset();
    form.id.value = "";
    document.getElementById("cam-form-title").textContent = "Add a camera";
    document.getElementById("cam-submit").textContent = "Add camera";
    document.getElementById("cam-cancel").classList.add("hidden");
  }

  function editCamera(form, id) {
    const c = cameras.find((x) => String(x.id) === String(id));
    if (!c) return;
    form.id.value = c.id;
    form.name.value = c.name;
    form.url.value = "";
    form.url.placeholder = `${c.url} (leave empty to keep)`;
    form.url.required = false;
    form.max_fps.value = c.max_fps;
    form.group.value = c.group;
    form.enabled.checked = c.enabled;
    document.getElementById("cam-form-title").textContent = `Edit camera ${c.name}`;
    document.getElementById("cam-submit").textContent = "Save";
    document.getElementById("cam-cancel").classList.remove("hidden");
  }

  async function testConnection(id, url) {
    const out = document.getElementById(url ? "cam-result" : "cam-error");
    out.className = "banner notice";
    out.textContent = "Testing connection…";
    try {
      const r = url ? await api("POST", URLS.testUrl, { url }) : await api("POST", URLS.test(id));
      if (r.ok) showOk(out, `Connected to ${esc(r.url)} in ${r.seconds.toFixed(1)} s${r.width ? ` (${r.width}×${r.height})` : ""}. ${esc(r.message)}`);
      else showError(out, `${r.url}: ${r.message}`);
    } catch (err) { showError(out, err); }
  }

  async function saveCamera(form) {
    const body = { name: form.name.value.trim(), group: form.group.value.trim(),
      max_fps: Number(form.max_fps.value), enabled: form.enabled.checked };
    if (form.url.value.trim()) body.url = form.url.value.trim();
    try {
      if (form.id.value) await api("PATCH", URLS.camera(form.id.value), body);
      else await api("POST", URLS.cameras, body);
      showOk("cam-result", `Camera <b>${esc(body.name)}</b> saved.`);
      form.url.required = true;
      resetCamForm(form);
      loadCameras();
    } catch (err) { showError("cam-result", err); }
  }

  Vigil.pages.cameras = () => {
    loadCameras();
    setInterval(loadCameras, 4000);
    const form = document.getElementById("cam-form");
    if (form) {
      form.addEventListener("submit", (ev) => { ev.preventDefault(); saveCamera(form); });
      document.getElementById("cam-test-url").addEventListener("click", () => {
        const url = form.url.value.trim();
        if (url) testConnection(null, url);
        else showError("cam-result", "Enter the camera's URL first, then test it.");
      });
      document.getElementById("cam-cancel").addEventListener("click", () => { form.url.required = true; resetCamForm(form); });
    }
    document.getElementById("cam-rows").addEventListener("click", async (ev) => {
      const b = ev.target.closest("button");
      if (!b) return;
      if (b.dataset.edit) editCamera(form, b.dataset.edit);
      if (b.dataset.test) testConnection(b.dataset.test);
      const DONE = { start: "started", stop: "stopped", restart: "restarted" };
      for (const verb of ["start", "stop", "restart"]) {
        if (!b.dataset[verb]) continue;
        try { await api("POST", URLS[verb](b.dataset[verb])); toast(`Camera ${DONE[verb]}.`); }
        catch (err) { showError("cam-error", err); }
        loadCameras();
      }
      if (b.dataset.delete && confirm(`Remove camera ${b.dataset.name}? It stops now.`)) {
        try { await api("DELETE", URLS.camera(b.dataset.delete)); toast(`Camera ${esc(b.dataset.name)} removed.`); loadCameras(); }
        catch (err) { showError("cam-error", err); }
      }
    });
  };

  /* ---- users ---- */
  function userRow(u) {
    const me = u.username === document.body.dataset.user;
    const maint = u.role === "maintainer";
    const roles = (maint ? ["maintainer"] : ["operator", "supervisor", "auditor", "admin"]).map((r) => `<option ${r === u.role ? "selected" : ""}>${r}</option>`).join("");
    const expired = maint && u.expires_at && new Date(u.expires_at) <= new Date();
    const access = !maint ? "" : expired ? '<div class="err">access expired</div>'
      : u.approved_at ? `<div class="muted">approved by ${esc(u.approved_by)}; access ends ${time(u.expires_at)}</div>`
      : `<div class="err">awaiting a second person's approval</div> <button class="ok small" data-approve="${u.id}">Approve</button>`;
    return `<tr id="user-${esc(u.username)}"><td><b>${esc(u.username)}</b>${me ? ' <span class="muted">(you)</span>' : ""}</td>
      <td><select data-role-of="${u.id}" ${me || maint ? "disabled" : ""}>${roles}</select>${access}</td>
      <td>${u.active ? statusPill("active") : '<span class="pill bad">deactivated</span>'}
        ${u.must_change_password ? '<div class="muted">one-time password not changed yet</div>' : ""}
        ${u.locked_until && new Date(u.locked_until) > new Date() ? `<div class="err">locked until ${time(u.locked_until)}</div>` : ""}</td>
      <td>${time(u.created_at)}</td>
      <td style="white-space:nowrap">${me ? "" : `<button class="secondary small" data-reset="${u.id}" data-name="${esc(u.username)}">Reset password</button>
        <button class="${u.active ? "danger" : "ok"} small" data-active="${u.id}" data-to="${!u.active}">${u.active ? "Deactivate" : "Reactivate"}</button>`}</td></tr>`;
  }

  async function loadUsers() {
    try {
      const users = await api("GET", URLS.users);
      document.getElementById("user-rows").innerHTML = users.map(userRow).join("");
    } catch (err) { showError("user-error", err); }
  }

  function showPassword(name, secret) {
    showOk("user-result", `One-time password for <b>${esc(name)}</b> (shown once; give it to them privately):
      <div style="margin-top:6px"><span class="secret" id="one-time-password">${esc(secret)}</span></div>`);
  }

  Vigil.pages.users = () => {
    loadUsers();
    document.getElementById("user-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const form = ev.target;
      try {
        const r = await api("POST", URLS.users, { username: form.username.value.trim(), role: form.role.value });
        showPassword(r.user.username, r.one_time_password);
        form.reset();
        loadUsers();
      } catch (err) { showError("user-result", err); }
    });
    document.getElementById("maint-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const form = ev.target;
      try {
        const r = await api("POST", "/api/users/maintainers", { username: form.username.value.trim(), hours: Number(form.hours.value) });
        showPassword(r.user.username, r.one_time_password);
        form.reset();
        loadUsers();
      } catch (err) { showError("user-result", err); }
    });
    const rows = document.getElementById("user-rows");
    rows.addEventListener("change", async (ev) => {
      const sel = ev.target.closest("select[data-role-of]");
      if (!sel) return;
      try { await api("PATCH", URLS.user(sel.dataset.roleOf), { role: sel.value }); toast("Role changed; their sessions were ended."); }
      catch (err) { showError("user-error", err); }
      loadUsers();
    });
    rows.addEventListener("click", async (ev) => {
      const b = ev.target.closest("button");
      if (!b) return;
      try {
        if (b.dataset.reset) {
          const r = await api("POST", URLS.reset(b.dataset.reset));
          showPassword(r.user.username, r.one_time_password);
        }
        if (b.dataset.active) await api("PATCH", URLS.user(b.dataset.active), { active: b.dataset.to === "true" });
        if (b.dataset.approve) { await api("POST", `/api/users/${b.dataset.approve}/approve`); toast("Maintenance account approved."); }
      } catch (err) { showError("user-error", err); }
      loadUsers();
    });
  };

  /* ---- audit ---- */
  let auditOldest = null;

  function auditQuery(before) {
    const form = document.getElementById("audit-filter");
    const p = new URLSearchParams();
    for (const key of ["action", "actor"]) if (form[key].value.trim()) p.set(key, form[key].value.trim());
    if (form.since.value) p.set("since", new Date(form.since.value + "T00:00:00").toISOString());
    if (form.until.value) p.set("until", new Date(form.until.value + "T23:59:59").toISOString());
    p.set("limit", "100");
    if (before) p.set("before_id", String(before));
    return p.toString();
  }

  function details(d) {
    const text = JSON.stringify(d || {});
    return text === "{}" ? "" : `<span class="mono" title="${esc(text)}">${esc(text.length > 140 ? text.slice(0, 140) + "…" : text)}</span>`;
  }

  /* Pseudonymous subject references (ps-...) with who they stand for: the name while the subject
     lives, "purged subject" once purged (the server resolves them for auditors). */
  function subjects(s) {
    const pairs = Object.entries(s || {});
    return pairs.map(([ref, who]) => `<div class="muted subject-ref" title="${esc(ref)}">${esc(ref.slice(0, 11))}… = ${esc(who)}</div>`).join("");
  }

  async function loadAudit(append) {
    const body = document.getElementById("audit-rows");
    try {
      const events = await api("GET", URLS.audit + "?" + auditQuery(append ? auditOldest : null));
      hide("audit-error");
      const html = events.map((e) => `<tr><td class="mono">${e.id}</td><td style="white-space:nowrap">${time(e.ts)}</td><td>${esc(e.actor)}</td>
        <td><span class="pill info">${esc(e.action)}</span></td><td>${esc(e.target)}</td><td class="details">${details(e.details)}${subjects(e.subjects)}</td></tr>`).join("");
      if (append) body.insertAdjacentHTML("beforeend", html);
      else body.innerHTML = html || `<tr><td colspan="6" class="muted">No event matches this filter.</td></tr>`;
      if (events.length) auditOldest = events[events.length - 1].id;
      document.getElementById("audit-more").classList.toggle("hidden", events.length < 100);
    } catch (err) { showError("audit-error", err); }
  }

  Vigil.pages.audit = () => {
    loadAudit(false);
    document.getElementById("audit-filter").addEventListener("submit", (ev) => { ev.preventDefault(); loadAudit(false); });
    document.getElementById("audit-more").addEventListener("click", () => loadAudit(true));
  };
})();
