//! The query service over real HTTP against an index of `fixtures/docs`: access control
//! red-team, grounded answers, audit, limits and error shapes, and reload under traffic.

mod common;

use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::{json, Value};

struct Service {
    base: String,
    data: PathBuf,
    _tmp: tempfile::TempDir,
}

/// Indexes `source` (below the repository) into a fresh data directory and serves it with the
/// configuration `configure` leaves.
fn start(source: &str, configure: impl FnOnce(&mut shirabe::config::Config)) -> Service {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut config = common::config();
    let data = tmp.path().to_path_buf();
    config.index_dir = Some(data.join("index"));
    configure(&mut config);
    common::index_all(&config, &[common::repo().join(source)]);
    let base = common::start_service(config, &data);
    Service { base, data, _tmp: tmp }
}

fn service() -> &'static Service {
    static SERVICE: OnceLock<Service> = OnceLock::new();
    SERVICE.get_or_init(|| {
        start("fixtures/docs", |config| {
            config.users_file = Some(common::repo().join("fixtures/users.toml"));
            config.server.reload_interval_secs = 1;
        })
    })
}

const USERS: [&str; 4] = ["ippan", "zaimu", "jinji", "kanri"];

fn post(user: &str, path: &str, body: Value) -> (u16, Value) {
    let s = service();
    let r = ureq::post(&format!("{}{path}", s.base)).set("Authorization", &format!("Bearer dev-{user}")).send_json(body);
    response(r)
}

fn get(user: &str, path: &str) -> (u16, Value) {
    let s = service();
    response(ureq::get(&format!("{}{path}", s.base)).set("Authorization", &format!("Bearer dev-{user}")).call())
}

