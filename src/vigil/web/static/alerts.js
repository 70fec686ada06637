/* Alerts feed (live over WebSocket) and the two-person review page. */
"use strict";

(() => {
  const { api, esc, time, showError, hide, statusPill, toast } = Vigil;
  let oldest = null;

  function facts(a) {
    return `<dt>Subject</dt><dd><b>${esc(a.subject_name)}</b></dd>
      <dt>Watchlist</dt><dd>${esc(a.watchlist)}</dd>
      <dt>Authorization</dt><dd class="mono">${esc(a.authorization_reference)}</dd>
      <dt>Camera</dt><dd>${esc(a.camera)}</dd>
      <dt>Seen</dt><dd>${time(a.first_seen)} → ${time(a.last_seen)}</dd>
      <dt>Score</dt><dd>${a.score.toFixed(3)} <span class="muted">(threshold ${a.threshold.toFixed(2)}, ${esc(a.pack)} pack)</span></dd>`;
  }

  /* Confirmations that still count (one is superseded when the alert's sightings changed). */
  function live(a) {
    return (a.reviews || []).filter((r) => r.decision === "confirm" && !r.superseded);
  }

  function note(a) {
    const confirmers = live(a).map((r) => esc(r.username));
    return a.status === "pending_second" ? `<div class="muted" style="margin-top:6px">1st confirmation by <b>${confirmers.join(", ")}</b>; a different reviewer must confirm.</div>` : "";
  }

  /* The headline face is the best sighting's (alerts stored before sightings: the alert crop). */
  function headlineCrop(a) {
    const best = (a.sightings || [])[0];
    return best && best.has_crop ? best.crop_url : `/api/alerts/${a.id}/crop`;
  }

  const CONFLICT = "Two different faces matched this person at the same time on this camera: at least one is someone else. Compare every sighting.";

  /* One line per sighting on the card (scores only: its face is fetched on the review page);
     a sighting a reviewer rejected ("not this person") is struck through and listed last. */
  function sightingsLine(a) {
    const list = a.sightings || [];
    const warn = a.conflicting_sightings
      ? `<div class="pill warn" data-role="conflict" title="${esc(CONFLICT)}">two faces matched at once</div>` : "";
    if (list.length < 2) return warn;
    const scores = list.map((x) => x.rejected
      ? `<s class="rejected-sighting" title="not this person (rejected by ${esc(x.rejected_by || "")})">${x.score.toFixed(2)}</s>`
      : `${x.score.toFixed(2)}${x.conflicting ? "⚠" : ""}`).join(" · ");
    const rejected = list.filter((x) => x.rejected).length;
    const tail = rejected ? ` <span data-role="rejected-count">(${rejected} not this person)</span>` : "";
    return `${warn}<div class="muted" data-role="sighting-scores">${list.length} sightings, best first: ${scores}${tail}</div>`;
  }

  function card(a, fresh) {
    return `<div class="alert-card${fresh ? " fresh" : ""}" id="alert-${a.id}" data-status="${esc(a.status)}">
      <div class="faces">
        <figure><img loading="lazy" alt="seen" data-role="headline" src="${esc(headlineCrop(a))}"><figcaption>seen (best)</figcaption></figure>
        <figure><img loading="lazy" alt="enrolled" src="/api/alerts/${a.id}/enrolled-photo"><figcaption>enrolled</figcaption></figure>
      </div>
      <div><dl class="facts" data-role="facts">${facts(a)}</dl><div data-role="note">${note(a)}</div>
        <div data-role="sightings" style="margin-top:6px; display:grid; gap:4px; justify-items:start">${sightingsLine(a)}</div></div>
      <div style="text-align:right; display:grid; gap:10px; justify-items:end">
        <span class="score">${a.score.toFixed(2)}</span>
        <span data-role="status">${statusPill(a.status)}</span>
        <a class="button small" href="/alerts/${a.id}">Review →</a>
      </div></div>`;
  }

  /* Update a card in place. Face images are fetched again only when the best sighting changed
     (each viewing is audited). */
  function refresh(el, a) {
    el.dataset.status = a.status;
    el.querySelector('[data-role="facts"]').innerHTML = facts(a);
    el.querySelector('[data-role="note"]').innerHTML = note(a);
    el.querySelector('[data-role="status"]').innerHTML = statusPill(a.status);
    el.querySelector('[data-role="sightings"]').innerHTML = sightingsLine(a);
    el.querySelector(".score").textContent = a.score.toFixed(2);
    const img = el.querySelector('[data-role="headline"]');
    if (img.getAttribute("src") !== headlineCrop(a)) img.setAttribute("src", headlineCrop(a));
  }

  function query(before) {
    const p = new URLSearchParams();
    const status = document.getElementById("filter-status").value;
    const camera = document.getElementById("filter-camera").value.trim();
    if (status) p.set("status", status);
    if (camera) p.set("camera", camera);
    p.set("limit", "30");
    if (before) p.set("before_id", String(before));
    return p.toString();
  }

  /* Live cards drawn while a list load is in flight must survive that load's answer, which was
     read before they existed: each live card is kept with the number of the load it arrived
     during, and a full reload puts back the ones its answer lacks. */
  let loadSeq = 0;
  const liveCards = new Map();

  function wanted(a) {
    const status = document.getElementById("filter-status").value;
    const camera = document.getElementById("filter-camera").value.trim();
    return !(status && status !== a.status) && !(camera && camera !== a.camera);
  }

  async function load(append) {
    const list = document.getElementById("alert-list");
    const seq = append ? loadSeq : ++loadSeq;
    try {
      const alerts = await api("GET", "/api/alerts?" + query(append ? oldest : null));
      if (seq !== loadSeq) return; /* a newer load (another filter) answers instead */
      hide("alerts-error");
      const html = alerts.map((a) => card(a, false)).join("");
      if (append) list.insertAdjacentHTML("beforeend", html);
      else {
        list.innerHTML = html || `<div class="panel muted" id="no-alerts">No alerts match this filter.</div>`;
        const shown = new Set(alerts.map((a) => a.id));
        for (const [id, live] of liveCards) {
          if (live.seq < seq) { liveCards.delete(id); continue; }
          if (shown.has(id) || !wanted(live.alert)) continue;
          document.getElementById("no-alerts")?.remove();
          list.insertAdjacentHTML("afterbegin", card(live.alert, true));
        }
      }
      if (alerts.length) oldest = alerts[alerts.length - 1].id;
      document.getElementById("more").classList.toggle("hidden", alerts.length < 30);
      list.dataset.loads = String(Number(list.dataset.loads || 0) + 1); /* for tests: answers drawn */
    } catch (err) { showError("alerts-error", err); }
  }

  /* Render straight from the event: it carries the alert in its public shape. */
  function onLive(ev) {
    const existing = document.getElementById(`alert-${ev.alert_id}`);
    if (ev.event === "purged") { existing?.remove(); return; }
    const a = ev.alert;
    if (existing) return refresh(existing, a);
    if (ev.event !== "candidate") return;
    liveCards.set(a.id, { alert: a, seq: loadSeq });
    if (!wanted(a)) return;
    document.getElementById("no-alerts")?.remove();
    document.getElementById("alert-list").insertAdjacentHTML("afterbegin", card(a, true));
  }

  Vigil.pages.alerts = () => {
    if (document.getElementById("review")) return initReview();
    load(false);
    document.getElementById("filter-apply").addEventListener("click", () => load(false));
    document.getElementById("filter-status").addEventListener("change", () => load(false));
    document.getElementById("more").addEventListener("click", () => load(true));
    Vigil.onAlert(onLive);
  };

  /* ---- review page ---- */
  let shownSightings = null;

  /* Every sighting with its own face, best first; re-drawn only when they changed (audited). */
  function showSightings(a) {
    const list = a.sightings || [];
    const reviewing = !!document.getElementById("review-panel") && !["confirmed", "rejected"].includes(a.status);
    const open = list.filter((x) => !x.rejected).length;
    const key = JSON.stringify([reviewing, list.map((x) => [x.id, x.score, x.conflicting, x.has_crop, x.last_seen, x.rejected])]);
    document.getElementById("conflict-warning").classList.toggle("hidden", !a.conflicting_sightings);
    const probe = document.getElementById("probe");
    if (probe.getAttribute("src") !== headlineCrop(a)) probe.setAttribute("src", headlineCrop(a));
    if (key === shownSightings) return;
    shownSightings = key;
    document.getElementById("sightings-count").textContent = String(list.length);
    document.getElementById("sightings").innerHTML = list.length
      ? list.map((x, i) => `<li class="sighting${x.conflicting ? " conflicting" : ""}${x.rejected ? " rejected" : ""}" data-sighting-id="${x.id}" data-ordinal="${x.ordinal}" style="display:flex; gap:10px; align-items:center">
          <div class="faces"><figure>${!x.has_crop ? `<span class="muted">crop removed by retention</span>`
            : i === 0 ? `<span class="muted">the face above</span>`
            : `<img loading="lazy" alt="sighting ${i + 1}" src="${esc(x.crop_url)}">`}</figure></div>
          <div><b class="sighting-score">${i === 0 ? "Best · " : ""}score ${x.score.toFixed(3)}</b> ${x.conflicting ? `<span class="pill warn">overlaps another face</span>` : ""}
            ${x.rejected ? `<span class="pill bad" data-role="not-this-person">not this person</span>
              <div class="muted">rejected by <b>${esc(x.rejected_by || "")}</b> · ${time(x.rejected_at)}: “${esc(x.rejection_reason || "")}”</div>` : ""}
            <div class="muted">track ${x.ordinal} in this alert · best shot ${time(x.seen_at)} · in view ${time(x.first_seen)} → ${time(x.last_seen)}</div>
            ${reviewing && !x.rejected && open > 1 ? `<div class="toolbar" style="margin-top:4px">
              <input data-role="sighting-reason" maxlength="2000" placeholder="why this face is not the person" aria-label="reason for sighting ${x.ordinal}">
              <button type="button" class="danger small" data-role="reject-sighting" data-ordinal="${x.ordinal}">Not this person</button></div>` : ""}</div></li>`).join("")
      : `<li class="muted">No separate sightings (an alert stored before sightings existed).</li>`;
  }

  function showReview(a) {
    showSightings(a);
    document.getElementById("facts").innerHTML = facts(a);
    document.getElementById("status").innerHTML = statusPill(a.status);
    const reviews = a.reviews || [];
    document.getElementById("reviews").innerHTML = reviews.length
      ? reviews.map((r) => `<li><b>${esc(r.username)}</b> ${r.decision === "confirm" ? "confirmed" : "rejected"}${r.superseded ? ` <span class="pill warn">reset: the sightings changed, confirm again</span>` : ""}
          <span class="muted">· ${time(r.created_at)}</span>${r.reason ? `<div class="muted">“${esc(r.reason)}”</div>` : ""}</li>`).join("")
      : `<li class="muted">No review yet.</li>`;
    const first = live(a)[0];
    const banner = document.getElementById("first-confirmation");
    if (a.status === "pending_second" && first) {
      banner.innerHTML = `First confirmation by <b>${esc(first.username)}</b>. A <b>different</b> reviewer must confirm before this alert is acted on.`;
      banner.classList.remove("hidden");
    } else banner.classList.add("hidden");
    const done = a.status === "confirmed" || a.status === "rejected";
    document.getElementById("review-panel")?.classList.toggle("hidden", done);
    return a;
  }

  async function loadReview(id) {
    try {
      return showReview(await api("GET", `/api/alerts/${id}`));
    } catch (err) { showError("review-error", err); return null; }
  }

  async function submit(id, decision) {
    const reason = document.getElementById("review-reason").value.trim();
    const out = document.getElementById("review-result");
    hide("review-error");
    try {
      showReview(await api("POST", `/api/alerts/${id}/reviews`, { decision, reason }));
      out.className = "banner success";
      out.textContent = decision === "confirm" ? "Your confirmation is recorded." : "Rejected: kept as a false alert.";
      document.getElementById("review-reason").value = "";
      toast("Review recorded.");
    } catch (err) { showError(out, err); await loadReview(id); }
  }

  /* One sighting marked "not this person" (the reason is required; resets pending confirmations). */
  async function rejectSighting(id, button) {
    const li = button.closest("li");
    const reason = li.querySelector('[data-role="sighting-reason"]').value.trim();
    const out = document.getElementById("review-result");
    try {
      showReview(await api("POST", `/api/alerts/${id}/sightings/${button.dataset.ordinal}/reject`, { reason }));
      out.className = "banner success";
      out.textContent = "Sighting rejected: kept as a false sighting; the best remaining face is shown.";
      toast("Sighting rejected.");
    } catch (err) { showError(out, err); await loadReview(id); }
  }

  function initReview() {
    const id = document.getElementById("review").dataset.alertId;
    loadReview(id);
    document.getElementById("sightings").addEventListener("click", (ev) => {
      const button = ev.target.closest('[data-role="reject-sighting"]');
      if (button) rejectSighting(id, button);
    });
    document.getElementById("confirm-btn")?.addEventListener("click", () => submit(id, "confirm"));
    document.getElementById("reject-btn")?.addEventListener("click", () => submit(id, "reject"));
    Vigil.onAlert((ev) => {
      if (String(ev.alert_id) !== String(id)) return;
      if (ev.alert) showReview(ev.alert);
      else showError("review-error", "this alert was purged with its authorization");
    });
  }
})();
