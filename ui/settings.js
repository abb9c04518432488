"use strict";

// Monday first on screen; the file counts from Sunday (index 0).
const DAYS = [[1, "Mon"], [2, "Tue"], [3, "Wed"], [4, "Thu"], [5, "Fri"], [6, "Sat"], [0, "Sun"]];
let view = null;

const $ = (id) => document.getElementById(id);

function isLoopback(host) {
  return host === "localhost" || host === "[::1]" || /^127\./.test(host);
}

function needsConsent() {
  try {
    const u = new URL($("url").value.trim());
    return u.protocol === "ws:" && !isLoopback(u.hostname);
  } catch (_) {
    return false;
  }
}

function refreshVisibility() {
  $("insecure-box").hidden = !needsConsent() && !$("allow-insecure").checked;
  const auth = $("auth").value;
  $("secret-field").hidden = auth === "none";
  $("query-name-field").hidden = auth !== "query";
  $("secret").placeholder = view && view.secret_set ? "Saved — leave empty to keep it" : (auth === "cookie" ? "sessionid=…" : "Paste the token");
}

// A source as a new settings file has it.
const NEW_SOURCE = { id: "default", name: "", enabled: true, url: "", dialect: "auto", auth: "none", heartbeat_secs: 30, allow_insecure: false, query_name: "token" };

// The window edits the first source; the others (a settings file may list
// several) are kept as they are.
function firstSource(s) {
  return Object.assign({}, NEW_SOURCE, (s.sources || [])[0] || {});
}

function fill(v) {
  view = v;
  const s = v.settings;
  const src = firstSource(s);
  $("url").value = src.url;
  $("dialect").value = src.dialect;
  $("auth").value = src.auth;
  $("query-name").value = src.query_name || "token";
  $("heartbeat").value = src.heartbeat_secs;
  $("allow-insecure").checked = src.allow_insecure;
  $("secret").value = "";
  $("n-likes").checked = s.notify.likes;
  $("n-dislikes").checked = s.notify.dislikes;
  $("n-replies").checked = s.notify.replies;
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
}

function collect() {
  const days = [false, false, false, false, false, false, false];
  for (const [i] of DAYS) days[i] = $("q-day-" + i).checked;
  const saved = (view && view.settings) || {};
  const first = Object.assign(firstSource(saved), {
    url: $("url").value.trim(),
    dialect: $("dialect").value,
    auth: $("auth").value,
    heartbeat_secs: Number.parseInt($("heartbeat").value, 10) || 0,
    allow_insecure: $("allow-insecure").checked,
    query_name: $("query-name").value.trim() || "token",
  });
  const rest = (saved.sources || []).slice(1);
  return {
    schema: 2,
    // No address, no first source (unless others follow it).
    sources: first.url || rest.length ? [first, ...rest] : [],
    notify: {
      likes: $("n-likes").checked,
      dislikes: $("n-dislikes").checked,
      replies: $("n-replies").checked,
      sound: $("n-sound").checked,
    },
    quiet_hours: { enabled: $("q-enabled").checked, from: $("q-from").value, to: $("q-to").value, days },
    start_at_login: $("s-login").checked,
    start_hidden: $("s-hidden").checked,
  };
}

function secretArg() {
  const s = $("secret").value;
  return s === "" ? null : s;
}

function showErrors(fields) {
  for (const e of document.querySelectorAll("[data-error]")) e.textContent = "";
  for (const i of document.querySelectorAll("[aria-invalid]")) i.removeAttribute("aria-invalid");
  let first = null;
  for (const f of fields || []) {
    const slot = document.querySelector('[data-error="' + CSS.escape(f.field) + '"]');
    if (slot) slot.textContent = f.message;
    const input = document.querySelector('[data-field="' + CSS.escape(f.field) + '"]');
    if (input) {
      input.setAttribute("aria-invalid", "true");
      first = first || input;
    }
    if (f.field === "sources.0.allow_insecure") $("insecure-box").hidden = false;
  }
  if (first) first.focus();
}

async function save(ev) {
  ev.preventDefault();
  const result = $("save-result");
  result.textContent = "Saving…";
  try {
    const v = await chime.invoke("settings_save", { settings: collect(), secret: secretArg() });
    showErrors([]);
    fill(v);
    result.textContent = "Saved.";
  } catch (e) {
    showErrors(e && e.fields);
    result.textContent = chime.errorText(e);
  }
}

async function test() {
  const out = $("test-result");
  out.className = "";
  out.textContent = "Testing…";
  $("test").disabled = true;
  try {
    const r = await chime.invoke("settings_test", { settings: collect(), secret: secretArg() });
    switch (r.outcome) {
      case "connected":
        out.className = "ok";
        out.textContent = "Connected" + (r.dialect ? " (" + (r.dialect === "native" ? "Chime protocol" : "counters only") + ")" : "") + ".";
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
  for (const id of ["url", "auth", "allow-insecure"]) $(id).addEventListener("input", refreshVisibility);
  document.addEventListener("keydown", (ev) => {
    if ((ev.ctrlKey || ev.metaKey) && ev.key === "s") save(ev);
  });
  chime.listen("status-changed", (ev) => chime.showStatus(ev.payload));
  chime.listen("secret-state", (ev) => {
    if (view) {
      view.secret_set = ev.payload === true;
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