fn response(r: Result<ureq::Response, ureq::Error>) -> (u16, Value) {
    match r {
        Ok(resp) => {
            let status = resp.status();
            let text = resp.into_string().unwrap_or_default();
            (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
        }
        Err(ureq::Error::Status(status, resp)) => {
            assert_eq!(resp.header("content-type"), Some("application/problem+json"), "errors are problem+json");
            (status, resp.into_json().unwrap_or(Value::Null))
        }
        Err(e) => panic!("transport error: {e}"),
    }
}

/// Document id of the fixture whose source path ends with `suffix` (looked up as kanri).
fn percent_encode(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

fn doc_id(suffix: &str) -> String {
    doc_id_in(&latest_generation(), suffix)
}

fn doc_id_in(generation: &std::path::Path, suffix: &str) -> String {
    let state: Value = serde_json::from_slice(
        &std::fs::read(generation.join("state.json")).expect("state.json"),
    )
    .expect("json");
    state["documents"]
        .as_object()
        .expect("documents")
        .values()
        .find(|d| d["source_path"].as_str().is_some_and(|p| p.ends_with(suffix)))
        .and_then(|d| d["id"].as_str())
        .unwrap_or_else(|| panic!("no fixture document ending with {suffix}"))
        .to_string()
}

fn latest_generation() -> PathBuf {
    generation_of(&service().data)
}

fn generation_of(data: &std::path::Path) -> PathBuf {
    let index = data.join("index");
    let current = std::fs::read_to_string(index.join("CURRENT")).expect("CURRENT");
    index.join(current.trim())
}

#[test]
fn health_and_openapi() {
    let (status, body) = get("ippan", "/healthz");
    assert_eq!((status, body), (200, Value::String("ok".into())));
    let (status, spec) = get("ippan", "/openapi.json");
    assert_eq!(status, 200);
    for path in ["/api/search", "/api/answer", "/api/feedback", "/api/documents/{id}", "/api/audit", "/metrics"] {
        assert!(spec["paths"].get(path).is_some(), "{path} documented");
    }
    // The GET form documents its query string as the service checks it (the API fuzzer sends
    // whatever the schema allows).
    let q = spec["paths"]["/api/search"]["get"]["parameters"].as_array().expect("GET /api/search parameters").iter().find(|p| p["name"] == "q").cloned().expect("q");
    assert_eq!((q["in"].as_str(), q["required"].as_bool(), q["schema"]["minLength"].as_u64()), (Some("query"), Some(true), Some(1)), "{q}");
    post("ippan", "/api/search", json!({"query": "手数料"}));
    // Counts (classified documents included) only for operators and auditors.
    assert_eq!(get("ippan", "/metrics").0, 403);
    assert_eq!(response(ureq::get(&format!("{}/metrics", service().base)).call()).0, 401);
    let (status, ready) = response(ureq::get(&format!("{}/readyz", service().base)).call());
    assert_eq!((status, ready), (200, json!({"ready": true})), "readyz says ready and nothing else");
    let (status, metrics) = get("unyo", "/metrics");
    assert_eq!(status, 200);
    let text = metrics.as_str().expect("text");
    assert!(text.contains("shirabe_http_requests_total{route=\"/api/search\",code=\"200\"}"), "{text}");
    assert!(text.contains("shirabe_http_request_duration_seconds_bucket{route=\"/api/search\""), "{text}");
    assert!(!text.contains("shirabe_index_passages 0\n"), "{text}");
}

#[test]
fn search_finds_the_fee_circular_with_highlights() {
    let (status, body) = post("ippan", "/api/search", json!({"query": "住民票の写しの交付手数料はいくらですか"}));
    assert_eq!(status, 200, "{body}");
    let results = body["results"].as_array().expect("results");
    assert!(!results.is_empty());
    let top3: Vec<&str> = results.iter().take(3).filter_map(|r| r["document"]["title"].as_str()).collect();
    assert!(top3.iter().any(|t| t.contains("住民票")), "{top3:?}");
    let snippet = results[0]["passages"][0]["snippet"].as_str().expect("snippet");
    assert!(snippet.contains("<mark>"), "{snippet}");
    assert!(body["keyword_matches"].as_u64().unwrap_or(0) > 0, "{body}");
}

/// A query none of whose words is in any document still gets the documents closest in meaning
/// (the vector side ranks everything), and the response says that nothing matched the words.
#[test]
fn a_query_without_keyword_matches_says_so() {
    let (status, body) = post("ippan", "/api/search", json!({"query": "qxzvw jjkkpp"}));
    assert_eq!(status, 200, "{body}");
    assert!(body["total"].as_u64().unwrap_or(0) > 0, "the vector side still ranks documents: {body}");
    assert_eq!(body["keyword_matches"], 0, "{body}");
}

#[test]
fn acl_red_team_no_leak_on_any_endpoint() {
    // (distinctive word, fixture file, who may see it)
    let secrets = [
        ("懲戒処分案", "jinji-hyoka-unyo-r6.txt", ["jinji", "kanri"]),
        ("予算査定メモ", "yosan-satei-memo-r7.md", ["zaimu", "kanri"]),
    ];
    for (word, file, allowed) in secrets {
        let id = doc_id(file);
        for user in USERS {
            let may = allowed.contains(&user);
            // Every search mode, and the GET form (hybrid).
            for mode in ["hybrid", "keyword", "vector", "get"] {
                let (status, search) = if mode == "get" {
                    get(user, &format!("/api/search?q={}&size=50", percent_encode(word)))
                } else {
                    post(user, "/api/search", json!({"query": word, "size": 50, "mode": mode}))
                };
                assert_eq!(status, 200, "{mode}");
                let text = search.to_string();
                let found = search["results"].as_array().expect("results").iter().any(|r| r["document"]["id"] == id.as_str());
                if may {
                    assert!(found, "{user} {mode} searching {word} misses {file}");
                } else {
                    assert!(!found, "{user} {mode} sees {file}");
                    assert!(!text.contains(word), "{user} sees {word} in {mode} search: {text}");
                    assert!(!text.contains(&id), "{user} sees the id of {file} in {mode} search");
                }
            }
            let (status, answer) = post(user, "/api/answer", json!({"question": format!("{word}の内容を教えてください")}));
            assert_eq!(status, 200);
            if !may {
                assert!(!answer.to_string().contains(word), "{user} sees {word} in an answer: {answer}");
                assert!(!answer.to_string().contains(&id));
            }
            let (status, _) = get(user, &format!("/api/documents/{id}"));
            assert_eq!(status, if may { 200 } else { 404 }, "{user} GET document {file}");
            let (status, _) = get(user, &format!("/api/documents/{id}/file"));
            assert_eq!(status, if may { 200 } else { 404 }, "{user} GET file {file}");
        }
    }
    // A missing id and a forbidden id look the same.
    let (status, missing) = get("ippan", "/api/documents/0000000000000000");
    let (_, forbidden) = get("ippan", &format!("/api/documents/{}", doc_id("jinji-hyoka-unyo-r6.txt")));
    assert_eq!(status, 404);
    assert_eq!(missing, forbidden);
}

#[test]
fn unauthenticated_requests_get_401() {
    let s = service();
    let r = ureq::post(&format!("{}/api/search", s.base)).send_json(json!({"query": "住民票"}));
    assert_eq!(response(r).0, 401);
    let r = ureq::get(&format!("{}/api/documents/x", s.base)).set("Authorization", "Bearer wrong").call();
    assert_eq!(response(r).0, 401);
}

#[test]
fn answers_are_verbatim_and_cited() {
    for q in ["住民票の写しの交付手数料はいくらですか", "テレワークの実施要領について教えて", "マイナ保険証はいつから使えますか"] {
        let (status, a) = post("kanri", "/api/answer", json!({"question": q}));
        assert_eq!(status, 200, "{a}");
        if a["answerable"] == false {
            continue;
        }
        let citations = a["citations"].as_array().expect("citations");
        for s in a["sentences"].as_array().expect("sentences") {
            let n = s["citations"][0].as_u64().expect("citation") as usize;
            let c = &citations[n - 1];
            let (_, doc) = get("kanri", &format!("/api/documents/{}", c["document_id"].as_str().expect("doc")));
            let passage = doc["passages"].as_array().expect("passages").iter().find(|p| p["id"] == c["passage_id"]).expect("cited passage");
            let text = s["text"].as_str().expect("text");
            assert!(passage["text"].as_str().expect("passage text").contains(text), "not verbatim: {text}");
        }
    }
    let (_, a) = post("kanri", "/api/answer", json!({"question": "住民票の写しの交付手数料はいくらですか"}));
    assert_eq!(a["answerable"], true, "{a}");
    assert!(a["sentences"].to_string().contains('円'), "{a}");
}

#[test]
fn a_fee_table_row_is_quoted_with_its_header_and_brackets_stay_whole() {
    let (status, a) = post("kanri", "/api/answer", json!({"question": "コンビニ交付による住民票の写しの手数料はいくらですか"}));
    assert_eq!(status, 200, "{a}");
    assert_eq!(a["answerable"], true, "{a}");
    let sentences = a["sentences"].as_array().expect("sentences");
    let row = sentences.iter().find(|s| s["text"].as_str().is_some_and(|t| t.starts_with("住民票の写し |")));
    let row = row.unwrap_or_else(|| panic!("the fee row is quoted: {a}"));
    let header = row["table_header"].as_str().unwrap_or_else(|| panic!("the row comes with its header: {a}"));
    assert!(header.contains("コンビニ"), "the header says which column is the convenience-store fee: {header}");
    for s in sentences {
        let text = s["text"].as_str().unwrap_or_default();
        assert!(!text.starts_with(')') && !text.starts_with('）'), "no sentence starts inside a bracket: {text}");
    }
}

#[test]
fn an_article_named_in_the_question_comes_first() {
    // 第六条 of the fixture 条例 has three 項; the question names the second in Arabic numerals.
    for (query, want) in [("文書管理条例の6条2項はどういう内容ですか", "第六条第二項"), ("文書管理条例第六条第三項", "第六条第三項")] {
        let (status, body) = post("ippan", "/api/search", json!({"query": query}));
        assert_eq!(status, 200, "{body}");
        let first = &body["results"][0]["passages"][0];
        let anchor = first["anchor"].as_str().unwrap_or_default();
        assert!(anchor.ends_with(want), "{query}: the first passage is {anchor:?}: {body}");
    }
}

#[test]
fn unanswerable_questions_abstain() {
    let (status, a) = post("kanri", "/api/answer", json!({"question": "火星探査機の打ち上げ予定日はいつですか"}));
    assert_eq!(status, 200);
    assert_eq!(a["answerable"], false, "{a}");
    assert!(a["message"].as_str().is_some_and(|m| m.contains("見つかりません")));
}

#[test]
fn limits_and_error_shapes() {
    let s = service();
    let long = "あ".repeat(1001);
    assert_eq!(post("ippan", "/api/search", json!({"query": long})).0, 400);
    assert_eq!(post("ippan", "/api/search", json!({"query": ""})).0, 400);
    // Only spaces or control characters: accepted, and nothing is found (an answer abstains).
    let (status, blank) = post("ippan", "/api/search", json!({"query": " \u{3000}\u{b}"}));
    assert_eq!((status, blank["total"].as_u64()), (200, Some(0)), "{blank}");
    let (status, blank) = post("ippan", "/api/answer", json!({"question": "\t "}));
    assert_eq!((status, blank["answerable"].as_bool()), (200, Some(false)), "{blank}");
    assert_eq!(post("ippan", "/api/search", json!({"query": "a", "size": 51})).0, 400);
    // JSON Schema counts 5.0 as an integer, so the OpenAPI document promises it is accepted.
    assert_eq!(post("ippan", "/api/search", json!({"query": "a", "size": 5.0, "page": 1.0})).0, 200);
    assert_eq!(post("ippan", "/api/search", json!({"query": "a", "size": 5.5})).0, 400);
    assert_eq!(post("ippan", "/api/search", json!({"query": "a", "page": -1})).0, 400);
    assert_eq!(post("ippan", "/api/search", json!({"query": "a", "filters": {"doc_types": ["nope"]}})).0, 400);
    assert_eq!(post("ippan", "/api/search", json!({"quer": "a"})).0, 400);
    // Invalid JSON and invalid UTF-8 are client errors, never 5xx.
    for body in [b"{not json".to_vec(), vec![0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]] {
        let r = ureq::post(&format!("{}/api/search", s.base))
            .set("Authorization", "Bearer dev-ippan")
            .set("Content-Type", "application/json")
            .send_bytes(&body);
        let (status, problem) = response(r);
        assert!((400..500).contains(&status), "{status}");
        assert!(problem["title"].is_string());
    }
    // Just over the limit: small enough to sit in loopback's socket buffers whole, so the client
    // has finished sending when the service answers 413 and closes (a much larger body races
    // that close and fails with a broken pipe instead of reading the answer).
    let big = vec![b'a'; shirabe::api::MAX_BODY_BYTES + 4096];
    let r = ureq::post(&format!("{}/api/search", s.base)).set("Authorization", "Bearer dev-ippan").set("Content-Type", "application/json").send_bytes(&big);
    assert_eq!(response(r).0, 413);
}

/// The page logs in with `/api/me`: the caller's own attributes, audited as a login (not as a
/// search, which the page used to send to check a token).
#[test]
fn me_names_the_caller_and_is_audited_as_a_login() {
    let (status, me) = get("zaimu", "/api/me");
    assert_eq!(status, 200, "{me}");
    assert_eq!((me["name"].as_str(), me["clearance"].as_u64()), (Some("zaimu"), Some(2)), "{me}");
    let r = ureq::get(&format!("{}/api/me", service().base)).set("Authorization", "Bearer not-a-token").call();
    assert_eq!(response(r).0, 401);
    let (_, records) = get("kanri", "/api/audit?n=1000");
    let records = records.as_array().expect("records");
    assert!(records.iter().any(|r| r["caller"] == "zaimu" && r["action"] == "login" && r["query"].is_null()), "a login record without a query");
}

#[test]
fn audit_records_requests_and_is_for_auditors_only() {
    post("zaimu", "/api/search", json!({"query": "監査テスト用の検索"}));
    assert_eq!(get("zaimu", "/api/audit").0, 403);
    let (status, records) = get("kanri", "/api/audit?n=1000");
    assert_eq!(status, 200);
    let records = records.as_array().expect("records");
    assert!(records.iter().any(|r| r["caller"] == "zaimu" && r["query"] == "監査テスト用の検索"));
    // Refusals are audited too: the 403 above, a wrong token, a hidden document's id.
    let hidden = doc_id("jinji-hyoka-unyo-r6.txt");
    assert_eq!(get("ippan", &format!("/api/documents/{hidden}")).0, 404);
    let r = ureq::get(&format!("{}/api/documents/{hidden}", service().base)).set("Authorization", "Bearer not-a-token").call();
    assert_eq!(response(r).0, 401);
    let (_, records) = get("kanri", "/api/audit?n=1000");
    let records = records.as_array().expect("records");
    let has = |caller: &str, status: u64, path: &str| records.iter().any(|r| r["caller"].as_str().is_some_and(|c| c.starts_with(caller)) && r["status"] == status && r["query"].as_str().is_some_and(|q| q.ends_with(path)));
    assert!(has("zaimu", 403, "/api/audit"), "the 403 is audited");
    assert!(has("ippan", 404, &hidden), "the probe of a hidden id is audited");
    assert!(has("anonymous", 401, &hidden), "the wrong token is audited");
    assert_eq!(shirabe::govern::audit::verify(&service().data.join("audit")).map(|n| n > 0), Ok(true));
}

#[test]
fn feedback_on_an_answer_is_audited_and_exported_as_a_question() {
    let question = "住民票の写しの交付手数料はいくらですか";
    let (status, a) = post("zaimu", "/api/answer", json!({"question": question}));
    assert_eq!(status, 200, "{a}");
    let answer_id = a["answer_id"].as_str().expect("answer_id").to_string();
    let cited: Vec<Value> = a["citations"].as_array().expect("citations").iter().map(|c| c["passage_id"].clone()).collect();
    assert!(!cited.is_empty(), "{a}");
    // Another official's answer and an id never given answer alike: an id reveals nothing.
    let (status, other) = post("ippan", "/api/feedback", json!({"answer_id": answer_id, "verdict": "wrong"}));
    assert_eq!(status, 404, "{other}");
    let (status, unknown) = post("zaimu", "/api/feedback", json!({"answer_id": "a-000000000000000000000000", "verdict": "wrong"}));
    assert_eq!((status, &unknown), (404, &other), "another's answer reads as one never given");
    assert!(other["detail"].as_str().is_some_and(|d| d.contains("回答")), "{other}");
    for bad in [
        json!({"answer_id": answer_id, "verdict": "good"}),
        json!({"answer_id": answer_id}),
        json!({"answer_id": answer_id, "verdict": "wrong", "note": "長".repeat(1001)}),
        json!({"answer_id": answer_id, "verdict": "wrong", "score": 5}),
    ] {
        assert_eq!(post("zaimu", "/api/feedback", bad.clone()).0, 400, "{bad}");
    }
    let (status, r) = post("zaimu", "/api/feedback", json!({"answer_id": answer_id, "verdict": "insufficient", "note": "別表の金額も引用してほしい"}));
    assert_eq!(status, 200, "{r}");
    assert_eq!((r["answer_id"].as_str(), r["verdict"].as_str()), (Some(answer_id.as_str()), Some("insufficient")));
    assert!(r["message"].as_str().is_some_and(|m| m.contains("根拠が足りない")), "{r}");

    // Audited with the answer it judges: the question and the cited passages.
    let (_, records) = get("kanri", "/api/audit?n=1000");
    let given = records.as_array().expect("records").iter().find(|r| r["action"] == "answer" && r["answer_id"] == answer_id.as_str()).cloned().expect("the answer's record");
    assert_eq!(given["answer_model"].as_str(), Some(shirabe::answer::model::AnswerModel::builtin().version.as_str()), "the answer names the model that decided it");
    let record = records.as_array().expect("records").iter().rev().find(|r| r["action"] == "feedback" && r["answer_id"] == answer_id.as_str()).cloned().expect("a feedback record");
    assert_eq!((record["caller"].as_str(), record["verdict"].as_str(), record["query"].as_str()), (Some("zaimu"), Some("insufficient"), Some(question)));
    assert_eq!(record["passages"].as_array().expect("passages"), &cited);
    assert_eq!(record["note"], "別表の金額も引用してほしい");
    assert!(!records.as_array().expect("records").iter().any(|r| r["action"] == "feedback" && r["caller"] == "ippan"), "a refused verdict left a feedback record");

    // Exported as a question eval-answers reads, the verdict and its places with it.
    let s = service();
    let mut config = common::config();
    config.index_dir = Some(s.data.join("index"));
    let key = shirabe::govern::audit::configured_key(None, &s.data, false).expect("the audit key");
    let rows = shirabe::eval::feedback::export_log(&config, &common::analyzers(), &s.data.join("audit"), key.as_ref()).expect("export");
    let row = rows.iter().find(|r| r.feedback.answer_id == answer_id).expect("the judged answer is exported");
    let json = serde_json::to_value(row).expect("json");
    assert_eq!(json["question"], question);
    assert_eq!(json["feedback"]["verdict"], "insufficient");
    assert!(json.get("answerable").is_none(), "a rejected answer's answerability is left to a reviewer: {json}");
    assert_eq!(row.feedback.cited.len(), cited.len(), "every cited passage is placed: {json}");
    assert!(row.feedback.cited.iter().all(|c| c.contains("fixtures/docs/")), "{json}");
    assert!(!json.to_string().contains("zaimu"), "the official's name is not exported: {json}");
    let parsed: shirabe::eval::corpus::CorpusQuestion = serde_json::from_value(json).expect("eval-answers reads the row");
    assert_eq!(parsed.feedback.map(|f| f.verdict), Some(shirabe::eval::feedback::Verdict::Insufficient));
}

#[test]
fn answers_never_offer_a_title_or_heading_line() {
    // Questions that name a document by its title: the title line shares every content word
    // with the question, so it used to outscore the sentences that actually answer.
    for q in [
        "架空市職員テレワーク実施要領の制定について教えてください",
        "住民票の写し等の交付手数料の改定について",
        "文書の保存期間の改正について教えて",
        "テレワークの実施要領について教えて",
    ] {
        let (status, a) = post("kanri", "/api/answer", json!({"question": q}));
        assert_eq!(status, 200, "{a}");
        let citations = a["citations"].as_array().expect("citations");
        for s in a["sentences"].as_array().expect("sentences") {
            let text = s["text"].as_str().expect("text");
            let n = s["citations"][0].as_u64().expect("citation") as usize;
            let c = &citations[n - 1];
            let title = c["title"].as_str().unwrap_or_default();
            let anchor = c["anchor"].as_str().unwrap_or_default();
            let plain = |t: &str| t.chars().filter(|c| !c.is_whitespace() && *c != '#').collect::<String>();
            assert_ne!(plain(text), plain(title), "{q}: the title was offered as a sentence: {a}");
            let ends_like_a_sentence = text.trim_end_matches(['」', '）', ')']).ends_with(['。', '！', '？']);
            assert!(
                ends_like_a_sentence || !anchor.split([' ', '　']).any(|part| plain(part) == plain(text)),
                "{q}: a heading was offered as a sentence: {text:?} (anchor {anchor:?})"
            );
            assert!(!shirabe::answer::extract::is_heading_line(text, Some(title), Some(anchor)), "{q}: heading line {text:?}");
        }
    }
}

/// A second service with the SSO header enabled, believed only from 127.0.0.2 (a loopback
/// address the tests can send from), over an index of the restricted fixtures.
fn sso_service() -> &'static Service {
    static SERVICE: OnceLock<Service> = OnceLock::new();
    SERVICE.get_or_init(|| {
        start("fixtures/docs/restricted", |config| {
            config.auth.sso_header = Some("X-Remote-User".into());
            config.auth.trusted_proxies = vec!["127.0.0.2".parse().expect("ip")];
            config.auth.sso_hosts = vec!["127.0.0.1".into()];
        })
    })
}

/// A GET sent from the local address `from` (so the service sees that peer), with raw headers.
fn get_from(from: &str, base: &str, path: &str, headers: &[(&str, &str)]) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr: std::net::SocketAddr = base.trim_start_matches("http://").parse().expect("service address");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let head = rt.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.bind(format!("{from}:0").parse().expect("source address")).expect("bind the source address");
        let mut stream = socket.connect(addr).await.expect("connect");
        let mut request = format!("GET {path} HTTP/1.1\r\nConnection: close\r\n");
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
            request.push_str(&format!("Host: {addr}\r\n"));
        }
        for (k, v) in headers {
            request.push_str(&format!("{k}: {v}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.expect("read");
        String::from_utf8_lossy(&response).lines().next().unwrap_or_default().to_string()
    });
    head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status line: {head:?}"))
}

