// The Keyward web console: plain DOM over the JSON admin API. Data is only ever inserted
// with textContent (never as HTML); the session is an HttpOnly cookie the script cannot
// read, and every change carries the CSRF token the login answered. Files the API hands out
// (backups, issued certificates, audit exports) become Blob links; nothing is fetched from
// anywhere but this server.
"use strict";
let csrf = null;
let role = null;

const $ = (id) => document.getElementById(id);
const VIEWS = ["login", "dashboard", "clients", "keys", "audit", "backups", "approvals", "account"];
const KEY_STATES = ["PreActive", "Active", "Deactivated", "Compromised", "Destroyed", "DestroyedCompromised"];

function showError(text) { $("error").textContent = text || ""; }
function notice(text) { $("notice").textContent = text || ""; }
const report = (e) => showError(e.message);

function errorText(json, status) {
  const message = json && json.resources && json.resources[0] && json.resources[0].errorMsg;
  return message || ("HTTP " + status);
}

async function request(method, path, body, extraHeaders) {
  const headers = Object.assign({}, extraHeaders || {});
  if (csrf && method !== "GET") headers["x-csrf-token"] = csrf;
  let payload;
  if (body instanceof Blob) {
    payload = body;
    headers["content-type"] = "application/octet-stream";
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers["content-type"] = "application/json";
  }
  return fetch(path, { method, headers, credentials: "same-origin", body: payload });
}

async function api(method, path, body, extraHeaders) {
  const response = await request(method, path, body, extraHeaders);
  const json = await response.json();
  if (!response.ok) throw new Error(errorText(json, response.status));
  return json;
}

// A download: the answer's bytes as a Blob link named as the server's Content-Disposition says.
async function download(method, path, body) {
  const response = await request(method, path, body);
  if (!response.ok) {
    let json = null;
    try { json = await response.json(); } catch (_) { /* not JSON */ }
    throw new Error(errorText(json, response.status));
  }
  const disposition = response.headers.get("content-disposition") || "";
  const match = /filename="([A-Za-z0-9._-]+)"/.exec(disposition);
  const blob = await response.blob();
  return saveBlob(blob, match ? match[1] : "download");
}

function saveBlob(blob, name) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = name;
  a.textContent = name + " (" + blob.size + " bytes)";
  a.className = "download";
  document.body.appendChild(a);
  a.click();
  a.remove();
  return a;
}

function textLink(text, name, type) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([text], { type: type || "application/x-pem-file" }));
  a.download = name;
  a.textContent = name;
  a.className = "download";
  return a;
}

function cell(content) {
  const td = document.createElement("td");
  if (content instanceof Node) td.appendChild(content); else td.textContent = content == null ? "" : String(content);
  return td;
}

function row(tbody, cells, className) {
  const tr = document.createElement("tr");
  if (className) tr.className = className;
  for (const c of cells) tr.appendChild(cell(c));
  tbody.appendChild(tr);
  return tr;
}

function pairs(dl, entries) {
  dl.replaceChildren();
  for (const [name, value, className] of entries) {
    const dt = document.createElement("dt"); dt.textContent = name;
    const dd = document.createElement("dd"); dd.textContent = value == null ? "unknown" : String(value);
    if (className) dd.className = className;
    dl.append(dt, dd);
  }
}

function button(text, className, onClick) {
  const b = document.createElement("button");
  b.textContent = text;
  if (className) b.className = className;
  b.addEventListener("click", () => Promise.resolve().then(onClick).catch(report));
  return b;
}

const date = (unix) => unix == null ? "unknown" : new Date(unix * 1000).toISOString().replace("T", " ").slice(0, 16) + " UTC";
function ago(unix) {
  if (unix == null) return "never";
  const secs = Math.max(0, Math.floor(Date.now() / 1000 - unix));
  if (secs < 120) return secs + " s ago";
  if (secs < 7200) return Math.floor(secs / 60) + " min ago";
  if (secs < 172800) return Math.floor(secs / 3600) + " h ago";
  return Math.floor(secs / 86400) + " days ago";
}
function daysLeft(unix) { return unix == null ? null : Math.floor((unix - Date.now() / 1000) / 86400); }

