//! The audit trail: every search, answer and document fetch appends one JSON line to an
//! append-only log, and each record carries the hash of the previous one.
//!
//! The chain makes tampering evident: editing a record changes its hash, removing or reordering
//! records breaks the `prev` links or the sequence numbers, and the separate `audit.head` file
//! (the last record's sequence number and hash, rewritten after every append) reveals records cut
//! from the end. `shirabe audit verify` names the first bad record. The log holds questions that
//! may be sensitive, so it is created with mode 0600 and served only to the auditor role.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

const LOG: &str = "audit.jsonl";
const HEAD: &str = "audit.head";
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What a caller did, as recorded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// `search`, `answer`, `document`, `file` or `audit`.
    pub action: String,
    pub caller: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<serde_json::Value>,
    #[serde(default)]
    pub documents: Vec<String>,
    #[serde(default)]
    pub passages: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abstained: Option<bool>,
    /// HTTP status of the response.
    pub status: u16,
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub seq: u64,
    pub time: String,
    #[serde(flatten)]
    pub event: Event,
    pub prev: String,
    pub hash: String,
}

impl Record {
    fn compute_hash(&self) -> String {
        let mut unhashed = self.clone();
        unhashed.hash = String::new();
        let body = serde_json::to_string(&unhashed).unwrap_or_default();
        hex::encode(Sha256::digest(body.as_bytes()))
    }
}

struct Tail {
    file: File,
    seq: u64,
    hash: String,
}

/// The open audit log.
pub struct AuditLog {
    dir: PathBuf,
    tail: Mutex<Tail>,
}

fn open_append(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

impl AuditLog {
    /// Opens (or creates) the log in `dir`, continuing the chain from its last record.
    pub fn open(dir: &Path) -> Result<AuditLog> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        let path = dir.join(LOG);
        let (mut seq, mut hash) = (0, GENESIS.to_string());
        if path.exists() {
            let f = File::open(&path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
            for line in BufReader::new(f).lines() {
                let line = line.map_err(|e| Error::io("reading the audit log", e))?;
                if let Ok(r) = serde_json::from_str::<Record>(&line) {
                    seq = r.seq;
                    hash = r.hash;
                }
            }
        }
        let file = open_append(&path).map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
        Ok(AuditLog { dir: dir.to_path_buf(), tail: Mutex::new(Tail { file, seq, hash }) })
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(LOG)
    }

    /// Appends a record; the write is flushed to disk before the call returns.
    pub fn append(&self, event: Event) -> Result<Record> {
        let mut tail = self.tail.lock();
        let mut record = Record {
            seq: tail.seq + 1,
            time: chrono::Utc::now().to_rfc3339(),
            event,
            prev: tail.hash.clone(),
            hash: String::new(),
        };
        record.hash = record.compute_hash();
        let line = serde_json::to_string(&record).map_err(|e| Error::Index(e.to_string()))?;
        tail.file.write_all(format!("{line}\n").as_bytes()).map_err(|e| Error::io("writing the audit log", e))?;
        tail.file.sync_data().map_err(|e| Error::io("syncing the audit log", e))?;
        let head_tmp = self.dir.join("audit.head.tmp");
        std::fs::write(&head_tmp, format!("{} {}\n", record.seq, record.hash)).map_err(|e| Error::io("writing audit.head", e))?;
        std::fs::rename(&head_tmp, self.dir.join(HEAD)).map_err(|e| Error::io("writing audit.head", e))?;
        tail.seq = record.seq;
        tail.hash = record.hash.clone();
        Ok(record)
    }

    /// The last `n` records (for the auditor endpoint).
    pub fn tail(&self, n: usize) -> Result<Vec<Record>> {
        let _guard = self.tail.lock();
        let text = std::fs::read_to_string(self.path()).map_err(|e| Error::io("reading the audit log", e))?;
        let mut records: Vec<Record> = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
        let skip = records.len().saturating_sub(n);
        Ok(records.split_off(skip))
    }
}

/// Why verification failed, naming the first bad record.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum VerifyError {
    #[error("line {line}: not a valid audit record ({reason})")]
    Malformed { line: usize, reason: String },
    #[error("record {seq} (line {line}) was edited: its hash does not match its content")]
    Edited { line: usize, seq: u64 },
    #[error("record at line {line} has sequence number {found}, expected {expected}: records were removed or reordered")]
    Sequence { line: usize, expected: u64, found: u64 },
    #[error("record {seq} (line {line}) does not link to the record before it: records were removed, inserted or reordered")]
    Broken { line: usize, seq: u64 },
    #[error("the log ends at record {last} but audit.head names record {head}: records were cut from the end")]
    Truncated { last: u64, head: u64 },
    #[error("cannot read the audit log: {0}")]
    Io(String),
}

