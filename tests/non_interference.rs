//! Non-interference: for a caller, every response of the service — results, their order and
//! scores, snippets, totals, statuses, answers, abstentions and document views — is the same as it
//! would be if the documents the caller may not see did not exist.
//!
//! The test indexes a world (the fixtures), records every response of two low-clearance users
//! over a fixed set of requests, adds documents those users may not see that are built to
//! interfere (the same words repeated, the same 文書番号 and titles, near-duplicates and an exact
//! copy of visible texts, an abolition of a visible circular), runs the indexer again over the same
//! index (an incremental run, as at night), and records the responses again. Only `took_ms` and
//! `answer_id` may differ. Both sides are exact here: the keyword side takes BM25 statistics over
//! what the caller may see, and the embedded vector store searches exactly up to
//! `EXACT_SEARCH_MAX_POINTS` points (above that its graph search is approximate; the README says
//! so).

mod common;

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

/// Callers below the hidden documents: clearance 1 without groups, and clearance 2 in 財政課.
const CALLERS: [&str; 2] = ["ippan", "zaimu"];

const QUERIES: [&str; 14] = [
    "住民票の写しの交付手数料はいくらですか",
    "住民票 手数料",
    "コンビニ交付",
    "戸籍の郵送請求",
    "印鑑登録証明書",
    "文書の保存期間",
    "テレワークの実施",
    "マイナ保険証",
    "予算査定",
    "人事評価",
    "防災",
    "休日開庁",
    "総務第１２号",
    "秘密 人事 懲戒",
];

const QUESTIONS: [&str; 6] = [
    "住民票の写しの交付手数料はいくらですか",
    "文書の保存期間は何年ですか",
    "テレワークは誰が申請しますか",
    "戸籍の郵送請求の手数料はどう納めますか",
    "懲戒処分の基準は何ですか",
    "火星の人口は何人ですか",
];

const AS_OF: &str = "2025-06-01";

/// One request: method, path, body (for POST).
type Request = (&'static str, String, Option<Value>);

fn requests(document_ids: &[String]) -> Vec<Request> {
    let mut out = Vec::new();
    for q in QUERIES {
        for mode in ["hybrid", "keyword", "vector"] {
            out.push(("POST", "/api/search".to_string(), Some(json!({"query": q, "mode": mode, "size": 10, "filters": {"as_of": AS_OF}}))));
        }
        out.push(("POST", "/api/search".to_string(), Some(json!({"query": q, "size": 5, "page": 2, "filters": {"as_of": AS_OF}}))));
        out.push(("POST", "/api/search".to_string(), Some(json!({"query": q, "filters": {"as_of": AS_OF, "all_versions": true, "doc_types": ["circular"]}}))));
    }
    for q in QUESTIONS {
        out.push(("POST", "/api/answer".to_string(), Some(json!({"question": q, "filters": {"as_of": AS_OF}}))));
    }
    for id in document_ids {
        out.push(("GET", format!("/api/documents/{id}?as_of={AS_OF}"), None));
    }
    out
}

/// Removes what may differ between two runs of the same request.
fn strip(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.remove("took_ms");
            map.remove("answer_id");
            map.values_mut().for_each(strip);
        }
        Value::Array(items) => items.iter_mut().for_each(strip),
        _ => {}
    }
}

fn call(base: &str, user: &str, (method, path, body): &Request) -> (u16, Value) {
    let auth = format!("Bearer dev-{user}");
    let url = format!("{base}{path}");
    let result = match body {
        Some(b) => ureq::post(&url).set("Authorization", &auth).send_json(b.clone()),
        None => ureq::request(method, &url).set("Authorization", &auth).call(),
    };
    let (status, text) = match result {
        Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(s, r)) => (s, r.into_string().unwrap_or_default()),
        Err(e) => panic!("transport error on {path}: {e}"),
    };
    let mut v = serde_json::from_str(&text).unwrap_or(Value::String(text));
    strip(&mut v);
    (status, v)
}

fn record(base: &str, users: &[&str], requests: &[Request]) -> Vec<(u16, Value)> {
    users.iter().flat_map(|user| requests.iter().map(move |r| call(base, user, r))).collect()
}

/// The requests whose responses differ, described.
fn differences(users: &[&str], requests: &[Request], before: &[(u16, Value)], after: &[(u16, Value)]) -> Vec<String> {
    let n = requests.len();
    let mut out = Vec::new();
    for (i, (b, a)) in before.iter().zip(after).enumerate() {
        if b != a {
            let (user, (method, path, body)) = (users[i / n], &requests[i % n]);
            out.push(format!("{user} {method} {path} {}\n  before: {}\n  after:  {}", body.clone().unwrap_or_default(), b.1, a.1));
        }
    }
    out
}

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

fn fixture(rel: &str) -> String {
    std::fs::read_to_string(common::repo().join("fixtures/docs").join(rel)).expect("fixture")
}