function show(view) {
  for (const id of VIEWS) $(id).hidden = id !== view;
  showError(""); notice("");
  const load = { dashboard: loadDashboard, clients: loadClients, keys: loadKeys, audit: loadAudit,
    backups: loadBackups, approvals: loadApprovals }[view];
  if (load) load().catch(report);
}

// --- dashboard ------------------------------------------------------------------------------

async function loadDashboard() {
  const status = (await api("GET", "/api/v1/status")).resources[0];
  // The raw fields too, for scripts that read the page.
  pairs($("status"), Object.entries(status).filter(([, v]) => v === null || typeof v !== "object").map(([k, v]) => [k, v]));
  const nodes = await api("GET", "/api/v1/cluster/nodes");
  const degraded = nodes.metadata.clustered && !nodes.metadata.quorum;
  const sealed = status.root_state === "sealed";
  $("state").textContent = sealed ? "SEALED" : degraded ? "DEGRADED" : (status.running ? "serving" : "not running");
  $("card-state").className = "card " + (sealed || degraded ? "bad" : "good");
  $("state-detail").textContent = sealed ? status.sealed_reason :
    degraded ? "etcd has no quorum: keys are served, changes refused" :
    "KMIP on " + (status.listen || "?") + ", up " + status.uptime_secs + " s, keyward " + status.version;
  pairs($("root"), [
    ["provider", status.root_provider],
    ["state", status.root_state],
    ["last Key Protect sync", status.root_provider === "keyprotect" ? ago(status.keyprotect_last_sync_unix) : "not used"],
    ["master key version", status.wrapped_key_version],
  ].concat(status.keyprotect_last_error ? [["last error", status.keyprotect_last_error, "warn"]] : []));
  const stale = status.last_backup_unix == null || status.keys_changed_since_backup > 0;
  pairs($("dash-backup"), [
    ["last backup", ago(status.last_backup_unix), stale ? "warn" : ""],
    ["keys changed since", status.keys_changed_since_backup, stale ? "warn" : ""],
  ]);
  pairs($("dash-counts"), [
    ["clients", status.clients],
    ["live keys", status.live_keys],
    ["objects in all", status.total_objects],
    ["audit chain head", status.audit_chain_head],
  ]);
  // Every state, zero included, in KMIP's order; then any other name the server reports.
  const counts = status.keys_by_state || {};
  const byState = KEY_STATES.map((state) => [state, counts[state] || 0]);
  for (const [state, count] of Object.entries(counts)) {
    if (!KEY_STATES.includes(state)) byState.push([state, count]);
  }
  pairs($("keys-by-state"), byState);
  const tbody = $("node-rows"); tbody.replaceChildren();
  for (const n of nodes.resources) {
    row(tbody, [n.id, n.kmip, n.state, n.reportedSecsAgo + " s ago"], n.state === "serving" ? "" : "warn");
  }
  const cert = (await api("GET", "/api/v1/server/certificate")).resources[0];
  pairs($("server-cert"), [
    ["subject", cert.subject],
    ["expires", date(cert.notAfter) + " (" + cert.expiresInDays + " days)", cert.expiresInDays < 30 ? "warn" : ""],
    ["SHA-256", cert.fingerprint],
  ]);
  $("cert-renew").hidden = role !== "admin";
  const list = $("expiring"); list.replaceChildren();
  for (const w of status.expiring || []) {
    const li = document.createElement("li");
    li.className = "warn";
    li.textContent = w.kind + " " + w.name + ": " + (w.days_left < 0 ? "EXPIRED " + (-w.days_left) + " day(s) ago" :
      "expires in " + w.days_left + " day(s)") + " (" + date(w.not_after) + ")";
    list.appendChild(li);
  }
  if (!list.children.length) {
    const li = document.createElement("li"); li.textContent = "none"; list.appendChild(li);
  }
}

