// The officials' page: login with a bearer token, search and ask, view documents, and find how a
// parliamentary question was answered before (答弁検索).
// No external scripts or fonts: the office network is closed.
"use strict";

const $ = (id) => document.getElementById(id);
const TYPE_LABELS = { law: "法令", notice: "告示", circular: "通知・通達", white_paper: "白書", guideline: "指針・計画", minutes: "会議録", other: "その他" };
const ERAS = [["令和", 2019, 5, 1], ["平成", 1989, 1, 8], ["昭和", 1926, 12, 25], ["大正", 1912, 7, 30], ["明治", 1868, 1, 25]];

let token = sessionStorage.getItem("shirabe-token") || "";

function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

// "2024-04-01" → "令和6年4月1日（2024年4月1日）"
function dateLabel(iso) {
  if (!iso) return "";
  const [y, m, d] = iso.split("-").map(Number);
  const era = ERAS.find(([, ey, em, ed]) => y > ey || (y === ey && (m > em || (m === em && d >= ed))));
  const west = `${y}年${m}月${d}日`;
  if (!era) return west;
  const n = y - era[1] + 1;
  return `${era[0]}${n === 1 ? "元" : n}年${m}月${d}日（${west}）`;
}

async function api(path, body, signal) {
  const res = await fetch(path, {
    signal,
    method: body ? "POST" : "GET",
    headers: { Authorization: `Bearer ${token}`, ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (res.status === 401) {
    logout("ログインの有効期限が切れたか、トークンが正しくありません。");
    throw new Error("unauthorized");
  }
  let data = null;
  try { data = await res.json(); } catch { data = null; }
  if (!res.ok) {
    const msg = data && data.title ? `${data.title}：${(data.detail || "").split(" / ")[0]}` : `サーバーエラー（${res.status}）が発生しました。時間をおいて再度お試しください。`;
    throw new Error(msg);
  }
  return data;
}

function showError(msg) {
  $("error").textContent = msg;
  $("error").hidden = !msg;
}

function logout(message) {
  token = "";
  sessionStorage.removeItem("shirabe-token");
  $("app").hidden = true;
  $("who").hidden = true;
  $("login").hidden = false;
  $("results").innerHTML = "";
  $("answer-body").innerHTML = "";
  $("doc-passages").innerHTML = "";
  clearPrecedents();
  shownSearch = "";
  $("login-error").textContent = message || "";
  $("login-error").hidden = !message;
  $("token").focus();
}

async function login(t) {
  token = t;
  let me;
  try {
    me = await api("/api/me");
  } catch (e) {
    if (e.message !== "unauthorized") { $("login-error").textContent = e.message; $("login-error").hidden = false; }
    return;
  }
  sessionStorage.setItem("shirabe-token", token);
  $("login").hidden = true;
  $("app").hidden = false;
  $("who").hidden = false;
  $("who-name").textContent = `${me.name} さん（機密性${me.clearance}まで）`;
  $("q").focus();
  route();
  if (location.hash === PRECEDENTS_HASH) $("pq").focus();
}

const PAGE_SIZE = 10;

// The search in the URL (#q=…&page=2&types=law,circular&…), so reload, back and bookmarks work.
function searchFromForm(page) {
  const p = new URLSearchParams();
  p.set("q", $("q").value.trim());
  if (page > 1) p.set("page", String(page));
  const types = [...document.querySelectorAll('input[name="doc-type"]:checked')].map((c) => c.value);
  if (types.length) p.set("types", types.join(","));
  if ($("f-issuer").value.trim()) p.set("issuer", $("f-issuer").value.trim());
  if ($("f-from").value) p.set("from", $("f-from").value);
  if ($("f-to").value) p.set("to", $("f-to").value);
  if ($("f-asof").value) p.set("asof", $("f-asof").value);
  if ($("f-all").checked) p.set("all", "1");
  return p;
}

function formFromSearch(p) {
  $("q").value = p.get("q") || "";
  const types = typesOf(p);
  for (const c of document.querySelectorAll('input[name="doc-type"]')) c.checked = types.includes(c.value);
  $("f-issuer").value = p.get("issuer") || "";
  $("f-from").value = p.get("from") || "";
  $("f-to").value = p.get("to") || "";
  $("f-asof").value = p.get("asof") || "";
  $("f-all").checked = p.get("all") === "1";
  if (Object.keys(filtersOf(p)).length) $("filters").open = true;
}

function typesOf(p) {
  return (p.get("types") || "").split(",").filter(Boolean);
}

// The API's filters of a search in the URL (the form is read only by searchFromForm).
function filtersOf(p) {
  const f = {};
  const types = typesOf(p);
  if (types.length) f.doc_types = types;
  if (p.get("issuer")) f.issuers = [p.get("issuer")];
  if (p.get("from")) f.date_from = p.get("from");
  if (p.get("to")) f.date_to = p.get("to");
  if (p.get("asof")) f.as_of = p.get("asof");
  if (p.get("all") === "1") f.all_versions = true;
  return f;
}

// "Copy citation" text: title, number, 条/項 or page.
function citationText(title, number, anchor, page) {
  return [title + (number ? `（${number}）` : ""), anchor, page ? `${page}ページ` : ""].filter(Boolean).join(" ");
}

// The original file and the copy button of a document (handled by the click listener below).
function actionsHtml(docId, cite) {
  return `<span class="actions"><button type="button" class="file-link" data-doc="${esc(docId)}">原本を開く</button>` +
    `<button type="button" class="copy-cite" data-cite="${esc(cite)}">引用をコピー</button></span>`;
}

function docRef(r) {
  return `<a href="${esc(r.link)}">${esc(r.title)}</a>${r.number ? `（${esc(r.number)}）` : ""}`;
}

// The in-force status of a document: a badge, its successor and its amendments.
function statusHtml(st) {
  if (!st) return "";
  const parts = [`<span class="badge ${esc(st.state)}">${esc(st.label)}</span>`];
  if (st.state === "superseded" && st.successor) {
    parts.push(`${st.superseded_from ? esc(dateLabel(st.superseded_from)) + "から" : ""}後継：${docRef(st.successor)}`);
  }
  if (st.state === "not_yet_in_force" && st.effective) parts.push(`${esc(dateLabel(st.effective))}から施行`);
  if (st.amended_by && st.amended_by.length) parts.push(`改正：${st.amended_by.map(docRef).join("、")}`);
  return `<p class="status">${parts.join("　")}</p>`;
}

function docMeta(d) {
  return [TYPE_LABELS[d.doc_type] || d.doc_type_label, d.issuer, dateLabel(d.issued), d.number].filter(Boolean).map(esc).join("　");
}

function citeLabel(p) {
  return [p.anchor, p.page ? `${p.page}ページ` : ""].filter(Boolean).join("・");
}

function renderResults(data) {
  const list = $("results");
  list.innerHTML = "";
  for (const r of data.results) {
    const li = document.createElement("li");
    const d = r.document;
    const first = r.passages[0];
    li.innerHTML = `<a href="#doc=${encodeURIComponent(d.id)}&p=${first ? first.passage_id.split("#").pop() : 0}" class="title">${esc(d.title)}</a>
      <p class="meta">${docMeta(d)}</p>${r.status && r.status.state !== "in_force" || (r.status && r.status.amended_by.length) ? statusHtml(r.status) : ""}` +
      r.passages.map((p) => `<p class="snippet">${p.snippet}<span class="meta">（${esc(citeLabel(p)) || "本文"}）</span></p>`).join("") +
      actionsHtml(d.id, citationText(d.title, d.number, first && first.anchor, first && first.page));
    list.appendChild(li);
  }
  $("results-section").hidden = false;
  const pages = Math.ceil(data.total / data.size);
  $("pager").hidden = pages <= 1;
  $("page-info").textContent = `${data.page} / ${pages} ページ`;
  $("prev").disabled = data.page <= 1;
  $("next").disabled = data.page >= pages;
  $("status").textContent = !data.total ? "該当する文書は見つかりませんでした。"
    : data.keyword_matches ? `${data.total} 件の文書が見つかりました。`
    : `検索語に一致する文書はありませんでした。意味の近い文書 ${data.total} 件を参考に表示しています。`;
}

// The answer on the page, for the verdict an official gives it.
let shownAnswerId = "";

function resetFeedback(answerId) {
  shownAnswerId = answerId;
  $("feedback").hidden = !answerId;
  $("feedback-note").value = "";
  $("feedback-status").textContent = "";
  for (const b of $("feedback").querySelectorAll("button")) b.disabled = false;
}

async function sendFeedback(verdict) {
  const answerId = shownAnswerId;
  const buttons = $("feedback").querySelectorAll("button");
  for (const b of buttons) b.disabled = true;
  try {
    const note = $("feedback-note").value.trim();
    const r = await api("/api/feedback", { answer_id: answerId, verdict, ...(note ? { note } : {}) });
    if (answerId === shownAnswerId) $("feedback-status").textContent = r.message;
  } catch (e) {
    if (answerId === shownAnswerId) {
      $("feedback-status").textContent = e.message;
      for (const b of buttons) b.disabled = false;
    }
  }
}

function renderAnswer(a) {
  const box = $("answer");
  const body = $("answer-body");
  box.hidden = false;
  box.classList.toggle("abstain", !a.answerable);
  resetFeedback(a.answer_id || "");
  if (!a.answerable) {
    body.innerHTML = `<p><strong>回答できません</strong>：${esc(a.message)}</p>`;
    return;
  }
  body.innerHTML = "<p>" + a.sentences.map((s) => `${s.item ? "<br>" : ""}${s.table_header ? `<span class="table-header">${esc(s.table_header)}</span><br>` : ""}${esc(s.text)}${s.citations.map((n) => `<a class="cite" href="${esc(a.citations[n - 1].link)}"${s.item ? ` title="${esc([a.citations[n - 1].anchor, s.item].filter(Boolean).join(""))}"` : ""}>[${n}]</a>`).join("")}`).join("") + "</p>" +
    "<ol class=\"meta\">" + a.citations.map((c) => `<li><a href="${esc(c.link)}">${esc(c.title)}</a> ${esc([c.number, c.anchor, c.page ? c.page + "ページ" : ""].filter(Boolean).join("・"))}${c.status !== "in_force" ? ` <span class="badge ${esc(c.status)}">${esc(c.status_label)}</span>` : ""}` +
      actionsHtml(c.document_id, citationText(c.title, c.number, c.anchor, c.page)) + "</li>").join("") + "</ol>";
}

// Submitting puts the search in the URL; route() runs it.
function submitSearch(ev) {
  ev.preventDefault();
  if (!$("q").value.trim()) return;
  $("status").textContent = "検索中…";
  shownSearch = "";  // a resubmitted search runs again
  goToSearch(1);
}

function goToSearch(page) {
  const hash = "#" + searchFromForm(page).toString();
  if (location.hash === hash) runSearch(searchFromForm(page)); else location.hash = hash;
}

// Only the latest search may write to the page: an earlier one still running is cancelled.
let inFlight = null;
// The search whose results are on the page (its URL parameters), and where to go back to from
// a document.
let shownSearch = "";
let lastSearchHash = "";

async function runSearch(params) {
  const q = params.get("q") || "";
  if (!q) return;
  if (inFlight) inFlight.abort();
  const controller = new AbortController();
  inFlight = controller;
  const page = Math.max(1, Number(params.get("page")) || 1);
  showError("");
  $("doc").hidden = true;
  $("status").textContent = "検索中…";
  $("search-button").disabled = true;
  const body = { query: q, filters: filtersOf(params), size: PAGE_SIZE, page };
  try {
    // The answer does not change with the page: asked on the first page only.
    const [search, answer] = await Promise.allSettled([
      api("/api/search", body, controller.signal),
      page === 1 ? api("/api/answer", { question: q, filters: body.filters }, controller.signal) : Promise.reject(new Error("not asked")),
    ]);
    if (controller.signal.aborted) return;
    if (search.status === "rejected") throw search.reason;
    renderResults(search.value);
    if (answer.status === "fulfilled") renderAnswer(answer.value); else $("answer").hidden = true;
    shownSearch = params.toString();
    lastSearchHash = "#" + shownSearch;
  } catch (e) {
    if (!controller.signal.aborted && e.message !== "unauthorized") { showError(e.message); $("status").textContent = ""; }
  } finally {
    if (inFlight === controller) { inFlight = null; $("search-button").disabled = false; }
  }
}

// Downloads a document's original file with the caller's token (a plain link would carry none).
async function openFile(docId) {
  try {
    const res = await fetch(`/api/documents/${encodeURIComponent(docId)}/file`, { headers: { Authorization: `Bearer ${token}` } });
    if (!res.ok) throw new Error(res.status === 404 ? "原本が見つかりません（更新・削除された可能性があります）。" : `原本を開けませんでした（${res.status}）。`);
    const name = decodeURIComponent((res.headers.get("Content-Disposition") || "").match(/filename\*=UTF-8''([^;]+)/)?.[1] || "document");
    const url = URL.createObjectURL(await res.blob());
    const a = document.createElement("a");
    a.href = url;
    a.download = name;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  } catch (e) {
    showError(e.message);
  }
}

async function copyText(text) {
  try {
    if (!navigator.clipboard) throw new Error("no clipboard");
    await navigator.clipboard.writeText(text);
  } catch {
    // Plain http on the office network is not a secure context: copy through a selection.
    const area = document.createElement("textarea");
    area.value = text;
    area.readOnly = true;
    area.className = "visually-hidden";
    area.setAttribute("aria-hidden", "true");
    document.body.appendChild(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
}

async function copyCitation(button) {
  await copyText(button.dataset.cite);
  button.textContent = "コピーしました";
  setTimeout(() => { button.textContent = "引用をコピー"; }, 2000);
}

async function showDocument(id, ordinal) {
  try {
    const asOf = $("f-asof").value;
    const data = await api(`/api/documents/${encodeURIComponent(id)}${asOf ? `?as_of=${encodeURIComponent(asOf)}` : ""}`);
    $("doc-title").textContent = data.document.title;
    $("doc-meta").innerHTML = docMeta(data.document);
    $("doc-actions").innerHTML = actionsHtml(data.document.id, citationText(data.document.title, data.document.number));
    $("doc-status").innerHTML = statusHtml(data.status);
    const chain = $("doc-chain");
    chain.innerHTML = data.chain.length > 1
      ? "<h3>改廃の経緯（旧 → 新）</h3><ol>" + data.chain.map((r) => r.id === data.document.id
        ? `<li aria-current="true"><strong>${esc(r.title)}</strong>${r.number ? `（${esc(r.number)}）` : ""}${r.issued ? " " + esc(dateLabel(r.issued)) : ""}</li>`
        : `<li>${docRef(r)}${r.issued ? " " + esc(dateLabel(r.issued)) : ""}</li>`).join("") + "</ol>"
      : "";
    const list = $("doc-passages");
    list.innerHTML = "";
    for (const p of data.passages) {
      const li = document.createElement("li");
      li.id = `passage-${p.ordinal}`;
      li.tabIndex = -1;
      li.innerHTML = `<p class="meta">${esc(citeLabel(p))}</p><p>${esc(p.text).replace(/\n/g, "<br>")}</p>`;
      list.appendChild(li);
    }
    $("results-section").hidden = true;
    $("answer").hidden = true;
    selectView("search");
    $("doc").hidden = false;
    const target = $(`passage-${ordinal}`) || list.firstElementChild;
    if (target) { target.classList.add("target"); target.scrollIntoView({ block: "center" }); target.focus(); }
  } catch (e) {
    if (e.message !== "unauthorized") showError(e.message);
  }
}

function route() {
  const m = location.hash.match(/^#doc=([^&]+)(?:&p=(\d+))?/);
  if (m && token) { showDocument(decodeURIComponent(m[1]), Number(m[2] || 0)); return; }
  $("doc").hidden = true;
  // Where 結果に戻る goes back to: the search or the 答弁検索 view last shown.
  lastListHash = location.hash;
  if (location.hash === PRECEDENTS_HASH) { selectView("precedents"); return; }
  selectView("search");
  const params = new URLSearchParams(location.hash.slice(1));
  if (token && params.get("q") && params.toString() !== shownSearch) { formFromSearch(params); runSearch(params); return; }
  // Back from a document to the search on the page: show it again without asking again.
  if ($("results").children.length) $("results-section").hidden = false;
  if ($("answer-body").children.length && !(Number(params.get("page")) > 1)) $("answer").hidden = false;
}

// ── 答弁検索: past exchanges on a question, and the outline of a reply quoted from their answers.

const PRECEDENTS_HASH = "#precedents";
let lastListHash = "";
// The outline on the page, as the plain text 骨子をコピー copies.
let outlineText = "";
let precedentsInFlight = null;

// The two views as tabs (WAI-ARIA tabs: arrow keys move between them).
function selectView(name) {
  for (const [view, tab] of [["search", $("tab-search")], ["precedents", $("tab-precedents")]]) {
    const on = view === name;
    tab.setAttribute("aria-selected", String(on));
    tab.tabIndex = on ? 0 : -1;
    $(`view-${view}`).hidden = !on;
  }
}

// The view goes into the URL (#precedents, or the search's #q=…), so reload and back keep it.
function openView(name, focusTab) {
  selectView(name);
  const hash = name === "precedents" ? PRECEDENTS_HASH : lastSearchHash || "#";
  if (location.hash !== hash && !(hash === "#" && !location.hash)) location.hash = hash;
  if (!focusTab) $(name === "precedents" ? "pq" : "q").focus();
}

// Only links to the published minutes on the web (never javascript: and the like).
function webUrl(u) {
  return /^https?:\/\//i.test(u || "") ? u : "";
}

// The document view of a passage of this service: "#doc=ID&p=N" from a passage id "ID#N".
function passageHref(docId, passageId) {
  const ordinal = String(passageId || "").split("#").pop();
  return `#doc=${encodeURIComponent(docId)}${/^\d+$/.test(ordinal) ? `&p=${ordinal}` : ""}`;
}

function speakerLabel(sp, detail) {
  if (!sp) return "";
  const extra = detail === "group" ? sp.group || sp.position : sp.position || sp.group;
  return sp.name + (extra ? `（${extra}）` : "");
}

function precedentFilters() {
  const f = {};
  if ($("p-house").value) f.houses = [$("p-house").value];
  if ($("p-from").value) f.date_from = $("p-from").value;
  if ($("p-to").value) f.date_to = $("p-to").value;
  const positions = $("p-position").value.split(/[、,，\s]+/).map((x) => x.trim()).filter(Boolean);
  if (positions.length) f.positions = positions;
  return f;
}

function lawLabel(l) {
  return [l.title, l.anchor].filter(Boolean).join(" ");
}

// The outline as plain text: each sentence with its citation in 【】, then the laws.
function outlineAsText(o) {
  const lines = ["答弁案の骨子", ...o.sentences.map((s, i) => `${i + 1}. ${s.text}【${s.citation}】`)];
  if (o.laws.length) {
    lines.push("", "引用されている法令");
    for (const l of o.laws) lines.push(`・${l.cited}${l.passage_id ? `（${lawLabel(l)}）` : "（索引にありません）"}`);
  }
  return lines.join("\n") + "\n";
}

function renderOutline(o) {
  const body = $("outline-body");
  $("outline").hidden = false;
  $("outline").classList.toggle("abstain", o.abstained);
  $("outline-copy-status").textContent = "";
  if (o.abstained || !o.sentences.length) {
    body.innerHTML = `<p><strong>${esc(o.message || "前例は見つかりませんでした")}</strong></p>`;
    outlineText = "";
    $("outline-copy").hidden = true;
    return;
  }
  body.innerHTML = `<ol class="outline-sentences">` + o.sentences.map((s) => {
    const url = webUrl(s.url);
    const cite = url ? `<a href="${esc(url)}" target="_blank" rel="noopener noreferrer">${esc(s.citation)}</a>` : esc(s.citation);
    return `<li><span class="outline-text">${esc(s.text)}</span>` +
      `<span class="outline-cite meta">【${cite}】 <a href="${esc(passageHref(s.doc_id, s.passage_id))}">この答弁を開く</a></span></li>`;
  }).join("") + "</ol>" +
    `<h3>引用されている法令</h3>` + (o.laws.length
      ? `<ul class="laws">` + o.laws.map((l) => `<li>${esc(l.cited)}：` + (l.passage_id && l.doc_id
        ? `<a href="${esc(passageHref(l.doc_id, l.passage_id))}">${esc(lawLabel(l) || l.cited)}</a>`
        : `<span class="meta">索引にありません</span>`) + "</li>").join("") + "</ul>"
      : `<p class="meta">なし</p>`);
  outlineText = outlineAsText(o);
  $("outline-copy").hidden = false;
}

function speechesHtml(label, speeches) {
  return speeches.map((sp) => `<section class="speech"><h5>${esc(sp.anchor || label)}</h5>` +
    `<p>${esc(sp.text).replace(/\n/g, "<br>")}</p></section>`).join("");
}

function exchangeHtml(e) {
  const url = webUrl(e.url);
  const meta = [dateLabel(e.date), e.house, e.meeting, e.issue].filter(Boolean).map(esc).join("　");
  return `<li class="exchange">` +
    `<h4><a href="${esc(passageHref(e.document_id, (e.question[0] || {}).passage_id))}">${esc(e.title)}</a></h4>` +
    `<p class="meta">${meta}</p>` +
    `<p class="speakers">質問：${esc(speakerLabel(e.questioner, "group"))}　答弁：${e.answerers.map((a) => esc(speakerLabel(a, "position"))).join("、") || "—"}</p>` +
    // Highlighted by the service, which escapes the text (as search snippets).
    `<p class="snippet">${e.question_excerpt}</p>` +
    `<details><summary>質問と答弁の全文</summary>${speechesHtml("質問", e.question)}${speechesHtml("答弁", e.answers)}</details>` +
    (url ? `<p class="actions"><a href="${esc(url)}" target="_blank" rel="noopener noreferrer">会議録（公開ページ）を開く</a></p>` : "") +
    "</li>";
}

function renderPrecedents(groups) {
  const list = $("precedents");
  list.innerHTML = "";
  for (const g of groups) {
    // Newest first (the service sends them so; kept so here whatever the order).
    const exchanges = [...g.exchanges].sort((a, b) => String(b.date || "").localeCompare(String(a.date || "")));
    if (!exchanges.length) continue;
    const li = document.createElement("li");
    li.className = "group";
    li.innerHTML = (exchanges.length > 1 ? `<p class="group-label">同旨の答弁 ${exchanges.length}件</p>` : "") +
      `<ol class="exchanges">${exchanges.map(exchangeHtml).join("")}</ol>`;
    list.appendChild(li);
  }
  $("precedents-section").hidden = !list.children.length;
  return list.children.length;
}

function clearPrecedents() {
  if (precedentsInFlight) precedentsInFlight.abort();
  $("outline").hidden = true;
  $("outline-body").innerHTML = "";
  $("precedents-section").hidden = true;
  $("precedents").innerHTML = "";
  $("p-status").textContent = "";
  $("p-error").hidden = true;
  outlineText = "";
}

async function findPrecedents(ev) {
  ev.preventDefault();
  const question = $("pq").value.trim();
  if (!question) return;
  if (precedentsInFlight) precedentsInFlight.abort();
  const controller = new AbortController();
  precedentsInFlight = controller;
  $("p-error").hidden = true;
  $("p-status").textContent = "前例を検索中…";
  $("precedent-button").disabled = true;
  try {
    const data = await api("/api/precedents", { question, filters: precedentFilters(), limit: 10 }, controller.signal);
    if (controller.signal.aborted) return;
    renderOutline(data.outline);
    const n = renderPrecedents(data.groups);
    // Without a close precedent the exchanges are only the nearest ones: said so in the heading.
    $("precedents-title").textContent = data.outline.abstained ? "参考：近い質疑（前例ではありません）" : "前例";
    const exchanges = data.groups.reduce((k, g) => k + g.exchanges.length, 0);
    $("p-status").textContent = !n ? "前例は見つかりませんでした。"
      : data.outline.abstained ? `十分に近い前例はありませんでした。参考に近い質疑 ${exchanges} 件を表示しています。`
      : `前例 ${exchanges} 件（${n} グループ）が見つかりました。`;
  } catch (e) {
    if (!controller.signal.aborted && e.message !== "unauthorized") {
      $("p-error").textContent = e.message;
      $("p-error").hidden = false;
      $("p-status").textContent = "";
    }
  } finally {
    if (precedentsInFlight === controller) { precedentsInFlight = null; $("precedent-button").disabled = false; }
  }
}

async function copyOutline() {
  if (!outlineText) return;
  await copyText(outlineText);
  $("outline-copy-status").textContent = "コピーしました";
}

$("precedent-form").addEventListener("submit", findPrecedents);
$("outline-copy").addEventListener("click", copyOutline);
$("tab-search").addEventListener("click", () => openView("search"));
$("tab-precedents").addEventListener("click", () => openView("precedents"));
$("views").addEventListener("keydown", (ev) => {
  if (!["ArrowLeft", "ArrowRight", "Home", "End"].includes(ev.key)) return;
  ev.preventDefault();
  const next = ev.target.id === "tab-search" ? "tab-precedents" : "tab-search";
  const target = ev.key === "Home" ? "tab-search" : ev.key === "End" ? "tab-precedents" : next;
  openView(target === "tab-search" ? "search" : "precedents", true);
  $(target).focus();
});
// Ctrl+Enter in the question field submits, as Enter does in the search field.
$("pq").addEventListener("keydown", (ev) => {
  if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); $("precedent-form").requestSubmit(); }
});

$("login-form").addEventListener("submit", (ev) => { ev.preventDefault(); login($("token").value.trim()); });
$("logout").addEventListener("click", () => logout("ログアウトしました。"));
$("search-form").addEventListener("submit", submitSearch);
const currentPage = () => Number(new URLSearchParams(location.hash.slice(1)).get("page")) || 1;
$("prev").addEventListener("click", () => goToSearch(Math.max(1, currentPage() - 1)));
$("next").addEventListener("click", () => goToSearch(currentPage() + 1));
$("doc-close").addEventListener("click", () => { location.hash = lastListHash === PRECEDENTS_HASH ? PRECEDENTS_HASH : lastSearchHash; });
for (const b of $("feedback").querySelectorAll("button[data-verdict]")) b.addEventListener("click", () => sendFeedback(b.dataset.verdict));
document.addEventListener("click", (ev) => {
  const file = ev.target.closest(".file-link");
  if (file) { openFile(file.dataset.doc); return; }
  const copy = ev.target.closest(".copy-cite");
  if (copy) copyCitation(copy);
});
window.addEventListener("hashchange", route);
if (token) login(token); else logout("");
