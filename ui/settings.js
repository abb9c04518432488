"use strict";

// Monday first on screen; the file counts from Sunday (index 0).
const DAYS = [[1, "Mon"], [2, "Tue"], [3, "Wed"], [4, "Thu"], [5, "Fri"], [6, "Sat"], [0, "Sun"]];
let view = null;
// The sources being edited, which one the form shows, and the secrets
// typed for them (by source id) until Save.
let sources = [];
let sel = 0;
const typed = new Map();

const $ = (id) => document.getElementById(id);

function isLoopback(host) {
  return host === "localhost" || host === "[::1]" || /^127\./.test(host);
}

// What each protocol is, as the tray's engine describes it (settings_get's
// `protocols`): the page names no protocol itself.
let protocols = [];
const protocolOf = (dialect) => protocols.find((p) => p.dialect === dialect) || protocols.find((p) => p.dialect === "auto") || {};
// Pasted as a web address, with or without a scheme (push services).
const webAddress = () => !!protocolOf($("dialect").value).web_address;
// The per-source switch of each kind.
const KIND_BOXES = { like: "sk-likes", dislike: "sk-dislikes", reply: "sk-replies", message: "sk-messages" };

// The protocol list, in the engine's order (once per view).
function fillProtocols(list) {
  protocols = list || [];
  const select = $("dialect");
  const value = select.value;
  select.replaceChildren();
  // Detection first: it is what a new source starts with.
  const ordered = protocols.filter((p) => p.dialect === "auto").concat(protocols.filter((p) => p.dialect !== "auto"));
  for (const p of ordered) {
    const option = document.createElement("option");
    option.value = p.dialect;
    option.textContent = p.title;
    select.append(option);
  }
  if (value) select.value = value;
}

// A secure address (or one the user typed without a scheme for a push
// service, which Chime reads as https).
function isSecure() {
  try {
    let text = $("url").value.trim();
    if (webAddress() && !text.includes("://")) text = "https://" + text;
    const u = new URL(text);
    return u.protocol === "wss:" || u.protocol === "https:";
  } catch (_) {
    return false;
  }
}

function needsConsent() {
  try {
    let text = $("url").value.trim();
    if (webAddress() && !text.includes("://")) text = "https://" + text;
    const u = new URL(text);
    return (u.protocol === "ws:" || u.protocol === "http:") && !isLoopback(u.hostname);
  } catch (_) {
    return false;
  }
}

function refreshVisibility() {
  $("insecure-box").hidden = !needsConsent() && !$("allow-insecure").checked;
  $("ca-file-field").hidden = !isSecure() && !$("ca-file").value.trim();
  const auth = $("auth").value;
  $("secret-field").hidden = auth === "none";
  $("query-name-field").hidden = auth !== "query";
  $("username-field").hidden = auth !== "basic";
  const p = protocolOf($("dialect").value);
  const kinds = p.kinds || [];
  // Servers that ping Chime know no heartbeat of ours.
  $("heartbeat-field").hidden = !!p.server_pings;
  for (const [kind, id] of Object.entries(KIND_BOXES)) $(id).parentElement.hidden = !kinds.includes(kind);
  $("priority-field").hidden = !kinds.includes("message");
  $("delete-read-field").hidden = !p.forgets_read;
  // Accounts (Mastodon, Misskey) sign in with the browser.
  $("sign-in-box").hidden = !p.sign_in;
  $("url").placeholder = p.url_example || "";
  $("url-hint").textContent = p.url_hint || "";
  const current = sources[sel];
  const saved = view && current && (view.saved_secrets || []).includes(current.id);
  const ask = auth === "cookie" ? "sessionid=…" : auth === "basic" ? "Password" : p.token_hint || "Paste the token";
  $("secret").placeholder = saved ? "Saved — leave empty to keep it" : ask;
}

// A source as a new settings file has it.
const NEW_KINDS = { likes: true, dislikes: true, replies: true, messages: true, min_priority: 3 };
const NEW_SOURCE = { id: "default", name: "", enabled: true, muted: false, kinds: NEW_KINDS, url: "", dialect: "auto", auth: "none", heartbeat_secs: 30, allow_insecure: false, query_name: "token", username: "", delete_on_read: false, ca_file: "" };

