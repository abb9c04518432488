// Shared by the Chime windows. No framework: the pages are small, and every
// piece of server text goes through textContent.
"use strict";

const chime = {
  invoke(cmd, args) {
    return window.__TAURI__.core.invoke(cmd, args || {});
  },
  listen(event, handler) {
    return window.__TAURI__.event.listen(event, handler);
  },
  // Element with text: never innerHTML.
  el(tag, className, text) {
    const e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  },
  // A command's error is {code, message}; anything else is shown as text.
  errorText(err) {
    if (err && typeof err === "object" && "message" in err) return String(err.message);
    return String(err);
  },
  // Escape or Ctrl+W closes the window (it is destroyed, not hidden).
  closeOnKeys() {
    document.addEventListener("keydown", (ev) => {
      const ctrlW = (ev.ctrlKey || ev.metaKey) && ev.key.toLowerCase() === "w";
      if (ev.key === "Escape" || ctrlW) {
        ev.preventDefault();
        chime.invoke("window_close").catch(() => {});
      }
    });
  },
  showStatus(s) {
    const text = document.getElementById("status-text");
    const dot = document.getElementById("status-dot");
    if (!text || !dot) return;
    text.textContent = (s && s.line) || "";
    const st = s && s.state && s.state.state;
    dot.className = "dot" + (st === "connected" ? " connected" : (st === "auth_failed" || st === "misconfigured") ? " problem" : "");
  },
};
