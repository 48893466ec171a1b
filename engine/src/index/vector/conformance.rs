//! One conformance suite for every [`VectorStore`] backend, plus the throughput/latency measurement
//! the benchmark calls.
//!
//! The suite loads a deterministic fixture (pseudo-random unit vectors, payloads covering every
//! filter dimension) and compares each engine answer with a brute-force oracle: [`visible`] is the
//! reference semantics of [`VectorFilter`], [`brute_force`] the exact cosine top-k over the visible
//! points. The unit tests at the bottom run it on [`EmbeddedStore`](super::EmbeddedStore) in a
//! temporary directory, and on [`ServerStore`](super::ServerStore) when `QDRANT_URL` is set
//! (otherwise that test prints `SKIPPED: …` and returns, by project convention).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use rand_distr::{Distribution, StandardNormal};

use super::{PassagePayload, VectorError, VectorFilter, VectorHit, VectorPoint, VectorStore, DIM};

// ---------------------------------------------------------------------------------------------
// Deterministic data
// ---------------------------------------------------------------------------------------------

/// The suite's fixtures come from seeded generators, so they are identical on every run and
/// backend.
fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

fn normalize(v: &mut [f32]) {
    let norm = v
        .iter()
        .map(|x| f64::from(*x) * f64::from(*x))
        .sum::<f64>()
        .sqrt();
    if norm > 0.0 {
        v.iter_mut()
            .for_each(|x| *x = (f64::from(*x) / norm) as f32);
    }
}

/// A deterministic pseudo-random unit vector, uniform on the sphere.
pub fn unit_vector(seed: u64) -> Vec<f32> {
    let mut rng = rng(seed);
    let mut v: Vec<f32> = (0..DIM).map(|_| StandardNormal.sample(&mut rng)).collect();
    normalize(&mut v);
    v
}

/// `weight * base + noise`, renormalised: a vector whose cosine to `base` is controlled.
pub fn blend(base: &[f32], weight: f32, noise_seed: u64) -> Vec<f32> {
    let noise = unit_vector(noise_seed);
    let mut v: Vec<f32> = base
        .iter()
        .zip(&noise)
        .map(|(b, n)| weight * b + n)
        .collect();
    normalize(&mut v);
    v
}

/// Exact cosine similarity, in f64.
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

const DOC_TYPES: [&str; 4] = ["通知", "告示", "答申", "議事録"];
const ISSUERS: [Option<&str>; 4] = [Some("総務省"), Some("国税庁"), Some("経済産業省"), None];
/// The query the pre-filter check is built around.
const PREFILTER_QUERY_SEED: u64 = 999;
/// Passages per ordinary fixture document.
const PASSAGES_PER_DOC: usize = 8;
/// Size of the document used to exercise scroll pagination (more than one page).
const BULK_DOC_PASSAGES: usize = 530;

#[allow(clippy::too_many_arguments)] // one argument per payload field reads best in the fixture tables
fn passage(
    doc_id: &str,
    j: usize,
    doc_type: &str,
    issuer: Option<&str>,
    issued: Option<i64>,
    level: u8,
    groups: &[&str],
    vector: Vec<f32>,
) -> VectorPoint {
    VectorPoint {
        payload: PassagePayload {
            passage_id: format!("{doc_id}#p{j:03}"),
            doc_id: doc_id.to_owned(),
            doc_type: doc_type.to_owned(),
            issuer: issuer.map(str::to_owned),
            issued,
            level,
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        },
        vector,
    }
}

/// The suite's fixture: 20 ordinary documents × 8 passages with every payload combination, the
/// pre-filter pair (`near-doc`: 50 level-3 passages right next to the pre-filter query; `far-doc`:
/// 5 level-1 passages farther away), and `bulk-doc` with 530 passages.
pub fn fixture() -> Vec<VectorPoint> {
    let mut points = Vec::new();
    for i in 0..20usize {
        let doc_id = format!("doc-{i:03}");
        for j in 0..PASSAGES_PER_DOC {
            let groups: &[&str] = match (i + 2 * j) % 4 {
                0 => &[],
                1 => &["g1"],
                2 => &["g2", "g3"],
                _ => &["g1", "g3"],
            };
            let issued = if i % 5 == 4 {
                None
            } else {
                Some(18_000 + 30 * i as i64 + j as i64)
            };
            points.push(passage(
                &doc_id,
                j,
                DOC_TYPES[i % 4],
                ISSUERS[(i * 7 + 3) % 4],
                issued,
                1 + ((i + j) % 3) as u8,
                groups,
                unit_vector(1_000 + (i * PASSAGES_PER_DOC + j) as u64),
            ));
        }
    }
    let q = unit_vector(PREFILTER_QUERY_SEED);
    for j in 0..50 {
        points.push(passage(
            "near-doc",
            j,
            "通知",
            Some("総務省"),
            Some(19_000),
            3,
            &[],
            blend(&q, 20.0, 5_000 + j as u64),
        ));
    }
    for j in 0..5 {
        points.push(passage(
            "far-doc",
            j,
            "通知",
            Some("総務省"),
            Some(19_000),
            1,
            &[],
            blend(&q, 0.5, 6_000 + j as u64),
        ));
    }
    for j in 0..BULK_DOC_PASSAGES {
        points.push(passage(
            "bulk-doc",
            j,
            "告示",
            Some("国税庁"),
            Some(17_000),
            2,
            &[],
            unit_vector(10_000 + j as u64),
        ));
    }
    points
}

