//! Helpers shared by the integration tests: the configuration setup produced, and the shared
//! reference folder (skipped visibly when absent).

#![allow(dead_code)]

use std::path::PathBuf;

use shirabe::config::Config;
use shirabe::index::embed::Embedder;
use shirabe::text::analysis::Analyzers;

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

/// An engine over setup's models with the built-in synonym list (the default configuration's
/// search and answer settings).
pub fn engine() -> shirabe::engine::Engine {
    shirabe::engine::Engine::with_expander(config(), analyzers(), std::sync::Arc::new(embedder()), shirabe::retrieve::query::QueryExpander::builtin())
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
/// its base URL once `/healthz` answers. The state is built as `shirabe serve` builds it
/// ([`shirabe::api::AppState::new`] over an engine), with `data` as the data directory (the audit log
/// goes there; setup's assets stay where they are) and the fixture users unless the test names a
/// users file.
pub fn start_service(config: Config, data: &std::path::Path) -> String {
    start_service_with_permits(config, data, 16)
}

/// [`start_service`] with `permits` query slots (0: every request that needs one waits
/// `server.queue_timeout_secs`, then gets 503).
pub fn start_service_with_permits(mut config: Config, data: &std::path::Path, permits: usize) -> String {
    use std::sync::Arc;
    config.assets_dir = Some(config.assets_dir());
    config.index_dir = Some(config.index_dir());
    config.data_dir = data.to_path_buf();
    config.users_file.get_or_insert_with(|| repo().join("fixtures/users.toml"));
    let engine = shirabe::engine::Engine::new(config, analyzers(), Arc::new(embedder())).expect("the engine");
    let mut state = shirabe::api::AppState::new(engine).expect("the service state");
    state.permits = Arc::new(tokio::sync::Semaphore::new(permits));
    let state = Arc::new(state);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("non-blocking listener");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            shirabe::api::serve(state, listener).await
        })
        .expect("serve");
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