#[test]
fn sso_header_is_ignored_when_sso_is_off() {
    // The main service has no SSO header configured: even from loopback the header is no login.
    let base = &service().base;
    assert_eq!(get_from("127.0.0.1", base, "/api/audit", &[("X-Remote-User", "kanri")]), 401);
    assert_eq!(get_from("127.0.0.1", base, "/api/audit", &[("Authorization", "Bearer dev-kanri")]), 200);
}

#[test]
fn sso_header_from_a_trusted_proxy_maps_to_the_users_rights() {
    let s = sso_service();
    let id = doc_id_in(&generation_of(&s.data), "jinji-hyoka-unyo-r6.txt");
    let doc = format!("/api/documents/{id}");
    let via_proxy = |user: &str, path: &str| get_from("127.0.0.2", &s.base, path, &[("X-Remote-User", user)]);
    // Groups and clearance come from the users file.
    assert_eq!(via_proxy("jinji", &doc), 200);
    assert_eq!(via_proxy("kanri", &doc), 200);
    assert_eq!(via_proxy("zaimu", &doc), 404);
    assert_eq!(via_proxy("ippan", &doc), 404);
    // So do roles.
    assert_eq!(via_proxy("kanri", "/api/audit"), 200);
    assert_eq!(via_proxy("ippan", "/api/audit"), 403);
    // DNS rebinding: the same header on a request for another host name is refused.
    assert_eq!(get_from("127.0.0.2", &s.base, &doc, &[("X-Remote-User", "jinji"), ("Host", "evil.example")]), 401);
    // A name that is not in the users file, or an empty one, is refused.
    assert_eq!(via_proxy("yamada", &doc), 401);
    assert_eq!(via_proxy("", &doc), 401);
    // The audit trail names the SSO user.
    let log = std::fs::read_to_string(s.data.join("audit/audit.jsonl")).expect("audit log");
    let records: Vec<Value> = log.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    assert!(records.iter().any(|r| r["caller"] == "jinji" && r["action"] == "document"), "audit names the SSO user: {log}");
}

