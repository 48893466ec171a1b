// The officials' page: login with a bearer token, search and ask, view documents.
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

async function api(path, body) {
  const res = await fetch(path, {
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
  $("login-error").textContent = message || "";
  $("login-error").hidden = !message;
  $("token").focus();
}

async function login(t) {
  token = t;
  try {
    await api("/api/search", { query: "ログイン確認", size: 1 });
  } catch (e) {
    if (e.message !== "unauthorized") { $("login-error").textContent = e.message; $("login-error").hidden = false; }
    return;
  }
  sessionStorage.setItem("shirabe-token", token);
  $("login").hidden = true;
  $("app").hidden = false;
  $("who").hidden = false;
  $("who-name").textContent = "ログイン中";
  $("q").focus();
  route();
}

function filters() {
  const f = {};
  if ($("f-type").value) f.doc_types = [$("f-type").value];
  if ($("f-issuer").value.trim()) f.issuers = [$("f-issuer").value.trim()];
  if ($("f-from").value) f.date_from = $("f-from").value;
  if ($("f-to").value) f.date_to = $("f-to").value;
  if ($("f-asof").value) f.as_of = $("f-asof").value;
  if ($("f-all").checked) f.all_versions = true;
  return f;
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
    li.innerHTML = `<a href="#doc=${encodeURIComponent(d.id)}&p=${r.passages[0] ? r.passages[0].passage_id.split("#").pop() : 0}" class="title">${esc(d.title)}</a>
      <p class="meta">${docMeta(d)}</p>${r.status && r.status.state !== "in_force" || (r.status && r.status.amended_by.length) ? statusHtml(r.status) : ""}` +
      r.passages.map((p) => `<p class="snippet">${p.snippet}<span class="meta">（${esc(citeLabel(p)) || "本文"}）</span></p>`).join("");
    list.appendChild(li);
  }
  $("results-section").hidden = false;
  $("status").textContent = !data.total ? "該当する文書は見つかりませんでした。"
    : data.keyword_matches ? `${data.total} 件の文書が見つかりました。`
    : `検索語に一致する文書はありませんでした。意味の近い文書 ${data.total} 件を参考に表示しています。`;
}

function renderAnswer(a) {
  const box = $("answer");
  const body = $("answer-body");
  box.hidden = false;
  box.classList.toggle("abstain", !a.answerable);
  if (!a.answerable) {
    body.innerHTML = `<p><strong>回答できません</strong>：${esc(a.message)}</p>`;
    return;
  }
  body.innerHTML = "<p>" + a.sentences.map((s) => `${s.table_header ? `<span class="table-header">${esc(s.table_header)}</span><br>` : ""}${esc(s.text)}${s.citations.map((n) => `<a class="cite" href="${esc(a.citations[n - 1].link)}">[${n}]</a>`).join("")}`).join("") + "</p>" +
    "<ol class=\"meta\">" + a.citations.map((c) => `<li><a href="${esc(c.link)}">${esc(c.title)}</a> ${esc([c.number, c.anchor, c.page ? c.page + "ページ" : ""].filter(Boolean).join("・"))}${c.status !== "in_force" ? ` <span class="badge ${esc(c.status)}">${esc(c.status_label)}</span>` : ""}</li>`).join("") + "</ol>";
}

async function runSearch(ev) {
  ev.preventDefault();
  const q = $("q").value.trim();
  if (!q) return;
  showError("");
  $("doc").hidden = true;
  $("status").textContent = "検索中…";
  const body = { query: q, filters: filters(), size: 10 };
  try {
    const [search, answer] = await Promise.allSettled([api("/api/search", body), api("/api/answer", { question: q, filters: body.filters })]);
    if (search.status === "rejected") throw search.reason;
    renderResults(search.value);
    if (answer.status === "fulfilled") renderAnswer(answer.value); else $("answer").hidden = true;
  } catch (e) {
    if (e.message !== "unauthorized") { showError(e.message); $("status").textContent = ""; }
  }
}

async function showDocument(id, ordinal) {
  try {
    const asOf = $("f-asof").value;
    const data = await api(`/api/documents/${encodeURIComponent(id)}${asOf ? `?as_of=${encodeURIComponent(asOf)}` : ""}`);
    $("doc-title").textContent = data.document.title;
    $("doc-meta").innerHTML = docMeta(data.document);
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
    $("doc").hidden = false;
    const target = $(`passage-${ordinal}`) || list.firstElementChild;
    if (target) { target.classList.add("target"); target.scrollIntoView({ block: "center" }); target.focus(); }
  } catch (e) {
    if (e.message !== "unauthorized") showError(e.message);
  }
}

function route() {
  const m = location.hash.match(/^#doc=([^&]+)&p=(\d+)/);
  if (m && token) showDocument(decodeURIComponent(m[1]), Number(m[2]));
  else { $("doc").hidden = true; if ($("results").children.length) $("results-section").hidden = false; }
}

$("login-form").addEventListener("submit", (ev) => { ev.preventDefault(); login($("token").value.trim()); });
$("logout").addEventListener("click", () => logout("ログアウトしました。"));
$("search-form").addEventListener("submit", runSearch);
$("doc-close").addEventListener("click", () => { history.pushState("", "", location.pathname); route(); });
window.addEventListener("hashchange", route);
if (token) login(token); else logout("");