async function renewCertificate() {
  const b = $("cert-renew");
  if (b.dataset.armed !== "1") { b.dataset.armed = "1"; b.textContent = "Really renew? vCenter must then trust the new certificate"; return; }
  b.dataset.armed = ""; b.textContent = "Renew now";
  const cert = (await api("POST", "/api/v1/server/certificate/renew", {})).resources[0];
  notice("server certificate renewed; new SHA-256 " + cert.fingerprint);
  await loadDashboard();
}

// --- clients --------------------------------------------------------------------------------

async function loadClients() {
  const clients = (await api("GET", "/api/v1/clients")).resources;
  const tbody = $("client-rows"); tbody.replaceChildren();
  for (const c of clients) {
    const left = daysLeft(c.certificateNotAfter);
    const expiry = c.certificateNotAfter == null ? "not recorded" :
      date(c.certificateNotAfter) + " (" + (left < 0 ? "EXPIRED" : left + " days") + ")";
    const remove = role === "auditor" ? "" : button("Remove", "remove", () => removeClient(c.name, remove));
    row(tbody, [c.name, c.type, c.owner, expiry, c.keysLive, c.lastSeen ? ago(c.lastSeen) : "never", remove],
      left != null && left < 30 ? "warn" : "");
  }
}

async function removeClient(name, b) {
  if (b.dataset.armed !== "1") { b.dataset.armed = "1"; b.textContent = "Really remove " + name + "?"; return; }
  await api("DELETE", "/api/v1/clients/" + encodeURIComponent(name));
  notice("removed client " + name);
  await loadClients();
}

async function fileText(input) {
  const file = $(input).files[0];
  if (!file) throw new Error("choose a file first");
  return file.text();
}

async function addClient() {
  const certificate = await fileText("client-cert");
  await api("POST", "/api/v1/clients", { name: $("client-name").value, certificate });
  notice("added client " + $("client-name").value);
  await loadClients();
}

async function addCa() {
  const ca = await fileText("ca-cert");
  const body = { name: $("ca-name").value, ca };
  if ($("ca-subject").value) body.subject = $("ca-subject").value;
  await api("POST", "/api/v1/clients", body);
  notice("added client " + body.name + " (trusted CA)");
  await loadClients();
}

async function issueClient() {
  const name = $("issue-name").value;
  const issued = (await api("POST", "/api/v1/clients/issue", { name })).resources[0];
  const links = $("issue-links");
  links.replaceChildren(textLink(issued.certificate, name + ".crt"), " ",
    textLink(issued.privateKey, name + ".key"), " ", textLink(issued.caCertificate, "keyward-ca.crt"));
  notice("issued a certificate and key for " + name + "; download both now: the key is not kept");
  await loadClients();
}

async function signCsr() {
  const csr = await fileText("csr-file");
  const name = $("csr-name").value;
  const signed = (await api("POST", "/api/v1/clients/sign-csr", { name, csr })).resources[0];
  $("csr-links").replaceChildren(textLink(signed.certificate, name + "-signed.crt"));
  notice("signed the CSR for " + name);
  await loadClients();
}

// --- keys -----------------------------------------------------------------------------------

async function loadKeys() {
  const uid = $("key-uid").value.trim();
  let keys, total;
  if (uid) {
    keys = (await api("GET", "/api/v1/keys/" + encodeURIComponent(uid))).resources;
    total = keys.length;
  } else {
    const query = new URLSearchParams({ limit: "500" });
    if ($("key-vm").value) query.set("xName", $("key-vm").value);
    if ($("key-state").value) query.set("state", $("key-state").value);
    const answer = await api("GET", "/api/v1/keys?" + query.toString());
    keys = answer.resources; total = answer.metadata.collectionTotal;
  }
  $("key-total").textContent = total + " key(s)" + (total > keys.length ? ", first " + keys.length + " shown" : "");
  const tbody = $("key-rows"); tbody.replaceChildren();
  for (const k of keys) {
    const revoke = button("Revoke", "revoke", () =>
      api("POST", "/api/v1/keys/" + encodeURIComponent(k.id) + "/revoke", { reason: "cessation-of-operation" })
        .then(() => { notice("revoked " + k.id); return loadKeys(); }));
    // KMIP revokes an Active key for an ordinary reason; other states need a compromise reason.
    revoke.disabled = k.state !== "Active" || role === "auditor";
    const destroy = button("Destroy", "destroy", () => destroyKey(k.id, destroy));
    destroy.disabled = k.state.startsWith("Destroyed") || role !== "admin";
    row(tbody, [k.id, k.client, k.xName, k.xComponent, k.state, revoke, destroy]);
  }
}