#[test]
fn sso_header_from_an_untrusted_peer_is_ignored_but_tokens_work() {
    let s = sso_service();
    let id = doc_id_in(&generation_of(&s.data), "jinji-hyoka-unyo-r6.txt");
    let doc = format!("/api/documents/{id}");
    // 127.0.0.1 is not the configured proxy: the same header is a spoof.
    assert_eq!(get_from("127.0.0.1", &s.base, &doc, &[("X-Remote-User", "kanri")]), 401);
    assert_eq!(get_from("127.0.0.1", &s.base, "/api/audit", &[("X-Remote-User", "kanri")]), 401);
    // A bearer token works from anywhere and wins over the header.
    assert_eq!(get_from("127.0.0.1", &s.base, &doc, &[("Authorization", "Bearer dev-jinji")]), 200);
    assert_eq!(get_from("127.0.0.2", &s.base, &doc, &[("Authorization", "Bearer dev-ippan"), ("X-Remote-User", "kanri")]), 404);
    assert_eq!(get_from("127.0.0.2", &s.base, &doc, &[("Authorization", "Bearer wrong"), ("X-Remote-User", "kanri")]), 401);
}

/// A service of its own over `share` (index and audit log under `dir`), with `permits` query
/// slots; returns its base URL and the published generation's folder.
fn own_service(dir: &std::path::Path, share: &std::path::Path, permits: usize, tweak: impl FnOnce(&mut shirabe::config::Config)) -> (String, PathBuf) {
    let mut config = common::config();
    config.index_dir = Some(dir.join("index"));
    config.users_file = Some(common::repo().join("fixtures/users.toml"));
    tweak(&mut config);
    common::index_all(&config, &[share.to_path_buf()]);
    let base = common::start_service_with_permits(config, dir, permits);
    let generation = std::fs::read_dir(dir.join("index")).expect("index").flatten().map(|e| e.path()).find(|p| p.join("state.json").exists()).expect("generation");
    (base, generation)
}

