//! Helpers shared by the integration tests: the configuration setup produced, and the shared
//! reference folder (skipped visibly when absent).

#![allow(dead_code)]

use std::path::PathBuf;

use shirabe::analysis::Analyzers;
use shirabe::config::Config;
use shirabe::embed::Embedder;

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The configuration of the data directory `make setup` filled (SHIRABE_DATA_DIR or ./.data).
pub fn config() -> Config {
    let mut config = Config::default();
    config.data_dir = std::env::var_os("SHIRABE_DATA_DIR").map(PathBuf::from).unwrap_or_else(|| repo().join(".data"));
    config
}

/// The analysers; setup must have built the dictionary (run `make setup`).
pub fn analyzers() -> Analyzers {
    Analyzers::load(&config().dict_dir()).unwrap_or_else(|e| panic!("{e}"))
}

/// The embedder; setup must have built the model (run `make setup`).
pub fn embedder() -> Embedder {
    let c = config();
    Embedder::load(&c.model_dir(), &c.ort_library(), 2, 32).unwrap_or_else(|e| panic!("{e}"))
}

/// Indexes `sources` into `config`'s index directory with the production pipeline and checks
/// that no file failed; the analysers and the embedder are dropped again before it returns.
pub fn index_all(config: &Config, sources: &[PathBuf]) -> shirabe::index::RunReport {
    let (analyzers, embedder) = (analyzers(), embedder());
    let options = shirabe::index::RunOptions { sources, dry_run: false, progress: &|_, _, _| {}, worker: None };
    let report = shirabe::index::run(config, &analyzers, Some(&embedder), &options).unwrap_or_else(|e| panic!("indexing {sources:?}: {e}"));
    assert!(report.failed.is_empty(), "files failed: {:?}", report.failed);
    report
}

/// `../shared` (or SHIRABE_SHARED_DIR), or `None` after printing a visible SKIPPED line.
pub fn shared_dir(test: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("SHIRABE_SHARED_DIR").map(PathBuf::from).unwrap_or_else(|| repo().join("../shared"));
    if dir.join("notes").exists() || dir.join("corpus").exists() {
        Some(dir)
    } else {
        eprintln!("SKIPPED {test}: shared reference folder not found at {} (set SHIRABE_SHARED_DIR)", dir.display());
        None
    }
}

/// Starts the service for `config` on a free loopback port in a background thread and returns
/// its base URL once `/healthz` answers.
pub fn start_service(config: Config, data: &std::path::Path) -> String {
    start_service_with_permits(config, data, 16)
}

/// [`start_service`] with `permits` query slots (0: every request that needs one waits
/// `server.queue_timeout_secs`, then gets 503).
pub fn start_service_with_permits(config: Config, data: &std::path::Path, permits: usize) -> String {
    use std::sync::Arc;
    let analyzers = analyzers();
    let generation = shirabe::index::Generation::open_current(&config, &analyzers).expect("open the index").map(Arc::new);
    let state = Arc::new(shirabe::api::AppState {
        expander: shirabe::query::QueryExpander::builtin(),
        web_dir: None,
        refusals: shirabe::access::FailureLimiter::new(config.server.max_refusals_per_minute, std::time::Duration::from_secs(60)),
        permits: Arc::new(tokio::sync::Semaphore::new(permits)),
        audit: shirabe::audit::AuditLog::open(&data.join("audit")).expect("audit"),
        answer_threshold: shirabe::answer::DEFAULT_THRESHOLD,
        metrics: Default::default(),
        generator: shirabe::generate::Generator::from_config(&config.answer),
        users: shirabe::access::Users::load(&repo().join("fixtures/users.toml")).expect("users"),
        config,
        analyzers,
        embedder: Arc::new(embedder()),
        generation: parking_lot::RwLock::new(generation),
    });
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        rt.block_on(shirabe::api::serve(state, addr)).expect("serve");
    });
    let base = format!("http://{addr}");
    for _ in 0..200 {
        if ureq::get(&format!("{base}/healthz")).call().is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    base
}
