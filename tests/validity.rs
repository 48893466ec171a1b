//! Which rule is in force, over real HTTP: effective dates, abolitions and amendments read from
//! the fixture circulars, `as_of` ranking and labels, the succession chain, answers that prefer
//! documents in force, and labels that never reveal a restricted successor. Plus the phrases read
//! from real circulars and 告示 of the shared corpus.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::{json, Value};
use shirabe::model::DocType;

struct Service {
    base: String,
    gen_dir: PathBuf,
    _tmp: tempfile::TempDir,
}

/// A confidential notice of the personnel section that abolishes the public fee circular
/// (総務第１２３号) at the end of 令和６年. Only jinji-cleared callers may know it exists.
const SECRET: &str = "人事第９９号\n令和６年１２月２日\n\n各課長　様\n\n架空市総務部長\n\n証明書交付事務の民間委託に伴う手数料事務の取扱いについて（通知）\n\n　証明書交付事務の民間委託に伴い、手数料事務の取扱いを別途定める。\n　令和６年３月１５日付け総務第百二十三号通知は、令和６年１２月３１日限り廃止する。\n\n　この通知は、令和７年１月１日から施行する。\n";

fn service() -> &'static Service {
    static SERVICE: OnceLock<Service> = OnceLock::new();
    SERVICE.get_or_init(|| {
        let tmp = tempfile::tempdir().expect("tempdir");
        let src = tmp.path().join("src");
        let circulars = src.join("circulars");
        std::fs::create_dir_all(&circulars).expect("mkdir");
        for entry in std::fs::read_dir(common::repo().join("fixtures/docs/circulars")).expect("fixtures") {
            let path = entry.expect("entry").path();
            if path.is_file() {
                std::fs::copy(&path, circulars.join(path.file_name().expect("name"))).expect("copy");
            }
        }
        let laws = common::repo().join("fixtures/docs/laws");
        let secret = src.join("jinji");
        std::fs::create_dir_all(&secret).expect("mkdir");
        std::fs::write(secret.join("_access.toml"), "level = 3\ngroups = [\"jinji\"]\n").expect("write");
        std::fs::write(secret.join("jinji-99-itaku.txt"), SECRET).expect("write");

        let mut config = common::config();
        let data = tmp.path().join("data");
        config.index_dir = Some(data.join("index"));
        config.users_file = Some(common::repo().join("fixtures/users.toml"));
        let sources = vec![src, laws];
        common::index_all(&config, &sources);
        let index = data.join("index");
        let current = std::fs::read_to_string(index.join("CURRENT")).expect("CURRENT");
        let gen_dir = index.join(current.trim());
        let base = common::start_service(config, &data);
        Service { base, gen_dir, _tmp: tmp }
    })
}

fn post(user: &str, path: &str, body: Value) -> Value {
    let s = service();
    let resp = ureq::post(&format!("{}{path}", s.base))
        .set("Authorization", &format!("Bearer dev-{user}"))
        .send_json(body)
        .unwrap_or_else(|e| panic!("POST {path}: {e}"));
    resp.into_json().expect("json")
}

fn get(user: &str, path: &str) -> Value {
    let s = service();
    let resp = ureq::get(&format!("{}{path}", s.base)).set("Authorization", &format!("Bearer dev-{user}")).call().unwrap_or_else(|e| panic!("GET {path}: {e}"));
    resp.into_json().expect("json")
}

/// The id of the indexed document whose file name is `name`.
fn id_of(name: &str) -> String {
    let state: Value = serde_json::from_slice(&std::fs::read(service().gen_dir.join("state.json")).expect("state")).expect("json");
    state["documents"]
        .as_object()
        .expect("documents")
        .values()
        .find(|d| d["source_path"].as_str().is_some_and(|p| Path::new(p).file_name().is_some_and(|n| n == name)))
        .and_then(|d| d["id"].as_str())
        .unwrap_or_else(|| panic!("{name} not indexed"))
        .to_string()
}

