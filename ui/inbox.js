"use strict";

let kind = "";
let source = "";
let text = "";
// Source id → name, when there are several (rows then say which).
let sourceNames = new Map();
const KIND_LABEL = { like: "Like", dislike: "Dislike", reply: "Reply", message: "Message" };
const PRIORITY = { 1: "min", 2: "low", 4: "high", 5: "urgent" };

// Markdown as DOM nodes: paragraphs, **bold**, *em* / _em_, `code`; links
// show their text. Built with textContent only, so no server HTML is ever
// parsed.
function markdown(text) {
  const box = chime.el("div", "body");
  for (const line of String(text).split("\n")) {
    const p = chime.el("p");
    const clean = line.replace(/^\s*#+\s*/, "").replace(/^\s*[-*]\s+/, "• ").replace(/^\s*>\s?/, "");
    const re = /(\*\*[^*]+\*\*|__[^_]+__|\*[^*]+\*|_[^_]+_|`[^`]+`|!?\[[^\]]*\]\([^)]*\))/g;
    let at = 0;
    for (const m of clean.matchAll(re)) {
      if (m.index > at) p.appendChild(document.createTextNode(clean.slice(at, m.index)));
      const t = m[0];
      if (t.startsWith("**") || t.startsWith("__")) p.appendChild(chime.el("strong", "", t.slice(2, -2)));
      else if (t.startsWith("`")) p.appendChild(chime.el("code", "", t.slice(1, -1)));
      else if (t.startsWith("[") || t.startsWith("![")) p.appendChild(document.createTextNode(t.slice(t.indexOf("[") + 1, t.indexOf("]"))));
      else p.appendChild(chime.el("em", "", t.slice(1, -1)));
      at = m.index + t.length;
    }
    if (at < clean.length) p.appendChild(document.createTextNode(clean.slice(at)));
    box.appendChild(p);
  }
  return box;
}

// A message's body, priority, tags and link buttons.
function messageParts(li, item) {
  const m = item.message || {};
  if (item.body) {
    if (m.markdown) li.appendChild(markdown(item.body));
    else li.appendChild(chime.el("div", "body", item.body));
  }
  const meta = chime.el("div", "meta");
  const p = m.priority || 3;
  if (PRIORITY[p]) meta.appendChild(chime.el("span", "prio p" + p, PRIORITY[p]));
  for (const t of m.tags || []) meta.appendChild(chime.el("span", "tag", "#" + t));
  (m.links || []).forEach((l, n) => {
    const b = chime.el("button", "link", l.label || "Open");
    b.type = "button";
    b.title = l.url;
    b.addEventListener("click", (ev) => {
      ev.stopPropagation();
      chime.invoke("inbox_open", { id: item.id, link: n }).catch((e) => {
        document.getElementById("error").textContent = chime.errorText(e);
      });
    });
    meta.appendChild(b);
  });
  if (meta.childNodes.length) li.appendChild(meta);
}
// Rows asked for: one page more each "Show older", up to all the store keeps.
const PAGE = 500;
let limit = PAGE;

// A time the window can format, or null (a bad row still shows).
function validDate(ms) {
  if (typeof ms !== "number" || !Number.isFinite(ms)) return null;
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? null : d;
}

function when(ms) {
  const d = validDate(ms);
  if (!d) return "";
  const ago = (Date.now() - ms) / 1000;
  if (ago < 45) return "just now";
  if (ago < 3600) return Math.round(ago / 60) + " min ago";
  if (ago < 86400 && d.getDate() === new Date().getDate()) {
    return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }
  return d.toLocaleDateString([], { month: "short", day: "numeric" });
}

function rowFor(item) {
  const li = chime.el("li", "row" + (item.read ? "" : " unread"));
  li.tabIndex = 0;
  li.setAttribute("role", "link");
  li.dataset.id = String(item.id);
  li.appendChild(chime.el("span", "mark"));
  const what = chime.el("span", "what");
  what.appendChild(chime.el("span", "kind " + item.kind, KIND_LABEL[item.kind] || item.kind));
  if (sourceNames.size > 1) {
    what.appendChild(chime.el("span", "source", sourceNames.get(item.source) || item.source));
  }
  const title = item.kind === "message" ? (item.title || item.actor) : item.title;
  what.appendChild(chime.el("span", "title", (item.emoji ? item.emoji + " " : "") + (title || "(untitled)")));
  li.appendChild(what);
  const time = chime.el("time", "when", when(item.time));
  const d = validDate(item.time);
  if (d) {
    time.dateTime = d.toISOString();
    time.title = d.toLocaleString();
  }
  li.appendChild(time);
  if (item.kind === "message") {
    messageParts(li, item);
    li.appendChild(chime.el("span", "who", item.actor || ""));
  } else {
    li.appendChild(chime.el("span", "who", item.actor ? "by " + item.actor : ""));
  }
  li.setAttribute("aria-label", (item.read ? "" : "Unread. ") + (KIND_LABEL[item.kind] || "") + ": " + (item.title || "") + (item.actor ? ", by " + item.actor : ""));
  return li;
}

