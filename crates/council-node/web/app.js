// The members' page: sign in with your own key, vote, open motions, sign petitions,
// and keep the node's receipts. Records are encoded and signed here, in the browser, as
// docs/PROTOCOL.md §3-4 says; the key never leaves the page. No request goes anywhere
// but the node that served the page.
"use strict";

// ---------------------------------------------------------------- bytes and CBOR (§3)

const hex = {
  of: (u8) => Array.from(u8, (b) => b.toString(16).padStart(2, "0")).join(""),
  bytes: (s) => {
    if (!/^([0-9a-fA-F]{2})*$/.test(s)) throw new Error("not hex");
    const out = new Uint8Array(s.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(s.substr(i * 2, 2), 16);
    return out;
  },
};

// Canonical CBOR: shortest heads, definite lengths (PROTOCOL.md §3).
class Cbor {
  constructor() { this.parts = []; }
  head(major, n) {
    n = BigInt(n);
    const m = major << 5;
    if (n < 24n) this.parts.push(Uint8Array.of(m | Number(n)));
    else if (n < 256n) this.parts.push(Uint8Array.of(m | 24, Number(n)));
    else if (n < 65536n) this.parts.push(Uint8Array.of(m | 25, Number(n >> 8n), Number(n & 255n)));
    else {
      const len = n < 4294967296n ? 4 : 8;
      const b = new Uint8Array(1 + len);
      b[0] = m | (len === 4 ? 26 : 27);
      for (let i = len; i >= 1; i--) { b[i] = Number(n & 255n); n >>= 8n; }
      this.parts.push(b);
    }
    return this;
  }
  uint(n) { return this.head(0, n); }
  bytes(u8) { this.head(2, u8.length); this.parts.push(u8); return this; }
  text(s) { const u8 = new TextEncoder().encode(s); this.head(3, u8.length); this.parts.push(u8); return this; }
  array(n) { return this.head(4, n); }
  bool(b) { this.parts.push(Uint8Array.of(b ? 0xf5 : 0xf4)); return this; }
  raw(u8) { this.parts.push(u8); return this; }
  done() {
    const out = new Uint8Array(this.parts.reduce((a, p) => a + p.length, 0));
    let at = 0;
    for (const p of this.parts) { out.set(p, at); at += p.length; }
    return out;
  }
}

// The end of the data item starting at `at` (only the items §3 allows).
function skip(u8, at) {
  const ib = u8[at];
  const major = ib >> 5, info = ib & 31;
  if (ib === 0xf4 || ib === 0xf5 || ib === 0xf6) return at + 1;
  let n, p = at + 1;
  if (info < 24) n = info;
  else if (info === 24) { n = u8[p]; p += 1; }
  else if (info === 25) { n = (u8[p] << 8) | u8[p + 1]; p += 2; }
  else if (info === 26) { n = ((u8[p] << 24) >>> 0) + (u8[p + 1] << 16) + (u8[p + 2] << 8) + u8[p + 3]; p += 4; }
  else if (info === 27) { n = 0; for (let i = 0; i < 8; i++) n = n * 256 + u8[p + i]; p += 8; }
  else throw new Error("not canonical CBOR");
  if (major === 0) return p;
  if (major === 2 || major === 3) return p + n;
  if (major === 4) { for (let i = 0; i < n; i++) p = skip(u8, p); return p; }
  throw new Error("unexpected CBOR item");
}

// ---------------------------------------------------------------- keys (§2)

const B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
function base58(u8) {
  let n = 0n;
  for (const b of u8) n = n * 256n + BigInt(b);
  let s = "";
  while (n > 0n) { s = B58[Number(n % 58n)] + s; n /= 58n; }
  for (const b of u8) { if (b !== 0) break; s = "1" + s; }
  return s;
}
const didOf = (pub) => "did:key:z" + base58(Uint8Array.of(0xed, 0x01, ...pub));
// The 32 key bytes of a did:key (the node's report names members by did:key).
function pubOfDid(did) {
  const m = /^did:key:z([1-9A-HJ-NP-Za-km-z]+)$/.exec(did || "");
  if (!m) throw new Error("not a did:key");
  let n = 0n;
  for (const ch of m[1]) n = n * 58n + BigInt(B58.indexOf(ch));
  const out = new Uint8Array(34);
  for (let i = 33; i >= 0; i--) { out[i] = Number(n & 255n); n >>= 8n; }
  if (out[0] !== 0xed || out[1] !== 0x01) throw new Error("not an Ed25519 did:key");
  return out.slice(2);
}
// Enough of a did:key to tell members apart: the part after the shared z6Mk prefix.
const shortDid = (did) => (did || "").replace(/^did:key:z6Mk/, "").slice(0, 10) + "…";

function keyFromText(text) {
  const m = /councilnet-ed25519-seed:\s*([0-9a-fA-F]{64})/.exec(text || "");
  if (!m) throw new Error("That is not a councilnet key file (it starts with councilnet-ed25519-seed:).");
  const pair = nacl.sign.keyPair.fromSeed(hex.bytes(m[1]));
  return { seedHex: m[1].toLowerCase(), pair, did: didOf(pair.publicKey) };
}

// A member-signed record: [body, signer, signature] (§4.2).
function signed(body, key) {
  const sig = nacl.sign.detached(body, key.pair.secretKey);
  return new Cbor().array(3).raw(body).bytes(key.pair.publicKey).bytes(sig).done();
}

const bodies = {
  session: (council, challenge) =>
    new Cbor().array(3).text("councilnet/1/session").bytes(hex.bytes(council)).bytes(hex.bytes(challenge)).done(),
  // A final ballot carries a sixth element, true; any other ballot has five (§4.2).
  vote: (council, motion, choice, counter, isFinal) => {
    const c = new Cbor().array(isFinal ? 6 : 5).text("councilnet/1/vote").bytes(hex.bytes(council))
      .bytes(hex.bytes(motion)).uint(choice).uint(counter);
    return (isFinal ? c.bool(true) : c).done();
  },
  name: (council, name) =>
    new Cbor().array(3).text("councilnet/1/name").bytes(hex.bytes(council)).text(name).done(),
  petition: (council, mandate) =>
    new Cbor().array(3).text("councilnet/1/petition").bytes(hex.bytes(council)).bytes(hex.bytes(mandate)).done(),
  // A ranking (§4.2): option numbers, most preferred first; none abstains.
  ranking: (council, motion, ranking, counter, isFinal) => {
    const c = new Cbor().array(isFinal ? 6 : 5).text("councilnet/1/ranking").bytes(hex.bytes(council))
      .bytes(hex.bytes(motion)).array(ranking.length);
    for (const o of ranking) c.uint(o);
    c.uint(counter);
    return (isFinal ? c.bool(true) : c).done();
  },
  // A device record (§4.2, §6.11): ["add", key, proof] or ["remove", key].
  deviceAdd: (council, member, devicePub, proof) =>
    new Cbor().array(4).text("councilnet/1/device").bytes(hex.bytes(council)).bytes(member)
      .array(3).text("add").bytes(devicePub).bytes(proof).done(),
  deviceRemove: (council, member, devicePub) =>
    new Cbor().array(4).text("councilnet/1/device").bytes(hex.bytes(council)).bytes(member)
      .array(2).text("remove").bytes(devicePub).done(),
  deviceProof: (council, member) =>
    new Cbor().array(3).text("councilnet/1/device-proof").bytes(hex.bytes(council)).bytes(member).done(),
  invite: (council, federation, invitePub, maxUses, expiresAt) =>
    new Cbor().array(6).text("councilnet/1/invite").bytes(hex.bytes(council)).bytes(hex.bytes(federation))
      .bytes(invitePub).uint(maxUses).uint(expiresAt).done(),
  motion: (council, title, options, closesAt, nonce) => {
    const c = new Cbor().array(7).text("councilnet/1/motion").bytes(hex.bytes(council)).text(title);
    if (options.length === 0) c.array(2).text("yes-no").array(1).text("resolution");
    else { c.array(2).text("choice").array(options.length); for (const o of options) c.text(o); }
    // Quorum: half the roster; threshold: a simple majority (as the CLI's defaults).
    c.array(2).array(2).uint(1).uint(2).array(3).uint(1).uint(2).bool(true);
    return c.uint(closesAt).uint(nonce).done();
  },
};

// ---------------------------------------------------------------- talking to the node

async function call(method, path, body) {
  const init = { method, headers: {}, credentials: "same-origin" };
  if (body !== undefined) { init.headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
  const r = await fetch(path, init);
  const text = await r.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch (_) { /* not JSON */ }
  if (!r.ok) {
    const e = new Error((json && json.error && json.error.message) || `the node answered ${r.status}`);
    e.status = r.status;
    e.code = json && json.error && json.error.code;
    throw e;
  }
  return json;
}

// ---------------------------------------------------------------- receipts (§4.6, §10.1)

const RECEIPT_PREFIX = "82" + "74" + hex.of(new TextEncoder().encode("councilnet/1/receipt"));
const receiptsKey = (council) => "councilnet-receipts-" + council;
const loadReceipts = (council) => JSON.parse(localStorage.getItem(receiptsKey(council)) || "[]");

// Checks the node's receipt for `record` and keeps it: it must be an entry of this
// council, signed by its node key, holding exactly the record.
function keepReceipt(answer, recordHex) {
  const rh = answer.receipt || "";
  if (!rh.startsWith(RECEIPT_PREFIX)) throw new Error("The node's receipt is not a receipt.");
  const entryHex = rh.slice(RECEIPT_PREFIX.length);
  const entry = hex.bytes(entryHex);
  if (entry[0] !== 0x83) throw new Error("The node's receipt is malformed.");
  const bodyEnd = skip(entry, 1);
  const body = entry.slice(1, bodyEnd);
  const signer = entry.slice(bodyEnd + 2, bodyEnd + 34);
  const sig = entry.slice(bodyEnd + 36, bodyEnd + 100);
  if (entry[bodyEnd] !== 0x58 || entry[bodyEnd + 1] !== 32 || entry[bodyEnd + 34] !== 0x58 || entry[bodyEnd + 35] !== 64
      || bodyEnd + 100 !== entry.length) throw new Error("The node's receipt is malformed.");
  if (!nacl.sign.detached.verify(body, sig, signer)) throw new Error("The node's receipt does not verify.");
  if (didOf(signer) !== state.report.node_key) throw new Error("The node's receipt is not signed by the council's node key.");
  if (!entryHex.includes(recordHex)) throw new Error("The node's receipt does not hold the record you sent.");
  const list = loadReceipts(state.council);
  if (!list.some((x) => x.seq === answer.seq)) list.push({ seq: answer.seq, entry: entryHex, at: Date.now() });
  localStorage.setItem(receiptsKey(state.council), JSON.stringify(list));
}

// The body of a node-signed entry (`[body, signer, signature]`), in hex.
function entryBodyHex(entryHex) {
  const entry = hex.bytes(entryHex);
  return entry[0] === 0x83 ? hex.of(entry.slice(1, skip(entry, 1))) : entryHex;
}

// Compares every receipt kept here with the node's log now, 64 places at a time.
async function checkReceipts() {
  const list = loadReceipts(state.council);
  const broken = [];
  for (let i = 0; i < list.length; i += 64) {
    const chunk = list.slice(i, i + 64);
    const log = await call("GET", "/v1/log?at=" + chunk.map((r) => r.seq).join(","));
    chunk.forEach((r, j) => {
      const e = log.entries[j];
      if (!e) broken.push(`Entry ${r.seq}, which the node acknowledged, is gone (its log ends at ${log.head}).`);
      // Compared on the signed bodies: the same body under other signature bytes is the
      // same entry (PROTOCOL.md §2), never a second history.
      else if (entryBodyHex(e.record) !== entryBodyHex(r.entry)) broken.push(`Entry ${r.seq} is not the one the node acknowledged: it signed two histories.`);
    });
  }
  const box = document.getElementById("fork-warning");
  box.hidden = broken.length === 0;
  const ul = document.getElementById("fork-details");
  ul.replaceChildren(...broken.map((t) => el("li", {}, t)));
  const blob = new Blob([JSON.stringify({ council: state.council, receipts: list }, null, 1)], { type: "application/json" });
  document.getElementById("fork-receipts").href = URL.createObjectURL(blob);
}

// ---------------------------------------------------------------- the page

const state = { key: null, council: null, report: null };

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "on") for (const [ev, f] of Object.entries(v)) e.addEventListener(ev, f);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

function say(text) { document.getElementById("status").textContent = text || ""; }
const when = (t) => new Date(t * 1000).toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
// A member as people read them: their name (if they gave one) and enough of their key.
function nameOf(did) {
  const m = state.report && state.report.members.find((x) => x.member === did);
  return m && m.name ? `${m.name} (${shortDid(did)})` : "member " + shortDid(did);
}

async function signIn(key, remember) {
  const c = await call("POST", "/v1/session/challenge");
  const record = signed(bodies.session(c.council, c.challenge), key);
  await call("POST", "/v1/session", { record: hex.of(record) });
  state.key = key;
  state.council = c.council;
  if (remember) localStorage.setItem("councilnet-key", key.seedHex);
  document.getElementById("sign-in").hidden = true;
  document.getElementById("council").hidden = false;
  document.getElementById("sign-out").hidden = false;
  const who = document.getElementById("whoami");
  who.hidden = false;
  await refresh();
  await checkReceipts();
}

async function refresh() {
  state.report = await call("GET", "/v1/council");
  const r = state.report;
  document.getElementById("council-name").textContent = r.name;
  const mine = (m) => m.keys.includes(state.key.did);
  const me = r.members.find(mine);
  if (me) renderDevices(me, r.rules);
  document.getElementById("whoami").textContent = "Signed in as " + (me ? nameOf(me.member) : nameOf(state.key.did));
  if (me && !me.name) say("Tell the other members who you are: give your name under Members.");
  document.title = r.name;
  const open = r.motions; // the council view holds the open motions only
  const closed = (await call("GET", "/v1/motions?status=closed&limit=20")).motions;
  const views = await Promise.all(open.map((m) => call("GET", "/v1/motions/" + m.id)));
  document.getElementById("open-motions").replaceChildren(
    ...(open.length ? open.map((m, i) => motionView(m, views[i].my_ballot, views[i].voters, views[i].my_ranking)) : [el("p", {}, "No open motions.")]));
  document.getElementById("closed-motions").replaceChildren(
    ...(closed.length ? closed.map((m) => motionView(m, null)) : [el("p", {}, "None yet.")]),
    ...(r.closed_motions > closed.length ? [el("p", { class: "meta" }, `and ${r.closed_motions - closed.length} older ones, in the export`)] : []));
  document.getElementById("members").replaceChildren(
    ...r.members.map((m) => el("li", {}, nameOf(m.member), mine(m) ? " (you)" : "",
      m.keys.length > 1 ? ` · ${m.keys.length} devices` : "")));
  document.getElementById("mandates").replaceChildren(
    ...(r.mandates.length ? r.mandates.map(mandateView) : [el("p", {}, "No mandates.")]));
  try { renderFederations(await call("GET", "/v1/federations")); }
  catch (e) { document.getElementById("federations").replaceChildren(el("p", {}, e.message)); }
}

function motionView(m, myBallot, voters, myRanking) {
  const options = [...m.options, "abstain"];
  const total = m.counts.reduce((a, b) => a + b, 0) || 1;
  const tally = el("ul", { class: "tally", "aria-label": "tally" },
    ...options.map((o, i) => el("li", {}, el("span", {}, o),
      el("span", { class: "bar" }, barFill(m.counts[i] / total)),
      el("span", { class: "count", "data-option": o }, String(m.counts[i])))));
  const head = [el("h3", {}, m.title),
    el("p", { class: "meta" }, m.status === "open"
      ? `Closes ${when(m.closes_at)} · ${m.counts.reduce((a, b) => a + b, 0)} of ${m.electorate} have voted`
      : outcomeText(m))];
  if (m.kind === "ranked") head.push(el("p", { class: "meta" }, "Ranked: the bars count first choices; the Schulze method picks the winner from the whole rankings."));
  const box = el("div", { class: "motion", "data-motion": m.id }, ...head, tally);
  if (voters && voters.length) {
    const done = voters.filter((v) => v.voted).map((v) => nameOf(v.member));
    const waiting = voters.filter((v) => !v.voted).map((v) => nameOf(v.member));
    box.append(el("p", { class: "meta voters" }, `Voted: ${done.join(", ") || "nobody yet"}. Not yet: ${waiting.join(", ") || "nobody"}.`));
  }
  const mine = myBallot && (m.kind === "ranked" ? `${options[myBallot.choice]} first` : options[myBallot.choice]);
  if (m.status === "open" && myBallot && myBallot.final) {
    box.append(el("p", { class: "mine" }, `Your vote: ${mine}. It is final.`));
  } else if (m.status === "open" && m.kind === "ranked") {
    if (myBallot) box.append(el("p", { class: "mine" }, `Your vote: ${mine}. You can change it until the close.`));
    box.append(...rankingForm(m, myBallot, myRanking));
  } else if (m.status === "open") {
    if (myBallot) box.append(el("p", { class: "mine" }, `Your vote: ${options[myBallot.choice]}. You can change it until the close.`));
    const final = el("input", { type: "checkbox", "data-final": m.id });
    box.append(el("div", { role: "group", "aria-label": "your vote" }, ...options.map((o, i) =>
      el("button", { type: "button", "aria-pressed": myBallot && myBallot.choice === i ? "true" : "false", "data-choice": o,
        on: { click: () => vote(m, i, myBallot, final.checked) } }, o))),
      el("label", { class: "inline" }, final,
        " Final: I will not change it. The motion can then close as soon as its result is certain."));
  }
  return box;
}

// A ranked motion: the member puts the options in order (up and down buttons, which a
// phone's screen reader names), then votes that order, or abstains.
function rankingForm(m, myBallot, myRanking) {
  // The member's own ranking so far, else the options as listed.
  const order = myRanking && myRanking.length ? [...myRanking] : m.options.map((_, i) => i);
  const list = el("ol", { class: "ranking", "data-ranking": m.id, "aria-label": "your ranking" });
  const move = (at, to) => { [order[at], order[to]] = [order[to], order[at]]; draw(); };
  const draw = () => list.replaceChildren(...order.map((o, at) => el("li", { "data-option": m.options[o] },
    el("span", {}, m.options[o]),
    el("button", { type: "button", "aria-label": `Move ${m.options[o]} up`, disabled: at === 0, on: { click: () => move(at, at - 1) } }, "↑"),
    el("button", { type: "button", "aria-label": `Move ${m.options[o]} down`, disabled: at === order.length - 1, on: { click: () => move(at, at + 1) } }, "↓"))));
  draw();
  const final = el("input", { type: "checkbox", "data-final": m.id });
  return [list,
    el("div", { role: "group", "aria-label": "your vote" },
      el("button", { type: "button", "data-rank": m.id, on: { click: () => rank(m, [...order], myBallot, final.checked) } }, "Vote in this order"),
      el("button", { type: "button", "data-choice": "abstain", on: { click: () => rank(m, [], myBallot, final.checked) } }, "abstain")),
    el("label", { class: "inline" }, final, " Final: I will not change it. The motion can then close as soon as its result is certain.")];
}

function rank(m, ranking, myBallot, isFinal) {
  return act("Voting", async () => {
    const counter = Math.max(Date.now(), myBallot ? myBallot.counter + 1 : 0);
    const r = await submit("/v1/rankings", signed(bodies.ranking(state.council, m.id, ranking, counter, isFinal), state.key));
    return `Ranking recorded (log entry ${r.seq}); this browser keeps the node's receipt.`;
  });
}

// The page's policy forbids inline styles; the CSS object model is allowed.
function barFill(share) {
  const f = el("span", {});
  f.style.width = Math.round(100 * share) + "%";
  return f;
}

function outcomeText(m) {
  const o = m.outcome || {};
  const text = o.result === "chosen" ? `Chose “${m.options[o.option]}”` : (o.result || "closed").replace(/-/g, " ");
  return `${text[0].toUpperCase()}${text.slice(1)}${m.closed_early ? " (closed early: settled)" : ""} · ${when(m.closes_at)}`;
}

function mandateView(d) {
  const box = el("div", { class: "motion" },
    el("h3", {}, "Delegate " + nameOf(d.delegate)),
    el("p", { class: "meta" }, `Federation ${d.federation.slice(0, 12)} · ${d.status} · until ${when(d.expires_at)}`),
    el("p", { class: "meta", "data-petition": d.id }, `Recall petition: ${d.petition_signatures} signature(s)`));
  if (d.status === "in force") {
    box.append(el("button", { type: "button", "data-sign-petition": d.id, on: { click: () => petition(d) } },
      "Sign the petition to recall"));
  }
  return box;
}

function renderFederations(v) {
  const out = [];
  for (const f of v.federations || []) {
    out.push(el("h3", {}, f.name), el("p", { class: "meta" }, `${f.members.length} member council(s)`));
    if (f.members.some((m) => m.council === state.council && m.left_at == null)) {
      out.push(el("button", { type: "button", "data-invite": f.id, on: { click: () => inviteForm(f) } },
        "Invite a council to " + f.name));
    }
    for (const m of f.motions) {
      out.push(el("p", {}, el("strong", {}, m.title), ` (${m.matter}) · ${m.outcome ? outcomeText({ ...m, closed_early: false }) : "open until " + when(m.closes_at)}`));
      out.push(el("ul", {}, ...m.votes.map((x) => el("li", { class: x.status === "struck" ? "struck" : "" },
        `council ${x.council.slice(0, 8)}: ${x.split ? "split " + x.split.map((p, i) => `${m.options[i]} ${(p / 100).toFixed(2)}%`).join(", ") : (m.options[x.choice] || "abstain")} — ${x.status}`
        + (x.status === "struck" ? " (the delegate was recalled)" : "")))));
    }
  }
  document.getElementById("federations").replaceChildren(...(out.length ? out : [el("p", {}, "This council is in no federation.")]));
}

// ---------------------------------------------------------------- invites (§6.9, §12.5)

// The invite string and its QR code need SHA-256 (browsers give WebCrypto only to HTTPS
// pages) and a QR encoder: both vendored, loaded only when a member makes an invite.
function loadScript(src) {
  return new Promise((resolve, reject) => {
    if (document.querySelector(`script[src="${src}"]`)) { resolve(); return; }
    const s = el("script", { src });
    s.onload = resolve;
    s.onerror = () => reject(new Error("could not load " + src));
    document.head.append(s);
  });
}

// "councilnet-invite:" + Base58Check of the invite string's CBOR (PROTOCOL.md §12.5).
function inviteString(federation, issuer, seed, expiresAt, addrs) {
  const c = new Cbor().array(6).text("councilnet/1/invite-string").bytes(hex.bytes(federation))
    .bytes(hex.bytes(issuer)).bytes(seed).uint(expiresAt).array(addrs.length);
  for (const a of addrs) c.text(a);
  const body = c.done();
  const check = new Uint8Array(sha256.arrayBuffer(sha256.arrayBuffer(body))).slice(0, 4);
  const all = new Uint8Array(body.length + 4);
  all.set(body);
  all.set(check, body.length);
  return "councilnet-invite:" + base58(all);
}

// The QR code of `text` as an SVG drawing (built element by element: the page's CSP
// allows no inline styles or data: images). Error correction L, as the CLI draws it.
function qrSvg(text, label) {
  const q = qrcode(0, "L");
  q.addData(text, "Byte");
  q.make();
  const n = q.getModuleCount(), quiet = 4, size = n + 2 * quiet;
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${size} ${size}`);
  svg.setAttribute("class", "qr");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", label);
  svg.setAttribute("shape-rendering", "crispEdges");
  const bg = document.createElementNS(ns, "rect");
  for (const [k, v] of [["width", size], ["height", size], ["fill", "#fff"]]) bg.setAttribute(k, v);
  svg.append(bg);
  let d = "";
  for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) if (q.isDark(r, c)) d += `M${c + quiet} ${r + quiet}h1v1h-1z`;
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", d);
  path.setAttribute("fill", "#000");
  svg.append(path);
  return svg;
}

function inviteForm(f) {
  const uses = el("input", { id: "inv-uses", type: "number", min: "1", max: "1000", value: "1" });
  const days = el("input", { id: "inv-days", type: "number", min: "1", max: "365", value: "7" });
  const result = el("div", { id: "invite-result" });
  const form = el("form", { id: "invite-form", on: { submit: (ev) => { ev.preventDefault(); makeInvite(f, Number(uses.value) || 1, Number(days.value) || 7, result); } } },
    el("p", {}, `An invite lets another council ask to join ${f.name}; its member councils then admit it. Whoever holds the invite can use it: give it to that council privately.`),
    el("label", { for: "inv-uses" }, "How many councils may use it"), uses,
    el("label", { for: "inv-days" }, "Valid for (days)"), days,
    el("button", { type: "submit" }, "Make the invite"), result);
  document.getElementById("invite-box").replaceChildren(el("h3", {}, "Invite a council to " + f.name), form);
  document.getElementById("invite-box").hidden = false;
  uses.focus();
}

function makeInvite(f, maxUses, days, result) {
  return act("Making the invite", async () => {
    await Promise.all([loadScript("/vendor/sha256.min.js"), loadScript("/vendor/qrcode.js")]);
    const addrs = ((await call("GET", "/v1/network")).listen || []).slice(0, 16);
    if (!addrs.length) throw new Error("this council's node is not listening for other councils yet; ask its operator");
    const seed = crypto.getRandomValues(new Uint8Array(32));
    const invitePub = nacl.sign.keyPair.fromSeed(seed).publicKey;
    const expiresAt = Math.floor(Date.now() / 1000) + days * 86400;
    const r = await submit("/v1/invites", signed(bodies.invite(state.council, f.id, invitePub, maxUses, expiresAt), state.key));
    const text = inviteString(f.id, state.council, seed, expiresAt, addrs);
    const out = el("textarea", { id: "invite-string", rows: "4", readonly: "", spellcheck: "false" });
    out.value = text;
    result.replaceChildren(
      el("p", {}, "The other council's operator scans this code, or copies the text under it, and runs: council federation join INVITE"),
      qrSvg(text, "QR code of the invite"), out);
    return `Invite made (log entry ${r.seq}): ${maxUses} use(s), for ${days} day(s).`;
  });
}

// Your devices: each of your keys, the one this page signs with marked, the others
// removable (a lost phone). Adding one makes its key here, signs it in, and hands it over
// as a QR code and a file, to load on the new device.
function renderDevices(me, rules) {
  const box = document.getElementById("my-devices");
  const items = me.keys.map((did) => el("li", { "data-device": did }, shortDid(did),
    did === state.key.did ? " (this device)" : el("button", { type: "button",
      "data-remove-device": did, on: { click: () => removeDevice(me, did) } }, "Remove")));
  const add = rules.devices.by_act
    ? el("p", { class: "meta" }, "This council adds devices by council act: `council device add` opens one.")
    : me.keys.length >= rules.devices.limit
      ? el("p", { class: "meta" }, `You hold the ${rules.devices.limit} device keys the council allows; remove one to add another.`)
      : el("button", { id: "add-device", type: "button", on: { click: () => addDevice(me) } }, "Add a device (a phone, another laptop)");
  box.replaceChildren(el("ul", {}, ...items), add);
}

// The device in use shows its link code (council and member id, no secret), then takes
// the new device's request: the new key and its proof that it holds it (§6.11).
function addDevice(me) {
  return act("Preparing the link", async () => {
    await loadScript("/vendor/qrcode.js");
    const code = `councilnet-link:${state.council}:${me.member}`;
    const codeText = el("textarea", { id: "link-code-out", rows: "2", readonly: "", spellcheck: "false" });
    codeText.value = code;
    const request = el("textarea", { id: "device-request-in", rows: "3", spellcheck: "false", placeholder: "councilnet-device:…" });
    const box = document.getElementById("device-box");
    box.replaceChildren(el("h3", {}, "Add a device"),
      el("p", {}, "On the new device, open this page, choose \"I am a member: add this device\", and scan or paste this link code. It holds no secret."),
      qrSvg(code, "QR code of the link code"), codeText,
      el("label", { for: "device-request-in" }, "Then paste the new device's request here"), request,
      el("button", { type: "button", id: "add-requested-device", on: { click: () => addRequested(me, request.value) } }, "Add the device"));
    box.hidden = false;
    return "Link code ready: now make the request on the new device.";
  });
}

function addRequested(me, text) {
  return act("Adding the device", async () => {
    const m = /^councilnet-device:(did:key:z[1-9A-HJ-NP-Za-km-z]+):([0-9a-f]{128})$/.exec((text || "").trim());
    if (!m) throw new Error("that is not a device request (it starts with councilnet-device:)");
    const member = pubOfDid(me.member), devicePub = pubOfDid(m[1]), proof = hex.bytes(m[2]);
    if (!nacl.sign.detached.verify(bodies.deviceProof(state.council, member), proof, devicePub))
      throw new Error("this request was made for another member or council: make it again from your own link code");
    const r = await submit("/v1/devices", signed(bodies.deviceAdd(state.council, member, devicePub, proof), state.key));
    document.getElementById("device-box").hidden = true;
    return `Device ${shortDid(m[1])} added (log entry ${r.seq}): it votes as you. Sign in there with its key.`;
  });
}

// On the new device, before signing in: its own key, and its request for the link code.
async function makeRequest() {
  try {
    const m = /^councilnet-link:([0-9a-f]{64}):(did:key:z[1-9A-HJ-NP-Za-km-z]+)$/.exec(document.getElementById("link-code").value.trim());
    if (!m) throw new Error("That is not a link code (it starts with councilnet-link:).");
    await loadScript("/vendor/qrcode.js");
    const keyText = document.getElementById("key-text");
    let k;
    try { k = keyFromText(keyText.value); } catch (_) {
      k = keyFromText("councilnet-ed25519-seed:" + hex.of(crypto.getRandomValues(new Uint8Array(32))));
      keyText.value = "councilnet-ed25519-seed:" + k.seedHex;
    }
    const proof = nacl.sign.detached(bodies.deviceProof(m[1], pubOfDid(m[2])), k.pair.secretKey);
    const request = `councilnet-device:${k.did}:${hex.of(proof)}`;
    const out = el("textarea", { id: "device-request-out", rows: "3", readonly: "", spellcheck: "false" });
    out.value = request;
    const file = el("a", { download: "council-device.key" }, "Save this device's key file");
    file.href = URL.createObjectURL(new Blob([keyText.value + "\n"], { type: "text/plain" }));
    const box = document.getElementById("device-request");
    box.replaceChildren(
      el("p", {}, "Paste (or scan) this request on the device you already use. Once it is added, sign in here: this device's key is in the box above; tick \"Remember my key\" to keep it."),
      qrSvg(request, "QR code of this device's request"), out, file);
    box.hidden = false;
    say("");
  } catch (e) { say(e.message); }
}

function removeDevice(me, did) {
  return act("Removing the device", async () => {
    const r = await submit("/v1/devices", signed(bodies.deviceRemove(state.council, pubOfDid(me.member), pubOfDid(did)), state.key));
    document.getElementById("device-box").hidden = true;
    return `Device ${shortDid(did)} removed (log entry ${r.seq}); what it signed before stays.`;
  });
}

async function submit(path, record) {
  const recordHex = hex.of(record);
  const answer = await call("POST", path, { record: recordHex });
  keepReceipt(answer, recordHex);
  return answer;
}

async function act(what, f) {
  say(what + "…");
  try { const done = await f(); await refresh(); say(done || ""); }
  catch (e) {
    if (e.status === 401) say("Your session ended; sign in again.");
    else say("Not done: " + e.message);
  }
}

function vote(m, choice, myBallot, isFinal) {
  return act("Voting", async () => {
    const counter = Math.max(Date.now(), myBallot ? myBallot.counter + 1 : 0);
    const r = await submit("/v1/votes", signed(bodies.vote(state.council, m.id, choice, counter, isFinal), state.key));
    return `Vote recorded (log entry ${r.seq}); this browser keeps the node's receipt.`;
  });
}

