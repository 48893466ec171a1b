//! The nightly indexer as a process: incremental runs, deletions and moves, bad files, a held
//! and a stale lock, crashes at seeded failpoints and `kill -9` at random times with convergence
//! to the uninterrupted result, the per-file memory limit, and an empty data directory.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("repo root").to_path_buf()
}

/// A fresh data directory that reuses setup's dictionary, model and ONNX Runtime.
struct Env {
    tmp: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        Env { tmp: tempfile::tempdir().expect("tempdir") }
    }
    fn index(&self) -> PathBuf {
        self.tmp.path().join("index")
    }
    fn source(&self) -> PathBuf {
        self.tmp.path().join("share")
    }
    fn command(&self, extra: &[&str]) -> Command {
        let data = std::env::var_os("SHIRABE_DATA_DIR").map(PathBuf::from).unwrap_or_else(|| repo().join(".data"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_shirabe-indexer"));
        cmd.env("SHIRABE_DATA_DIR", data)
            .env("SHIRABE_INDEX_DIR", self.index())
            .env("SHIRABE_EMBEDDING__THREADS", "2")
            .env("RUST_LOG", "warn")
            .args(extra)
            .arg(self.source());
        cmd
    }
    /// Runs the indexer and checks its exit status: 0 for a clean run, 2 when files failed.
    fn run(&self, extra: &[&str]) -> Value {
        let out = self.command(extra).output().expect("run the indexer");
        let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("JSON report ({e}): {}", String::from_utf8_lossy(&out.stderr)));
        let failed = report["failed"].as_array().map_or(0, Vec::len);
        assert_eq!(out.status.code(), Some(if failed == 0 { 0 } else { 2 }), "{failed} failed: {}", String::from_utf8_lossy(&out.stderr));
        report
    }
    fn state(&self) -> Value {
        let current = std::fs::read_to_string(self.index().join("CURRENT")).expect("CURRENT");
        serde_json::from_slice(&std::fs::read(self.index().join(current.trim()).join("state.json")).expect("state")).expect("json")
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).expect("copy");
        }
    }
}

fn names(report: &Value, key: &str) -> Vec<String> {
    report[key].as_array().expect(key).iter().map(|v| v["path"].as_str().unwrap_or_default().to_string()).collect()
}

/// A small share: a few circulars and the law.
fn small_share(env: &Env) {
    let src = repo().join("fixtures/docs");
    let dst = env.source();
    std::fs::create_dir_all(&dst).expect("mkdir");
    for f in ["circulars/soumu-12-juminhyo-tesuryo-r2.txt", "circulars/soumu-88-telework-r3.md", "laws/kakuu-shi-bunsho-kanri-jorei.xml"] {
        let to = dst.join(Path::new(f).file_name().expect("name"));
        std::fs::copy(src.join(f), to).expect("copy");
    }
}

#[test]
fn a_copy_keeps_its_document_when_the_original_is_deleted() {
    let env = Env::new();
    let share = env.source();
    std::fs::create_dir_all(&share).expect("mkdir");
    let text = std::fs::read(repo().join("fixtures/docs/circulars/soumu-88-telework-r3.md")).expect("fixture");
    std::fs::write(share.join("telework.md"), &text).expect("write");
    env.run(&[]);
    // A copy added on a later night shares the document already indexed.
    std::fs::write(share.join("telework-copy.md"), &text).expect("write");
    let second = env.run(&[]);
    assert_eq!(names(&second, "added").len(), 1, "{second}");
    assert_eq!(second["passages_written"], 0, "the copy's document is already indexed: {second}");
    std::fs::remove_file(share.join("telework.md")).expect("remove");
    let third = env.run(&[]);
    let state = env.state();
    assert_eq!(state["documents"].as_object().map_or(0, |d| d.len()), 1, "the copy still holds the document: {third}");
    let held = state["files"].as_object().expect("files").values().all(|f| f["doc_ids"].as_array().is_some_and(|ids| !ids.is_empty()));
    assert!(held, "every file names its documents: {state}");
    let source = state["documents"].as_object().and_then(|d| d.values().next()).and_then(|d| d["source_path"].as_str()).unwrap_or_default().to_string();
    assert!(source.ends_with("telework-copy.md"), "the document's source is the file that holds it: {source}");
}

/// Signature of an index state: documents (id → source file name) and passage ids.
fn signature(state: &Value) -> Vec<String> {
    let mut sig: Vec<String> = state["documents"]
        .as_object()
        .expect("documents")
        .values()
        .map(|d| format!("{} {}", d["id"].as_str().unwrap_or_default(), Path::new(d["source_path"].as_str().unwrap_or_default()).file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default()))
        .collect();
    sig.sort();
    sig
}