fn search(user: &str, query: &str, filters: Value) -> Vec<Value> {
    post(user, "/api/search", json!({ "query": query, "filters": filters, "size": 20 }))["results"].as_array().cloned().unwrap_or_default()
}

fn position(results: &[Value], id: &str) -> usize {
    results.iter().position(|r| r["document"]["id"] == id).unwrap_or_else(|| panic!("{id} not in results"))
}

fn status_of<'a>(results: &'a [Value], id: &str) -> &'a Value {
    &results[position(results, id)]["status"]
}

const FEE: &str = "住民票の写しの交付手数料";

#[test]
fn abolished_circular_ranks_below_its_successor_and_is_labelled() {
    let (old, new) = (id_of("soumu-12-juminhyo-tesuryo-r2.txt"), id_of("soumu-123-juminhyo-tesuryo-r6.md"));
    let results = search("ippan", FEE, json!({ "as_of": "2024-06-01" }));
    assert!(position(&results, &new) < position(&results, &old), "successor first");
    let s = status_of(&results, &old);
    assert_eq!(s["state"], "superseded");
    assert_eq!(s["label"], "廃止済み");
    assert_eq!(s["successor"]["id"], new.as_str());
    // 「令和６年３月31日限り廃止」: abolished from the next day.
    assert_eq!(s["superseded_from"], "2024-04-01");
    assert_eq!(status_of(&results, &new)["state"], "in_force");
    assert_eq!(status_of(&results, &new)["abolishes"][0]["id"], old.as_str());
}

#[test]
fn as_of_a_past_date_shows_the_rule_then_in_force() {
    let (old, new) = (id_of("soumu-12-juminhyo-tesuryo-r2.txt"), id_of("soumu-123-juminhyo-tesuryo-r6.md"));
    let results = search("ippan", FEE, json!({ "as_of": "2023-01-01" }));
    assert_eq!(status_of(&results, &old)["state"], "in_force");
    let s = status_of(&results, &new);
    assert_eq!((s["state"].as_str(), s["label"].as_str(), s["effective"].as_str()), (Some("not_yet_in_force"), Some("未施行"), Some("2024-04-01")));
    assert!(position(&results, &old) < position(&results, &new), "the rule in force in 2023 comes first");
    // The day before the abolition applies, the old circular is still in force.
    let results = search("ippan", FEE, json!({ "as_of": "2024-03-31" }));
    assert_eq!(status_of(&results, &old)["state"], "in_force");
}

#[test]
fn all_versions_ranks_by_relevance_alone_but_keeps_labels() {
    let old = id_of("soumu-12-juminhyo-tesuryo-r2.txt");
    let current = search("ippan", FEE, json!({ "as_of": "2024-06-01" }));
    let all = search("ippan", FEE, json!({ "as_of": "2024-06-01", "all_versions": true }));
    let ids = |r: &[Value]| {
        let mut v: Vec<String> = r.iter().map(|x| x["document"]["id"].as_str().unwrap_or_default().to_string()).collect();
        v.sort();
        v
    };
    assert_eq!(ids(&current), ids(&all), "the option re-ranks, it neither adds nor removes");
    let scores: Vec<f64> = all.iter().map(|r| r["score"].as_f64().unwrap_or_default()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "pure relevance order: {scores:?}");
    assert_eq!(status_of(&all, &old)["label"], "廃止済み");
    // The default view moves documents but keeps their scores.
    let old_score = |r: &[Value]| r[position(r, &old)]["score"].as_f64().unwrap_or_default();
    assert_eq!(old_score(&current), old_score(&all));
}