function petition(d) {
  return act("Signing", async () => {
    const r = await submit("/v1/petitions", signed(bodies.petition(state.council, d.id), state.key));
    return `Petition signed (log entry ${r.seq}).`;
  });
}

function randomNonce() {
  const b = crypto.getRandomValues(new Uint32Array(2));
  return BigInt(b[0] & 0x1fffff) * 4294967296n + BigInt(b[1]);
}

document.addEventListener("DOMContentLoaded", () => {
  const keyText = document.getElementById("key-text");
  document.getElementById("key-file").addEventListener("change", async (ev) => {
    const f = ev.target.files[0];
    if (f && f.size < 4096) keyText.value = await f.text();
  });
  document.getElementById("sign-in-button").addEventListener("click", async () => {
    try { say("Signing in…"); await signIn(keyFromText(keyText.value), document.getElementById("remember").checked); say(""); keyText.value = ""; }
    catch (e) { say(e.code === "not-a-member" ? "This key is not on the council's roster." : "Could not sign in: " + e.message); }
  });
  document.getElementById("make-request").addEventListener("click", makeRequest);
  document.getElementById("new-key").addEventListener("click", () => {
    const seed = crypto.getRandomValues(new Uint8Array(32));
    const k = keyFromText("councilnet-ed25519-seed:" + hex.of(seed));
    const did = document.getElementById("new-key-did");
    did.hidden = false;
    did.textContent = k.did;
    const a = document.getElementById("new-key-file");
    a.hidden = false;
    a.href = URL.createObjectURL(new Blob(["councilnet-ed25519-seed:" + k.seedHex + "\n"], { type: "text/plain" }));
    keyText.value = "councilnet-ed25519-seed:" + k.seedHex;
  });
  document.getElementById("sign-out").addEventListener("click", async () => {
    localStorage.removeItem("councilnet-key");
    try { await call("DELETE", "/v1/session"); } catch (_) { /* gone already */ }
    location.reload();
  });
  document.getElementById("name-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const name = document.getElementById("my-name").value.trim();
    if (!name) return;
    act("Saving your name", async () => {
      const r = await submit("/v1/names", signed(bodies.name(state.council, name), state.key));
      return `You are now known as ${name} (log entry ${r.seq}).`;
    });
  });
  document.getElementById("open-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const title = document.getElementById("m-title").value.trim();
    const options = document.getElementById("m-options").value.split("\n").map((s) => s.trim()).filter(Boolean);
    if (options.length === 1) { say("Give at least two options, or none for yes / no."); return; }
    const hours = Number(document.getElementById("m-hours").value) || 48;
    const closesAt = Math.floor(Date.now() / 1000) + Math.round(hours * 3600);
    act("Opening the motion", async () => {
      const r = await submit("/v1/motions", signed(bodies.motion(state.council, title, options, closesAt, randomNonce()), state.key));
      document.getElementById("open-form").reset();
      return `Motion opened (log entry ${r.seq}).`;
    });
  });
  const remembered = localStorage.getItem("councilnet-key");
  if (remembered) {
    signIn(keyFromText("councilnet-ed25519-seed:" + remembered), true).catch((e) => say("Could not sign in: " + e.message));
  }
});