// ---------------------------------------------------------------------------------------------
// The oracle
// ---------------------------------------------------------------------------------------------

/// Reference semantics of [`VectorFilter`]: is this passage visible under this filter?
pub fn visible(p: &PassagePayload, f: &VectorFilter) -> bool {
    let in_list = |list: &[String], v: &str| list.is_empty() || list.iter().any(|x| x == v);
    p.level <= f.max_level
        && (p.groups.is_empty() || p.groups.iter().any(|g| f.groups.contains(g)))
        && in_list(&f.doc_types, &p.doc_type)
        && (f.issuers.is_empty() || p.issuer.as_ref().is_some_and(|i| f.issuers.contains(i)))
        && (f.issued_from.is_none() || p.issued.is_some_and(|d| Some(d) >= f.issued_from))
        && (f.issued_to.is_none() || p.issued.is_some_and(|d| Some(d) <= f.issued_to))
        && f.doc_ids.as_ref().is_none_or(|ids| ids.contains(&p.doc_id))
}

/// Exact top-`limit` (passage id, cosine) over the visible points, best first.
pub fn brute_force(
    points: &[VectorPoint],
    query: &[f32],
    filter: &VectorFilter,
    limit: usize,
) -> Vec<(String, f64)> {
    let mut scored: Vec<(String, f64)> = points
        .iter()
        .filter(|p| visible(&p.payload, filter))
        .map(|p| (p.payload.passage_id.clone(), cosine(query, &p.vector)))
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    scored.truncate(limit);
    scored
}

/// Score tolerance between the engine (f32, normalised storage) and the f64 oracle.
const SCORE_EPS: f64 = 1e-4;

/// Compares engine hits with the oracle: same length, every hit visible with its true score,
/// scores non-increasing and equal rank by rank (so the set is right up to exact ties).
fn compare(
    label: &str,
    hits: &[VectorHit],
    points: &[VectorPoint],
    query: &[f32],
    filter: &VectorFilter,
    limit: usize,
) -> Result<(), String> {
    let expected = brute_force(points, query, filter, limit);
    let by_id: HashMap<&str, &VectorPoint> = points
        .iter()
        .map(|p| (p.payload.passage_id.as_str(), p))
        .collect();
    if hits.len() != expected.len() {
        return Err(format!(
            "{label}: got {} hits, expected {} (first expected: {:?})",
            hits.len(),
            expected.len(),
            expected.iter().take(3).collect::<Vec<_>>()
        ));
    }
    let mut seen = HashSet::new();
    for (rank, (hit, (exp_id, exp_score))) in hits.iter().zip(&expected).enumerate() {
        let Some(p) = by_id.get(hit.passage_id.as_str()) else {
            return Err(format!(
                "{label}: rank {rank}: unknown passage {:?}",
                hit.passage_id
            ));
        };
        if !seen.insert(hit.passage_id.as_str()) {
            return Err(format!(
                "{label}: passage {:?} returned twice",
                hit.passage_id
            ));
        }
        if !visible(&p.payload, filter) {
            return Err(format!(
                "{label}: rank {rank}: {:?} is not visible under {filter:?}",
                hit.passage_id
            ));
        }
        if hit.doc_id != p.payload.doc_id {
            return Err(format!(
                "{label}: {:?} reported doc {:?}, stored {:?}",
                hit.passage_id, hit.doc_id, p.payload.doc_id
            ));
        }
        let true_score = cosine(query, &p.vector);
        if (f64::from(hit.score) - true_score).abs() > SCORE_EPS {
            return Err(format!(
                "{label}: {:?} scored {} but its cosine is {true_score}",
                hit.passage_id, hit.score
            ));
        }
        if (f64::from(hit.score) - exp_score).abs() > SCORE_EPS {
            return Err(format!(
                "{label}: rank {rank}: got {:?} ({}), expected {exp_id:?} ({exp_score})",
                hit.passage_id, hit.score
            ));
        }
        if rank > 0 && hit.score > hits[rank - 1].score + 1e-6 {
            return Err(format!(
                "{label}: scores not in descending order at rank {rank}"
            ));
        }
    }
    Ok(())
}