/// A share folder under `dir` holding `files` (name, content).
fn share_with(dir: &std::path::Path, files: &[(&str, &str)]) -> PathBuf {
    let share = dir.join("share");
    std::fs::create_dir_all(&share).expect("mkdir");
    for (name, text) in files {
        std::fs::write(share.join(name), text).expect("write");
    }
    share
}

/// A client that keeps being refused (guessing tokens, probing ids) gets 429 with Retry-After
/// for the rest of the minute, audited; other clients are not affected.
#[test]
fn repeated_refusals_are_limited_per_client() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let share = share_with(tmp.path(), &[("memo.txt", "窓口の受付時間は午前8時30分から午後5時15分までとする。")]);
    let (base, _) = own_service(tmp.path(), &share, 2, |c| c.server.max_refusals_per_minute = 5);
    let guess = |token: &str| response(ureq::get(&format!("{base}/api/me")).set("Authorization", &format!("Bearer {token}")).call());
    for i in 0..5 {
        assert_eq!(guess(&format!("guess-{i}")).0, 401, "guess {i}");
    }
    let r = ureq::get(&format!("{base}/api/me")).set("Authorization", "Bearer guess-6").call();
    let Err(ureq::Error::Status(429, blocked)) = r else { panic!("the sixth refusal in a minute is answered 429: {r:?}") };
    let wait: u64 = blocked.header("Retry-After").and_then(|v| v.parse().ok()).expect("Retry-After");
    assert!((1..=60).contains(&wait), "{wait}");
    // The block is by client: the same peer with a valid token is someone else.
    assert_eq!(guess("dev-ippan").0, 200);
    let (_, records) = response(ureq::get(&format!("{base}/api/audit?n=100")).set("Authorization", "Bearer dev-kanri").call());
    let records = records.as_array().expect("records");
    assert!(records.iter().any(|r| r["status"] == 429 && r["action"] == "denied" && r["caller"].as_str().is_some_and(|c| c.starts_with("anonymous@"))), "the 429 is audited");
}

