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
