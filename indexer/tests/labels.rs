//! Access labels through the real indexer: deeper label files refine what they inherit and may
//! loosen it only when they say so, label names match their documents as the share's users see
//! them, and every label that cannot apply (near-miss names, empty sidecars, sidecars that are
//! folders, FIFOs or links, sidecars of no document) withholds what it could have meant and is
//! reported. Each test indexes a small share and reads what a clearance-1 caller would see
//! from the published generation's `state.json`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo root")
        .to_path_buf()
}

/// A share and an index in a fresh temporary directory; setup's data directory for the models.
struct World {
    tmp: tempfile::TempDir,
}

impl World {
    fn new() -> World {
        let world = World {
            tmp: tempfile::tempdir().expect("tempdir"),
        };
        std::fs::create_dir_all(world.share()).expect("mkdir");
        world
    }
    fn share(&self) -> PathBuf {
        self.tmp.path().join("share")
    }
    /// Writes `rel` under the share; a document's text names its path, so that no two documents
    /// are the same content (identical files share one document).
    fn write(&self, rel: &str, text: &str) {
        let path = self.share().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }
    fn document(&self, rel: &str) {
        self.write(
            rel,
            &format!("{rel} について。職員の人事評価の運用を定める文書である。\n"),
        );
    }
    /// Runs the indexer; the exit status must say whether anything failed (0 or 2).
    fn run(&self) -> Value {
        let data = std::env::var_os("SHIRABE_DATA_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo().join(".data"));
        let out = Command::new(env!("CARGO_BIN_EXE_shirabe-indexer"))
            .env("SHIRABE_DATA_DIR", data)
            .env("SHIRABE_INDEX_DIR", self.tmp.path().join("index"))
            .env("SHIRABE_EMBEDDING__THREADS", "2")
            .env("RUST_LOG", "warn")
            .arg(self.share())
            .output()
            .expect("run the indexer");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let report: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("JSON report ({e}): {stderr}"));
        let failed = report["failed"].as_array().map_or(0, Vec::len);
        assert_eq!(
            out.status.code(),
            Some(if failed == 0 { 0 } else { 2 }),
            "{failed} failed: {stderr}"
        );
        report
    }
    /// Share-relative path → (level, groups) of every file the published generation holds.
    fn labels(&self) -> Vec<(String, u64, Vec<String>)> {
        let index = self.tmp.path().join("index");
        let current = std::fs::read_to_string(index.join("CURRENT")).expect("CURRENT");
        let state: Value = serde_json::from_slice(
            &std::fs::read(index.join(current.trim()).join("state.json")).expect("state"),
        )
        .expect("json");
        let mut labels: Vec<(String, u64, Vec<String>)> = state["files"]
            .as_object()
            .expect("files")
            .iter()
            .map(|(path, entry)| {
                let rel = path.split("/share/").nth(1).unwrap_or(path).to_string();
                let groups = entry["access"]["groups"]
                    .as_array()
                    .map_or_else(Vec::new, |g| {
                        g.iter()
                            .filter_map(|g| g.as_str().map(str::to_string))
                            .collect()
                    });
                (rel, entry["access"]["level"].as_u64().unwrap_or(0), groups)
            })
            .collect();
        labels.sort();
        labels
    }
    fn label(&self, rel: &str) -> Option<(u64, Vec<String>)> {
        self.labels()
            .into_iter()
            .find(|(p, _, _)| p == rel)
            .map(|(_, level, groups)| (level, groups))
    }
    /// The files a caller with clearance 1 and no groups may see.
    fn public(&self) -> Vec<String> {
        self.labels()
            .into_iter()
            .filter(|(_, level, groups)| *level <= 1 && groups.is_empty())
            .map(|(p, _, _)| p)
            .collect()
    }
}