#[test]
fn incremental_runs_notice_changes_deletions_and_moves() {
    let env = Env::new();
    small_share(&env);
    let metrics = env.tmp.path().join("shirabe_indexer.prom");
    let first = env.run(&["--metrics-file", metrics.to_str().expect("utf-8 path")]);
    assert_eq!(names(&first, "added").len(), 3, "{first}");
    let prom = std::fs::read_to_string(&metrics).expect("the metrics textfile");
    assert!(prom.contains("shirabe_indexer_last_success_timestamp_seconds ") && prom.contains("shirabe_indexer_last_run_had_failures 0\n"), "{prom}");
    assert!(first["passages"].as_u64().unwrap_or(0) > 5);

    let again = env.run(&[]);
    assert_eq!(names(&again, "unchanged").len(), 3);
    assert_eq!(again["passages_written"], 0, "nothing re-embedded: {again}");
    assert_eq!(again["passages"], first["passages"]);

    // Change one file, delete one, move one.
    let share = env.source();
    let mut text = std::fs::read_to_string(share.join("soumu-12-juminhyo-tesuryo-r2.txt")).expect("read");
    text.push_str("\n追記：土曜日も交付する。\n");
    std::fs::write(share.join("soumu-12-juminhyo-tesuryo-r2.txt"), text).expect("write");
    std::fs::remove_file(share.join("soumu-88-telework-r3.md")).expect("rm");
    std::fs::create_dir_all(share.join("archive")).expect("mkdir");
    std::fs::rename(share.join("kakuu-shi-bunsho-kanri-jorei.xml"), share.join("archive/jorei.xml")).expect("mv");

    let dry = env.run(&["--dry-run"]);
    assert_eq!(names(&dry, "updated").len(), 1, "{dry}");
    assert_eq!(env.state()["files"].as_object().map(|f| f.len()), Some(3), "a dry run changes nothing");

    let third = env.run(&[]);
    assert_eq!(names(&third, "updated").len(), 1, "{third}");
    assert_eq!(names(&third, "deleted").len(), 1, "{third}");
    assert_eq!(names(&third, "moved").len(), 1, "{third}");
    let state = env.state();
    let sig = signature(&state);
    assert!(sig.iter().all(|s| !s.contains("telework")), "deleted file is gone: {sig:?}");
    assert!(sig.iter().any(|s| s.ends_with("jorei.xml")), "moved file keeps its document: {sig:?}");
    let law_passages = first["passages"].as_u64().unwrap_or(0);
    assert!(third["passages_written"].as_u64().unwrap_or(0) < law_passages, "the moved law was not re-embedded: {third}");
}

