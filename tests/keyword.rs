//! The keyword index on its own, in memory: every filter dimension (access level, groups, document
//! type, issuer, issue date, document ids) is applied inside tantivy, and what a search returns is
//! exactly the matching passages that a brute-force reading of the same filter allows.

mod common;

use chrono::NaiveDate;
use shirabe::index::keyword::{days, KeywordIndex, PreparedQuery};
use shirabe::model::{Access, DocType, Document, Filter, Passage};

/// (id, type, issuer, issued, level, groups): twelve documents over every combination that
/// matters, each with one passage that mentions 手数料.
fn documents() -> Vec<Document> {
    let rows: [(&str, DocType, &str, (i32, u32, u32), u8, &[&str]); 12] = [
        ("c1", DocType::Circular, "総務部長", (2020, 4, 1), 1, &[]),
        ("c2", DocType::Circular, "総務部長", (2024, 4, 1), 2, &[]),
        ("c3", DocType::Circular, "財務部長", (2024, 6, 1), 3, &[]),
        ("c4", DocType::Circular, "人事課長", (2023, 1, 10), 2, &["jinji"]),
        ("c5", DocType::Circular, "人事課長", (2023, 2, 10), 3, &["jinji", "kanri"]),
        ("n1", DocType::Notice, "市長", (2019, 5, 1), 1, &[]),
        ("n2", DocType::Notice, "市長", (2021, 3, 31), 1, &["zaimu"]),
        ("l1", DocType::Law, "国", (2014, 6, 13), 1, &[]),
        ("l2", DocType::Law, "国", (1993, 11, 12), 1, &[]),
        ("g1", DocType::Guideline, "総務部長", (2022, 9, 1), 2, &["zaimu"]),
        ("m1", DocType::Minutes, "議会事務局", (2024, 6, 12), 1, &[]),
        ("w1", DocType::WhitePaper, "財務部長", (2024, 12, 1), 3, &[]),
    ];
    rows.iter()
        .map(|(id, doc_type, issuer, (y, m, d), level, groups)| Document {
            id: (*id).into(),
            title: format!("{id} の文書"),
            doc_type: *doc_type,
            issuer: Some((*issuer).into()),
            issued: NaiveDate::from_ymd_opt(*y, *m, *d),
            number: None,
            source_path: format!("{id}.txt"),
            content_hash: String::new(),
            access: Access { level: *level, groups: groups.iter().map(|g| (*g).to_string()).collect() },
            effective: None,
            references: Vec::new(),
            amended_by_laws: Vec::new(),
            exchange: None,
        })
        .collect()
}

fn passage(doc: &Document) -> Passage {
    let text = format!("{} の交付手数料は一通三百円とする。", doc.id);
    Passage { id: Passage::make_id(&doc.id, 0), doc_id: doc.id.clone(), ordinal: 0, end: text.chars().count(), text, page: None, anchor: None, start: 0 }
}

/// The filter read the slow way, document by document.
fn allowed(filter: &Filter, doc: &Document) -> bool {
    let issued = doc.issued.map(days);
    filter.allows(&doc.access)
        && (filter.doc_types.is_empty() || filter.doc_types.iter().any(|t| t == doc.doc_type.as_str()))
        && (filter.issuers.is_empty() || doc.issuer.as_ref().is_some_and(|i| filter.issuers.contains(i)))
        && filter.issued_from.is_none_or(|from| issued.is_some_and(|d| d >= from))
        && filter.issued_to.is_none_or(|to| issued.is_some_and(|d| d <= to))
        && filter.doc_ids.as_ref().is_none_or(|ids| ids.contains(&doc.id))
}

#[test]
fn every_filter_dimension_is_applied_inside_the_index() {
    let analyzers = common::analyzers();
    let index = KeywordIndex::in_memory(&analyzers).expect("in-memory index");
    let docs = documents();
    let mut writer = index.writer().expect("writer");
    for doc in &docs {
        writer.add(doc, &[passage(doc)]).expect("add");
    }
    writer.commit().expect("commit");
    index.reload().expect("reload");
    assert_eq!(index.num_passages(), docs.len() as u64);

    let query = PreparedQuery::new(&analyzers, "交付手数料");
    let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).map(days);
    let mut filters = Vec::new();
    for (clearance, groups) in [(1u8, vec![]), (2, vec![]), (3, vec![]), (2, vec!["jinji"]), (3, vec!["jinji"]), (1, vec!["zaimu"]), (3, vec!["kanri", "zaimu"])] {
        let base = Filter::for_caller(clearance, groups.into_iter().map(String::from).collect());
        filters.push(base.clone());
        filters.push(Filter { doc_types: vec!["circular".into()], ..base.clone() });
        filters.push(Filter { doc_types: vec!["law".into(), "notice".into()], ..base.clone() });
        filters.push(Filter { issuers: vec!["人事課長".into(), "市長".into()], ..base.clone() });
        filters.push(Filter { issued_from: day(2021, 1, 1), ..base.clone() });
        filters.push(Filter { issued_from: day(2019, 5, 1), issued_to: day(2023, 1, 10), ..base.clone() });
        filters.push(Filter { doc_ids: Some(vec!["c3".into(), "n2".into(), "l1".into()]), ..base.clone() });
        filters.push(Filter { doc_types: vec!["circular".into()], issuers: vec!["人事課長".into()], issued_to: day(2023, 1, 31), ..base });
    }
    for filter in &filters {
        let mut found: Vec<String> = index.search(&query, filter, 100).expect("search").into_iter().map(|h| h.doc_id).collect();
        found.sort();
        let mut expected: Vec<String> = docs.iter().filter(|d| allowed(filter, d)).map(|d| d.id.clone()).collect();
        expected.sort();
        assert_eq!(found, expected, "{filter:?}");
        // Fetching passages by id never returns one the caller may not see, and a document's
        // passages obey the whole filter.
        let ids: Vec<String> = docs.iter().map(|d| Passage::make_id(&d.id, 0)).collect();
        let mut fetched: Vec<String> = index.passages(&ids, filter).expect("passages").into_iter().map(|p| p.doc_id).collect();
        fetched.sort();
        assert!(fetched.iter().all(|id| docs.iter().any(|d| &d.id == id && filter.allows(&d.access))), "passages() returned a passage the caller may not see: {fetched:?} for {filter:?}");
        for doc in &docs {
            let shown = index.document_passages(&doc.id, filter).expect("document passages");
            assert_eq!(!shown.is_empty(), allowed(filter, doc), "document_passages({}) for {filter:?}", doc.id);
        }
    }
}
