//! The workspace's layering (ARCHITECTURE.md): the engine holds no HTTP code and names no HTTP
//! crate, and the indexer and the benchmarks are built on the engine, not on the service.

mod common;

use std::path::Path;

use module_graph::rust_files;

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

// ---- modules -------------------------------------------------------------------------------
//
// Within a crate, Rust lets modules import each other in a circle; ARCHITECTURE.md does not.
// The graph is read from the sources (tests/layering/module_graph.rs); test code (`#[cfg(test)]`
// items and files, such as the vector stores' conformance suite) may reach anywhere and is left
// out.

#[path = "layering/module_graph.rs"]
mod module_graph;

use module_graph::{read_crate, Graph};

/// The engine's stages, bottom first: a file may import its own stage and the ones before it.
/// ARCHITECTURE.md's table "Which module may import which" lists them in this order.
const ENGINE_STAGES: &[&str] = &["model", "config", "error", "text", "ingest", "govern", "index", "retrieve", "answer", "precedent", "engine", "eval"];

/// The service's layers, bottom first (a file belongs to the longest prefix that names it).
const SERVICE_LAYERS: &[&str] = &["metrics", "api::limits", "api::page", "api::error", "api::state", "api::auth", "api::routes", "api"];

/// The position of a file's module in `layers` (longest matching prefix); `None` for the crate root.
fn layer_of(graph: &Graph, file: usize, layers: &[&str]) -> Option<usize> {
    let module = &graph.files[file].module;
    if module.is_empty() {
        return None;
    }
    let name = module.join("::");
    let found = layers
        .iter()
        .enumerate()
        .filter(|(_, l)| name == **l || name.starts_with(&format!("{l}::")))
        .max_by_key(|(_, l)| l.len())
        .map(|(i, _)| i);
    Some(found.unwrap_or_else(|| panic!("{name} ({}) belongs to no layer: add it to the list in tests/layering.rs and to ARCHITECTURE.md", graph.files[file].path.display())))
}

/// Every import that goes from a layer to one above it, as messages.
fn upward_imports(graph: &Graph, layers: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for &(from, to) in &graph.edges {
        if let (Some(a), Some(b)) = (layer_of(graph, from, layers), layer_of(graph, to, layers)) {
            if b > a {
                out.push(format!("{} ({}) imports {} ({}), a layer above it", graph.name(from), layers[a], graph.name(to), layers[b]));
            }
        }
    }
    out
}

fn assert_no_cycle(graph: &Graph, what: &str) {
    if let Some(cycle) = graph.find_cycle() {
        let names: Vec<String> = cycle.iter().map(|&i| graph.name(i)).collect();
        panic!("{what}: these files import each other in a circle: {}", names.join(" → "));
    }
}

fn has_edge(graph: &Graph, from: &str, to: &str) -> bool {
    graph.edges.iter().any(|&(a, b)| graph.name(a) == from && graph.name(b) == to)
}

#[test]
fn the_module_reader_sees_imports_and_circles() {
    // A small crate with a circle through a `use` tree and a bare path, and imports that do not
    // count: a doc link, a string, and test code.
    let dir = tempfile::tempdir().expect("temp dir");
    let src = dir.path();
    std::fs::create_dir_all(src.join("a")).expect("mkdir");
    std::fs::write(src.join("lib.rs"), "pub mod a;\npub mod b;\npub mod c;\n").expect("write");
    std::fs::write(src.join("a/mod.rs"), "mod inner;\npub use inner::Thing;\n").expect("write");
    std::fs::write(src.join("a/inner.rs"), "use crate::{b::{self, Other}};\npub struct Thing;\nfn f() { b::g(); }\n").expect("write");
    std::fs::write(src.join("b.rs"), "//! See [`crate::c::C`].\npub struct Other;\npub fn g() { let _ = \"crate::c::C\"; crate::a::Thing; }\n#[cfg(test)]\nmod tests { use crate::c::C; }\n").expect("write");
    std::fs::write(src.join("c.rs"), "pub struct C;\nuse super::b::Other;\npub(in crate::a) fn h() {}\n").expect("write");
    let graph = read_crate(src);
    assert!(has_edge(&graph, "a", "a::inner"), "pub use of a child: {:?}", graph.edges);
    assert!(has_edge(&graph, "a::inner", "b"));
    assert!(has_edge(&graph, "b", "a"));
    assert!(has_edge(&graph, "c", "b"));
    assert!(!has_edge(&graph, "b", "c"), "a doc link, a string or test code counted as an import");
    assert!(!has_edge(&graph, "c", "a"), "a visibility `pub(in crate::a)` counted as an import");
    let cycle = graph.find_cycle().expect("the circle a → a::inner → b → a was not found");
    assert!(cycle.len() == 4, "{cycle:?}");
    assert_eq!(upward_imports(&graph, &["a", "b", "c"]).len(), 1, "a::inner imports b, a layer above a");
}

#[test]
fn no_engine_file_imports_one_that_imports_it_back() {
    let graph = read_crate(&common::repo().join("engine/src"));
    assert!(graph.files.len() > 40 && graph.edges.len() > 100, "the engine's imports were not found ({} files, {} edges)", graph.files.len(), graph.edges.len());
    // Known imports, so that a reader that finds nothing cannot pass.
    for (from, to) in [("retrieve::search", "index::keyword"), ("answer::ask", "retrieve::search"), ("index::builder", "index::vector"), ("engine", "answer::ask")] {
        assert!(has_edge(&graph, from, to), "the reader missed {from} → {to}");
    }
    assert_no_cycle(&graph, "engine/src");
}

#[test]
fn each_engine_stage_imports_only_the_stages_below_it() {
    let graph = read_crate(&common::repo().join("engine/src"));
    let upward = upward_imports(&graph, ENGINE_STAGES);
    assert!(upward.is_empty(), "the engine's stages, bottom first, are {ENGINE_STAGES:?} (ARCHITECTURE.md):\n{}", upward.join("\n"));
}

#[test]
fn the_service_files_import_downwards_only() {
    let graph = read_crate(&common::repo().join("src"));
    assert!(graph.files.iter().any(|f| f.module == ["api", "routes", "search"]), "src/api/routes/search.rs not found");
    assert!(has_edge(&graph, "api", "api::routes::search"), "the router does not reach the search handlers: {:?}", graph.edges);
    assert_no_cycle(&graph, "src");
    let upward = upward_imports(&graph, SERVICE_LAYERS);
    assert!(upward.is_empty(), "the service's layers, bottom first, are {SERVICE_LAYERS:?}:\n{}", upward.join("\n"));
}

#[test]
fn architecture_md_lists_the_stages_in_the_order_the_test_checks() {
    let text = std::fs::read_to_string(common::repo().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let section = text.split("## Which module may import which").nth(1).expect("ARCHITECTURE.md has a section \"Which module may import which\"");
    // The first cell of each table row names a stage: `model.rs`, `text/` …
    let listed: Vec<String> = section
        .lines()
        .take_while(|l| !l.starts_with("## "))
        .filter(|l| l.starts_with("| `"))
        .filter_map(|l| l.split('`').nth(1))
        .map(|cell| cell.trim_end_matches('/').trim_end_matches(".rs").to_string())
        .collect();
    assert_eq!(listed, ENGINE_STAGES, "ARCHITECTURE.md's table and tests/layering.rs disagree");
}