// A new source's id: never one in use, and never one a source had earlier
// in this window (a removed source's rows and secrets must not pass to the
// source added in its place).
const usedIds = new Set();
function newId() {
  sources.forEach((s) => usedIds.add(s.id));
  for (;;) {
    const id = "s-" + Math.random().toString(16).slice(2, 10);
    if (!usedIds.has(id)) {
      usedIds.add(id);
      return id;
    }
  }
}

function sourceLabel(src) {
  if (src.name) return src.name;
  try {
    return new URL(src.url).host || "New source";
  } catch (_) {
    return "New source";
  }
}

// The form shows source `sel`.
function loadForm() {
  const src = Object.assign({}, NEW_SOURCE, sources[sel] || {});
  $("name").value = src.name || "";
  $("muted").checked = !!src.muted;
  const kinds = Object.assign({}, NEW_KINDS, src.kinds || {});
  $("sk-likes").checked = kinds.likes;
  $("sk-dislikes").checked = kinds.dislikes;
  $("sk-replies").checked = kinds.replies;
  $("sk-messages").checked = kinds.messages;
  $("min-priority").value = String(kinds.min_priority);
  $("username").value = src.username || "";
  $("delete-read").checked = !!src.delete_on_read;
  $("ca-file").value = src.ca_file || "";
  $("url").value = src.url;
  $("dialect").value = src.dialect;
  $("auth").value = src.auth;
  $("query-name").value = src.query_name || "token";
  $("heartbeat").value = src.heartbeat_secs;
  $("allow-insecure").checked = src.allow_insecure;
  $("secret").value = (sources[sel] && typed.get(sources[sel].id)) || "";
  $("source-legend").textContent = sources.length > 1 ? "Source: " + sourceLabel(src) : "Source";
  $("test-result").textContent = "";
  $("sign-in-result").textContent = "";
  refreshVisibility();
}

// What the form says goes back into source `sel`.
function storeForm() {
  if (!sources.length) sources.push(Object.assign({}, NEW_SOURCE, { id: newId() }));
  const src = sources[sel];
  Object.assign(src, {
    name: $("name").value.trim(),
    muted: $("muted").checked,
    kinds: {
      likes: $("sk-likes").checked,
      dislikes: $("sk-dislikes").checked,
      replies: $("sk-replies").checked,
      messages: $("sk-messages").checked,
      min_priority: Number.parseInt($("min-priority").value, 10) || 3,
    },
    username: $("username").value.trim(),
    delete_on_read: $("delete-read").checked,
    ca_file: $("ca-file").value.trim(),
    url: $("url").value.trim(),
    dialect: $("dialect").value,
    auth: $("auth").value,
    heartbeat_secs: Number.parseInt($("heartbeat").value, 10) || 0,
    allow_insecure: $("allow-insecure").checked,
    query_name: $("query-name").value.trim() || "token",
  });
  const secret = $("secret").value;
  if (secret) typed.set(src.id, secret);
}

function renderList() {
  const list = $("sources");
  const rows = sources.map((src, i) => {
    const li = chime.el("li");
    li.setAttribute("aria-current", String(i === sel));
    const on = document.createElement("input");
    on.type = "checkbox";
    on.checked = src.enabled !== false;
    on.className = "src-enabled";
    on.setAttribute("aria-label", "Enabled");
    on.addEventListener("change", () => {
      src.enabled = on.checked;
    });
    const pick = chime.el("button", "pick", sourceLabel(src));
    pick.type = "button";
    pick.appendChild(chime.el("small", "", src.url));
    pick.addEventListener("click", () => select(i));
    const up = chime.el("button", "mini up", "↑");
    up.type = "button";
    up.title = "Move up";
    up.disabled = i === 0;
    up.addEventListener("click", () => move(i, -1));
    const down = chime.el("button", "mini down", "↓");
    down.type = "button";
    down.title = "Move down";
    down.disabled = i === sources.length - 1;
    down.addEventListener("click", () => move(i, 1));
    const remove = chime.el("button", "mini remove", "Remove");
    remove.type = "button";
    remove.addEventListener("click", () => drop(i));
    li.append(on, pick, up, down, remove);
    return li;
  });
  list.replaceChildren(...rows);
  list.hidden = sources.length < 2 && !(sources[0] && sources[0].url);
}

function select(i) {
  storeForm();
  sel = Math.max(0, Math.min(i, sources.length - 1));
  loadForm();
  renderList();
}