#[test]
fn bad_files_are_reported_and_lose_nothing() {
    let env = Env::new();
    small_share(&env);
    let share = env.source();
    let pdf = repo().join("fixtures/docs/generated/kokuji-59-conveni-kofu-r6.pdf");
    std::fs::copy(&pdf, share.join("kokuji.pdf")).expect("copy the fixture PDF (run make setup)");
    env.run(&[]);
    let before = signature(&env.state());
    assert!(before.iter().any(|s| s.ends_with("kokuji.pdf")), "{before:?}");
    // A previously good file turns bad (cut in half): its indexed version must stay.
    let bytes = std::fs::read(share.join("kokuji.pdf")).expect("read");
    std::fs::write(share.join("kokuji.pdf"), &bytes[..bytes.len() / 2]).expect("truncate");
    let bad: Vec<(&str, Vec<u8>)> = vec![
        ("zero.pdf", Vec::new()),
        ("truncated.pdf", b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n".to_vec()),
        ("html-inside.pdf", b"<!doctype html><html><body>not a pdf</body></html>".to_vec()),
        ("garbage.pdf", (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect()),
        ("binary.txt", (0..4096u32).map(|i| (i * 31 % 256) as u8).collect()),
        ("laughs.xml", br#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><Law><LawBody><LawTitle>&lol3;</LawTitle></LawBody></Law>"#.to_vec()),
        ("broken.xml", b"<Law><LawBody><LawTitle>unterminated".to_vec()),
        ("png.md", vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]),
        ("empty.html", Vec::new()),
        ("bad-lines.jsonl", b"{not json}\n\xff\xfe\n".to_vec()),
    ];
    for (name, bytes) in &bad {
        std::fs::write(share.join(name), bytes).expect("write");
    }
    // An invalid access label.
    std::fs::write(share.join("label.txt"), "ラベルの壊れた文書。").expect("write");
    std::fs::write(share.join("label.txt.access.toml"), "level = 9\n").expect("write");

    let metrics = env.tmp.path().join("shirabe_indexer.prom");
    let report = env.run(&["--metrics-file", metrics.to_str().expect("utf-8 path")]);
    let failed = names(&report, "failed");
    let prom = std::fs::read_to_string(&metrics).expect("the metrics textfile");
    assert!(prom.contains("shirabe_indexer_last_run_had_failures 1\n") && !prom.contains("shirabe_indexer_files"), "{prom}");
    assert!(!prom.contains("last_success"), "a run with failures is no success: {prom}");
    for (name, _) in &bad {
        assert!(failed.iter().any(|f| f.ends_with(name)), "{name} not reported: {report}");
    }
    assert!(failed.iter().any(|f| f.ends_with("label.txt")), "{report}");
    assert!(failed.iter().any(|f| f.ends_with("kokuji.pdf")), "{report}");
    for f in report["failed"].as_array().expect("failed") {
        assert!(!f["reason"].as_str().unwrap_or_default().is_empty(), "every failure has a reason: {f}");
    }
    assert_eq!(signature(&env.state()), before, "no good document was lost");
}

#[test]
fn a_broken_access_label_withholds_the_document_until_it_is_fixed() {
    let env = Env::new();
    small_share(&env);
    let share = env.source();
    std::fs::write(share.join("secret.txt"), "人事異動の内示は、発令日の一週間前に行う。").expect("write");
    std::fs::write(share.join("secret.txt.access.toml"), "level = 1\n").expect("write");
    env.run(&[]);
    let indexed = |env: &Env| signature(&env.state()).iter().any(|s| s.ends_with("secret.txt"));
    assert!(indexed(&env));
    // Tightening the label with a typo (level 3 meant) must not leave the old, looser label in
    // force: the document leaves the index and the run says why.
    for broken in ["level = 33\n", "level = \n", "levle = 3\n"] {
        std::fs::write(share.join("secret.txt.access.toml"), broken).expect("write");
        let report = env.run(&[]);
        assert!(names(&report, "withheld").iter().any(|f| f.ends_with("secret.txt")), "{broken:?}: {report}");
        assert!(names(&report, "failed").iter().any(|f| f.ends_with("secret.txt")), "{broken:?}: {report}");
        assert!(!indexed(&env), "{broken:?}: the document is still searchable under its old label");
    }
    std::fs::write(share.join("secret.txt.access.toml"), "level = 3\n").expect("write");
    let report = env.run(&[]);
    assert!(names(&report, "withheld").is_empty(), "{report}");
    assert!(indexed(&env), "the fixed label brings the document back: {report}");
    let level = env.state()["documents"].as_object().expect("documents").values().find(|d| d["source_path"].as_str().unwrap_or_default().ends_with("secret.txt")).map(|d| d["access"]["level"].clone());
    assert_eq!(level, Some(serde_json::json!(3)));
}

#[test]
fn a_second_run_is_refused_while_the_lock_is_held() {
    use fs2::FileExt;
    use std::io::Write;
    let env = Env::new();
    small_share(&env);
    // The test holds the lock as a running indexer would: an OS lock on the file and its pid.
    std::fs::create_dir_all(env.index()).expect("mkdir");
    let mut held = std::fs::OpenOptions::new().create(true).truncate(false).read(true).write(true).open(env.index().join("indexer.lock")).expect("lock file");
    held.try_lock_exclusive().expect("the test takes the lock");
    held.set_len(0).expect("truncate");
    write!(held, "{}", std::process::id()).expect("pid");
    // Model and dictionary paths that do not exist: had the run loaded either before taking the
    // lock, it would have failed on them instead of on the lock.
    let out = env.command(&[]).env("SHIRABE_MODEL_DIR", "/nonexistent/model").env("SHIRABE_DICT_DIR", "/nonexistent/dict").output().expect("second");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a run must not start while the lock is held: {stderr}");
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("another indexer run") && stderr.contains(&std::process::id().to_string()), "the error names the holder: {stderr}");
    assert!(!stderr.contains("/nonexistent"), "refused before loading the dictionary or the model: {stderr}");
    assert!(!env.index().join("CURRENT").exists(), "nothing was written");
    held.unlock().expect("unlock");
    drop(held);

    // A lock file left by a process that died (a pid, no OS lock) is taken over.
    std::fs::write(env.index().join("indexer.lock"), "999999999").expect("stale lock");
    let report = env.run(&[]);
    assert_eq!(report["stale_lock_taken_over"], true, "{report}");
    assert_eq!(names(&report, "added").len(), 3, "{report}");
}

/// The seed of the crash tests: `SHIRABE_CRASH_SEED` to replay a failure, else from the clock.
fn crash_seed() -> u64 {
    let seed = std::env::var("SHIRABE_CRASH_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64)
    });
    eprintln!("crash test seed: {seed} (replay with SHIRABE_CRASH_SEED={seed})");
    seed
}