fn all_groups() -> Vec<String> {
    ["g1", "g2", "g3"].iter().map(|s| (*s).to_owned()).collect()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

/// Filters covering every dimension alone and combined, with inclusive date bounds that land
/// exactly on stored dates (18063 = doc-002#p003, 18185 = doc-006#p005). Long because it is a
/// table: one entry per case, read top to bottom.
pub fn filter_cases() -> Vec<(&'static str, VectorFilter)> {
    let open = VectorFilter {
        max_level: 3,
        groups: all_groups(),
        ..VectorFilter::default()
    };
    vec![
        ("open", open.clone()),
        (
            "level<=1, public only",
            VectorFilter {
                max_level: 1,
                ..VectorFilter::default()
            },
        ),
        (
            "level<=2, groups g1",
            VectorFilter {
                max_level: 2,
                groups: strings(&["g1"]),
                ..VectorFilter::default()
            },
        ),
        (
            "groups g3",
            VectorFilter {
                max_level: 3,
                groups: strings(&["g3"]),
                ..VectorFilter::default()
            },
        ),
        (
            "unknown group = public only",
            VectorFilter {
                max_level: 3,
                groups: strings(&["nobody"]),
                ..VectorFilter::default()
            },
        ),
        (
            "doc_type 通知",
            VectorFilter {
                doc_types: strings(&["通知"]),
                ..open.clone()
            },
        ),
        (
            "doc_type 通知|答申",
            VectorFilter {
                doc_types: strings(&["通知", "答申"]),
                ..open.clone()
            },
        ),
        (
            "issuer 国税庁",
            VectorFilter {
                issuers: strings(&["国税庁"]),
                ..open.clone()
            },
        ),
        (
            "issuer 国税庁|総務省 + 告示",
            VectorFilter {
                issuers: strings(&["国税庁", "総務省"]),
                doc_types: strings(&["告示"]),
                ..open.clone()
            },
        ),
        (
            "issued >= 18063",
            VectorFilter {
                issued_from: Some(18_063),
                ..open.clone()
            },
        ),
        (
            "issued <= 18185",
            VectorFilter {
                issued_to: Some(18_185),
                ..open.clone()
            },
        ),
        (
            "18063 <= issued <= 18185",
            VectorFilter {
                issued_from: Some(18_063),
                issued_to: Some(18_185),
                ..open.clone()
            },
        ),
        (
            "doc_ids",
            VectorFilter {
                doc_ids: Some(strings(&["doc-003", "doc-007", "near-doc"])),
                ..open.clone()
            },
        ),
        (
            "combined",
            VectorFilter {
                doc_types: strings(&["通知", "答申"]),
                issuers: strings(&["総務省", "経済産業省"]),
                issued_from: Some(18_000),
                issued_to: Some(18_500),
                max_level: 2,
                groups: strings(&["g2"]),
                doc_ids: Some(strings(&[
                    "doc-000", "doc-002", "doc-008", "doc-010", "doc-012", "doc-016",
                ])),
            },
        ),
        (
            "max_level 0 sees nothing",
            VectorFilter {
                groups: all_groups(),
                ..VectorFilter::default()
            },
        ),
        (
            "doc_ids empty",
            VectorFilter {
                doc_ids: Some(Vec::new()),
                ..open.clone()
            },
        ),
        (
            "empty date range",
            VectorFilter {
                issued_from: Some(18_064),
                issued_to: Some(18_062),
                ..open
            },
        ),
    ]
}

fn queries(points: &[VectorPoint]) -> Vec<(String, Vec<f32>)> {
    let mut q = vec![
        (
            "prefilter query".to_owned(),
            unit_vector(PREFILTER_QUERY_SEED),
        ),
        ("random A".to_owned(), unit_vector(77)),
        ("random B".to_owned(), unit_vector(78)),
    ];
    for id in ["doc-005#p002", "doc-013#p007"] {
        if let Some(p) = points.iter().find(|p| p.payload.passage_id == id) {
            q.push((format!("= {id}"), p.vector.clone()));
        }
    }
    q
}

/// Checks that the store holds exactly `expected`: count, per-document ids, and every filter case
/// against the oracle (limit 10 and "everything visible").
pub fn check_contents(store: &dyn VectorStore, expected: &[VectorPoint]) -> Result<(), String> {
    let count = store.count().map_err(|e| format!("count: {e}"))?;
    if count != expected.len() as u64 {
        return Err(format!("count is {count}, expected {}", expected.len()));
    }
    let mut by_doc: HashMap<&str, Vec<String>> = HashMap::new();
    for p in expected {
        by_doc
            .entry(p.payload.doc_id.as_str())
            .or_default()
            .push(p.payload.passage_id.clone());
    }
    for (doc, ids) in &mut by_doc {
        let mut got = store
            .passage_ids_of(doc)
            .map_err(|e| format!("passage_ids_of({doc}): {e}"))?;
        got.sort();
        ids.sort();
        if &got != ids {
            return Err(format!(
                "passage_ids_of({doc}): got {} ids, expected {}",
                got.len(),
                ids.len()
            ));
        }
    }
    for (qlabel, q) in queries(expected) {
        for (flabel, f) in filter_cases() {
            for limit in [10, expected.len() + 10] {
                let hits = store
                    .search(&q, &f, limit)
                    .map_err(|e| format!("search [{flabel}] [{qlabel}]: {e}"))?;
                compare(
                    &format!("[{flabel}] [{qlabel}] limit {limit}"),
                    &hits,
                    expected,
                    &q,
                    &f,
                    limit,
                )?;
            }
        }
    }
    Ok(())
}

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

/// The full suite. The store must be empty. Returns the points it leaves stored, so a backend
/// test can reopen the store and call [`check_contents`] again. One function on purpose: the
/// checks run in this order against one store, each building on what the previous left stored.
pub fn run_conformance(store: &dyn VectorStore) -> Result<Vec<VectorPoint>, String> {
    let open = VectorFilter {
        max_level: 3,
        groups: all_groups(),
        ..VectorFilter::default()
    };
    ensure!(
        store.count().map_err(|e| e.to_string())? == 0,
        "the store under test must start empty"
    );
    ensure!(
        store
            .search(&unit_vector(1), &open, 10)
            .map_err(|e| e.to_string())?
            .is_empty(),
        "empty store returned hits"
    );

    // upsert + count, in several calls
    let mut points = fixture();
    for batch in points.chunks(100) {
        store.upsert(batch).map_err(|e| format!("upsert: {e}"))?;
    }
    let n = points.len() as u64;
    ensure!(
        store.count().map_err(|e| e.to_string())? == n,
        "count after upsert is not {n}"
    );

    // idempotent re-upsert: same ids, same count
    store
        .upsert(&points[..300])
        .map_err(|e| format!("re-upsert: {e}"))?;
    ensure!(
        store.count().map_err(|e| e.to_string())? == n,
        "re-upsert changed the count"
    );

    // a query equal to a stored vector finds it first with cosine ≈ 1
    let target = points
        .iter()
        .find(|p| p.payload.passage_id == "doc-005#p002")
        .ok_or("fixture lacks doc-005#p002")?;
    let hits = store
        .search(&target.vector, &open, 5)
        .map_err(|e| e.to_string())?;
    ensure!(
        hits.first().is_some_and(|h| h.passage_id == "doc-005#p002"
            && h.doc_id == "doc-005"
            && h.score > 0.999),
        "identical vector is not first with score ≈ 1: {:?}",
        hits.first()
    );

    // filters apply before top-k: the 50 nearest passages are level 3, the 5 visible ones farther
    let q = unit_vector(PREFILTER_QUERY_SEED);
    let hits = store
        .search(
            &q,
            &VectorFilter {
                max_level: 1,
                ..VectorFilter::default()
            },
            5,
        )
        .map_err(|e| e.to_string())?;
    ensure!(
        hits.len() == 5 && hits.iter().all(|h| h.doc_id == "far-doc"),
        "pre-filter: limit 5 with max_level 1 must return the 5 far-doc passages, got {:?}",
        hits.iter().map(|h| &h.passage_id).collect::<Vec<_>>()
    );
    let top = store.search(&q, &open, 50).map_err(|e| e.to_string())?;
    ensure!(
        top.iter().all(|h| h.doc_id == "near-doc"),
        "the unfiltered top 50 should all be near-doc"
    );

    // inclusive date bounds, explicitly
    for (day, id) in [(18_063, "doc-002#p003"), (18_185, "doc-006#p005")] {
        let f = VectorFilter {
            issued_from: Some(day),
            issued_to: Some(day),
            ..open.clone()
        };
        let hits = store.search(&q, &f, 10).map_err(|e| e.to_string())?;
        ensure!(
            hits.len() == 1 && hits[0].passage_id == id,
            "issued == {day} should match exactly {id}, got {hits:?}"
        );
    }

    // every filter kind against the oracle
    check_contents(store, &points)?;

    // re-upsert with a changed payload replaces it
    for p in points.iter_mut().filter(|p| p.payload.doc_id == "doc-001") {
        p.payload.doc_type = "改定通知".into();
        p.payload.level = 1;
        p.payload.groups.clear();
    }
    let changed: Vec<VectorPoint> = points
        .iter()
        .filter(|p| p.payload.doc_id == "doc-001")
        .cloned()
        .collect();
    store
        .upsert(&changed)
        .map_err(|e| format!("update upsert: {e}"))?;
    let f = VectorFilter {
        doc_types: strings(&["改定通知"]),
        max_level: 1,
        ..VectorFilter::default()
    };
    let hits = store.search(&q, &f, 100).map_err(|e| e.to_string())?;
    ensure!(
        hits.len() == PASSAGES_PER_DOC && hits.iter().all(|h| h.doc_id == "doc-001"),
        "updated payload not visible: {hits:?}"
    );
    ensure!(
        store.count().map_err(|e| e.to_string())? == n,
        "payload update changed the count"
    );

    // invalid input is rejected and changes nothing
    let err = store.search(&q[..10], &open, 5).err();
    ensure!(
        matches!(err, Some(VectorError::WrongDimension { got: 10, .. })),
        "short query: {err:?}"
    );
    let mut bad = changed[0].clone();
    bad.vector.push(0.0);
    let err = store.upsert(&[changed[1].clone(), bad]).err();
    ensure!(
        matches!(err, Some(VectorError::WrongDimension { got: 385, .. })),
        "long vector: {err:?}"
    );
    let mut nan = changed[0].clone();
    nan.vector[7] = f32::NAN;
    ensure!(
        matches!(store.upsert(&[nan]), Err(VectorError::InvalidVector { .. })),
        "NaN vector accepted"
    );
    ensure!(
        store
            .search(&q, &open, 0)
            .map_err(|e| e.to_string())?
            .is_empty(),
        "limit 0 returned hits"
    );
    ensure!(
        store.count().map_err(|e| e.to_string())? == n,
        "rejected upserts changed the count"
    );

    // concurrent readers and a writer
    check_concurrent(store, &points)?;

    // delete_documents
    store.delete_documents(&[]).map_err(|e| e.to_string())?;
    store
        .delete_documents(&strings(&["doc-003", "bulk-doc", "no-such-doc"]))
        .map_err(|e| format!("delete_documents: {e}"))?;
    points.retain(|p| p.payload.doc_id != "doc-003" && p.payload.doc_id != "bulk-doc");
    for doc in ["doc-003", "bulk-doc"] {
        ensure!(
            store
                .passage_ids_of(doc)
                .map_err(|e| e.to_string())?
                .is_empty(),
            "{doc} still has passages"
        );
    }
    check_contents(store, &points)?;

    // optimize, then everything still holds
    store.optimize().map_err(|e| format!("optimize: {e}"))?;
    check_contents(store, &points)?;
    store.flush().map_err(|e| format!("flush: {e}"))?;
    Ok(points)
}

/// Four threads search (checking each answer against the filter semantics) while the calling
/// thread upserts and then deletes two extra documents.
fn check_concurrent(store: &dyn VectorStore, points: &[VectorPoint]) -> Result<(), String> {
    let extra: Vec<VectorPoint> = (0..2)
        .flat_map(|d| {
            (0..40).map(move |j| {
                passage(
                    &format!("conc-{d}"),
                    j,
                    "通知",
                    Some("総務省"),
                    Some(18_100),
                    1,
                    &[],
                    unit_vector(50_000 + d * 100 + j as u64),
                )
            })
        })
        .collect();
    let cases = filter_cases();
    let by_id: HashMap<&str, &PassagePayload> = points
        .iter()
        .chain(&extra)
        .map(|p| (p.payload.passage_id.as_str(), &p.payload))
        .collect();
    std::thread::scope(|s| {
        let readers: Vec<_> = (0..4u64)
            .map(|t| {
                let cases = &cases;
                let by_id = &by_id;
                s.spawn(move || -> Result<(), String> {
                    for round in 0..15u64 {
                        let (label, f) = &cases[((t * 7 + round) as usize) % cases.len()];
                        let hits = store
                            .search(&unit_vector(t * 1000 + round), f, 20)
                            .map_err(|e| e.to_string())?;
                        for w in hits.windows(2) {
                            if w[0].score + 1e-6 < w[1].score {
                                return Err(format!("concurrent [{label}]: unsorted hits"));
                            }
                        }
                        for h in &hits {
                            let p = by_id
                                .get(h.passage_id.as_str())
                                .ok_or(format!("unknown hit {}", h.passage_id))?;
                            ensure!(
                                visible(p, f),
                                "concurrent [{label}]: invisible hit {}",
                                h.passage_id
                            );
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        let writer = (|| -> Result<(), String> {
            for chunk in extra.chunks(10) {
                store
                    .upsert(chunk)
                    .map_err(|e| format!("concurrent upsert: {e}"))?;
            }
            store
                .delete_documents(&strings(&["conc-0", "conc-1"]))
                .map_err(|e| format!("concurrent delete: {e}"))
        })();
        for r in readers {
            r.join()
                .map_err(|_| "a reader thread panicked".to_owned())??;
        }
        writer
    })?;
    let count = store.count().map_err(|e| e.to_string())?;
    ensure!(
        count == points.len() as u64,
        "after the concurrent phase count is {count}, expected {}",
        points.len()
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Measurement
// ---------------------------------------------------------------------------------------------

/// Latency summary of a batch of searches.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    pub p50: Duration,
    pub p95: Duration,
    pub mean: Duration,
}

impl Latency {
    fn of(mut samples: Vec<Duration>) -> Self {
        samples.sort();
        let at = |q: f64| {
            samples
                .get(((samples.len() as f64 - 1.0) * q).round() as usize)
                .copied()
                .unwrap_or_default()
        };
        let total: Duration = samples.iter().sum();
        Latency {
            p50: at(0.5),
            p95: at(0.95),
            mean: total / samples.len().max(1) as u32,
        }
    }
}

/// What [`measure`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    pub points: usize,
    pub upsert_points_per_s: f64,
    pub flush: Duration,
    pub optimize: Duration,
    /// Restrictive filter (one doc type, level ≤ 2, one group) before and after optimize.
    pub filtered_before: Latency,
    pub filtered_after: Latency,
    /// Permissive filter (all levels and groups) after optimize.
    pub open_after: Latency,
    /// Mean recall@10 of the filtered searches after optimize against exact brute force.
    pub filtered_recall_at_10: f64,
}

impl std::fmt::Display for Measurement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        writeln!(f, "points: {}", self.points)?;
        writeln!(
            f,
            "upsert: {:.0} points/s (batches of 256)",
            self.upsert_points_per_s
        )?;
        writeln!(
            f,
            "flush: {:.1} ms, optimize: {:.1} ms",
            ms(self.flush),
            ms(self.optimize)
        )?;
        for (name, l) in [
            ("filtered search before optimize", self.filtered_before),
            ("filtered search after optimize", self.filtered_after),
            ("open-filter search after optimize", self.open_after),
        ] {
            writeln!(
                f,
                "{name}: p50 {:.2} ms, p95 {:.2} ms, mean {:.2} ms",
                ms(l.p50),
                ms(l.p95),
                ms(l.mean)
            )?;
        }
        write!(
            f,
            "filtered recall@10 after optimize: {:.3}",
            self.filtered_recall_at_10
        )
    }
}

/// Synthetic corpus for measurements: `n` passages, 10 per document, payloads spread over every
/// filter dimension.
pub fn synthetic(n: usize, seed: u64) -> Vec<VectorPoint> {
    let mut rng = rng(seed);
    (0..n)
        .map(|k| {
            let doc = k / 10;
            let groups: &[&str] = match rng.next_u64() % 4 {
                0 | 1 => &[],
                2 => &["g1"],
                _ => &["g2"],
            };
            passage(
                &format!("bench-{doc:06}"),
                k % 10,
                DOC_TYPES[doc % 4],
                ISSUERS[(doc / 4) % 4],
                Some(15_000 + (rng.next_u64() % 5_000) as i64),
                1 + (rng.next_u64() % 3) as u8,
                groups,
                unit_vector(seed.wrapping_mul(1_000_003).wrapping_add(k as u64)),
            )
        })
        .collect()
}

/// Loads `n` synthetic points into an empty `store` and times upserts, flush, optimize and
/// `queries` searches with a restrictive and a permissive filter.
pub fn measure(store: &dyn VectorStore, n: usize, queries: usize) -> Result<Measurement, String> {
    let points = synthetic(n, 42);
    let started = Instant::now();
    for batch in points.chunks(256) {
        store.upsert(batch).map_err(|e| format!("upsert: {e}"))?;
    }
    let upsert_points_per_s = n as f64 / started.elapsed().as_secs_f64();
    let t = Instant::now();
    store.flush().map_err(|e| format!("flush: {e}"))?;
    let flush = t.elapsed();

    let filtered = VectorFilter {
        doc_types: strings(&["通知"]),
        max_level: 2,
        groups: strings(&["g1"]),
        ..VectorFilter::default()
    };
    let open = VectorFilter {
        max_level: 3,
        groups: strings(&["g1", "g2"]),
        ..VectorFilter::default()
    };
    let qs: Vec<Vec<f32>> = (0..queries as u64)
        .map(|i| unit_vector(900_000 + i))
        .collect();
    let time = |f: &VectorFilter| -> Result<(Latency, f64), String> {
        let mut samples = Vec::with_capacity(qs.len());
        let mut recall = 0.0;
        for q in &qs {
            let t = Instant::now();
            let hits = store.search(q, f, 10).map_err(|e| format!("search: {e}"))?;
            samples.push(t.elapsed());
            let exact: HashSet<String> = brute_force(&points, q, f, 10)
                .into_iter()
                .map(|(id, _)| id)
                .collect();
            let found = hits
                .iter()
                .filter(|h| exact.contains(&h.passage_id))
                .count();
            recall += found as f64 / exact.len().max(1) as f64;
        }
        Ok((Latency::of(samples), recall / qs.len().max(1) as f64))
    };
    let (filtered_before, _) = time(&filtered)?;
    let t = Instant::now();
    store.optimize().map_err(|e| format!("optimize: {e}"))?;
    let optimize = t.elapsed();
    let (filtered_after, filtered_recall_at_10) = time(&filtered)?;
    let (open_after, _) = time(&open)?;
    Ok(Measurement {
        points: n,
        upsert_points_per_s,
        flush,
        optimize,
        filtered_before,
        filtered_after,
        open_after,
        filtered_recall_at_10,
    })
}

// ---------------------------------------------------------------------------------------------
// Test support
// ---------------------------------------------------------------------------------------------

/// A fresh directory under the system temp dir, removed on drop.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(label: &str) -> Self {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "shirabe-vector-{label}-{}-{nanos}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        TempDir { path }
    }
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    use super::*;
    use crate::index::vector::EmbeddedStore;

    fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
        r.unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn oracle_semantics() {
        let p = &fixture()[0].payload; // doc-000#p000: 通知, 経済産業省, 18000, level 1, public
        let open = VectorFilter {
            max_level: 3,
            ..VectorFilter::default()
        };
        assert!(visible(p, &open));
        assert!(
            !visible(p, &VectorFilter::default()),
            "max_level 0 sees nothing"
        );
        assert!(visible(
            p,
            &VectorFilter {
                issued_from: Some(18_000),
                issued_to: Some(18_000),
                ..open.clone()
            }
        ));
        assert!(!visible(
            p,
            &VectorFilter {
                issued_from: Some(18_001),
                ..open.clone()
            }
        ));
        assert!(!visible(
            p,
            &VectorFilter {
                doc_ids: Some(vec![]),
                ..open
            }
        ));
    }

    #[test]
    fn embedded_conformance_and_reopen() {
        let dir = TempDir::new("conformance");
        let remaining = {
            let store = ok(EmbeddedStore::open_or_create(dir.path()));
            let remaining = ok(run_conformance(&store));
            let stats = ok(store.stats());
            for (field, _) in crate::index::vector::INDEXED_FIELDS {
                assert!(
                    stats.indexed_fields.iter().any(|f| f == field),
                    "no payload index on {field}: {stats:?}"
                );
            }
            assert_eq!(stats.journal_bytes, 0, "flush must empty the journal");
            remaining
        };
        // Reopen from disk (clean shutdown: nothing to replay) and check everything again.
        let store = ok(EmbeddedStore::open_existing(dir.path()));
        assert_eq!(store.recovery(), &crate::index::vector::edge::Recovery::default());
        ok(check_contents(&store, &remaining));
        // Writes after reopening work and survive another reopen without an explicit flush.
        let extra = passage(
            "late-doc",
            0,
            "答申",
            None,
            None,
            2,
            &["g2"],
            unit_vector(123_456),
        );
        ok(store.upsert(std::slice::from_ref(&extra)));
        drop(store);
        let store = ok(EmbeddedStore::open_existing(dir.path()));
        let mut expected = remaining;
        expected.push(extra);
        ok(check_contents(&store, &expected));
    }

    #[test]
    fn embedded_open_errors_are_explained() {
        let dir = TempDir::new("errors");
        let msg = EmbeddedStore::open_existing(dir.path())
            .map(|_| ())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            msg.contains("cannot open the vector store at") && msg.contains("run shirabe-indexer"),
            "{msg}"
        );

        let store = ok(EmbeddedStore::open_or_create(dir.path()));
        let second = EmbeddedStore::open_existing(dir.path()).map(|_| ()).err();
        assert!(
            matches!(second, Some(VectorError::Locked { .. })),
            "a second open must be refused: {second:?}"
        );
        drop(store);
        assert!(
            EmbeddedStore::open_existing(dir.path()).is_ok(),
            "the lock is released on drop"
        );

        let other = TempDir::new("foreign");
        ok(std::fs::create_dir_all(other.path()));
        ok(std::fs::write(other.path().join("meta.json"), b"{}"));
        let msg = EmbeddedStore::open_or_create(other.path())
            .map(|_| ())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            msg.contains("not empty") && msg.contains("meta.json"),
            "{msg}"
        );
    }

    #[test]
    fn embedded_rejects_a_store_of_another_dimension() {
        use qdrant_edge::{
            Distance, EdgeConfigBuilder, EdgeShard, EdgeVectorParamsBuilder, DEFAULT_VECTOR_NAME,
        };
        let dir = TempDir::new("dim");
        ok(std::fs::create_dir_all(dir.path()));
        let config = EdgeConfigBuilder::new()
            .vector(
                DEFAULT_VECTOR_NAME,
                EdgeVectorParamsBuilder::new(768, Distance::Cosine).build(),
            )
            .build();
        drop(ok(EdgeShard::new(dir.path(), config)));
        let err = EmbeddedStore::open_existing(dir.path()).map(|_| ()).err();
        let msg = err.as_ref().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            matches!(err, Some(VectorError::Incompatible { .. })) && msg.contains("768"),
            "{msg}"
        );
    }

    const CRASH_ENV: &str = "SHIRABE_VECTOR_CRASH_DIR";

    /// Child half of `embedded_survives_a_kill_without_flush`: writes, reports what was
    /// acknowledged, then waits to be killed (SIGKILL: no flush, no destructors).
    #[test]
    #[ignore = "helper process for embedded_survives_a_kill_without_flush"]
    fn crash_child() {
        let Some(dir) = std::env::var_os(CRASH_ENV) else {
            return;
        };
        let store = ok(EmbeddedStore::open_or_create(Path::new(&dir)));
        let points = fixture();
        // One flushed checkpoint first, so recovery has to combine flushed and unflushed state.
        ok(store.upsert(&points[..200]));
        ok(store.flush());
        println!("ACKED 200");
        for (i, batch) in points[200..].chunks(100).enumerate() {
            ok(store.upsert(batch));
            println!("ACKED {}", (200 + (i + 1) * 100).min(points.len()));
        }
        ok(store.delete_documents(&strings(&["doc-004"])));
        println!("DELETED doc-004");
        loop {
            std::thread::sleep(Duration::from_secs(60));
        }
    }

    #[test]
    fn embedded_survives_a_kill_without_flush() {
        let dir = TempDir::new("crash");
        let module = module_path!();
        let name = format!(
            "{}::crash_child",
            module.split_once("::").map_or(module, |(_, rest)| rest)
        );
        let exe = ok(std::env::current_exe());
        let mut child = ok(Command::new(exe)
            .args([
                name.as_str(),
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CRASH_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn());
        let stdout = child
            .stdout
            .take()
            .unwrap_or_else(|| panic!("no child stdout"));
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let done = line.ends_with("DELETED doc-004");
            lines.push(line);
            if done {
                break;
            }
        }
        ok(child.kill()); // SIGKILL
        let status = ok(child.wait());
        assert!(!status.success(), "the child must be killed");
        assert!(
            lines.last().is_some_and(|l| l.ends_with("DELETED doc-004")),
            "child output: {lines:?}"
        );

        let mut expected = fixture();
        expected.retain(|p| p.payload.doc_id != "doc-004");
        let store = ok(EmbeddedStore::open_existing(dir.path()));
        let recovery = store.recovery().clone();
        assert!(
            recovery.replayed_operations > 0,
            "the journal should have been replayed: {recovery:?}"
        );
        eprintln!("recovery after kill: {recovery:?}");
        ok(check_contents(&store, &expected));
        drop(store);
        let store = ok(EmbeddedStore::open_existing(dir.path()));
        assert_eq!(
            store.recovery().replayed_operations,
            0,
            "a checkpoint follows the replay"
        );
        ok(check_contents(&store, &expected));
    }

    #[test]
    fn server_conformance() {
        let Ok(url) = std::env::var("QDRANT_URL") else {
            eprintln!("SKIPPED: QDRANT_URL not set — Qdrant server conformance not run");
            return;
        };
        #[cfg(feature = "qdrant-server")]
        {
            let api_key = std::env::var("QDRANT_API_KEY").ok();
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            let collection = format!("shirabe_conformance_{}_{nanos}", std::process::id());
            let store = ok(crate::index::vector::ServerStore::connect(
                &url,
                &collection,
                api_key,
                layout_from_env(),
            ));
            let result = run_conformance(&store);
            let cleanup = store.delete_collection();
            ok(result);
            ok(cleanup);
        }
        #[cfg(not(feature = "qdrant-server"))]
        {
            let _ = url;
            eprintln!("SKIPPED: built without the qdrant-server feature — Qdrant server conformance not run");
        }
    }

    #[test]
    #[ignore = "measurement: cargo test --release vector::conformance::tests::embedded_measure_10k -- --ignored --nocapture"]
    fn embedded_measure_10k() {
        let dir = TempDir::new("measure");
        let store = ok(EmbeddedStore::open_or_create(dir.path()));
        let m = ok(measure(&store, 10_000, 200));
        let stats = ok(store.stats());
        eprintln!("embedded store, 10k points:\n{m}\n{stats:?}");
        let du = dir_size(dir.path());
        eprintln!("directory size: {:.1} MiB", du as f64 / (1 << 20) as f64);
    }

    #[test]
    #[ignore = "measurement against QDRANT_URL"]
    fn server_measure_10k() {
        let Ok(url) = std::env::var("QDRANT_URL") else {
            eprintln!("SKIPPED: QDRANT_URL not set — Qdrant server measurement not run");
            return;
        };
        #[cfg(feature = "qdrant-server")]
        {
            let collection = format!("shirabe_measure_{}", std::process::id());
            let store = ok(crate::index::vector::ServerStore::connect(
                &url,
                &collection,
                std::env::var("QDRANT_API_KEY").ok(),
                layout_from_env(),
            ));
            let m = measure(&store, 10_000, 200);
            let cleanup = store.delete_collection();
            eprintln!(
                "Qdrant server {}, 10k points:\n{}",
                store.server_version(),
                ok(m)
            );
            ok(cleanup);
        }
        #[cfg(not(feature = "qdrant-server"))]
        let _ = url;
    }

    /// The collection layout for the server tests: `QDRANT_SHARDS` and `QDRANT_REPLICATION`
    /// (default 1 each), so the suite runs on a cluster laid out as production would be.
    #[cfg(feature = "qdrant-server")]
    fn layout_from_env() -> crate::index::vector::CollectionLayout {
        let get = |name: &str| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(1);
        crate::index::vector::CollectionLayout { shards: get("QDRANT_SHARDS"), replication: get("QDRANT_REPLICATION") }
    }

    fn dir_size(path: &Path) -> u64 {
        let Ok(entries) = std::fs::read_dir(path) else {
            return 0;
        };
        entries
            .filter_map(Result::ok)
            .map(|e| match e.metadata() {
                Ok(m) if m.is_dir() => dir_size(&e.path()),
                Ok(m) => m.len(),
                Err(_) => 0,
            })
            .sum()
    }
}
