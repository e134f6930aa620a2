// The Herstel playground page: three chats with the bot, drawn from /api/state.
//
// Safety: nothing from the server is ever parsed as HTML. Messages arrive as plain text plus
// Telegram's entities; each entity becomes one element from a fixed set (b, i, u, s, code, pre,
// blockquote, a, tg-spoiler) built with createElement, and every piece of text is a text node.
"use strict";

(() => {
  const POLL_MS = 700;
  const QUICK_POLL_MS = 150;
  const QUICK_FOR_MS = 2500;
  const SAFE_SCHEMES = new Set(["http:", "https:"]);
  const TAGS = {
    bold: "b", italic: "i", underline: "u", strikethrough: "s", code: "code", pre: "pre",
    blockquote: "blockquote", expandable_blockquote: "blockquote", spoiler: "tg-spoiler",
    text_link: "a", url: "a",
  };
  const PLACEHOLDER = { en: "Message", nl: "Bericht" };
  const NO_AUTOLINK = new Set(["code", "pre", "text_link", "url"]);
  const AUTOLINK = /(https?:\/\/[^\s<>"']*[^\s<>"'.,;:!?)\]])|((?<![\w/@])\/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]+)?(?![\w/]))/g;
  const ICONS = {
    commands: "M7 20 17 4",
    sticker: "M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18Zm-3.5-7.5c.9 1.3 2.1 2 3.5 2s2.6-.7 3.5-2M9 9.5h.01M15 9.5h.01",
    photo: "M4 6.5A1.5 1.5 0 0 1 5.5 5h13A1.5 1.5 0 0 1 20 6.5v11a1.5 1.5 0 0 1-1.5 1.5h-13A1.5 1.5 0 0 1 4 17.5Zm0 9 4.5-4.5 4 4 2.5-2.5L20 17M15.5 9.5h.01",
    send: "M5 12h13M13 6l6 6-6 6",
  };

  const panes = new Map(); // seat key -> pane
  let seats = [];
  let generation = null;
  let minGeneration = 0;
  let botUsername = "";
  let active = null; // the pane shown on a phone
  let actions = Promise.resolve(); // actions run one after another, in the order they were made

  // ---- small helpers ------------------------------------------------------------------------

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children) if (child !== null && child !== undefined) node.append(child);
    return node;
  }

  function icon(name) {
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
    path.setAttribute("d", ICONS[name]);
    svg.append(path);
    return svg;
  }

  async function api(path, body) {
    const options = body === undefined
      ? { cache: "no-store" }
      : { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
    const response = await fetch(path, options);
    let data = {};
    try { data = await response.json(); } catch { /* not JSON: say the status below */ }
    if (!response.ok) throw new Error(data.error || `${response.status} ${response.statusText}`);
    return data;
  }

  // One action at a time, then a fresh look at the state. Returns the answer, or null on failure.
  function act(path, body) {
    const run = actions.then(() => api(path, body));
    actions = run.catch(() => {});
    return run.then(
      (data) => { problem(""); quickUntil = Date.now() + QUICK_FOR_MS; refresh(); return data; },
      (error) => { problem(error.message); return null; },
    );
  }

  function problem(text) {
    const box = document.getElementById("problem");
    box.textContent = text;
    box.hidden = !text;
  }

  // ---- polling ------------------------------------------------------------------------------

  let refreshing = false;
  let again = false;

  async function refresh() {
    if (refreshing) { again = true; return; }
    refreshing = true;
    try {
      const state = await api("/api/state");
      if (state.generation >= minGeneration) render(state);
      if (document.getElementById("problem").dataset.offline) {
        delete document.getElementById("problem").dataset.offline;
        problem("");
      }
    } catch {
      const box = document.getElementById("problem");
      box.dataset.offline = "1";
      problem("The playground is not answering. Is `herstel` still running?");
    } finally {
      refreshing = false;
      if (again) { again = false; refresh(); }
    }
  }

  // Quicker for a moment after an action, so the bot's answer shows as soon as it is sent.
  let quickUntil = 0;

  async function poll() {
    await refresh();
    setTimeout(poll, Date.now() < quickUntil ? QUICK_POLL_MS : POLL_MS);
  }

  // ---- drawing the state --------------------------------------------------------------------

  function render(state) {
    botUsername = state.bot.username;
    if (generation !== null && state.generation !== generation) clearAll();
    generation = state.generation;
    if (!panes.size) buildPanes(state.people);
    renderClock(state.clock);
    for (const person of state.people) renderPane(panes.get(person.key), person);
  }

  function clearAll() {
    for (const pane of panes.values()) {
      pane.list.replaceChildren();
      pane.signature = "";
      pane.count = 0;
      pane.toastSeen = -1;
      pane.input.value = "";
      closePrompt(pane);
      closeMenu(pane);
      setUnread(pane, false);
    }
  }

  function renderClock(clock) {
    const time = document.getElementById("sim-time");
    // "Wed 25 Nov, 20:00" and "Amsterdam · 1 h ahead"; on a phone "20:00" and "Wed 25 Nov · 1 h ahead"
    time.replaceChildren(el("span", { class: "wide-only", text: `${clock.date}, ` }), clock.time);
    time.dateTime = clock.utc;
    time.dataset.epoch = String(clock.epoch);
    time.title = `${clock.local} in ${clock.zone}; ${clock.utc} in UTC`;
    document.getElementById("sim-ahead").replaceChildren(
      el("span", { class: "wide-only", text: clock.place }), el("span", { class: "narrow-only", text: clock.date }),
      ` · ${clock.ahead}`);
  }

  function buildPanes(people) {
    seats = people.map((p) => ({ key: p.key, title: p.title, role: p.role }));
    const main = document.getElementById("panes");
    const tabs = document.getElementById("tabs");
    for (const seat of seats) {
      const pane = makePane(seat);
      panes.set(seat.key, pane);
      main.append(pane.root);
      const tab = el("button", {
        type: "button", role: "tab", id: `tab-${seat.key}`, "aria-controls": `pane-${seat.key}`,
        class: "tab", onclick: () => show(seat.key),
      }, el("span", { class: `avatar small seat-${seat.key}`, "aria-hidden": "true", text: seat.title.replace(/^Dr\.\s*/, "")[0] }),
      el("span", { text: seat.title }), el("span", { class: "unread", "aria-label": "new messages" }));
      pane.tab = tab;
      tabs.append(tab);
    }
    show(seats[0].key);
  }

  function show(key) {
    active = key;
    for (const [k, pane] of panes) {
      const on = k === key;
      pane.root.classList.toggle("active", on);
      pane.tab.setAttribute("aria-selected", String(on));
      if (on) setUnread(pane, false);
      if (on && pane.stick) pane.list.scrollTop = pane.list.scrollHeight; // it could not scroll while hidden
    }
  }

  function setUnread(pane, on) {
    pane.tab?.classList.toggle("has-unread", on);
  }

  function phoneLayout() {
    return window.matchMedia("(max-width: 599px)").matches;
  }

  function makePane(seat) {
    const initial = seat.title.replace(/^Dr\.\s*/, "")[0];
    const languageButtons = ["en", "nl"].map((lang) => el("button", {
      type: "button", class: "lang-button", "data-lang": lang, "aria-pressed": "false",
      title: `Telegram language: ${lang === "en" ? "English" : "Nederlands"}`,
      text: lang.toUpperCase(),
    }));
    const list = el("div", { class: "messages", role: "log", "aria-label": `Messages in ${seat.title}'s chat` });
    const prompt = el("div", { class: "prompt", hidden: true });
    const menu = el("div", { class: "command-menu", role: "menu", hidden: true, "aria-label": "Commands" });
    const keyboard = el("div", { class: "reply-keyboard", hidden: true });
    const toast = el("div", { class: "toast", role: "status", hidden: true });
    const input = el("textarea", {
      rows: "1", class: "input", placeholder: "Message", "aria-label": `Message as ${seat.title}`,
      autocomplete: "off", spellcheck: "true",
    });
    const menuButton = el("button", {
      type: "button", class: "icon-button menu-button", title: "Commands", "aria-label": "Commands",
      "aria-haspopup": "menu", "aria-expanded": "false",
    }, el("span", { text: "/" }));
    const stickerButton = el("button", { type: "button", class: "icon-button", title: "Send a sticker", "aria-label": "Send a sticker" }, icon("sticker"));
    const photoButton = el("button", { type: "button", class: "icon-button", title: "Send a photo", "aria-label": "Send a photo" }, icon("photo"));
    const sendButton = el("button", { type: "submit", class: "send-button", title: "Send message", "aria-label": "Send message" }, icon("send"));
    const form = el("form", { class: "composer" }, menuButton, input, stickerButton, photoButton, sendButton);
    const root = el("section", {
      class: "pane", id: `pane-${seat.key}`, "data-person": seat.key, "aria-label": `${seat.title}'s chat`,
    },
    el("header", { class: "pane-head" },
      el("span", { class: `avatar seat-${seat.key}`, "aria-hidden": "true", text: initial }),
      el("div", { class: "who" }, el("h2", { text: seat.title }), el("p", { text: `${seat.role} · chat with Herstel` })),
      el("div", { class: "lang", role: "group", "aria-label": "Telegram language" }, ...languageButtons)),
    list, el("div", { class: "dock" }, toast, prompt, menu, keyboard, form));

    const pane = {
      key: seat.key, seat, root, list, prompt, menu, keyboard, toast, input, menuButton, languageButtons,
      signature: "", menuSignature: "", keyboardSignature: "", count: 0, toastSeen: -1, revealed: new Set(), stick: true,
      tab: null,
    };

    form.addEventListener("submit", (event) => { event.preventDefault(); sendTyped(pane); });
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        sendTyped(pane);
      }
    });
    input.addEventListener("input", () => grow(input));
    list.addEventListener("scroll", () => {
      pane.stick = list.scrollHeight - list.scrollTop - list.clientHeight < 60;
    });
    menuButton.addEventListener("click", () => (menu.hidden ? openMenu(pane) : closeMenu(pane)));
    stickerButton.addEventListener("click", () => act("/api/media", { person: seat.key, kind: "sticker" }));
    photoButton.addEventListener("click", () => act("/api/media", { person: seat.key, kind: "photo" }));
    for (const button of languageButtons) {
      button.addEventListener("click", () => act("/api/language", { person: seat.key, language: button.dataset.lang }));
    }
    root.addEventListener("keydown", (event) => {
      if (event.key === "Escape") { closeMenu(pane); closePrompt(pane); }
    });
    return pane;
  }

  function grow(input) {
    input.style.height = "auto";
    input.style.height = `${Math.min(input.scrollHeight, 140)}px`;
  }

  function sendTyped(pane) {
    const text = pane.input.value;
    if (!text.trim()) return;
    pane.input.value = "";
    grow(pane.input);
    closeMenu(pane);
    send(pane, text);
  }

  function send(pane, text) {
    return act("/api/send", { person: pane.key, text });
  }

  function renderPane(pane, person) {
    for (const button of pane.languageButtons) {
      button.setAttribute("aria-pressed", String(button.dataset.lang === person.language));
    }
    pane.root.lang = person.language;
    pane.input.placeholder = PLACEHOLDER[person.language] || PLACEHOLDER.en;
    renderMenu(pane, person.commands);
    renderKeyboard(pane, person.keyboard);
    renderToasts(pane, person.toasts);

    const signature = JSON.stringify(person.messages);
    if (signature === pane.signature) return;
    pane.signature = signature;
    const list = pane.list;
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 60;
    const nodes = person.messages.map((m) => messageNode(pane, m));
    if (!nodes.length) nodes.push(emptyHint(pane));
    list.replaceChildren(...nodes);
    const grew = person.messages.length > pane.count;
    if (grew && pane.count > 0 && phoneLayout() && active !== pane.key) setUnread(pane, true);
    pane.count = person.messages.length;
    if (atBottom || grew) {
      list.scrollTop = list.scrollHeight;
      pane.stick = true;
    }
  }

  function emptyHint(pane) {
    return el("div", { class: "empty" },
      el("p", { text: `This is ${pane.seat.title}'s private chat with Herstel.` }),
      el("p", {}, "Send ", commandLink(pane, "/start"), " to begin, or pick a command from the ",
        el("strong", { text: "/" }), " button."));
  }

  function messageNode(pane, m) {
    const body = el("div", { class: "body" });
    if (m.kind === "sticker") {
      // drawn, not an emoji glyph: many machines (and headless browsers) have no colour emoji font
      body.append(el("span", { class: "sticker-face", role: "img", "aria-label": `Sticker ${m.emoji || ""}`.trim() }, icon("sticker")));
    } else if (m.kind === "photo") {
      body.append(el("div", { class: "photo-frame", "aria-label": "Photo" }, icon("photo")));
    } else if (m.kind === "document") {
      body.append(el("div", { class: "media-label", text: `File: ${m.filename}` }));
    } else if (m.kind !== "text") {
      body.append(el("div", { class: "media-label", text: m.kind[0].toUpperCase() + m.kind.slice(1) }));
    }
    if (m.text) {
      const text = el("div", { class: "text" });
      text.append(formatted(pane, m, m.from === "bot"));
      body.append(text);
    }
    if (m.edited) body.append(el("span", { class: "edited", text: "edited" }));
    const bubble = el("div", { class: `bubble ${m.from} kind-${m.kind}`, "data-id": m.id }, body);
    const row = el("div", { class: `row ${m.from}` }, bubble);
    if (m.buttons.length) row.append(inlineKeyboard(pane, m));
    return row;
  }

  function inlineKeyboard(pane, m) {
    return el("div", { class: "inline-keyboard" }, ...m.buttons.map((row) => el("div", { class: "button-row" },
      ...row.map((b) => el("button", {
        type: "button", class: b.url ? "inline-button link" : "inline-button", text: b.text,
        onclick: () => {
          if (b.data) act("/api/press", { person: pane.key, message_id: m.id, data: b.data });
          else if (b.url) followLink(pane, b.url);
        },
      })))));
  }

  // ---- Telegram formatting from entities ----------------------------------------------------

  function formatted(pane, m, fromBot) {
    const entities = (m.entities || [])
      .filter((e) => e.length > 0 && TAGS[e.type])
      .map((e) => ({ ...e, end: e.offset + e.length }))
      .sort((a, b) => a.offset - b.offset || b.end - a.end);
    const fragment = document.createDocumentFragment();
    const context = { pane, message: m, spoilers: 0, autolink: fromBot };
    appendFormatted(fragment, m.text, 0, m.text.length, entities, context, !fromBot);
    return fragment;
  }

  // Entities arrive sorted and (from Telegram HTML) nested; overlaps are clipped to the parent.
  function appendFormatted(parent, text, start, end, entities, context, plain) {
    let pos = start;
    let i = 0;
    while (i < entities.length) {
      const entity = entities[i];
      let j = i + 1;
      while (j < entities.length && entities[j].offset < entity.end) j++;
      const from = Math.max(entity.offset, pos);
      const to = Math.min(entity.end, end);
      if (to > from) {
        addText(parent, text.slice(pos, from), context, plain);
        const node = entityNode(entity, text.slice(from, to), context);
        appendFormatted(node, text, from, to, entities.slice(i + 1, j), context, plain || NO_AUTOLINK.has(entity.type));
        parent.append(node);
        pos = to;
      }
      i = j;
    }
    addText(parent, text.slice(pos, end), context, plain);
  }

  function entityNode(entity, inner, context) {
    const tag = TAGS[entity.type];
    if (tag === "a") return linkNode(context.pane, entity.type === "url" ? inner : entity.url, null);
    const node = document.createElement(tag);
    if (tag === "tg-spoiler") {
      const id = `${context.message.id}:${context.spoilers++}`;
      node.tabIndex = 0;
      node.setAttribute("role", "button");
      node.setAttribute("aria-label", "Hidden text, click to show");
      if (context.pane.revealed.has(id)) node.classList.add("revealed");
      const reveal = () => { context.pane.revealed.add(id); node.classList.add("revealed"); node.removeAttribute("aria-label"); };
      node.addEventListener("click", reveal);
      node.addEventListener("keydown", (event) => { if (event.key === "Enter" || event.key === " ") reveal(); });
    }
    return node;
  }

  function addText(parent, text, context, plain) {
    if (!text) return;
    if (plain || !context.autolink) { parent.append(text); return; }
    let last = 0;
    for (const match of text.matchAll(AUTOLINK)) {
      parent.append(text.slice(last, match.index));
      parent.append(match[1] ? linkNode(context.pane, match[1], match[1]) : commandLink(context.pane, match[2]));
      last = match.index + match[0].length;
    }
    parent.append(text.slice(last));
  }

  function commandLink(pane, command) {
    return el("a", {
      href: "#", class: "command", text: command, title: `Send ${command}`,
      onclick: (event) => { event.preventDefault(); send(pane, command); },
    });
  }

  function linkNode(pane, url, text) {
    const node = el("a", { class: "link" });
    if (text !== null) node.textContent = text;
    let parsed = null;
    try { parsed = new URL(url); } catch { /* not a URL: plain text with no link */ }
    if (parsed && SAFE_SCHEMES.has(parsed.protocol)) {
      node.href = parsed.href;
      node.target = "_blank";
      node.rel = "noopener noreferrer";
    }
    node.addEventListener("click", (event) => {
      if (botLink(url)) {
        event.preventDefault();
        followLink(pane, url);
      }
    });
    return node;
  }

  // A t.me link to this bot: {start} (the payload, maybe ""); anything else: null.
  function botLink(url) {
    let parsed;
    try { parsed = new URL(url); } catch { return null; }
    let name = "";
    if (parsed.protocol === "tg:") {
      name = parsed.searchParams.get("domain") || "";
    } else if (SAFE_SCHEMES.has(parsed.protocol) && ["t.me", "telegram.me"].includes(parsed.hostname)) {
      name = parsed.pathname.replace(/^\/+/, "").split("/")[0];
    }
    if (!name || name.toLowerCase() !== botUsername.toLowerCase()) return null;
    return { start: parsed.searchParams.get("start") || "" };
  }

  function followLink(pane, url) {
    if (!botLink(url)) {
      const parsed = new URL(url);
      if (SAFE_SCHEMES.has(parsed.protocol)) window.open(parsed.href, "_blank", "noopener,noreferrer");
      return;
    }
    offerLink(pane, url);
  }

  // ---- the invite prompt: open a link to the bot as someone else -----------------------------

  function offerLink(pane, url) {
    closeMenu(pane);
    const others = seats.filter((s) => s.key !== pane.key);
    const choices = others.map((seat) => el("button", {
      type: "button", class: "primary", text: `Open as ${seat.title}`,
      onclick: async () => {
        closePrompt(pane);
        const done = await act("/api/open", { person: seat.key, url });
        if (done) reveal(seat.key);
      },
    }));
    const cancel = el("button", { type: "button", class: "quiet", text: "Cancel", onclick: () => closePrompt(pane) });
    pane.prompt.replaceChildren(
      el("p", { text: "This link opens Herstel. Open it in another chat, as that person tapping it in Telegram:" }),
      el("div", { class: "choices" }, ...choices, cancel),
    );
    pane.prompt.hidden = false;
    choices[0].focus();
  }

  function closePrompt(pane) {
    pane.prompt.hidden = true;
    pane.prompt.replaceChildren();
  }

  function reveal(key) {
    const pane = panes.get(key);
    if (phoneLayout()) show(key);
    else pane.root.scrollIntoView({ behavior: "smooth", block: "nearest" });
    pane.root.classList.remove("flash");
    void pane.root.offsetWidth; // restart the animation
    pane.root.classList.add("flash");
  }

  // ---- the command menu, the reply keyboard, the bot's toasts --------------------------------

  function renderMenu(pane, commands) {
    const signature = JSON.stringify(commands);
    if (signature === pane.menuSignature) return;
    pane.menuSignature = signature;
    const items = commands.map((c) => el("button", {
      type: "button", role: "menuitem", class: "command-item",
      onclick: () => { closeMenu(pane); send(pane, `/${c.command}`); },
    }, el("span", { class: "command-name", text: `/${c.command}` }), el("span", { class: "command-description", text: c.description })));
    if (!items.length) items.push(el("p", { class: "muted", text: "The bot has not set a command menu." }));
    pane.menu.replaceChildren(...items);
  }

  function openMenu(pane) {
    closePrompt(pane);
    pane.menu.hidden = false;
    pane.menuButton.setAttribute("aria-expanded", "true");
    pane.menu.querySelector("button")?.focus();
  }

  function closeMenu(pane) {
    pane.menu.hidden = true;
    pane.menuButton.setAttribute("aria-expanded", "false");
  }

  function renderKeyboard(pane, keyboard) {
    const signature = JSON.stringify(keyboard);
    if (signature === pane.keyboardSignature) return;
    pane.keyboardSignature = signature;
    pane.keyboard.hidden = !keyboard;
    pane.keyboard.replaceChildren(...(keyboard || []).map((row) => el("div", { class: "button-row" },
      ...row.map((label) => el("button", { type: "button", class: "inline-button", text: label, onclick: () => send(pane, label) })))));
  }

  function renderToasts(pane, toasts) {
    const newest = toasts.length ? toasts[toasts.length - 1] : null;
    if (pane.toastSeen === -1 && pane.signature === "" && newest) { pane.toastSeen = newest.id; return; } // after a reload
    if (!newest || newest.id <= pane.toastSeen) return;
    pane.toastSeen = newest.id;
    pane.toast.textContent = newest.text;
    pane.toast.hidden = false;
    clearTimeout(pane.toastTimer);
    pane.toastTimer = setTimeout(() => { pane.toast.hidden = true; }, 4000);
  }

  // ---- the header: clock and reset -----------------------------------------------------------

  function wireHeader() {
    document.getElementById("plus-hour").addEventListener("click", () => act("/api/clock", { advance_hours: 1 }));
    document.getElementById("to-evening").addEventListener("click", () => act("/api/clock", { to_local_time: "tomorrow 20:00" }));
    const resetButton = document.getElementById("reset");
    const confirmBox = document.getElementById("reset-confirm");
    const closeConfirm = () => { confirmBox.hidden = true; resetButton.setAttribute("aria-expanded", "false"); };
    resetButton.addEventListener("click", () => {
      confirmBox.hidden = !confirmBox.hidden;
      resetButton.setAttribute("aria-expanded", String(!confirmBox.hidden));
      if (!confirmBox.hidden) document.getElementById("reset-yes").focus();
    });
    document.getElementById("reset-no").addEventListener("click", closeConfirm);
    document.getElementById("reset-yes").addEventListener("click", async () => {
      closeConfirm();
      resetButton.disabled = true;
      resetButton.textContent = "Starting over…";
      const answer = await act("/api/reset", {});
      if (answer) {
        minGeneration = answer.generation;
        clearAll();
      }
      resetButton.disabled = false;
      resetButton.textContent = "Reset";
    });
    document.addEventListener("click", (event) => {
      for (const pane of panes.values()) {
        if (!pane.menu.hidden && !pane.menu.contains(event.target) && !pane.menuButton.contains(event.target)) closeMenu(pane);
      }
      if (!confirmBox.hidden && !confirmBox.contains(event.target) && event.target !== resetButton) closeConfirm();
    });
    window.matchMedia("(max-width: 599px)").addEventListener("change", () => show(active));
  }

  wireHeader();
  poll();
})();