#[test]
fn kanji_numerals_and_gannen_resolve_the_abolition() {
    // 「平成三十年四月二日付け市民第八号通知は、令和元年九月三十日限り廃止する」 cites 市民第８号.
    let (old, new) = (id_of("shimin-8-koseki-yuso-h30.txt"), id_of("shimin-21-koseki-yuso-r1.txt"));
    let doc = get("ippan", &format!("/api/documents/{old}?as_of=2020-01-01"));
    assert_eq!(doc["status"]["state"], "superseded");
    assert_eq!(doc["status"]["superseded_from"], "2019-10-01");
    let chain: Vec<&str> = doc["chain"].as_array().expect("chain").iter().filter_map(|d| d["id"].as_str()).collect();
    assert_eq!(chain, [old.as_str(), new.as_str()]);
    let doc = get("ippan", &format!("/api/documents/{new}?as_of=2020-01-01"));
    assert_eq!(doc["document"]["number"], "市民第二十一号");
    assert_eq!(doc["document"]["issued"], "2019-10-01");
    assert_eq!(doc["status"]["effective"], "2019-10-01");
    assert_eq!(doc["status"]["state"], "in_force");
    let doc = get("ippan", &format!("/api/documents/{old}?as_of=2019-09-30"));
    assert_eq!(doc["status"]["state"], "in_force", "in force through 令和元年九月三十日");
}

#[test]
fn amendments_are_listed_but_do_not_supersede() {
    let (base, amendment) = (id_of("soumu-30-hozon-kikan-r4.txt"), id_of("soumu-140-hozon-kikan-kaisei-r6.txt"));
    let doc = get("ippan", &format!("/api/documents/{base}?as_of=2024-06-01"));
    assert_eq!(doc["status"]["state"], "in_force");
    assert_eq!(doc["status"]["amended_by"][0]["id"], amendment.as_str());
    // The amendment applies from 令和６年４月１日; before that it is not listed.
    let doc = get("ippan", &format!("/api/documents/{base}?as_of=2024-03-01"));
    assert_eq!(doc["status"]["amended_by"], json!([]));
    let doc = get("ippan", &format!("/api/documents/{amendment}?as_of=2024-06-01"));
    assert_eq!(doc["status"]["amends"][0]["id"], base.as_str());
}

#[test]
fn law_effective_date_comes_from_its_original_supplementary_provisions() {
    let law = id_of("kakuu-shi-bunsho-kanri-jorei.xml");
    let doc = get("ippan", &format!("/api/documents/{law}?as_of=2024-01-01"));
    assert_eq!(doc["status"]["effective"], "2022-04-01");
    assert_eq!(doc["document"]["number"], "令和三年架空市条例第十五号");
    assert_eq!(doc["status"]["state"], "in_force");
}

#[test]
fn answers_cite_the_rule_in_force() {
    let old = id_of("soumu-12-juminhyo-tesuryo-r2.txt");
    let a = post("ippan", "/api/answer", json!({ "question": "住民票の写しの交付手数料はいくらですか", "filters": { "as_of": "2024-06-01" } }));
    assert_eq!(a["answerable"], true, "{a}");
    let cites = a["citations"].as_array().expect("citations");
    assert!(!cites.is_empty());
    for c in cites {
        assert_ne!(c["document_id"], old.as_str(), "an abolished circular is cited: {a}");
        assert_eq!(c["status"], "in_force", "{c}");
    }
}

#[test]
fn a_restricted_successor_is_invisible_in_labels() {
    let current = id_of("soumu-123-juminhyo-tesuryo-r6.md");
    let secret = id_of("jinji-99-itaku.txt");
    // ippan cannot see the personnel notice: for them the fee circular is simply in force, and
    // nothing in the response mentions the notice.
    let body = post("ippan", "/api/search", json!({ "query": FEE, "filters": { "as_of": "2025-06-01" }, "size": 20 }));
    let results = body["results"].as_array().expect("results");
    assert_eq!(status_of(results, &current)["state"], "in_force");
    let text = body.to_string();
    assert!(!text.contains(&secret) && !text.contains("人事第") && !text.contains("民間委託"), "leak: {text}");
    let doc = get("ippan", &format!("/api/documents/{current}?as_of=2025-06-01"));
    assert!(!doc.to_string().contains(&secret), "leak in the document view");
    // jinji sees it and gets the label and the successor.
    let results = search("jinji", FEE, json!({ "as_of": "2025-06-01" }));
    let s = status_of(&results, &current);
    assert_eq!(s["state"], "superseded");
    assert_eq!(s["successor"]["id"], secret.as_str());
    assert_eq!(s["superseded_from"], "2025-01-01");
}