#[test]
fn crashes_at_every_failpoint_keep_the_previous_index_and_rerun_converges() {
    let env = Env::new();
    small_share(&env);
    env.run(&[]);
    let base = signature(&env.state());
    let base_generation = std::fs::read_to_string(env.index().join("CURRENT")).expect("CURRENT");
    // Add documents so the next run has real work to be interrupted in.
    copy_dir(&repo().join("fixtures/docs/circulars"), &env.source().join("extra"));
    let reference = {
        let clean = Env::new();
        copy_dir(&env.source(), &clean.source());
        clean.run(&[]);
        signature(&clean.state())
    };
    assert_ne!(reference, base);
    let seed = crash_seed();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut points = ["after-extraction", "mid-write", "after-commit", "before-publish"];
    points.shuffle(&mut rng);
    for point in points {
        let out = env.command(&[]).env("SHIRABE_FAILPOINT", point).output().expect("run");
        assert_eq!(out.status.signal(), Some(9), "seed {seed}: the run must die at {point}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("failpoint {point}")), "seed {seed}: {point} was reached");
        assert_eq!(signature(&env.state()), base, "seed {seed}: after a crash at {point} the previous index is served");
        assert_eq!(std::fs::read_to_string(env.index().join("CURRENT")).expect("CURRENT"), base_generation, "seed {seed}: {point}");
    }
    // kill -9 from outside at random times, too.
    let runs = std::env::var("SHIRABE_CRASH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(2);
    for i in 0..runs {
        let mut child = env.command(&[]).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().expect("spawn");
        std::thread::sleep(Duration::from_millis(rng.gen_range(200..4000)));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let sig = signature(&env.state());
        assert!(sig == base || sig == reference, "seed {seed}, kill {i}: the served state is neither the old nor the new one");
    }
    env.run(&[]);
    let ids = |sig: &[String]| sig.iter().map(|s| s.split(' ').next().unwrap_or_default().to_string()).collect::<Vec<_>>();
    assert_eq!(ids(&signature(&env.state())), ids(&reference), "seed {seed}: re-run converges to the uninterrupted result");
}

/// A valid one-page PDF with `text` in Helvetica, built by hand (no setup needed).
fn tiny_pdf(text: &str) -> Vec<u8> {
    let stream = format!("BT /F1 14 Tf 72 760 Td ({text}) Tj ET");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_string(),
        format!("<< /Length {} >>\nstream\n{stream}\nendstream", stream.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_string(),
    ];
    let mut pdf = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
    }
    let xref = pdf.len();
    pdf.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for o in offsets {
        pdf.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    pdf.extend_from_slice(format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1).as_bytes());
    pdf
}

/// A one-page PDF whose content stream inflates to `mib` MiB of zeros (a decompression bomb).
fn bomb_pdf(mib: usize) -> Vec<u8> {
    use std::io::Write;
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..mib {
        z.write_all(&zeros).expect("compress");
    }
    let data = z.finish().expect("compress");
    let mut pdf = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    let bodies: [Vec<u8>; 4] = [
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>".to_vec(),
        [format!("<< /Length {} /Filter /FlateDecode >>\nstream\n", data.len()).into_bytes(), data, b"\nendstream".to_vec()].concat(),
    ];
    for (i, body) in bodies.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        pdf.extend_from_slice(body);
        pdf.extend_from_slice(b"\nendobj\n");
    }
    let xref = pdf.len();
    pdf.extend_from_slice(format!("xref\n0 5\n0000000000 65535 f \n").as_bytes());
    for o in offsets {
        pdf.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    pdf.extend_from_slice(format!("trailer\n<< /Size 5 /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n").as_bytes());
    pdf
}

#[test]
fn a_file_over_the_memory_limit_fails_and_keeps_its_previous_version() {
    let env = Env::new();
    small_share(&env);
    let share = env.source();
    std::fs::write(share.join("memo.pdf"), tiny_pdf("Shirabe memory limit test: the first version of this memo.")).expect("write");
    let first = env.run(&[]);
    assert!(names(&first, "added").iter().any(|p| p.ends_with("memo.pdf")), "the PDF indexes under the default limit: {first}");
    assert_eq!(first["memory_limit"], "rss-watchdog", "{first}");
    let before = signature(&env.state());
    assert!(before.iter().any(|s| s.ends_with("memo.pdf")), "{before:?}");

    // The PDF becomes a decompression bomb (1 GiB of zeros behind 1 MiB), and a text file
    // changes. Each file may take 256 MiB of resident memory: the bomb needs four times that,
    // the text file a few MiB, whatever the machine's address-space layout.
    std::fs::write(share.join("memo.pdf"), bomb_pdf(1024)).expect("write");
    let txt = share.join("soumu-12-juminhyo-tesuryo-r2.txt");
    let mut text = std::fs::read_to_string(&txt).expect("read");
    text.push_str("\n追記：メモリ上限の試験のための変更。\n");
    std::fs::write(&txt, text).expect("write");
    let out = env.command(&[]).env("SHIRABE_INDEXER__MAX_FILE_MEMORY_MIB", "256").output().expect("run the indexer");
    assert_eq!(out.status.code(), Some(2), "a file over the limit fails the file, not the run: {}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let failure = report["failed"].as_array().expect("failed").iter().find(|f| f["path"].as_str().is_some_and(|p| p.ends_with("memo.pdf"))).cloned();
    let reason = failure.as_ref().and_then(|f| f["reason"].as_str()).unwrap_or_default().to_string();
    assert!(reason.contains("memory limit"), "memo.pdf fails with the memory limit: {report}");
    let updated = names(&report, "updated");
    assert!(updated.len() == 1 && updated[0].ends_with("soumu-12-juminhyo-tesuryo-r2.txt"), "a good file still indexes: {report}");
    let after = signature(&env.state());
    let memo = |sig: &[String]| sig.iter().find(|s| s.ends_with("memo.pdf")).cloned();
    assert_eq!(memo(&after), memo(&before), "the previous version of the PDF stays searchable");
    // The watchdog stopped the worker near the limit, far below the bomb's 1 GiB.
    let worker_peak = report["worker_peak_rss_mib"].as_f64().unwrap_or(0.0);
    assert!(worker_peak > 0.0 && worker_peak < 700.0, "worst worker peak {worker_peak} MiB: {report}");
}

#[test]
fn a_text_file_without_line_breaks_is_truncated_not_fatal() {
    let env = Env::new();
    std::fs::create_dir_all(env.source()).expect("mkdir");
    // 630,000 characters on one line (1.9 MB); the cap is lowered so the test stays quick.
    std::fs::write(env.source().join("one-line.txt"), "住民票の写しの交付手数料は一通三百円とする".repeat(30_000)).expect("write");
    let out = env.command(&[]).env("SHIRABE_INDEXER__MAX_DOCUMENT_CHARS", "20000").output().expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let cut = &report["truncated"][0];
    assert!(cut["path"].as_str().is_some_and(|p| p.ends_with("one-line.txt")), "{report}");
    assert_eq!(cut["kept_chars"], 20_000, "{report}");
    assert_eq!(cut["total_chars"], 630_000, "{report}");
    let passages = report["passages"].as_u64().unwrap_or(0);
    assert!((40..=60).contains(&passages), "20,000 characters make about 50 passages: {report}");
    let state = env.state();
    let title = state["documents"].as_object().and_then(|d| d.values().next()).and_then(|d| d["title"].as_str()).unwrap_or_default().to_string();
    assert!(title.chars().count() <= 200, "the one line is not the title: {} chars", title.chars().count());
}

#[test]
fn an_empty_data_directory_indexes_and_finds_setups_assets() {
    // No SHIRABE_DATA_DIR: the dictionary, model and ONNX Runtime are found on their own.
    let env = Env::new();
    small_share(&env);
    let data = env.tmp.path().join("new-data");
    std::fs::create_dir_all(&data).expect("mkdir");
    let out = Command::new(env!("CARGO_BIN_EXE_shirabe-indexer"))
        .env_remove("SHIRABE_DATA_DIR")
        .env_remove("SHIRABE_INDEX_DIR")
        .env("SHIRABE_EMBEDDING__THREADS", "2")
        .env("RUST_LOG", "warn")
        .arg("--data-dir")
        .arg(&data)
        .arg(env.source())
        .output()
        .expect("run");
    assert!(out.status.success(), "an empty data directory works: {}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(names(&report, "added").len(), 3, "{report}");
    assert!(data.join("index").join("CURRENT").is_file(), "the index lives in the new data directory");
    assert!(!data.join("dict").exists(), "assets are not copied into it");
}
