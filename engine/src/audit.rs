//! The audit trail: every search, answer and document fetch appends one JSON line to an
//! append-only log, and each record carries the hash of the previous one.
//!
//! The chain makes tampering evident: editing a record changes its hash, removing or reordering
//! records breaks the `prev` links or the sequence numbers, and the separate `audit.head` file
//! (the last record's sequence number and hash, rewritten after every append) reveals records cut
//! from the end. `shirabe audit verify` names the first bad record. One process writes a log (an
//! exclusive lock on `audit.lock`), and a log that does not end where `audit.head` says is not
//! continued: the service refuses to start rather than overwrite the evidence. The log holds
//! questions that may be sensitive, so it is created with mode 0600 and served only to the
//! auditor role.

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
    /// Holds an exclusive `flock` on `audit.lock` while the log is open: one writer per log, so
    /// that two services on one data directory cannot each continue the chain from their own head.
    _lock: File,
}

/// The last record's sequence number and hash as `audit.head` holds them.
fn read_head(dir: &Path) -> Option<(u64, String)> {
    let text = std::fs::read_to_string(dir.join(HEAD)).ok()?;
    let mut parts = text.split_whitespace();
    let seq = parts.next()?.parse().ok()?;
    Some((seq, parts.next().unwrap_or_default().to_string()))
}

/// Whether the log's end (`last` record, whose `prev` link is `last_prev`, hash `last_hash`)
/// agrees with the head: the same record, or — after a crash between writing a record and the
/// head — the record right after the head's.
fn agrees_with_head(head: &(u64, String), last: u64, last_hash: &str, last_prev: &str) -> bool {
    (head.0 == last && (last == 0 || head.1 == last_hash)) || (head.0 + 1 == last && head.1 == last_prev)
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
    /// Opens (or creates) the log in `dir`, continuing the chain from its last record. Refuses
    /// when another process (or another `AuditLog` in this one) has the log open, and when the
    /// log does not end where `audit.head` says it does (records cut from the end, or the head
    /// removed): starting would rewrite the head and erase the evidence.
    pub fn open(dir: &Path) -> Result<AuditLog> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        let lock_path = dir.join("audit.lock");
        let lock = open_append(&lock_path).map_err(|e| Error::io(format!("opening {}", lock_path.display()), e))?;
        {
            use std::os::unix::io::AsRawFd;
            // SAFETY: flock on a file descriptor this function owns; no memory is shared.
            if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
                return Err(Error::Audit(format!(
                    "the audit log in {} is in use by another shirabe process; each service needs its own data directory (`--data-dir` or `SHIRABE_DATA_DIR`), or stop the other one first",
                    dir.display()
                )));
            }
        }
        let path = dir.join(LOG);
        let (mut seq, mut hash, mut prev) = (0, GENESIS.to_string(), GENESIS.to_string());
        if path.exists() {
            let f = File::open(&path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
            for line in BufReader::new(f).lines() {
                let line = line.map_err(|e| Error::io("reading the audit log", e))?;
                if let Ok(r) = serde_json::from_str::<Record>(&line) {
                    seq = r.seq;
                    hash = r.hash;
                    prev = r.prev;
                }
            }
        }
        let head = read_head(dir);
        let consistent = match &head {
            Some(h) => agrees_with_head(h, seq, &hash, &prev),
            None => seq == 0,
        };
        if !consistent {
            let head_says = head.map_or_else(|| "audit.head is missing".to_string(), |h| format!("audit.head names record {}", h.0));
            return Err(Error::Audit(format!(
                "the audit log in {} ends at record {seq} but {head_says}: records may have been cut from the end. Keep both files as evidence (`shirabe audit verify` names the first bad record), move them aside, and start again to begin a new log",
                dir.display()
            )));
        }
        let file = open_append(&path).map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
        Ok(AuditLog { dir: dir.to_path_buf(), tail: Mutex::new(Tail { file, seq, hash }), _lock: lock })
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
    #[error("the log has {last} records but audit.head is missing: records cut from the end could not be detected")]
    HeadMissing { last: u64 },
    #[error("cannot read the audit log: {0}")]
    Io(String),
}

/// Verifies the whole chain in `dir`; returns the number of records.
pub fn verify(dir: &Path) -> std::result::Result<u64, VerifyError> {
    let path = dir.join(LOG);
    let text = std::fs::read_to_string(&path).map_err(|e| VerifyError::Io(format!("{}: {e}", path.display())))?;
    let mut prev = GENESIS.to_string();
    let mut last_prev = GENESIS.to_string();
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
        last_prev = std::mem::replace(&mut prev, r.hash);
        expected += 1;
    }
    let last = expected - 1;
    match read_head(dir) {
        Some(head) if !agrees_with_head(&head, last, &prev, &last_prev) => Err(VerifyError::Truncated { last, head: head.0 }),
        None if last > 0 => Err(VerifyError::HeadMissing { last }),
        _ => Ok(last),
    }
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

    fn append_one(log: &AuditLog) {
        log.append(Event { action: "search".into(), caller: "a".into(), status: 200, ..Event::default() }).expect("append");
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
    fn a_second_writer_is_refused_and_the_first_keeps_the_chain() {
        let (dir, log) = log_with(2);
        let second = AuditLog::open(dir.path());
        assert!(second.as_ref().err().is_some_and(|e| e.to_string().contains("in use by another")), "{:?}", second.err());
        append_one(&log);
        drop(log);
        let reopened = AuditLog::open(dir.path()).expect("the lock goes with the first writer");
        reopened.append(Event { action: "search".into(), caller: "b".into(), status: 200, ..Event::default() }).expect("append");
        assert_eq!(verify(dir.path()), Ok(4));
    }

    #[test]
    fn a_cut_tail_or_a_missing_head_stops_the_service_and_fails_verification() {
        let (dir, log) = log_with(5);
        drop(log);
        rewrite(dir.path(), |l| {
            l.truncate(3);
        });
        let err = AuditLog::open(dir.path()).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("ends at record 3") && err.contains("names record 5"), "{err}");
        assert_eq!(verify(dir.path()), Err(VerifyError::Truncated { last: 3, head: 5 }), "the evidence is kept");

        let (dir, log) = log_with(3);
        drop(log);
        std::fs::remove_file(dir.path().join(HEAD)).expect("rm head");
        assert!(AuditLog::open(dir.path()).is_err());
        assert_eq!(verify(dir.path()), Err(VerifyError::HeadMissing { last: 3 }));

        // A crash between writing a record and the head leaves the head one behind: not a cut.
        let (dir, log) = log_with(3);
        let head = std::fs::read_to_string(dir.path().join(HEAD)).expect("head");
        append_one(&log);
        drop(log);
        std::fs::write(dir.path().join(HEAD), head).expect("old head");
        assert_eq!(verify(dir.path()), Ok(4));
        let log = AuditLog::open(dir.path()).expect("reopen after the crash");
        append_one(&log);
        assert_eq!(verify(dir.path()), Ok(5));
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
