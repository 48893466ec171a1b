//! The workspace's layering (ARCHITECTURE.md): the engine holds no HTTP code and names no HTTP
//! crate, and the indexer and the benchmarks are built on the engine, not on the service.

mod common;

use std::path::{Path, PathBuf};

/// Every `.rs` file below `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

/// The `[dependencies]` table of a manifest, as names.
fn dependencies(manifest: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(manifest).expect("manifest");
    let value: toml::Value = toml::from_str(&text).expect("manifest TOML");
    value.get("dependencies").and_then(|d| d.as_table()).map(|t| t.keys().cloned().collect()).unwrap_or_default()
}

#[test]
fn the_engine_has_no_http_layer() {
    let engine = common::repo().join("engine");
    let files = rust_files(&engine.join("src"));
    assert!(files.len() > 30, "the engine's sources were not found ({} files)", files.len());
    for file in files {
        let text = std::fs::read_to_string(&file).expect("source");
        for forbidden in ["axum::", "tower_http::", "crate::api", "shirabe::"] {
            assert!(!text.contains(forbidden), "{} uses {forbidden}: HTTP code belongs to the service (src/)", file.display());
        }
    }
    let deps = dependencies(&engine.join("Cargo.toml"));
    for forbidden in ["axum", "tower-http", "shirabe", "sd-notify"] {
        assert!(!deps.iter().any(|d| d == forbidden), "engine/Cargo.toml depends on {forbidden}");
    }
}

#[test]
fn the_indexer_and_the_benchmarks_are_built_on_the_engine() {
    for member in ["indexer", "bench"] {
        let deps = dependencies(&common::repo().join(member).join("Cargo.toml"));
        assert!(deps.iter().any(|d| d == "shirabe-engine"), "{member} does not depend on the engine");
        for forbidden in ["shirabe", "axum", "tower-http"] {
            assert!(!deps.iter().any(|d| d == forbidden), "{member}/Cargo.toml depends on {forbidden}");
        }
    }
}