async function destroyKey(uid, b) {
  if (b.dataset.armed !== "1") { b.dataset.armed = "1"; b.textContent = "Really destroy?"; return; }
  const response = await request("DELETE", "/api/v1/keys/" + encodeURIComponent(uid));
  const json = await response.json();
  if (!response.ok) throw new Error(errorText(json, response.status));
  notice(response.status === 202 ? "destruction of " + uid + " waits for a second admin (Approvals)" : "destroyed " + uid);
  await loadKeys();
}

// --- audit ----------------------------------------------------------------------------------

function auditQuery() {
  const query = new URLSearchParams();
  for (const [field, name] of [["audit-op", "operation"], ["audit-actor", "actor"], ["audit-uid", "uid"]]) {
    if ($(field).value) query.set(name, $(field).value);
  }
  if ($("audit-since").value) query.set("sinceMs", String(Date.parse($("audit-since").value)));
  if ($("audit-failed").checked) query.set("failed", "true");
  return query;
}

async function loadAudit() {
  const query = auditQuery();
  query.set("limit", "200");
  const records = (await api("GET", "/api/v1/audit?" + query.toString())).resources;
  const tbody = $("audit-rows"); tbody.replaceChildren();
  for (const r of records.slice().reverse()) {
    const rec = r.record;
    row(tbody, [rec.seq, new Date(rec.time_ms).toISOString(), rec.actor.name || rec.actor.owner || rec.actor.kind,
      rec.operation, (rec.uids || []).join(" "), rec.outcome], rec.outcome === "success" ? "" : "warn");
  }
}

async function verifyAudit() {
  const v = (await api("GET", "/api/v1/audit/verify")).resources[0];
  $("audit-verified").textContent = v.intact ? "chain intact (" + v.verification.records + " records)" : "CHAIN BROKEN";
  $("audit-verified").className = v.intact ? "good" : "bad";
}

async function exportAudit() {
  const link = await download("GET", "/api/v1/audit/export?" + auditQuery().toString());
  notice("audit export downloaded: " + link.textContent);
}

// --- backups --------------------------------------------------------------------------------

async function loadBackups() {
  const answer = await api("GET", "/api/v1/backups");
  const meta = answer.metadata;
  const last = meta.lastBackup && meta.lastBackup.last_backup;
  const schedule = meta.schedule;
  pairs($("backup-state"), [
    ["schedule", schedule ? "every " + Math.round(schedule.intervalSecs / 3600 * 10) / 10 + " h, newest " + schedule.keep + " kept" +
      (schedule.withAudit ? ", with the audit log" : "") : "not scheduled (no [backup] table)"],
    ["last backup", last ? ago(last.unix) + " (" + last.objects + " objects)" : "never", last ? "" : "warn"],
    ["keys changed since", meta.lastBackup ? meta.lastBackup.changes_since : null,
      meta.lastBackup && meta.lastBackup.changes_since > 0 ? "warn" : ""],
  ]);
  const tbody = $("backup-rows"); tbody.replaceChildren();
  for (const f of answer.resources) {
    row(tbody, [f.name, f.bytes + " bytes", date(f.modified), button("Download", "fetch", async () => {
      const link = await download("GET", "/api/v1/backups/" + encodeURIComponent(f.name));
      notice("downloaded " + link.textContent);
    })]);
  }
  if (!answer.resources.length) row(tbody, ["no scheduled backup files", "", "", ""]);
}

