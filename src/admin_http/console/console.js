// The Keyward web console: plain DOM over the JSON admin API. Data is only ever inserted
// with textContent (never as HTML); the session is an HttpOnly cookie the script cannot
// read, and every change carries the CSRF token the login answered.
"use strict";
let csrf = null;

const $ = (id) => document.getElementById(id);

function showError(text) { $("error").textContent = text || ""; }

async function api(method, path, body) {
  const headers = { "content-type": "application/json" };
  if (csrf) headers["x-csrf-token"] = csrf;
  const response = await fetch(path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await response.json();
  if (!response.ok) {
    const message = json.resources && json.resources[0] && json.resources[0].errorMsg;
    throw new Error(message || ("HTTP " + response.status));
  }
  return json;
}

function row(tbody, cells) {
  const tr = document.createElement("tr");
  for (const cell of cells) {
    const td = document.createElement("td");
    if (cell instanceof Node) td.appendChild(cell); else td.textContent = cell == null ? "" : String(cell);
    tr.appendChild(td);
  }
  tbody.appendChild(tr);
}

function show(view) {
  for (const id of ["login", "dashboard", "clients", "keys", "audit"]) $(id).hidden = id !== view;
  showError("");
  const load = { dashboard: loadStatus, clients: loadClients, keys: loadKeys, audit: loadAudit }[view];
  if (load) load().catch((e) => showError(e.message));
}

async function loadStatus() {
  const status = (await api("GET", "/api/v1/status")).resources[0];
  const dl = $("status");
  dl.replaceChildren();
  for (const [name, value] of Object.entries(status)) {
    if (value === null || typeof value === "object") continue;
    const dt = document.createElement("dt"); dt.textContent = name;
    const dd = document.createElement("dd"); dd.textContent = String(value);
    dl.append(dt, dd);
  }
}

async function loadClients() {
  const clients = (await api("GET", "/api/v1/clients")).resources;
  const tbody = $("client-rows"); tbody.replaceChildren();
  for (const c of clients) row(tbody, [c.name, c.type, c.owner, c.keysLive]);
}

async function addClient() {
  const file = $("client-cert").files[0];
  if (!file) { showError("choose a certificate file"); return; }
  const certificate = await file.text();
  await api("POST", "/api/v1/clients", { name: $("client-name").value, certificate });
  await loadClients();
}

async function loadKeys() {
  const vm = $("key-vm").value;
  const path = "/api/v1/keys" + (vm ? "?xName=" + encodeURIComponent(vm) : "");
  const keys = (await api("GET", path)).resources;
  const tbody = $("key-rows"); tbody.replaceChildren();
  for (const k of keys) {
    const revoke = document.createElement("button");
    revoke.textContent = "Revoke";
    revoke.className = "revoke";
    // KMIP revokes an Active key for an ordinary reason; other states need a compromise reason.
    revoke.disabled = k.state !== "Active";
    revoke.addEventListener("click", () => {
      api("POST", "/api/v1/keys/" + encodeURIComponent(k.id) + "/revoke", { reason: "cessation-of-operation" })
        .then(loadKeys).catch((e) => showError(e.message));
    });
    row(tbody, [k.id, k.client, k.xName, k.state, revoke]);
  }
}

async function loadAudit() {
  const op = $("audit-op").value;
  const path = "/api/v1/audit?limit=200" + (op ? "&operation=" + encodeURIComponent(op) : "");
  const records = (await api("GET", path)).resources;
  const tbody = $("audit-rows"); tbody.replaceChildren();
  for (const r of records.slice().reverse()) {
    const rec = r.record;
    row(tbody, [rec.seq, new Date(rec.time_ms).toISOString(), rec.actor.name || rec.actor.owner || rec.actor.kind,
      rec.operation, (rec.uids || []).join(" "), rec.outcome]);
  }
}

async function verifyAudit() {
  const v = (await api("GET", "/api/v1/audit/verify")).resources[0];
  $("audit-verified").textContent = v.intact ? "chain intact (" + v.verification.records + " records)" : "CHAIN BROKEN";
}

async function login() {
  const answer = await api("POST", "/api/v1/login",
    { username: $("username").value, password: $("password").value, cookie: true });
  const session = answer.resources[0];
  csrf = session.csrfToken;
  $("password").value = "";
  $("who").textContent = session.username + " (" + session.role + ")";
  $("nav").hidden = false;
  show("dashboard");
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-button").addEventListener("click", () => login().catch((e) => showError(e.message)));
  for (const button of document.querySelectorAll("nav button[data-view]")) {
    button.addEventListener("click", () => show(button.dataset.view));
  }
  $("logout").addEventListener("click", () => {
    api("POST", "/api/v1/logout", {}).finally(() => { csrf = null; $("nav").hidden = true; $("who").textContent = ""; show("login"); });
  });
  $("client-add").addEventListener("click", () => addClient().catch((e) => showError(e.message)));
  $("key-search").addEventListener("click", () => loadKeys().catch((e) => showError(e.message)));
  $("audit-search").addEventListener("click", () => loadAudit().catch((e) => showError(e.message)));
  $("audit-verify").addEventListener("click", () => verifyAudit().catch((e) => showError(e.message)));
});
