/* Vigil dashboard core: API calls with CSRF, messages, the live alert socket. No build step. */
"use strict";

const Vigil = (() => {
  const pages = {};

  function cookie(name) {
    const hit = document.cookie.split("; ").find((c) => c.startsWith(name + "="));
    return hit ? decodeURIComponent(hit.slice(name.length + 1)) : "";
  }

  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return cookie("vigil_csrf") || (meta ? meta.content : "");
  }

  class ApiError extends Error {
    constructor(status, body) {
      const message = (body && (body.message || body.detail)) || `request failed (HTTP ${status})`;
      super(message);
      this.status = status;
      this.body = body || {};
    }
  }

  /* Every dashboard action is one of these calls. Changes carry the X-CSRF-Token header. */
  async function api(method, path, body, options = {}) {
    const headers = { Accept: "application/json" };
    const init = { method, headers, credentials: "same-origin" };
    if (method !== "GET" && method !== "HEAD") headers["X-CSRF-Token"] = csrfToken();
    if (body instanceof FormData) init.body = body;
    else if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (err) {
      throw new ApiError(0, { message: "the server cannot be reached; check the network and that `vigil serve` runs" });
    }
    const type = response.headers.get("content-type") || "";
    const data = type.includes("json") ? await response.json().catch(() => null) : null;
    if (response.status === 401 && !options.noRedirect) {
      location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
      throw new ApiError(401, data);
    }
    if (!response.ok) throw new ApiError(response.status, data);
    return data;
  }

  function esc(value) {
    return String(value ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  }

  function time(iso) {
    if (!iso) return "—";
    const d = new Date(iso);
    return isNaN(d) ? esc(iso) : d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
  }

  function ago(iso) {
    if (!iso) return "never";
    const s = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
    if (s < 5) return "just now";
    if (s < 90) return `${s}s ago`;
    if (s < 5400) return `${Math.round(s / 60)} min ago`;
    return `${Math.round(s / 3600)} h ago`;
  }

  function toast(message, kind = "info", ms = 6000) {
    const box = document.getElementById("toasts");
    if (!box) return;
    const div = document.createElement("div");
    div.className = "toast " + kind;
    div.innerHTML = message;
    box.appendChild(div);
    setTimeout(() => div.remove(), ms);
  }

  /* Show an API error in a page element (or as a toast). Never swallow it. */
  function showError(target, err) {
    const text = err instanceof ApiError || err instanceof Error ? err.message : String(err);
    const el = typeof target === "string" ? document.getElementById(target) : target;
    if (el) {
      el.textContent = text;
      el.className = "banner error";
      el.classList.remove("hidden");
    } else toast(esc(text), "error");
  }

  function showOk(target, html) {
    const el = typeof target === "string" ? document.getElementById(target) : target;
    if (!el) return toast(html, "info");
    el.innerHTML = html;
    el.className = "banner success";
    el.classList.remove("hidden");
  }

  function hide(target) {
    const el = typeof target === "string" ? document.getElementById(target) : target;
    if (el) el.classList.add("hidden");
  }

  function statusPill(status) {
    /* red is kept for what needs attention; a confirmed alert is done (two people agreed) */
    const map = { candidate: "warn", pending_second: "info", confirmed: "ok", rejected: "", active: "ok",
      revoked: "bad", refused: "bad", running: "ok", connected: "ok", connecting: "warn", reconnecting: "warn",
      failed: "bad", stopped: "", ended: "" };
    const label = { pending_second: "needs 2nd confirmation", candidate: "awaiting review" }[status] || status;
    return `<span class="pill ${map[status] ?? ""}">${esc(label)}</span>`;
  }

  /* ---- live alerts over WebSocket (reviewers only; the server refuses others) ----
     Each message: {type: "alert", event: candidate|updated|reviewed|confirmed|rejected|purged,
     alert_id, alert: <the alert as GET /api/alerts/{id} returns it, or null when purged>}. */
  const listeners = [];
  function onAlert(fn) { listeners.push(fn); }

  function setLive(on, text) {
    const dot = document.getElementById("live-dot");
    const label = document.getElementById("live-text");
    if (dot) dot.classList.toggle("on", on);
    if (label) label.textContent = text;
  }

  /* The sidebar badge: alerts awaiting THIS user's review (asked of the server, which knows who
     confirmed what), refreshed after every live event. */
  let counting = null;
  async function refreshCounter() {
    const counter = document.getElementById("alert-counter");
    if (!counter) return;
    try {
      const { count } = await api("GET", "/api/alerts/awaiting", undefined, { noRedirect: true });
      counter.textContent = String(count);
      counter.classList.toggle("zero", count === 0);
    } catch (err) { /* the badge is a hint; the alerts page shows errors */ }
  }
  function scheduleCounter() {
    if (counting) return;
    counting = setTimeout(() => { counting = null; refreshCounter(); }, 250);
  }

  function flash() {
    document.body.classList.add("alerting");
    setTimeout(() => document.body.classList.remove("alerting"), 4000);
  }

  function connectAlerts(delay = 1000) {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/ws/alerts`);
    ws.onopen = () => { delay = 1000; };
    ws.onmessage = (msg) => {
      const data = JSON.parse(msg.data);
      if (data.type === "status") {
        setLive(!!data.live, data.live ? "live alerts on" : data.message || "no live feed");
        if (data.message === "session ended") location.href = "/login";
        return;
      }
      if (data.type !== "alert") return;
      const a = data.alert; /* the alert in its public shape (null once purged) */
      if (data.event === "candidate" && a) {
        flash();
        toast(`<b>New alert</b>: ${esc(a.subject_name)} on <b>${esc(a.camera)}</b> (score ${a.score.toFixed(2)})
          — <a href="/alerts/${a.id}">review</a>`, "alert", 10000);
      }
      if (data.event !== "updated") scheduleCounter();
      listeners.forEach((fn) => fn(data));
    };
    ws.onclose = () => {
      setLive(false, "reconnecting…");
      setTimeout(() => connectAlerts(Math.min(delay * 2, 30000)), delay);
    };
  }

  /* ---- login, password, logout ---- */
  function initLogin() {
    const form = document.getElementById("login-form");
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      hide("login-error");
      try {
        const me = await api("POST", "/api/auth/login", { username: form.username.value, password: form.password.value }, { noRedirect: true });
        if (me && me.must_change_password) location.href = "/account/password";
        else location.href = form.dataset.next || "/";
      } catch (err) { showError("login-error", err); }
    });
  }

  function initPassword() {
    const form = document.getElementById("password-form");
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      hide("password-error");
      if (form.new_password.value !== form.repeat.value) return showError("password-error", "the two new passwords differ; type the same one twice");
      try {
        await api("POST", "/api/auth/password", { current_password: form.current_password.value, new_password: form.new_password.value });
        toast("Password changed.");
        location.href = "/";
      } catch (err) { showError("password-error", err); }
    });
  }

  function initShell() {
    const logout = document.getElementById("logout");
    if (logout) logout.addEventListener("click", async (ev) => {
      ev.preventDefault();
      try { await api("POST", "/api/auth/logout", undefined, { noRedirect: true }); } catch (err) { /* already out */ }
      location.href = "/login";
    });
    if (document.getElementById("live-dot")) connectAlerts();
    refreshCounter();
  }

  document.addEventListener("DOMContentLoaded", () => {
    const page = document.body.dataset.page;
    if (page === "login") return initLogin();
    initShell();
    if (document.getElementById("password-form")) initPassword();
    if (pages[page]) pages[page]();
  });

  return { api, ApiError, esc, time, ago, toast, showError, showOk, hide, statusPill, onAlert, pages };
})();