function move(i, by) {
  storeForm();
  const j = i + by;
  if (j < 0 || j >= sources.length) return;
  [sources[i], sources[j]] = [sources[j], sources[i]];
  if (sel === i) sel = j;
  else if (sel === j) sel = i;
  renderList();
}

function drop(i) {
  storeForm();
  const [gone] = sources.splice(i, 1);
  if (gone) typed.delete(gone.id);
  if (sel >= sources.length) sel = Math.max(0, sources.length - 1);
  $("removed-note").hidden = false;
  loadForm();
  renderList();
}

function addSource() {
  storeForm();
  sources.push(Object.assign({}, NEW_SOURCE, { id: newId() }));
  sel = sources.length - 1;
  loadForm();
  renderList();
  $("url").focus();
}

// A link proposed a source: add it to the list (not saved) and show it.
function propose(src) {
  if (!src || !src.url) return;
  storeForm();
  // The first source of an empty list is the form's blank one: replace it.
  if (sources.length === 1 && !sources[0].url) sources = [];
  sources.push(Object.assign({}, NEW_SOURCE, src, { id: newId(), enabled: true }));
  sel = sources.length - 1;
  loadForm();
  renderList();
  $("notices").textContent = "A link proposes this source. Check it, enter its secret if it needs one, and Save to add it.";
}

function fill(v) {
  view = v;
  fillProtocols(v.protocols);
  const s = v.settings;
  sources = (s.sources || []).map((src) => Object.assign({}, NEW_SOURCE, src));
  sources.forEach((src) => usedIds.add(src.id));
  if (!sources.length) sources.push(Object.assign({}, NEW_SOURCE));
  sel = Math.min(sel, sources.length - 1);
  typed.clear();
  $("removed-note").hidden = true;
  loadForm();
  renderList();
  $("n-likes").checked = s.notify.likes;
  $("n-dislikes").checked = s.notify.dislikes;
  $("n-replies").checked = s.notify.replies;
  $("n-messages").checked = s.notify.messages !== false;
  $("n-sound").checked = s.notify.sound;
  $("q-enabled").checked = s.quiet_hours.enabled;
  $("q-from").value = s.quiet_hours.from;
  $("q-to").value = s.quiet_hours.to;
  for (const [i] of DAYS) $("q-day-" + i).checked = !!s.quiet_hours.days[i];
  $("s-login").checked = s.start_at_login;
  $("s-hidden").checked = s.start_hidden;
  $("secret-storage").textContent = v.secret_storage;
  $("notices").textContent = (v.notices || []).join(" ");
  refreshVisibility();
  if (v.proposed) propose(v.proposed);
}

function collect() {
  const days = [false, false, false, false, false, false, false];
  for (const [i] of DAYS) days[i] = $("q-day-" + i).checked;
  storeForm();
  return {
    schema: 2,
    // A source with no address is not kept.
    sources: sources.filter((src) => src.url),
    notify: {
      likes: $("n-likes").checked,
      dislikes: $("n-dislikes").checked,
      replies: $("n-replies").checked,
      messages: $("n-messages").checked,
      sound: $("n-sound").checked,
    },
    quiet_hours: { enabled: $("q-enabled").checked, from: $("q-from").value, to: $("q-to").value, days },
    start_at_login: $("s-login").checked,
    start_hidden: $("s-hidden").checked,
  };
}

// The secrets typed for sources (by id), for Save.
function secretsArg() {
  storeForm();
  return Object.fromEntries(typed);
}

function showErrors(fields) {
  for (const e of document.querySelectorAll("[data-error]")) e.textContent = "";
  for (const i of document.querySelectorAll("[aria-invalid]")) i.removeAttribute("aria-invalid");
  // A source's fields are sources.<index>.<field>: show the first source
  // with a problem, and its problems on the form's source.* fields.
  const shown = (fields || []).map((f) => {
    const m = /^sources\.(\d+)\.(.+)$/.exec(f.field);
    return m ? { index: Number(m[1]), field: "source." + m[2], message: f.message } : { index: null, field: f.field, message: f.message };
  });
  const bad = shown.find((f) => f.index !== null);
  if (bad && bad.index !== sel && !shown.some((f) => f.index === sel)) select(bad.index);
  let first = null;
  for (const f of shown) {
    if (f.index !== null && f.index !== sel) continue;
    const slot = document.querySelector('[data-error="' + CSS.escape(f.field) + '"]');
    if (slot) slot.textContent = f.message;
    const input = document.querySelector('[data-field="' + CSS.escape(f.field) + '"]');
    if (input) {
      input.setAttribute("aria-invalid", "true");
      first = first || input;
    }
    if (f.field === "source.allow_insecure") $("insecure-box").hidden = false;
  }
  if (first) first.focus();
}