/// The file download serves the indexed bytes only: a public file swapped on the share for a
/// link to a classified file, or for other content, is not served under the public label.
#[test]
fn a_file_swapped_after_indexing_is_not_served() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let original = "窓口の受付時間は午前8時30分から午後5時15分までとする。";
    let share = share_with(tmp.path(), &[("public.txt", original), ("secret.txt", "機密の人事案。昇任候補者の名簿を添付する。"), ("secret.txt.access.toml", "level = 3\n")]);
    let public = share.join("public.txt");
    let (base, generation) = own_service(tmp.path(), &share, 16, |_| {});
    let id = doc_id_in(&generation, "public.txt");
    let fetch = |user: &str| match ureq::get(&format!("{base}/api/documents/{id}/file")).set("Authorization", &format!("Bearer dev-{user}")).call() {
        Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(s, _)) => (s, String::new()),
        Err(e) => panic!("transport error: {e}"),
    };
    assert_eq!(fetch("ippan"), (200, original.to_string()));

    std::fs::remove_file(&public).expect("rm");
    std::os::unix::fs::symlink(share.join("secret.txt"), &public).expect("symlink");
    for user in USERS {
        let (status, body) = fetch(user);
        assert_eq!(status, 404, "{user} got the file through a link: {body}");
        assert!(!body.contains("機密"), "{user}: {body}");
    }

    std::fs::remove_file(&public).expect("rm");
    std::fs::write(&public, "差し替えられた内容。").expect("write");
    assert_eq!(fetch("kanri").0, 404, "changed content is not served under the indexed label");

    std::fs::write(&public, original).expect("write");
    assert_eq!(fetch("ippan"), (200, original.to_string()), "the indexed bytes are served again");
}

