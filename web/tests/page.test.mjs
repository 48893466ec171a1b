// Browser tests of the officials' page in Debian's Chromium, driven by playwright-core.
// Run by scripts/browser-tests.sh, which starts the service over an index of fixtures/docs.
// Environment: BASE_URL, OUT (screenshot folder), SECRET_DOC_ID (a 機密性3 document).
import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";

const BASE = process.env.BASE_URL;
const OUT = process.env.OUT || "test-output/browser";
const SECRET_DOC_ID = process.env.SECRET_DOC_ID;
mkdirSync(OUT, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic", "--disable-dev-shm-usage"],
});
const results = [];
async function step(name, fn) {
  const page = await context.newPage();
  page.setDefaultTimeout(30000);
  const external = [];
  page.on("request", (r) => { if (!r.url().startsWith(BASE)) external.push(r.url()); });
  try {
    await fn(page);
    assert.deepEqual(external, [], "the page loads nothing from outside the service");
    results.push(["ok", name]);
  } catch (e) {
    results.push(["FAILED", name, e.message]);
    await page.screenshot({ path: `${OUT}/${name}-failure.png`, fullPage: true }).catch(() => {});
  } finally {
    await page.close();
  }
}
const context = await browser.newContext({ locale: "ja-JP" });

async function login(page, token) {
  await page.goto(BASE + "/");
  await page.getByLabel("アクセストークン").fill(token);
  await page.getByRole("button", { name: "ログイン" }).click();
  await page.getByLabel("検索語または質問").waitFor();
}

async function ask(page, text) {
  await page.getByLabel("検索語または質問").fill(text);
  await page.keyboard.press("Enter");
  await page.locator("#status").filter({ hasText: /件の文書|見つかりません|意味の近い文書/ }).waitFor();
}

await step("01-login-required", async (page) => {
  await page.goto(BASE + "/");
  assert.equal(await page.locator("#app").isVisible(), false, "nothing but the login form before login");
  await page.screenshot({ path: `${OUT}/01-login.png` });
  await page.getByLabel("アクセストークン").fill("wrong-token");
  await page.getByRole("button", { name: "ログイン" }).click();
  await page.locator("#login-error").filter({ hasText: "トークン" }).waitFor();
});

await step("02-search", async (page) => {
  await login(page, "dev-kanri");
  await ask(page, "住民票の写しの交付手数料はいくらですか");
  const titles = await page.locator("#results .title").allTextContents();
  assert.ok(titles.slice(0, 3).some((t) => t.includes("住民票")), `expected a 住民票 document on top, got ${titles}`);
  assert.ok(await page.locator("#results mark").count() > 0, "a highlighted term");
  await page.screenshot({ path: `${OUT}/02-search.png`, fullPage: true });
});

await step("03-answer-citation", async (page) => {
  await login(page, "dev-kanri");
  await ask(page, "住民票の写しの交付手数料はいくらですか");
  await page.locator("#answer").waitFor({ state: "visible" });
  const answer = await page.locator("#answer-body").innerText();
  assert.ok(answer.includes("円"), `the answer states an amount: ${answer}`);
  await page.screenshot({ path: `${OUT}/03-answer.png`, fullPage: true });
  const cite = page.locator("#answer-body a.cite").first();
  const sentence = (await page.locator("#answer-body p").first().innerText()).split("[")[0].trim();
  await cite.click();
  const target = page.locator("#doc-passages li.target");
  await target.waitFor({ state: "visible" });
  const passage = await target.innerText();
  assert.ok(passage.replace(/\s/g, "").includes(sentence.replace(/\s/g, "").slice(0, 20)), `the cited passage holds the sentence: ${sentence} / ${passage}`);
  await page.screenshot({ path: `${OUT}/03-citation.png`, fullPage: true });
});

await step("04-abstention", async (page) => {
  await login(page, "dev-kanri");
  await ask(page, "火星探査機の打ち上げ予定日はいつですか");
  await page.locator("#answer").filter({ hasText: "回答できません" }).waitFor();
  await page.screenshot({ path: `${OUT}/04-abstention.png`, fullPage: true });
});