async function save(ev) {
  ev.preventDefault();
  const result = $("save-result");
  result.textContent = "Saving…";
  try {
    const settings = collect();
    const v = await chime.invoke("settings_save", { settings, secrets: secretsArg() });
    showErrors([]);
    fill(v);
    result.textContent = "Saved.";
  } catch (e) {
    showErrors(e && e.fields);
    result.textContent = chime.errorText(e);
  }
}


// Sign in with the browser: the tray opens the server's page and waits for
// its answer; the token it gives is kept like a typed one (Save stores it
// in the keyring).
async function signIn() {
  const out = $("sign-in-result");
  out.className = "";
  out.textContent = "Finish signing in in your browser…";
  $("sign-in").disabled = true;
  try {
    storeForm();
    const src = sources[sel];
    const r = await chime.invoke("settings_sign_in", { source: src });
    src.auth = "token";
    typed.set(src.id, r.token);
    loadForm();
    out.className = "ok";
    out.textContent = "Signed in. Save to keep it.";
  } catch (e) {
    out.className = "bad";
    showErrors(e && e.fields);
    out.textContent = chime.errorText(e);
  } finally {
    $("sign-in").disabled = false;
  }
}

async function test() {
  const out = $("test-result");
  out.className = "";
  out.textContent = "Testing…";
  $("test").disabled = true;
  try {
    storeForm();
    const src = sources[sel];
    const r = await chime.invoke("settings_test", { source: src, secret: (src && typed.get(src.id)) || null });
    switch (r.outcome) {
      case "connected":
        out.className = "ok";
        out.textContent = "Connected" + (r.dialect ? " (" + (protocolOf(r.dialect).short || r.dialect) + ")" : "") + ".";
        break;
      case "auth_failed":
        out.className = "bad";
        out.textContent = "Sign-in failed: " + r.message;
        break;
      case "unreachable":
        out.className = "bad";
        out.textContent = "Unreachable: " + r.message;
        break;
      default:
        out.className = "bad";
        out.textContent = "Cannot connect: " + r.message;
    }
  } catch (e) {
    out.className = "bad";
    showErrors(e && e.fields);
    out.textContent = chime.errorText(e);
  } finally {
    $("test").disabled = false;
  }
}

document.addEventListener("DOMContentLoaded", async () => {
  chime.closeOnKeys();
  const days = $("q-days");
  for (const [i, name] of DAYS) {
    const label = chime.el("label");
    const box = document.createElement("input");
    box.type = "checkbox";
    box.id = "q-day-" + i;
    label.appendChild(box);
    label.appendChild(document.createTextNode(name));
    days.appendChild(label);
  }
  $("form").addEventListener("submit", save);
  $("test").addEventListener("click", test);
  $("sign-in").addEventListener("click", signIn);
  $("add-source").addEventListener("click", addSource);
  $("name").addEventListener("change", () => {
    storeForm();
    renderList();
  });
  for (const id of ["url", "auth", "dialect", "allow-insecure", "ca-file"]) $(id).addEventListener("input", refreshVisibility);
  document.addEventListener("keydown", (ev) => {
    if ((ev.ctrlKey || ev.metaKey) && ev.key === "s") save(ev);
  });
  chime.listen("status-changed", (ev) => chime.showStatus(ev.payload));
  chime.listen("source-proposed", (ev) => propose(ev.payload));
  chime.listen("secret-state", (ev) => {
    if (view) {
      view.saved_secrets = Array.isArray(ev.payload) ? ev.payload : [];
      refreshVisibility();
    }
  });
  chime.invoke("status_get").then(chime.showStatus, () => {});
  try {
    fill(await chime.invoke("settings_get"));
  } catch (e) {
    $("notices").textContent = "Cannot load the settings: " + chime.errorText(e);
  }
});