/// The service serves the page's own files and nothing else from the web folder (not its tests,
/// which hold the development tokens, nor their tools), with headers that keep the page from
/// being framed or fed sniffed content, and API responses uncached.
#[test]
fn only_the_page_is_served_with_security_headers() {
    let base = &service().base;
    for path in ["/", "/app.js", "/style.css"] {
        let r = ureq::get(&format!("{base}{path}")).call().unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"), "{path}");
        let csp = r.header("content-security-policy").unwrap_or_default().to_string();
        assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"), "{path}: {csp}");
    }
    for path in ["/tests/page.test.mjs", "/tests/package.json", "/tests/node_modules/playwright-core/package.json", "/index.html/../tests/page.test.mjs", "/%2e%2e/Cargo.toml", "/README.md"] {
        match ureq::get(&format!("{base}{path}")).call() {
            Ok(r) => panic!("{path} served: {}", r.status()),
            Err(ureq::Error::Status(status, r)) => {
                assert_eq!(status, 404, "{path}");
                let body = r.into_string().unwrap_or_default();
                assert!(!body.contains("dev-kanri"), "{path}: {body}");
            }
            Err(e) => panic!("{path}: {e}"),
        }
    }
    let r = ureq::post(&format!("{base}/api/search")).set("Authorization", "Bearer dev-ippan").send_json(json!({"query": "手数料"})).expect("search");
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
}

/// Document views and file downloads take a query slot like searches: with none free they wait
/// `server.queue_timeout_secs` and get 503, instead of reading files without bound.
#[test]
fn documents_and_files_wait_for_a_query_slot() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let share = share_with(tmp.path(), &[("note.txt", "庁舎の開庁時間は午前8時30分からとする。")]);
    let (base, generation) = own_service(tmp.path(), &share, 0, |c| c.server.queue_timeout_secs = 1);
    let id = doc_id_in(&generation, "note.txt");
    for path in [format!("/api/documents/{id}"), format!("/api/documents/{id}/file")] {
        let r = ureq::get(&format!("{base}{path}")).set("Authorization", "Bearer dev-ippan").call();
        assert_eq!(response(r).0, 503, "{path} must wait for a slot");
    }
}

/// `GET /api/search?q=` gives the results of `POST /api/search` with the same rights, and
/// both forms (and answers) say how long they took.
#[test]
fn search_by_get_matches_post_and_responses_carry_took_ms() {
    let q = "住民票の写しの交付手数料";
    let (status, posted) = post("ippan", "/api/search", json!({"query": q, "size": 5}));
    assert_eq!(status, 200);
    let url = format!("/api/search?q={}&size=5", "%E4%BD%8F%E6%B0%91%E7%A5%A8%E3%81%AE%E5%86%99%E3%81%97%E3%81%AE%E4%BA%A4%E4%BB%98%E6%89%8B%E6%95%B0%E6%96%99");
    let (status, got) = get("ippan", &url);
    assert_eq!(status, 200, "{got}");
    let ids = |v: &Value| v["results"].as_array().expect("results").iter().map(|r| r["document"]["id"].clone()).collect::<Vec<_>>();
    assert_eq!(ids(&got), ids(&posted));
    assert!(got["took_ms"].is_u64() && posted["took_ms"].is_u64(), "{got}");
    let (_, answer) = post("ippan", "/api/answer", json!({"question": "住民票の写しの交付手数料はいくらですか"}));
    assert!(answer["took_ms"].is_u64(), "{answer}");
    assert_eq!(get("ippan", "/api/search?q=").0, 400, "an empty query is refused");
    assert_eq!(get("ippan", "/api/search?query=x").0, 400, "an unknown parameter is refused");
    let r = ureq::get(&format!("{}/api/search?q=x", service().base)).call();
    assert_eq!(response(r).0, 401);
}