/// Documents neither caller may see, in three folders: level 3; level 1 but only for 人事課;
/// level 2 for 人事課.
fn write_hidden(root: &Path) -> Vec<PathBuf> {
    let secret = root.join("hidden-level3");
    let jinji1 = root.join("hidden-jinji-level1");
    let jinji2 = root.join("hidden-jinji-level2");
    write(&secret, "_access.toml", "level = 3\n");
    write(&jinji1, "_access.toml", "level = 1\ngroups = [\"jinji\"]\n");
    write(&jinji2, "_access.toml", "level = 2\ngroups = [\"jinji\"]\n");
    let words = "住民票 手数料 交付 コンビニ交付 戸籍 郵送 印鑑 保存期間 テレワーク 防災 予算 ".repeat(40);
    // The same words repeated: would lower these words' weight for everyone.
    write(&secret, "words.txt", &format!("住民票の写し等の交付手数料の取扱いについて（通知）\n\n{words}\n"));
    write(&jinji1, "words.txt", &format!("文書の保存期間について\n\n{words}\n"));
    // The same 文書番号 and date as the circular that 総務第１２３号 abolishes: would make that
    // abolition ambiguous, so the visible circular would read 現行 again.
    write(
        &jinji2,
        "same-number.txt",
        "総務第１２号\n令和２年４月１日\n\n人事課長　様\n\n架空市総務部長\n\n職員の旅費の取扱いについて（通知）\n\n　標記について、下記のとおり定めます。\n",
    );
    // The same title and a near-duplicate of a visible circular.
    let near = fixture("circulars/soumu-123-juminhyo-tesuryo-r6.md").replace("３００円", "５００円").replace("300円", "500円");
    write(&secret, "near-duplicate.md", &near);
    // An exact copy of a visible circular under a hidden label.
    write(&secret, "copy.txt", &fixture("circulars/soumu-30-hozon-kikan-r4.txt"));
    // A hidden circular that abolishes a visible one.
    write(
        &jinji1,
        "abolition.txt",
        "総務第２００号\n令和７年１月１０日\n\n各課長　様\n\n架空市総務部長\n\n文書の保存期間の取扱いについて（通知）\n\n　令和６年３月２９日付け総務第１４０号通知は、廃止する。令和４年４月１日付け総務第３０号通知は、廃止する。\n",
    );
    vec![secret, jinji1, jinji2]
}

/// Waits until the service serves `generation` (its reloader looks every second).
fn wait_for_generation(base: &str, generation: u64) {
    let want = format!("shirabe_index_generation {generation}\n");
    for _ in 0..300 {
        let metrics = ureq::get(&format!("{base}/metrics")).set("Authorization", "Bearer dev-kanri").call().ok().and_then(|r| r.into_string().ok());
        if metrics.is_some_and(|m| m.contains(&want)) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("the service did not pick up generation {generation} within 30 s");
}

fn document_ids(index_dir: &Path) -> Vec<String> {
    let current = std::fs::read_to_string(index_dir.join("CURRENT")).expect("CURRENT");
    let state: Value = serde_json::from_slice(&std::fs::read(index_dir.join(current.trim()).join("state.json")).expect("state.json")).expect("json");
    state["documents"].as_object().expect("documents").keys().cloned().collect()
}

#[test]
fn responses_do_not_change_when_hidden_documents_are_added() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut config = common::config();
    config.index_dir = Some(tmp.path().join("index"));
    config.users_file = Some(common::repo().join("fixtures/users.toml"));
    let fixtures = common::repo().join("fixtures/docs");
    common::index_all(&config, std::slice::from_ref(&fixtures));
    let visible_ids = document_ids(&tmp.path().join("index"));

    let hidden_roots = write_hidden(&tmp.path().join("share"));
    let mut sources = vec![fixtures.clone()];
    sources.extend(hidden_roots);

    // The first world, served.
    let mut serve_config = config.clone();
    serve_config.server.reload_interval_secs = 1;
    let base = common::start_service(serve_config, &tmp.path().join("serve"));
    // Requests name every document of the second world too, so a hidden document's view is
    // compared with that of an id that does not exist.
    let probe_dir = tempfile::tempdir().expect("tempdir");
    let mut probe_config = config.clone();
    probe_config.index_dir = Some(probe_dir.path().join("index"));
    common::index_all(&probe_config, &sources);
    let mut ids = document_ids(&probe_dir.path().join("index"));
    ids.sort();
    let hidden: Vec<String> = ids.iter().filter(|id| !visible_ids.contains(id)).cloned().collect();
    assert!(hidden.len() >= 6, "the hidden documents were indexed: {hidden:?}");
    let requests = requests(&ids);
    let before = record(&base, &CALLERS, &requests);
    // The control: 管理者 sees the hidden documents, so the same requests must change for them,
    // or the documents did not interfere and the test could only pass.
    let control_before = record(&base, &["kanri"], &requests);

    // The second world: the same index, one more nightly run with the hidden documents, picked
    // up by the running service as it picks up every night's generation. (A second service on
    // the same index is refused: a generation's vector store has one holder.)
    let report = common::index_all(&config, &sources);
    assert!(report.added.len() >= 6, "an incremental run added the hidden files: {:?}", report.added);
    let generation = report.generation.expect("a published generation");
    wait_for_generation(&base, generation);
    let after = record(&base, &CALLERS, &requests);
    let control_after = record(&base, &["kanri"], &requests);

    let leaks = differences(&CALLERS, &requests, &before, &after);
    let control = differences(&["kanri"], &requests, &control_before, &control_after);
    let answered = before.iter().filter(|(s, v)| *s == 200 && v.get("answerable") == Some(&Value::Bool(true))).count();
    let found = before.iter().filter(|(s, v)| *s == 200 && v.get("total").and_then(Value::as_u64).unwrap_or(0) > 0).count();
    eprintln!(
        "non-interference: {} requests ({} callers x {}), {} hidden documents, {found} searches with results, {answered} answers, \
         {} differences (control: {} of {} responses changed for a caller who sees the hidden documents)",
        before.len(),
        CALLERS.len(),
        requests.len(),
        hidden.len(),
        leaks.len(),
        control.len(),
        requests.len()
    );
    assert!(found > 40 && answered >= 2, "the request set exercises results and answers");
    assert!(control.len() * 4 >= requests.len(), "the hidden documents change at least a quarter of the responses of a caller who sees them");
    assert!(leaks.is_empty(), "{} responses changed when hidden documents were added:\n{}", leaks.len(), leaks.join("\n"));
}
