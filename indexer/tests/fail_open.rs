//! Labels that cannot fail open: a marking in the text that is stricter than the label, a
//! relabel on the night the new content cannot be read or extracted, an unreadable file, a folder
//! that cannot be listed, and a file swapped for a link (or other bytes) between the scan and its
//! extraction.
//!
//! Permissions are tested as the user that runs the tests. Root ignores permission bits, so as
//! root the indexer runs under `setpriv` with CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH dropped
//! from its bounding set: CI runs as root, and these tests must hold there too.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("repo root").to_path_buf()
}

fn data_dir() -> PathBuf {
    std::env::var_os("SHIRABE_DATA_DIR").map(PathBuf::from).unwrap_or_else(|| repo().join(".data"))
}

/// A share and an index in a fresh temporary folder; setup's dictionary and model are reused.
struct Env {
    tmp: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let env = Env { tmp: tempfile::tempdir().expect("tempdir") };
        std::fs::create_dir_all(env.share()).expect("mkdir share");
        env
    }
    fn index(&self) -> PathBuf {
        self.tmp.path().join("index")
    }
    fn share(&self) -> PathBuf {
        self.tmp.path().join("share")
    }
    /// Whether this process runs as root: the owner of a file it just created.
    fn as_root(&self) -> bool {
        std::fs::metadata(self.tmp.path()).map(|m| m.uid() == 0).unwrap_or(false)
    }
    /// Runs the indexer over the share and returns its exit status and report. With
    /// `honour_permissions`, a root test process runs it without the capabilities that bypass
    /// permission bits.
    fn run_with(&self, honour_permissions: bool) -> (Option<i32>, Value) {
        let indexer = env!("CARGO_BIN_EXE_shirabe-indexer");
        let mut cmd = if honour_permissions && self.as_root() {
            let mut c = Command::new("setpriv");
            c.arg("--bounding-set=-dac_override,-dac_read_search").arg(indexer);
            c
        } else {
            Command::new(indexer)
        };
        cmd.env("SHIRABE_DATA_DIR", data_dir())
            .env("SHIRABE_INDEX_DIR", self.index())
            .env("SHIRABE_EMBEDDING__THREADS", "2")
            .env("RUST_LOG", "warn")
            .arg(self.share());
        let out = cmd.output().expect("run the indexer (and setpriv, as root)");
        let report = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("no JSON report ({e}), exit {:?}: {}", out.status.code(), String::from_utf8_lossy(&out.stderr)));
        (out.status.code(), report)
    }
    /// A run in which every file can be read: exit status 0.
    fn run_clean(&self) -> Value {
        let (code, report) = self.run_with(false);
        assert_eq!(code, Some(0), "{report}");
        report
    }
    /// A run in which some files failed: exit status 2, the index published all the same.
    fn run_failing(&self, honour_permissions: bool) -> Value {
        let (code, report) = self.run_with(honour_permissions);
        assert_eq!(code, Some(2), "{report}");
        report
    }
    fn state(&self) -> Value {
        let current = std::fs::read_to_string(self.index().join("CURRENT")).expect("CURRENT");
        let state = std::fs::read(self.index().join(current.trim()).join("state.json")).expect("state.json");
        serde_json::from_slice(&state).expect("state JSON")
    }
}

/// The indexed documents whose source file is named `name`: (title, level, groups).
fn documents_of(state: &Value, name: &str) -> Vec<(String, u64, Vec<String>)> {
    state["documents"]
        .as_object()
        .expect("documents")
        .values()
        .filter(|d| Path::new(d["source_path"].as_str().unwrap_or_default()).file_name().is_some_and(|n| n == name))
        .map(|d| {
            let groups = d["access"]["groups"].as_array().map(|g| g.iter().filter_map(|v| v.as_str().map(str::to_string)).collect()).unwrap_or_default();
            (d["title"].as_str().unwrap_or_default().to_string(), d["access"]["level"].as_u64().unwrap_or(0), groups)
        })
        .collect()
}

fn paths(report: &Value, key: &str) -> Vec<String> {
    report[key].as_array().map(|a| a.iter().map(|v| v["path"].as_str().unwrap_or_default().to_string()).collect()).unwrap_or_default()
}