async function load() {
  const error = document.getElementById("error");
  try {
    const page = await chime.invoke("inbox_list", { kind: kind || null, source: source || null, text: text || null, limit });
    const items = page.rows;
    showSources(page.sources || []);
    const list = document.getElementById("items");
    const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.id : null;
    // One bad row never costs the others.
    const rows = [];
    for (const item of items) {
      try {
        rows.push(rowFor(item));
      } catch (e) {
        console.warn("inbox: a row could not be shown", e);
      }
    }
    list.replaceChildren(...rows);
    document.getElementById("more").hidden = items.length < limit;
    document.getElementById("empty").hidden = items.length > 0;
    document.getElementById("mark-all").disabled = !items.some((i) => !i.read);
    if (focused) {
      const again = list.querySelector('[data-id="' + CSS.escape(focused) + '"]');
      if (again) again.focus();
    }
    error.textContent = "";
  } catch (e) {
    error.textContent = "Cannot load the inbox: " + chime.errorText(e);
  }
}

// The source filter, shown when there is more than one source.
function showSources(list) {
  const names = new Map(list.map((s) => [s.id, s.name]));
  const same = names.size === sourceNames.size && [...names].every(([k, v]) => sourceNames.get(k) === v);
  sourceNames = names;
  const select = document.getElementById("source");
  select.hidden = names.size < 2;
  if (same) return;
  select.replaceChildren(chime.el("option", "", "All sources"));
  select.firstChild.value = "";
  for (const [id, name] of names) {
    const o = chime.el("option", "", name);
    o.value = id;
    select.appendChild(o);
  }
  select.value = names.has(source) ? source : "";
}

// One load at a time: changes that arrive while a load runs (a burst)
// are covered by one more load after it, not one each.
let loading = null;
let stale = false;
function reload() {
  if (loading) {
    stale = true;
    return;
  }
  loading = load().finally(() => {
    loading = null;
    if (stale) {
      stale = false;
      reload();
    }
  });
}

async function open(row) {
  try {
    await chime.invoke("inbox_open", { id: Number(row.dataset.id) });
    row.classList.remove("unread");
  } catch (e) {
    document.getElementById("error").textContent = chime.errorText(e);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  chime.closeOnKeys();
  const list = document.getElementById("items");
  list.addEventListener("click", (ev) => {
    const row = ev.target.closest(".row");
    if (row) open(row);
  });
  list.addEventListener("keydown", (ev) => {
    const row = ev.target.closest(".row");
    if (!row) return;
    if (ev.key === "Enter" || ev.key === " ") {
      ev.preventDefault();
      open(row);
    } else if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
      ev.preventDefault();
      const next = ev.key === "ArrowDown" ? row.nextElementSibling : row.previousElementSibling;
      if (next) next.focus();
    }
  });
  document.getElementById("more").addEventListener("click", () => {
    limit += PAGE;
    reload();
  });
  for (const chip of document.querySelectorAll(".chip")) {
    chip.addEventListener("click", () => {
      kind = chip.dataset.kind;
      limit = PAGE;
      for (const c of document.querySelectorAll(".chip")) c.setAttribute("aria-pressed", String(c === chip));
      reload();
    });
  }
  document.getElementById("source").addEventListener("change", (ev) => {
    source = ev.target.value;
    limit = PAGE;
    reload();
  });
  let typing = null;
  const search = document.getElementById("search");
  const searched = () => {
    clearTimeout(typing);
    typing = setTimeout(() => {
      if (text === search.value) return;
      text = search.value;
      limit = PAGE;
      reload();
    }, 150);
  };
  // Typing, the clear button, and a value set from outside.
  for (const ev of ["input", "search", "change"]) search.addEventListener(ev, searched);
  document.getElementById("mark-all").addEventListener("click", async () => {
    try {
      // What the filters show (source and kind).
      await chime.invoke("inbox_mark_all_read", { kind: kind || null, source: source || null });
    } catch (e) {
      document.getElementById("error").textContent = chime.errorText(e);
    }
  });
  chime.listen("inbox-changed", reload);
  chime.listen("status-changed", (ev) => chime.showStatus(ev.payload));
  chime.invoke("status_get").then(chime.showStatus, () => {});
  reload();
  // Relative times age while the window stays open.
  setInterval(reload, 60000);
});