await step("04b-feedback", async (page) => {
  await login(page, "dev-zaimu");
  const answered = page.waitForResponse((r) => r.url().endsWith("/api/answer"));
  await ask(page, "住民票の写しの交付手数料はいくらですか");
  const answerId = (await (await answered).json()).answer_id;
  await page.locator("#answer").waitFor({ state: "visible" });
  assert.ok(await page.locator("#feedback").isVisible(), "the verdict buttons come with the answer");
  await page.getByLabel("コメント（任意・1000字まで）").fill("別表の金額も引用してほしい");
  const sent = page.waitForResponse((r) => r.url().endsWith("/api/feedback"));
  await page.getByRole("button", { name: "根拠が足りない" }).click();
  const response = await sent;
  assert.equal(response.status(), 200, "the verdict is accepted");
  const body = response.request().postDataJSON();
  assert.equal(body.verdict, "insufficient");
  assert.equal(body.note, "別表の金額も引用してほしい");
  assert.equal(body.answer_id, answerId, "the verdict names the answer on the page");
  await page.locator("#feedback-status").filter({ hasText: "「根拠が足りない」として記録しました" }).waitFor();
  assert.ok(await page.getByRole("button", { name: "役に立った" }).isDisabled(), "one verdict per answer shown");
  await page.screenshot({ path: `${OUT}/04b-feedback.png`, fullPage: true });
  // The verdict is in the audit log with the question it judges (read as the auditor).
  const records = await page.evaluate(async (base) => {
    const r = await fetch(base + "/api/audit?n=200", { headers: { Authorization: "Bearer dev-kanri" } });
    return r.json();
  }, BASE);
  const record = records.reverse().find((r) => r.action === "feedback" && r.caller === "zaimu");
  assert.ok(record, "a feedback record");
  assert.equal(record.verdict, "insufficient");
  assert.equal(record.query, "住民票の写しの交付手数料はいくらですか");
  assert.equal(record.note, "別表の金額も引用してほしい");
  assert.ok(record.passages.length > 0, "the cited passages are recorded with it");
});

await step("05-low-clearance-sees-no-secret", async (page) => {
  await login(page, "dev-ippan");
  for (const q of ["懲戒処分案", "人事評価の運用について", "予算査定メモ"]) {
    await ask(page, q);
    await page.waitForTimeout(300);
    const shown = await page.locator("#results-section, #answer").allInnerTexts();
    for (const word of ["懲戒処分案", "予算査定メモ"]) {
      assert.ok(!shown.join("\n").includes(word), `${word} shown to ippan for ${q}`);
    }
  }
  await page.screenshot({ path: `${OUT}/05-low-clearance-search.png`, fullPage: true });
  await page.goto(`${BASE}/#doc=${SECRET_DOC_ID}&p=0`);
  await page.locator("#error").filter({ hasText: "見つかりません" }).waitFor();
  assert.equal(await page.locator("#doc").isVisible(), false, "the secret document view stays hidden");
  await page.screenshot({ path: `${OUT}/05-low-clearance-document.png`, fullPage: true });
  await page.getByRole("button", { name: "ログアウト" }).click();
  await page.getByLabel("アクセストークン").waitFor();
});

await step("06-superseded-status-and-chain", async (page) => {
  await login(page, "dev-ippan");
  await ask(page, "住民票の写しの交付手数料");
  // The 令和２年 circular was abolished by the 令和６年 one: labelled, with its successor linked.
  const old = page.locator("#results > li").filter({ hasText: "廃止済み" }).first();
  await old.waitFor();
  assert.match(await old.innerText(), /後継：住民票の写し等の交付手数料の取扱いについて/);
  const items = await page.locator("#results > li").allInnerTexts();
  const oldAt = items.findIndex((t) => t.includes("廃止済み"));
  const newAt = items.findIndex((t) => t.includes("住民票の写し等の交付手数料") && !t.includes("廃止済み"));
  assert.ok(newAt >= 0 && newAt < oldAt, `the successor ranks first (${newAt} < ${oldAt})`);
  await page.screenshot({ path: `${OUT}/06-superseded-results.png`, fullPage: true });
  await old.locator("a.title").click();
  await page.locator("#doc-status .badge.superseded").waitFor();
  const chain = await page.locator("#doc-chain li").allInnerTexts();
  assert.equal(chain.length, 2, `old → new: ${chain}`);
  assert.ok(chain[0].includes("令和2年4月1日") && chain[1].includes("総務第123号"), `chain order: ${chain}`);
  await page.screenshot({ path: `${OUT}/06-superseded-document.png`, fullPage: true });
  // Asking about a date before the new circular applied makes the old one the rule in force.
  await page.locator("#doc-close").click();
  await page.locator("#filters summary").click();
  await page.getByLabel("基準日（この日に有効な規程を優先）").fill("2023-01-01");
  await ask(page, "住民票の写しの交付手数料");
  await page.locator("#results > li").filter({ hasText: "未施行" }).first().waitFor();
  const fee = await page.locator("#results > li").filter({ hasText: "総務第12号" }).first().innerText();
  assert.ok(!fee.includes("廃止済み"), `the 令和2年 circular was still in force in 2023: ${fee}`);
});

