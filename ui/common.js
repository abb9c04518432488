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
  statusText(s) {
    if (!s) return "";
    const host = s.host || "server";
    switch (s.state && s.state.state) {
      case "connected": return "Connected to " + host;
      case "connecting": return "Connecting to " + host + "…";
      case "waiting": return "Reconnecting: " + s.state.reason;
      case "auth_failed": return "Sign-in failed: " + s.state.reason;
      case "misconfigured": return "Cannot connect: " + s.state.reason;
      case "paused": return "Paused";
      case "offline": return "Offline: waiting for the network";
      default: return "No server set up";
    }
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
    text.textContent = chime.statusText(s);
    const st = s && s.state && s.state.state;
    dot.className = "dot" + (st === "connected" ? " connected" : (st === "auth_failed" || st === "misconfigured") ? " problem" : "");
  },
};
