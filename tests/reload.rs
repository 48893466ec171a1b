//! The service picks up a finished indexer run without a restart and without failing requests.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use shirabe::index::RunOptions;

fn search(base: &str, query: &str) -> (u16, String) {
    match ureq::post(&format!("{base}/api/search")).set("Authorization", "Bearer dev-kanri").send_json(json!({"query": query})) {
        Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(s, r)) => (s, r.into_string().unwrap_or_default()),
        Err(e) => (0, e.to_string()),
    }
}

#[test]
fn a_new_generation_is_served_under_traffic_without_errors() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let share = tmp.path().join("share");
    std::fs::create_dir_all(&share).expect("mkdir");
    let circulars = common::repo().join("fixtures/docs/circulars");
    std::fs::copy(circulars.join("soumu-12-juminhyo-tesuryo-r2.txt"), share.join("a.txt")).expect("copy");
    let mut config = common::config();
    config.index_dir = Some(tmp.path().join("index"));
    config.server.reload_interval_secs = 1;
    let analyzers = common::analyzers();
    let embedder = common::embedder();
    let run = |config: &shirabe::config::Config| {
        let sources = vec![share.clone()];
        shirabe::index::run(config, &analyzers, Some(&embedder), &RunOptions { sources: &sources, dry_run: false, progress: &|_, _, _| {}, worker: None })
            .expect("indexer run")
    };
    run(&config);
    let base = common::start_service(config.clone(), tmp.path());
    assert!(!search(&base, "テレワーク勤務").1.contains("テレワーク"), "not indexed yet");

    // Traffic during the run and the swap.
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = {
        let (base, stop) = (base.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut statuses = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                statuses.push(search(&base, "住民票の写しの交付手数料").0);
            }
            statuses
        })
    };
    std::fs::copy(circulars.join("soumu-88-telework-r3.md"), share.join("b.md")).expect("copy");
    let report = run(&config);
    assert_eq!(report.added.len(), 1);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = false;
    while Instant::now() < deadline {
        if search(&base, "テレワーク勤務").1.contains("テレワーク") {
            seen = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    stop.store(true, Ordering::Relaxed);
    let statuses = traffic.join().expect("traffic thread");
    assert!(seen, "the new document became searchable without a restart");
    assert!(!statuses.is_empty());
    assert!(statuses.iter().all(|s| *s == 200), "failed requests during reload: {statuses:?}");
    eprintln!("{} requests during the run and the swap, all 200", statuses.len());
}