await step("07-url-state-pages-types-file-citation", async (page) => {
  await login(page, "dev-kanri");
  assert.match(await page.locator("#who-name").innerText(), /kanri/, "the header names the user");
  // The vector side ranks every document, so a broad question has more than one page.
  await ask(page, "手数料");
  await page.locator("#pager").waitFor({ state: "visible" });
  assert.match(await page.locator("#page-info").innerText(), /^1 \/ \d+/);
  await page.locator("#next").click();
  await page.locator("#page-info").filter({ hasText: /^2 \// }).waitFor();
  assert.match(page.url(), /[#&]q=%E6%89%8B%E6%95%B0%E6%96%99.*&page=2|page=2/, `the page is in the URL: ${page.url()}`);
  const second = await page.locator("#results .title").allTextContents();
  // Reload: the same search and page come back from the URL.
  await page.reload();
  await page.locator("#page-info").filter({ hasText: /^2 \// }).waitFor();
  assert.equal(await page.getByLabel("検索語または質問").inputValue(), "手数料");
  assert.deepEqual(await page.locator("#results .title").allTextContents(), second, "the same second page after a reload");
  await page.goBack();
  await page.locator("#page-info").filter({ hasText: /^1 \// }).waitFor();
  await page.screenshot({ path: `${OUT}/07-pages.png`, fullPage: true });

  // Two document types at once.
  await page.locator("#filters summary").click();
  await page.getByLabel("法令").check();
  await page.getByLabel("告示").check();
  await ask(page, "手数料");
  assert.match(page.url(), /types=law%2Cnotice|types=law,notice/, page.url());
  const metas = await page.locator("#results > li > p.meta").allInnerTexts();
  assert.ok(metas.length > 0 && metas.every((m) => /^(法令|告示)/.test(m)), `only laws and notices: ${metas}`);

  // The original file downloads with the user's token; the citation copies.
  const download = page.waitForEvent("download");
  await page.locator("#results .file-link").first().click();
  assert.ok((await download).suggestedFilename().length > 0, "a file name");
  const copy = page.locator("#results .copy-cite").first();
  assert.ok((await copy.getAttribute("data-cite")).length > 0);
  await copy.click();
  await page.locator("#results .copy-cite").filter({ hasText: "コピーしました" }).first().waitFor();
});

await step("08-keyboard-only", async (page) => {
  await login(page, "dev-ippan");
  // After login the question field has the focus: type, Enter.
  await page.keyboard.type("住民票の写しの交付手数料");
  await page.keyboard.press("Enter");
  await page.locator("#status").filter({ hasText: /件の文書|意味の近い文書/ }).waitFor();
  const focusIs = (sel) => page.evaluate((s) => document.activeElement && document.activeElement.matches(s), sel);
  // Tab to the first result's title and open it with Enter.
  let found = false;
  for (let i = 0; i < 60 && !found; i++) { await page.keyboard.press("Tab"); found = await focusIs("#results a.title"); }
  assert.ok(found, "a result title is reachable with Tab");
  await page.keyboard.press("Enter");
  await page.locator("#doc").waitFor({ state: "visible" });
  assert.ok(await focusIs("#doc-passages li"), "the opened passage has the focus");
  // Back to the results with Shift+Tab and Enter on 結果に戻る.
  found = false;
  for (let i = 0; i < 30 && !found; i++) { await page.keyboard.press("Shift+Tab"); found = await focusIs("#doc-close"); }
  assert.ok(found, "結果に戻る is reachable with Shift+Tab");
  await page.keyboard.press("Enter");
  await page.locator("#results-section").waitFor({ state: "visible" });
  assert.equal(await page.locator("#doc").isVisible(), false);
  await page.screenshot({ path: `${OUT}/08-keyboard.png`, fullPage: true });
});

// ── 答弁検索 ──

async function findPrecedents(page, text) {
  await page.getByRole("tab", { name: "答弁検索" }).click();
  await page.getByLabel("質問通告の文言").fill(text);
  await page.getByRole("button", { name: "前例を探す" }).click();
  await page.locator("#p-status").filter({ hasText: /件|見つかりませんでした/ }).waitFor();
}

// The text of every speech shown in the precedents list (also inside closed <details>).
const shownSpeeches = (page) => page.locator("#precedents .speech p").evaluateAll((ps) => ps.map((p) => p.textContent.replace(/\s/g, "")).join("\n"));

// Groups labelled 同旨の答弁, each as the meta lines (date, house, meeting) of its exchanges.
const repeatedGroups = (page) => page.locator("#precedents > li.group").evaluateAll((gs) => gs
  .filter((g) => /同旨の答弁/.test(g.querySelector(".group-label")?.textContent || ""))
  .map((g) => ({ label: g.querySelector(".group-label").textContent, metas: [...g.querySelectorAll(".exchange > .meta")].map((m) => m.textContent) })));

// "令和6年6月11日（2024年6月11日）…" → "2024-06-11".
const isoOf = (meta) => { const m = meta.match(/（(\d+)年(\d+)月(\d+)日）/); return m ? `${m[1]}-${m[2].padStart(2, "0")}-${m[3].padStart(2, "0")}` : ""; };

await step("09-precedents-outline-copy", async (page) => {
  // Headless Chromium's clipboard needs permissions; the copy is caught where the page writes it.
  await page.addInitScript(() => {
    window.__copied = null;
    Object.defineProperty(navigator, "clipboard", { configurable: true, value: { writeText: async (t) => { window.__copied = t; } } });
  });
  await login(page, "dev-kanri");
  await findPrecedents(page, "コンビニ交付の手数料を窓口より安く設定している考え方を問う");
  assert.equal(await page.getByRole("tab", { name: "答弁検索" }).getAttribute("aria-selected"), "true");
  assert.equal(await page.locator("#view-search").isVisible(), false, "one view at a time");
  await page.locator("#outline").getByRole("heading", { name: "答弁案の骨子" }).waitFor();
  const items = await page.locator("#outline-body .outline-sentences > li").evaluateAll((lis) => lis.map((li) => ({
    text: li.querySelector(".outline-text").textContent,
    citation: (li.querySelector(".outline-cite").textContent.match(/【(.*?)】/) || [])[1] || "",
    doc: li.querySelector('.outline-cite a[href^="#doc="]')?.getAttribute("href") || "",
  })));
  assert.ok(items.length > 0, "the outline has sentences");
  assert.ok(items.some((i) => /架空市議会|衆議院|参議院/.test(i.citation)), `a citation to an assembly: ${JSON.stringify(items)}`);
  assert.ok(items.every((i) => i.citation && i.doc), `every sentence cited and linked: ${JSON.stringify(items)}`);
  // Every sentence is quoted verbatim from an answer on the page.
  const speeches = await shownSpeeches(page);
  for (const i of items) assert.ok(speeches.includes(i.text.replace(/\s/g, "")), `quoted verbatim: ${i.text}`);
  // A Diet citation links to the published minutes in a new tab; nothing is loaded from there.
  for (const a of await page.locator("#outline-body .outline-cite a[target=_blank]").all()) {
    assert.match(await a.getAttribute("href"), /^https:\/\/kokkai\.ndl\.go\.jp\//);
  }
  await page.locator("#outline").getByRole("heading", { name: "引用されている法令" }).waitFor();
  await page.screenshot({ path: `${OUT}/09-precedents.png`, fullPage: true });

  await page.getByRole("button", { name: "骨子をコピー" }).click();
  await page.locator("#outline-copy-status").filter({ hasText: "コピーしました" }).waitFor();
  const copied = await page.evaluate(() => window.__copied);
  assert.ok(copied && copied.includes(`${items[0].text}【${items[0].citation}】`), `the copy holds a sentence with its 【citation】: ${copied}`);
  assert.ok(!/<[a-z]/i.test(copied), "plain text");

  // The full speeches open from the card; a quoted sentence opens in the document view and
  // 結果に戻る comes back to the 答弁検索 view.
  const details = page.locator("#precedents details").first();
  await details.locator("summary").click();
  assert.ok((await details.locator(".speech h5").allInnerTexts()).some((h) => h.startsWith("答弁")), "the answers are labelled");
  await page.locator("#outline-body .outline-cite").first().getByRole("link", { name: "この答弁を開く" }).click();
  const target = page.locator("#doc-passages li.target");
  await target.waitFor({ state: "visible" });
  assert.ok((await target.innerText()).replace(/\s/g, "").includes(items[0].text.replace(/\s/g, "")), "the cited answer is shown");
  await page.locator("#doc-close").click();
  await page.locator("#outline").waitFor({ state: "visible" });
  assert.equal(await page.getByRole("tab", { name: "答弁検索" }).getAttribute("aria-selected"), "true");
  // The search view is still there, with its labels.
  await page.getByRole("tab", { name: "検索・質問" }).click();
  await page.getByLabel("検索語または質問").waitFor();
  assert.equal(await page.locator("#view-precedents").isVisible(), false);
});

await step("09b-precedents-repeated-answers-grouped", async (page) => {
  // 総務大臣's answer on the システム標準化 移行期限, given in 2023 and again in 2024.
  await login(page, "dev-kanri");
  await findPrecedents(page, "自治体情報システムの標準化の移行期限について政府の方針を問う");
  const groups = await repeatedGroups(page);
  const group = groups.find((g) => g.label.includes("同旨の答弁 2件"));
  assert.ok(group, `a group of two repeated answers: ${JSON.stringify(groups)}`);
  const dates = group.metas.map(isoOf);
  assert.deepEqual(dates, [...dates].sort().reverse(), `newest first: ${dates}`);
  await page.screenshot({ path: `${OUT}/09b-precedents-grouped.png`, fullPage: true });
});

await step("09c-precedents-council-repeated-answer-grouped", async (page) => {
  // 市長's answer on the コンビニ交付 手数料, in 令和５年第３回 and again in 令和６年第２回定例会.
  await login(page, "dev-kanri");
  await findPrecedents(page, "コンビニ交付の手数料を窓口より安く設定している考え方を問う");
  const groups = await repeatedGroups(page);
  const group = groups.find((g) => g.label.includes("同旨の答弁 2件") && g.metas.some((m) => m.includes("令和6年第2回定例会")) && g.metas.some((m) => m.includes("令和5年第3回定例会")));
  assert.ok(group, `the r5 and r6 答弁 of 市長 in one group: ${JSON.stringify(groups)}`);
  assert.deepEqual(group.metas.map(isoOf), ["2024-06-11", "2023-09-12"], "the newer one first");
});

await step("10-precedents-none", async (page) => {
  await login(page, "dev-kanri");
  await findPrecedents(page, "宇宙ごみの除去技術に関する国際協力の状況を問う");
  await page.locator("#outline").filter({ hasText: "前例は見つかりませんでした" }).waitFor();
  assert.equal(await page.locator("#outline-body .outline-text").count(), 0, "no sentence quoted");
  assert.equal(await page.getByRole("button", { name: "骨子をコピー" }).isVisible(), false, "nothing to copy");
  await page.screenshot({ path: `${OUT}/10-precedents-none.png`, fullPage: true });
});

await step("11-precedents-secret-session", async (page) => {
  // The 秘密会 minutes are 機密性2, zaimu: kanri (3, zaimu) sees the exchange, ippan (1) does not.
  const question = "職員の懲戒処分の検討状況について問う";
  const canaries = ["酒気帯び運転", "飲酒運転根絶", "秘密会"];
  await login(page, "dev-kanri");
  await findPrecedents(page, question);
  assert.ok((await page.content()).includes("酒気帯び運転"), "kanri sees the 秘密会 exchange");
  await page.getByRole("button", { name: "ログアウト" }).click();
  await page.getByLabel("アクセストークン").waitFor();
  assert.ok(!(await page.content()).includes("酒気帯び運転"), "nothing of it stays on the page after logout");
  await page.getByLabel("アクセストークン").fill("dev-ippan");
  await page.getByRole("button", { name: "ログイン" }).click();
  // Logged in again on the view the URL names (#precedents).
  await page.getByLabel("質問通告の文言").waitFor();
  await findPrecedents(page, question);
  const html = await page.content();
  for (const word of canaries) assert.ok(!html.includes(word), `${word} shown to ippan`);
  await page.screenshot({ path: `${OUT}/11-precedents-low-clearance.png`, fullPage: true });
});

await browser.close();
for (const r of results) console.log(r.join("  "));
const failed = results.filter((r) => r[0] !== "ok").length;
console.log(`browser tests: ${results.length - failed} passed, ${failed} failed (screenshots in ${OUT})`);
process.exit(failed ? 1 : 0);