async function backupNow() {
  const passphrase = $("backup-pass").value;
  if (passphrase !== $("backup-pass2").value) throw new Error("the two passphrases differ");
  $("backup-result").textContent = "exporting…";
  const link = await download("POST", "/api/v1/backups", { passphrase, withAudit: $("backup-audit").checked });
  $("backup-pass").value = ""; $("backup-pass2").value = "";
  $("backup-result").textContent = "backup downloaded: " + link.textContent + ". Keep the passphrase apart from the file.";
  await loadBackups();
}

async function verifyBackup() {
  const file = $("verify-file").files[0];
  if (!file) throw new Error("choose a backup file first");
  const v = (await api("POST", "/api/v1/backups/verify", file,
    { "x-keyward-backup-passphrase": $("verify-pass").value })).resources[0];
  $("verify-pass").value = "";
  $("verify-result").textContent = "intact: " + v.objects + " objects (" + v.withMaterial + " with key material), made " +
    date(v.createdUnix) + " on appliance " + v.applianceId;
}

// --- approvals ------------------------------------------------------------------------------

async function loadApprovals() {
  const tbody = $("approval-rows"); tbody.replaceChildren();
  if (role !== "admin") { $("approvals-state").textContent = "only admins see and approve requests"; return; }
  const response = await request("GET", "/api/v1/approvals");
  const json = await response.json();
  if (response.status === 404) { $("approvals-state").textContent = "the two-person rule is off"; return; }
  if (!response.ok) throw new Error(errorText(json, response.status));
  $("approvals-state").textContent = json.metadata.collectionTotal + " request(s) waiting";
  for (const a of json.resources) {
    const approve = button("Approve", "approve", () => api("POST", "/api/v1/approvals/" + encodeURIComponent(a.id) + "/approve", {})
      .then(() => { notice("approved " + a.id); return loadApprovals(); }));
    const reject = button("Reject", "reject", () => api("DELETE", "/api/v1/approvals/" + encodeURIComponent(a.id))
      .then(() => { notice("rejected " + a.id); return loadApprovals(); }));
    row(tbody, [a.id, a.action, a.target, a.requestedBy, a.expiresIn + " s", approve, reject]);
  }
}

// --- account --------------------------------------------------------------------------------

async function enrolTotp() {
  const body = { password: $("totp-password").value };
  if ($("totp-otp").value) body.otp = $("totp-otp").value;
  $("totp-uri").textContent = "";
  try {
    const enrolled = (await api("POST", "/api/v1/account/totp", body)).resources[0];
    $("totp-result").textContent = "Enrolled. Add this link to the authenticator app now (shown only once); the next login asks for its code:";
    $("totp-uri").textContent = enrolled.otpauthUri;
  } finally {
    $("totp-password").value = ""; $("totp-otp").value = "";
  }
}

// --- session --------------------------------------------------------------------------------

async function login() {
  const body = { username: $("username").value, password: $("password").value, cookie: true };
  if ($("otp").value) body.otp = $("otp").value;
  const answer = await api("POST", "/api/v1/login", body);
  const session = answer.resources[0];
  csrf = session.csrfToken;
  role = session.role;
  $("password").value = ""; $("otp").value = "";
  $("who").textContent = session.username + " (" + session.role + ")";
  $("nav").hidden = false;
  show("dashboard");
}

document.addEventListener("DOMContentLoaded", () => {
  const on = (id, f) => $(id).addEventListener("click", () => Promise.resolve().then(f).catch(report));
  on("login-button", login);
  for (const b of document.querySelectorAll("nav button[data-view]")) {
    b.addEventListener("click", () => show(b.dataset.view));
  }
  $("logout").addEventListener("click", () => {
    api("POST", "/api/v1/logout", {}).catch(() => {}).finally(() => {
      csrf = null; role = null; $("nav").hidden = true; $("who").textContent = ""; show("login");
    });
  });
  on("cert-renew", renewCertificate);
  on("client-add", addClient);
  on("ca-add", addCa);
  on("client-issue", issueClient);
  on("csr-sign", signCsr);
  on("key-search", loadKeys);
  on("audit-search", loadAudit);
  on("audit-verify", verifyAudit);
  on("audit-export", exportAudit);
  on("backup-now", backupNow);
  on("backup-verify", verifyBackup);
  on("totp-enrol", enrolTotp);
});
