//! The nightly indexer as a process: incremental runs, deletions and moves, bad files, a held
//! lock, and `kill -9` at random points with convergence to the uninterrupted result.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rand::Rng;
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
    fn run(&self, extra: &[&str]) -> Value {
        let out = self.command(extra).output().expect("run the indexer");
        assert!(out.status.success(), "indexer failed: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("JSON report")
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
    let first = env.run(&[]);
    assert_eq!(names(&first, "added").len(), 3, "{first}");
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

    let report = env.run(&[]);
    let failed = names(&report, "failed");
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
fn a_second_run_is_refused_while_the_lock_is_held() {
    let env = Env::new();
    small_share(&env);
    env.run(&[]);
    let mut child = env.command(&[]).spawn().expect("spawn");
    std::thread::sleep(Duration::from_millis(300));
    let out = env.command(&[]).output().expect("second");
    let _ = child.wait();
    if !out.status.success() {
        assert!(String::from_utf8_lossy(&out.stderr).contains("another indexer run"), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn kill_minus_nine_keeps_the_previous_index_and_rerun_converges() {
    let env = Env::new();
    small_share(&env);
    env.run(&[]);
    let base = signature(&env.state());
    // Add documents so the next run has real work to be interrupted in.
    let extra = env.source().join("extra");
    copy_dir(&repo().join("fixtures/docs/circulars"), &extra);
    let reference = {
        let clean = Env::new();
        copy_dir(&env.source(), &clean.source());
        clean.run(&[]);
        signature(&clean.state())
            .into_iter()
            .collect::<Vec<_>>()
    };
    let runs = std::env::var("SHIRABE_CRASH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let mut rng = rand::thread_rng();
    for i in 0..runs {
        let mut child = env.command(&[]).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().expect("spawn");
        std::thread::sleep(Duration::from_millis(rng.gen_range(200..4000)));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let sig = signature(&env.state());
        assert!(sig == base || sig == reference, "run {i}: the served state is neither the old nor the new one");
    }
    env.run(&[]);
    let ids = |sig: &[String]| sig.iter().map(|s| s.split(' ').next().unwrap_or_default().to_string()).collect::<Vec<_>>();
    assert_eq!(ids(&signature(&env.state())), ids(&reference), "re-run converges to the uninterrupted result");
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

#[test]
fn a_file_over_the_memory_limit_fails_and_keeps_its_previous_version() {
    let env = Env::new();
    small_share(&env);
    let share = env.source();
    std::fs::write(share.join("memo.pdf"), tiny_pdf("Shirabe memory limit test: the first version of this memo.")).expect("write");
    let first = env.run(&[]);
    assert!(names(&first, "added").iter().any(|p| p.ends_with("memo.pdf")), "the PDF indexes under the default limit: {first}");
    let before = signature(&env.state());
    assert!(before.iter().any(|s| s.ends_with("memo.pdf")), "{before:?}");

    // Change the PDF and a text file, then allow each file only 24 MiB: less than the PDF
    // extractors need (pdf-extract's thread alone reserves 64 MiB), more than a text file does.
    let mut pdf = std::fs::read(share.join("memo.pdf")).expect("read");
    pdf.extend_from_slice(b"% a changed copy\n");
    std::fs::write(share.join("memo.pdf"), pdf).expect("write");
    let txt = share.join("soumu-12-juminhyo-tesuryo-r2.txt");
    let mut text = std::fs::read_to_string(&txt).expect("read");
    text.push_str("\n追記：メモリ上限の試験のための変更。\n");
    std::fs::write(&txt, text).expect("write");
    let out = env.command(&[]).env("SHIRABE_INDEXER__MAX_FILE_MEMORY_MIB", "24").output().expect("run the indexer");
    assert!(out.status.success(), "a file over the limit is not fatal: {}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let failure = report["failed"].as_array().expect("failed").iter().find(|f| f["path"].as_str().is_some_and(|p| p.ends_with("memo.pdf"))).cloned();
    let reason = failure.as_ref().and_then(|f| f["reason"].as_str()).unwrap_or_default().to_string();
    assert!(reason.contains("memory limit"), "memo.pdf fails with the memory limit: {report}");
    let updated = names(&report, "updated");
    assert!(updated.len() == 1 && updated[0].ends_with("soumu-12-juminhyo-tesuryo-r2.txt"), "a good file still indexes: {report}");
    let after = signature(&env.state());
    let memo = |sig: &[String]| sig.iter().find(|s| s.ends_with("memo.pdf")).cloned();
    assert_eq!(memo(&after), memo(&before), "the previous version of the PDF stays searchable");
}