/// Phrases read from real documents of the shared corpus (skipped without `../shared`).
#[test]
fn real_circulars_and_notices_of_the_shared_corpus() {
    let Some(shared) = common::shared_dir("real_circulars_and_notices_of_the_shared_corpus") else { return };
    let read = |name: &str| {
        let path = shared.join("corpus/pdf").join(name);
        let docs = shirabe::ingest::extract(&path, &shirabe::ingest::ExtractOptions::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let doc = docs.into_iter().next().expect("one document");
        let life = shirabe::govern::validity::read(doc.doc_type, &doc.sections, doc.issued);
        (doc, life)
    };
    let date = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date");

    // 保医発 circular (Shift-JIS font): amends 平成28年３月４日付け保医発0304第３号 from 平成29年10月１日.
    let (doc, life) = read("mhlw-tsuchi-kensaryo-2017-rksj.pdf");
    assert_eq!(doc.doc_type, DocType::Circular);
    assert_eq!(life.effective, Some(date("2017-10-01")), "{life:?}");
    let r = life.references.iter().find(|r| shirabe::govern::validity::number_key(&r.number) == shirabe::govern::validity::number_key("保医発0304第3号")).unwrap_or_else(|| panic!("{life:?}"));
    assert_eq!((r.kind, r.date), (shirabe::govern::validity::RelationKind::Amends, Some(date("2016-03-04"))));

    // 告示 in vertical text: amends 平成二十年厚生労働省告示第六十三号 from 令和二年四月一日.
    let (_, life) = read("mhlw-kokuji-tokkei-shisetsu-kijun-2020-vertical.pdf");
    assert_eq!(life.effective, Some(date("2020-04-01")), "{:?}", life.effective);
    let r = life.references.iter().find(|r| shirabe::govern::validity::number_key(&r.number) == "厚生労働省告示第63号").unwrap_or_else(|| panic!("{:?}", life.references));
    assert_eq!((r.kind, r.year), (shirabe::govern::validity::RelationKind::Amends, Some(2008)));
    // Citations that only explain a rule (「…（令和二年厚生労働省告示第五十八号）による改正前の」) are not actions.
    assert!(life.references.iter().all(|r| shirabe::govern::validity::number_key(&r.number) != "厚生労働省告示第58号"), "{:?}", life.references);

    // e-Gov law XML: law number, promulgation date, 施行 from the original 附則, amending laws.
    let law = |name: &str| {
        let docs = shirabe::ingest::extract(&shared.join("corpus/xml").join(name), &shirabe::ingest::ExtractOptions::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let doc = docs.into_iter().next().expect("one law");
        let life = shirabe::govern::validity::read(doc.doc_type, &doc.sections, doc.issued);
        (doc, life)
    };
    let (doc, life) = law("kokka-baisho-ho.xml");
    assert_eq!((doc.number.as_deref(), doc.issued), (Some("昭和二十二年法律第百二十五号"), Some(date("1947-10-27"))));
    assert_eq!(life.effective, Some(date("1947-10-27")), "「公布の日から、これを施行する」");
    let (doc, life) = law("gyosei-fufuku-shinsa-ho.xml");
    assert_eq!(doc.doc_type, DocType::Law);
    assert_eq!(life.effective, None, "施行 on a day set by 政令: no date in the text");
    assert!(life.amended_by_laws.iter().any(|l| l == "平成二九年三月三一日法律第四号"), "{:?}", life.amended_by_laws);
    assert_eq!(life.amended_by_laws.len(), 5, "{:?}", life.amended_by_laws);
}