fn fixture(rel: &str) -> PathBuf {
    repo().join("fixtures/docs").join(rel)
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// A public circular that every share in these tests holds, so no run is empty.
fn public_circular(env: &Env) {
    std::fs::copy(fixture("circulars/soumu-12-juminhyo-tesuryo-r2.txt"), env.share().join("juminhyo.txt")).expect("copy a circular");
}

#[test]
fn a_marking_in_the_text_raises_a_document_without_a_label() {
    let env = Env::new();
    public_circular(&env);
    // 「機密性３　人事課限り　複製禁止」 on its first line, and no label file beside it.
    std::fs::copy(fixture("restricted/jinji-hyoka-unyo-r6.txt"), env.share().join("jinji.txt")).expect("copy");
    let report = env.run_clean();
    let state = env.state();
    let jinji = documents_of(&state, "jinji.txt");
    assert!(!jinji.is_empty() && jinji.iter().all(|(_, level, _)| *level == 3), "marked 機密性３, indexed at {jinji:?}");
    assert!(documents_of(&state, "juminhyo.txt").iter().all(|(_, level, _)| *level == 1), "an unmarked circular keeps its label");
    let marked = report["marked"].as_array().expect("the report lists marked documents");
    assert_eq!(marked.len(), 1, "{report}");
    assert!(marked[0]["path"].as_str().unwrap_or_default().ends_with("jinji.txt"), "{report}");
    assert_eq!((marked[0]["label_level"].as_u64(), marked[0]["level"].as_u64()), (Some(1), Some(3)), "{report}");
    assert!(marked[0]["marking"].as_str().unwrap_or_default().starts_with("機密性"), "{report}");
    // Nothing changed: the next run leaves the marked document as it is.
    let again = env.run_clean();
    assert_eq!(again["passages_written"], 0, "{again}");
    assert!(documents_of(&env.state(), "jinji.txt").iter().all(|(_, level, _)| *level == 3));
}

#[test]
fn a_label_lower_than_the_marking_is_overridden_and_reported() {
    let env = Env::new();
    public_circular(&env);
    let folder = env.share().join("zaimu");
    std::fs::create_dir_all(&folder).expect("mkdir");
    std::fs::write(folder.join("_access.toml"), "level = 2\ngroups = [\"zaimu\"]\n").expect("write the folder label");
    std::fs::copy(fixture("restricted/jinji-hyoka-unyo-r6.txt"), folder.join("jinji.txt")).expect("copy");
    // Marked 機密性２, the label's own level: no disagreement.
    std::fs::copy(fixture("restricted/yosan-satei-memo-r7.md"), folder.join("yosan.md")).expect("copy");
    let report = env.run_clean();
    let state = env.state();
    let jinji = documents_of(&state, "jinji.txt");
    assert!(!jinji.is_empty(), "{report}");
    for (_, level, groups) in &jinji {
        assert_eq!(*level, 3, "the stricter of label (2) and marking (3) wins");
        assert_eq!(groups, &["zaimu".to_string()], "the label's groups stay");
    }
    assert!(documents_of(&state, "yosan.md").iter().all(|(_, level, _)| *level == 2));
    assert_eq!(paths(&report, "marked").len(), 1, "only the disagreement is reported: {report}");
    assert!(paths(&report, "marked")[0].ends_with("zaimu/jinji.txt"), "{report}");
    assert_eq!(report["marked"][0]["label_level"], 2, "{report}");
}

#[test]
fn a_relabelled_file_whose_new_bytes_fail_is_withheld() {
    let env = Env::new();
    public_circular(&env);
    let pdf = env.share().join("kokuji.pdf");
    std::fs::copy(repo().join("fixtures/docs/generated/kokuji-59-conveni-kofu-r6.pdf"), &pdf).expect("copy the fixture PDF (run make setup)");
    env.run_clean();
    let before = documents_of(&env.state(), "kokuji.pdf");
    assert!(!before.is_empty() && before.iter().all(|(_, level, _)| *level == 1));
    let bytes = std::fs::read(&pdf).expect("read");

    // New bytes that cannot be extracted, same label: the previous version stays (as before).
    std::fs::write(&pdf, &bytes[..bytes.len() / 2]).expect("truncate");
    let report = env.run_failing(false);
    assert!(paths(&report, "failed").iter().any(|p| p.ends_with("kokuji.pdf")), "{report}");
    assert!(paths(&report, "withheld").is_empty(), "{report}");
    assert_eq!(documents_of(&env.state(), "kokuji.pdf"), before);

    // The same night, the file is labelled 機密性３: its old text must not stay searchable at 1.
    std::fs::write(env.share().join("kokuji.pdf.access.toml"), "level = 3\n").expect("write the sidecar");
    let report = env.run_failing(false);
    assert!(paths(&report, "withheld").iter().any(|p| p.ends_with("kokuji.pdf")), "{report}");
    let reason = report["failed"]
        .as_array()
        .expect("failed")
        .iter()
        .find(|f| f["path"].as_str().unwrap_or_default().ends_with("kokuji.pdf"))
        .map(|f| f["reason"].to_string());
    assert!(reason.as_deref().unwrap_or_default().contains("label changed"), "the failure says why: {reason:?}");
    assert!(documents_of(&env.state(), "kokuji.pdf").is_empty(), "the old text under the old label is gone");
    assert!(!documents_of(&env.state(), "juminhyo.txt").is_empty());

    // Readable again: indexed under its new label.
    std::fs::write(&pdf, &bytes).expect("restore");
    env.run_clean();
    let after = documents_of(&env.state(), "kokuji.pdf");
    assert!(!after.is_empty() && after.iter().all(|(_, level, _)| *level == 3), "{after:?}");
}

#[test]
fn an_unreadable_file_is_withheld_when_its_label_changed_and_kept_when_not() {
    let env = Env::new();
    public_circular(&env);
    let share = env.share();
    std::fs::write(share.join("relabelled.txt"), "職員研修計画の見直しについて\n研修は年二回とする。\n").expect("write");
    std::fs::write(share.join("same-label.txt"), "庁舎清掃業務の委託について\n清掃は毎週月曜日に行う。\n").expect("write");
    env.run_clean();
    assert!(!documents_of(&env.state(), "relabelled.txt").is_empty() && !documents_of(&env.state(), "same-label.txt").is_empty());

    set_mode(&share.join("relabelled.txt"), 0o000);
    set_mode(&share.join("same-label.txt"), 0o000);
    std::fs::write(share.join("relabelled.txt.access.toml"), "level = 3\n").expect("write the sidecar");
    let report = env.run_failing(true);
    let failed = paths(&report, "failed");
    assert!(failed.iter().any(|p| p.ends_with("/relabelled.txt")) && failed.iter().any(|p| p.ends_with("/same-label.txt")), "{report}");
    assert_eq!(paths(&report, "withheld").len(), 1, "{report}");
    assert!(paths(&report, "withheld")[0].ends_with("/relabelled.txt"), "{report}");
    let state = env.state();
    assert!(documents_of(&state, "relabelled.txt").is_empty(), "the previous level-1 text must not outlive its new label");
    assert!(!documents_of(&state, "same-label.txt").is_empty(), "same label: the previous version stays");

    set_mode(&share.join("relabelled.txt"), 0o644);
    set_mode(&share.join("same-label.txt"), 0o644);
    env.run_clean();
    let back = documents_of(&env.state(), "relabelled.txt");
    assert!(!back.is_empty() && back.iter().all(|(_, level, _)| *level == 3), "{back:?}");
}

#[test]
fn an_unlistable_folder_withholds_its_documents_and_the_run_goes_on() {
    let env = Env::new();
    public_circular(&env);
    let locked = env.share().join("jinji");
    std::fs::create_dir_all(locked.join("deep")).expect("mkdir");
    std::fs::write(locked.join("naiji.txt"), "人事異動の内示について\n内示は発令日の一週間前に行う。\n").expect("write");
    std::fs::write(locked.join("deep/kyuyo.txt"), "給与改定の方針について\n改定は四月一日から適用する。\n").expect("write");
    env.run_clean();
    assert!(!documents_of(&env.state(), "naiji.txt").is_empty() && !documents_of(&env.state(), "kyuyo.txt").is_empty());

    set_mode(&locked, 0o000);
    std::fs::write(env.share().join("new.txt"), "会議室予約の手順について\n予約は前日までに行う。\n").expect("write");
    let (code, report) = env.run_with(true);
    set_mode(&locked, 0o755);
    assert_eq!(code, Some(2), "not fatal, but a failure to alert on: {report}");
    assert!(paths(&report, "failed").iter().any(|p| p.ends_with("/jinji")), "the folder is reported: {report}");
    let withheld = paths(&report, "withheld");
    assert!(withheld.iter().any(|p| p.ends_with("/naiji.txt")) && withheld.iter().any(|p| p.ends_with("/kyuyo.txt")), "{report}");
    assert!(paths(&report, "added").iter().any(|p| p.ends_with("/new.txt")), "the rest of the run proceeds: {report}");
    let state = env.state();
    assert!(documents_of(&state, "naiji.txt").is_empty() && documents_of(&state, "kyuyo.txt").is_empty(), "the folder's documents are withheld");
    assert!(!documents_of(&state, "juminhyo.txt").is_empty() && !documents_of(&state, "new.txt").is_empty());

    env.run_clean();
    assert!(!documents_of(&env.state(), "naiji.txt").is_empty(), "listable again: back in the index");
}

/// A file replaced between the scan and its extraction, through the engine's library (the
/// progress callback runs just before each file is extracted): in process and in a worker.
#[test]
fn a_file_swapped_during_the_run_is_not_indexed_under_its_label() {
    use shirabe_engine::index::{run, RunOptions};

    let mut config = shirabe_engine::config::Config::default();
    config.data_dir = data_dir();
    config.embedding.threads = 2;
    let analyzers = shirabe_engine::text::analysis::Analyzers::load(&config.dict_dir()).expect("the dictionary (run make setup)");
    let embedder = shirabe_engine::index::embed::Embedder::from_config(&config).expect("the model (run make setup)");
    let worker = PathBuf::from(env!("CARGO_BIN_EXE_shirabe-indexer"));
    for worker in [None, Some(worker.as_path())] {
        let env = Env::new();
        config.index_dir = Some(env.index());
        public_circular(&env);
        let share = env.share();
        // A classified file outside the share, which the link will point at.
        let secret = env.tmp.path().join("secret.txt");
        std::fs::write(&secret, "懲戒処分案一覧\n職員甲を停職三月とする。\n").expect("write");
        std::fs::write(share.join("linked.txt"), "ごみ収集日程のお知らせ\n収集は火曜日と金曜日です。\n").expect("write");
        std::fs::write(share.join("rewritten.txt"), "窓口受付時間のお知らせ\n受付は午前九時からです。\n").expect("write");
        let swap = |_done: usize, _total: usize, path: &str| {
            let path = Path::new(path);
            match path.file_name().and_then(|n| n.to_str()) {
                Some("linked.txt") => {
                    std::fs::remove_file(path).expect("rm");
                    std::os::unix::fs::symlink(&secret, path).expect("symlink");
                }
                Some("rewritten.txt") => std::fs::write(path, "懲戒処分案の続き\n職員乙を減給とする。\n").expect("rewrite"),
                _ => {}
            }
        };
        let sources = [share.clone()];
        let opts = RunOptions { sources: &sources, dry_run: false, progress: &swap, worker };
        let report = run(&config, &analyzers, Some(&embedder), &opts).expect("the run");
        let state = env.state();
        let titles: Vec<String> =
            state["documents"].as_object().expect("documents").values().map(|d| d["title"].as_str().unwrap_or_default().to_string()).collect();
        assert!(titles.iter().all(|t| !t.contains("懲戒処分")), "text that was not hashed was indexed (worker {worker:?}): {titles:?}");
        let failed: Vec<String> = report.failed.iter().map(|f| f.path.clone()).collect();
        assert!(failed.iter().any(|p| p.ends_with("linked.txt")) && failed.iter().any(|p| p.ends_with("rewritten.txt")), "{failed:?}");
        assert!(!documents_of(&state, "juminhyo.txt").is_empty());
    }
}