fn paths(report: &Value, key: &str) -> Vec<String> {
    report[key]
        .as_array()
        .expect(key)
        .iter()
        .map(|v| v["path"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn reason(report: &Value, suffix: &str) -> String {
    report["failed"]
        .as_array()
        .expect("failed")
        .iter()
        .find(|f| f["path"].as_str().is_some_and(|p| p.ends_with(suffix)))
        .map(|f| f["reason"].as_str().unwrap_or_default().to_string())
        .unwrap_or_else(|| panic!("{suffix} is not reported as failed: {report}"))
}

fn withheld(report: &Value, suffix: &str) -> bool {
    paths(report, "withheld")
        .iter()
        .any(|p| p.ends_with(suffix))
}

fn groups(names: &[&str]) -> Vec<String> {
    names.iter().map(|g| g.to_string()).collect()
}

#[test]
fn a_deeper_empty_rule_file_inherits_level_and_groups() {
    let w = World::new();
    w.document("open.txt");
    w.write("jinji/_access.toml", "level = 3\ngroups = [\"jinji\"]\n");
    w.write("jinji/empty/_access.toml", "");
    w.document("jinji/empty/hyoka.txt");
    w.write(
        "jinji/comment/_access.toml",
        "# 人事課の文書（機密性は上の階層のとおり）\n\n",
    );
    w.document("jinji/comment/choukai.txt");
    let report = w.run();
    assert!(paths(&report, "failed").is_empty(), "{report}");
    assert_eq!(
        w.label("jinji/empty/hyoka.txt"),
        Some((3, groups(&["jinji"])))
    );
    assert_eq!(
        w.label("jinji/comment/choukai.txt"),
        Some((3, groups(&["jinji"])))
    );
    assert_eq!(w.public(), ["open.txt"]);
}

#[test]
fn a_deeper_rule_that_sets_one_field_inherits_the_other() {
    let w = World::new();
    w.write(
        "kanri/_access.toml",
        "level = 3\ngroups = [\"jinji\", \"somu\"]\n",
    );
    w.write("kanri/jinji/_access.toml", "groups = [\"jinji\"]\n");
    w.document("kanri/jinji/hyoka.txt");
    w.write("kanri/level/_access.toml", "level = 3\n");
    w.document("kanri/level/memo.txt");
    w.document("kanri/sidecar.txt");
    w.write("kanri/sidecar.txt.access.toml", "groups = [\"somu\"]\n");
    let report = w.run();
    assert!(paths(&report, "failed").is_empty(), "{report}");
    assert_eq!(
        w.label("kanri/jinji/hyoka.txt"),
        Some((3, groups(&["jinji"])))
    );
    assert_eq!(
        w.label("kanri/level/memo.txt"),
        Some((3, groups(&["jinji", "somu"])))
    );
    assert_eq!(w.label("kanri/sidecar.txt"), Some((3, groups(&["somu"]))));
    assert!(w.public().is_empty(), "{:?}", w.labels());
}

#[test]
fn a_label_that_loosens_what_it_inherits_is_withheld_unless_it_says_loosen() {
    let w = World::new();
    w.write("jinji/_access.toml", "level = 3\ngroups = [\"jinji\"]\n");
    w.document("jinji/lower.txt");
    w.write("jinji/lower.txt.access.toml", "level = 1\n");
    w.document("jinji/other-group.txt");
    w.write(
        "jinji/other-group.txt.access.toml",
        "groups = [\"zaimu\"]\n",
    );
    w.write("jinji/opened/_access.toml", "groups = []\n");
    w.document("jinji/opened/memo.txt");
    w.document("jinji/published.txt");
    w.write(
        "jinji/published.txt.access.toml",
        "# 公開済み（総務課長決裁）\nlevel = 1\ngroups = []\nloosen = true\n",
    );
    let report = w.run();
    for (doc, label) in [
        ("jinji/lower.txt", "jinji/lower.txt.access.toml"),
        ("jinji/other-group.txt", "jinji/other-group.txt.access.toml"),
        ("jinji/opened/memo.txt", "jinji/opened/_access.toml"),
    ] {
        assert!(withheld(&report, doc), "{doc}: {report}");
        let why = reason(&report, doc);
        assert!(
            why.contains(label) && why.contains("loosen = true"),
            "{doc}: {why}"
        );
        assert_eq!(w.label(doc), None, "{doc} is not indexed under any label");
    }
    assert_eq!(
        w.public(),
        ["jinji/published.txt"],
        "only the declared loosening is public"
    );
}

#[test]
fn sidecars_and_folder_rules_match_ignoring_case_and_unicode_form() {
    let w = World::new();
    w.document("hyoka.txt");
    w.write("Hyoka.TXT.access.toml", "level = 3\n");
    // 人事評価が: the document's name in NFC, its sidecar's in NFD (か + combining dakuten), as
    // a share written from macOS has them.
    w.document("人事評価\u{304c}.txt");
    w.write(
        "人事評価\u{304b}\u{3099}.txt.access.toml",
        "level = 2\ngroups = [\"jinji\"]\n",
    );
    w.write("zaimu/_ACCESS.toml", "level = 2\ngroups = [\"zaimu\"]\n");
    w.document("zaimu/yosan.txt");
    w.document("open.txt");
    let report = w.run();
    assert!(paths(&report, "failed").is_empty(), "{report}");
    assert_eq!(w.label("hyoka.txt"), Some((3, vec![])));
    assert_eq!(
        w.label("人事評価\u{304c}.txt"),
        Some((2, groups(&["jinji"])))
    );
    assert_eq!(w.label("zaimu/yosan.txt"), Some((2, groups(&["zaimu"]))));
    assert_eq!(w.public(), ["open.txt"]);
}

#[test]
fn labels_with_hidden_extensions_are_never_indexed_and_withhold_their_targets() {
    let w = World::new();
    w.write(
        "jinji/_access.toml.txt",
        "level = 3\ngroups = [\"jinji\"]\n",
    );
    w.document("jinji/hyoka.txt");
    w.document("jinji/deeper/choukai.txt");
    w.document("memo.txt");
    w.write("memo.txt.access.toml.txt", "level = 3\n");
    w.write("Kaigi.md.Access.toml.bak", "level = 3\n");
    w.document("kaigi.md");
    w.document("open.txt");
    let report = w.run();
    for doc in [
        "jinji/hyoka.txt",
        "jinji/deeper/choukai.txt",
        "memo.txt",
        "kaigi.md",
    ] {
        assert!(withheld(&report, doc), "{doc}: {report}");
    }
    assert!(
        reason(&report, "jinji/deeper/choukai.txt").contains("_access.toml.txt"),
        "{report}"
    );
    assert!(
        reason(&report, "memo.txt").contains("memo.txt.access.toml.txt"),
        "{report}"
    );
    assert_eq!(
        w.labels()
            .iter()
            .map(|(p, _, _)| p.as_str())
            .collect::<Vec<_>>(),
        ["open.txt"],
        "no label file is a document"
    );
}

#[test]
fn an_empty_sidecar_withholds_its_document() {
    let w = World::new();
    w.document("secret.txt");
    w.write("secret.txt.access.toml", "");
    w.document("noted.txt");
    w.write("noted.txt.access.toml", "# 機密性３にすること\n");
    w.document("open.txt");
    let report = w.run();
    for doc in ["secret.txt", "noted.txt"] {
        assert!(withheld(&report, doc), "{doc}: {report}");
        assert!(
            reason(&report, doc).contains("neither level nor groups"),
            "{report}"
        );
    }
    assert_eq!(w.public(), ["open.txt"]);
}

#[test]
fn a_sidecar_that_is_a_folder_a_fifo_or_a_link_withholds_its_document() {
    let w = World::new();
    let share = w.share();
    for doc in [
        "folder.txt",
        "fifo.txt",
        "dangling.txt",
        "linked.txt",
        "open.txt",
    ] {
        w.document(doc);
    }
    std::fs::create_dir(share.join("folder.txt.access.toml")).expect("mkdir");
    let fifo = Command::new("mkfifo")
        .arg(share.join("fifo.txt.access.toml"))
        .status()
        .expect("mkfifo");
    assert!(fifo.success());
    std::os::unix::fs::symlink(
        share.join("nowhere.toml"),
        share.join("dangling.txt.access.toml"),
    )
    .expect("symlink");
    w.write("../elsewhere.toml", "level = 3\n");
    std::os::unix::fs::symlink(
        w.tmp.path().join("elsewhere.toml"),
        share.join("linked.txt.access.toml"),
    )
    .expect("symlink");
    let report = w.run();
    for (doc, what) in [
        ("folder.txt", "a folder"),
        ("fifo.txt", "a FIFO"),
        ("dangling.txt", "symbolic link"),
        ("linked.txt", "symbolic link"),
    ] {
        assert!(withheld(&report, doc), "{doc}: {report}");
        assert!(reason(&report, doc).contains(what), "{doc}: {report}");
    }
    assert_eq!(w.public(), ["open.txt"]);
}

#[test]
fn a_sidecar_that_labels_no_document_is_reported() {
    let w = World::new();
    w.document("hyoka.txt");
    w.write("hyoka-r5.txt.access.toml", "level = 3\n");
    w.write("sub/gone.pdf.access.toml", "level = 3\n");
    let report = w.run();
    for label in ["hyoka-r5.txt.access.toml", "sub/gone.pdf.access.toml"] {
        assert!(
            reason(&report, label).contains("labels nothing"),
            "{label}: {report}"
        );
    }
    assert!(paths(&report, "withheld").is_empty(), "{report}");
    assert_eq!(
        w.public(),
        ["hyoka.txt"],
        "an orphan changes no document's label"
    );
}