/// Past exchanges for a question: paired, grouped where an answer was repeated, the outline
/// quoted verbatim and cited, the laws its answers cite resolved, and nothing of an exchange the
/// caller may not see.
#[test]
fn precedents_are_cited_grouped_and_access_checked() {
    let (status, found) = post("kanri", "/api/precedents", json!({"question": "住民票の写しのコンビニ交付の手数料を引き下げる考えはあるか伺う。"}));
    assert_eq!(status, 200, "{found}");
    let groups = found["groups"].as_array().expect("groups");
    assert!(!groups.is_empty(), "{found}");
    // Every exchange names who asked and who answered, and where.
    for e in groups.iter().flat_map(|g| g["exchanges"].as_array().expect("exchanges")) {
        assert!(e["questioner"]["name"].as_str().is_some_and(|n| !n.is_empty()), "{e}");
        assert!(e["answerers"].as_array().is_some_and(|a| !a.is_empty()), "{e}");
        assert!(e["question"].as_array().is_some_and(|q| q.iter().all(|s| s["anchor"].as_str().is_some_and(|a| a.starts_with("質問")))), "{e}");
        assert!(e["answers"].as_array().is_some_and(|q| !q.is_empty() && q.iter().all(|s| s["anchor"].as_str().is_some_and(|a| a.starts_with("答弁")))), "{e}");
        assert!(e["date"].is_string() && e["house"].is_string() && e["meeting"].is_string(), "{e}");
    }
    // The 市長's answer on the fee, given in 令和5 and again in 令和6, is one group, newest first.
    let repeated = groups.iter().find(|g| g["exchanges"].as_array().is_some_and(|x| x.len() >= 2 && x.iter().all(|e| e["house"] == "架空市議会"))).unwrap_or_else(|| panic!("no repeated answer grouped: {found}"));
    let dates: Vec<&str> = repeated["exchanges"].as_array().unwrap().iter().filter_map(|e| e["date"].as_str()).collect();
    assert!(dates.windows(2).all(|w| w[0] >= w[1]) && dates.first() > dates.last(), "newest first: {dates:?}");
    // The outline quotes answer sentences verbatim, each cited.
    let outline = &found["outline"];
    assert_eq!(outline["abstained"], false, "{outline}");
    let sentences = outline["sentences"].as_array().expect("sentences");
    assert!(!sentences.is_empty(), "{outline}");
    for s in sentences {
        let (status, doc) = get("kanri", &format!("/api/documents/{}", s["doc_id"].as_str().unwrap()));
        assert_eq!(status, 200);
        let passage = doc["passages"].as_array().unwrap().iter().find(|p| p["id"] == s["passage_id"]).unwrap_or_else(|| panic!("cited passage missing: {s}"));
        assert!(passage["text"].as_str().unwrap().contains(s["text"].as_str().unwrap()), "not verbatim: {s}");
        assert!(passage["anchor"].as_str().unwrap().starts_with("答弁"), "quoted from an answer: {passage}");
        let citation = s["citation"].as_str().unwrap();
        assert!(citation.contains(s["speaker"]["name"].as_str().unwrap()) && citation.contains(s["date"].as_str().unwrap()), "{s}");
    }
    // Nothing close: the outline says so and quotes nothing.
    let (_, none) = post("kanri", "/api/precedents", json!({"question": "宇宙ごみの除去技術に関する国際協力の状況について問う。"}));
    assert_eq!(none["outline"]["abstained"], true, "{none}");
    assert_eq!(none["outline"]["message"], "前例は見つかりませんでした");
    assert_eq!(none["outline"]["sentences"], json!([]));
    // A law an answer cites by article is resolved to that article in the index.
    let (_, laws) = post("kanri", "/api/precedents", json!({"question": "公文書の保存期間と、期間が満了した文書の取扱いについて問う。"}));
    let cited = laws["outline"]["laws"].as_array().expect("laws");
    let law = cited.iter().find(|l| l["cited"].as_str().is_some_and(|c| c.starts_with("架空市文書管理条例第六条"))).unwrap_or_else(|| panic!("law not cited: {laws}"));
    assert_eq!(law["doc_id"], doc_id("kakuu-shi-bunsho-kanri-jorei.xml").as_str(), "{law}");
    assert!(law["anchor"].as_str().is_some_and(|a| a.contains("第六条")), "{law}");
    // Filters: a house, an answering position.
    let (_, diet) = post("kanri", "/api/precedents", json!({"question": "コンビニ交付の手数料について問う。", "filters": {"houses": ["衆議院", "参議院"]}}));
    assert!(diet["groups"].as_array().unwrap().iter().flat_map(|g| g["exchanges"].as_array().unwrap()).all(|e| e["house"] != "架空市議会"), "{diet}");
    let (_, mayor) = post("kanri", "/api/precedents", json!({"question": "コンビニ交付の手数料について問う。", "filters": {"positions": ["市長"]}}));
    let by_mayor: Vec<&Value> = mayor["groups"].as_array().unwrap().iter().flat_map(|g| g["exchanges"].as_array().unwrap()).collect();
    assert!(!by_mayor.is_empty() && by_mayor.iter().all(|e| e["answerers"].to_string().contains("市長")), "{mayor}");
    // Bad requests.
    assert_eq!(post("kanri", "/api/precedents", json!({"question": ""})).0, 400);
    assert_eq!(post("kanri", "/api/precedents", json!({"question": "手数料", "limit": 0})).0, 400);
    assert_eq!(post("kanri", "/api/precedents", json!({"question": "手数料", "colour": 1})).0, 400);

    // The closed session's exchange (restricted/: level 2, group zaimu) only for zaimu and kanri.
    let secret = "処分の量定";
    let id = doc_id("kakuu-shigikai-himitsukai-r6.txt");
    for user in USERS {
        let (status, found) = post(user, "/api/precedents", json!({"question": "職員の懲戒処分の検討状況と処分の量定の考え方について問う。"}));
        assert_eq!(status, 200);
        let text = found.to_string();
        if ["zaimu", "kanri"].contains(&user) {
            assert!(text.contains(secret), "{user} misses the closed session: {text}");
        } else {
            assert!(!text.contains(secret), "{user} sees the closed session: {text}");
            assert!(!text.contains(&id), "{user} sees the closed session's id");
            assert!(!text.contains("秘密会"), "{user} learns a closed session exists: {text}");
        }
    }
    // Audited with what was shown.
    let (_, records) = get("kanri", "/api/audit?n=1000");
    assert!(
        records.as_array().unwrap().iter().any(|r| r["action"] == "precedents" && r["caller"] == "ippan" && r["abstained"].is_boolean()),
        "precedent searches are audited"
    );
}