/// Verifies the whole chain in `dir`; returns the number of records.
pub fn verify(dir: &Path) -> std::result::Result<u64, VerifyError> {
    let path = dir.join(LOG);
    let text = std::fs::read_to_string(&path).map_err(|e| VerifyError::Io(format!("{}: {e}", path.display())))?;
    let mut prev = GENESIS.to_string();
    let mut expected = 1;
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let r: Record = serde_json::from_str(line).map_err(|e| VerifyError::Malformed { line: line_no, reason: e.to_string() })?;
        if r.hash != r.compute_hash() {
            return Err(VerifyError::Edited { line: line_no, seq: r.seq });
        }
        if r.seq != expected {
            return Err(VerifyError::Sequence { line: line_no, expected, found: r.seq });
        }
        if r.prev != prev {
            return Err(VerifyError::Broken { line: line_no, seq: r.seq });
        }
        prev = r.hash;
        expected += 1;
    }
    let last = expected - 1;
    if let Ok(head) = std::fs::read_to_string(dir.join(HEAD)) {
        let mut parts = head.split_whitespace();
        let seq: u64 = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        let hash = parts.next().unwrap_or_default();
        if seq != last || (last > 0 && hash != prev) {
            return Err(VerifyError::Truncated { last, head: seq });
        }
    }
    Ok(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_with(n: usize) -> (tempfile::TempDir, AuditLog) {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = AuditLog::open(dir.path()).expect("open");
        for i in 0..n {
            log.append(Event { action: "search".into(), caller: "a".into(), query: Some(format!("質問{i}")), status: 200, ..Event::default() })
                .expect("append");
        }
        (dir, log)
    }

    fn rewrite(dir: &Path, f: impl FnOnce(&mut Vec<String>)) {
        let path = dir.join(LOG);
        let mut lines: Vec<String> = std::fs::read_to_string(&path).expect("read").lines().map(String::from).collect();
        f(&mut lines);
        std::fs::write(&path, lines.join("\n") + "\n").expect("write");
    }

    #[test]
    fn an_intact_chain_verifies_and_survives_reopening() {
        let (dir, log) = log_with(3);
        drop(log);
        let log = AuditLog::open(dir.path()).expect("reopen");
        log.append(Event { action: "answer".into(), caller: "b".into(), status: 200, ..Event::default() }).expect("append");
        assert_eq!(verify(dir.path()), Ok(4));
    }

    #[test]
    fn edits_removals_reorders_and_truncation_are_detected() {
        let (dir, _log) = log_with(5);
        rewrite(dir.path(), |l| l[2] = l[2].replace("質問2", "質問X"));
        assert_eq!(verify(dir.path()), Err(VerifyError::Edited { line: 3, seq: 3 }));

        let (dir, _log) = log_with(5);
        rewrite(dir.path(), |l| {
            l.remove(1);
        });
        assert!(matches!(verify(dir.path()), Err(VerifyError::Sequence { line: 2, expected: 2, found: 3 })));

        let (dir, _log) = log_with(5);
        rewrite(dir.path(), |l| l.swap(1, 2));
        assert!(matches!(verify(dir.path()), Err(VerifyError::Sequence { line: 2, .. })));

        let (dir, _log) = log_with(5);
        rewrite(dir.path(), |l| {
            l.pop();
        });
        assert_eq!(verify(dir.path()), Err(VerifyError::Truncated { last: 4, head: 5 }));
    }

    #[test]
    fn a_forged_record_with_a_recomputed_hash_breaks_the_link() {
        let (dir, _log) = log_with(3);
        rewrite(dir.path(), |l| {
            let mut r: Record = serde_json::from_str(&l[1]).expect("record");
            r.event.query = Some("改ざん".into());
            r.prev = GENESIS.into();
            r.hash = r.compute_hash();
            l[1] = serde_json::to_string(&r).expect("json");
        });
        assert_eq!(verify(dir.path()), Err(VerifyError::Broken { line: 2, seq: 2 }));
    }
}
