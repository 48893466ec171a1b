//! External tools (pdftotext, pdftoppm, tesseract) and the extraction worker as child processes
//! with a deadline and, optionally, a memory limit.
//!
//! A hung or slow tool must cost one file, not the run: the child is killed at the deadline.
//! Output is read on helper threads so that a chatty tool cannot block on a full pipe.
//!
//! The memory limit is a watchdog on resident memory: while the child runs, the resident set of
//! the child and every process it started (read from `/proc`) is summed every few milliseconds,
//! and the whole process group is killed when the sum passes the limit. It measures what the
//! kernel really gives the processes, unlike `RLIMIT_AS`, which counts reserved address space
//! (thread stacks, allocator arenas, mapped libraries) and so fails or passes depending on the
//! machine. What it cannot see is an allocation made and touched between two polls; that
//! overshoot is bounded by how fast a process can fault in pages in one interval.

use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// What a finished tool produced.
pub(crate) struct ToolOutput {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    /// The first 64 KiB of stderr, lossily decoded.
    pub stderr: String,
}

pub(crate) enum RunError {
    /// The executable is not installed.
    Missing,
    /// Killed at the deadline.
    Timeout,
    /// Killed because its process tree's resident memory passed the limit.
    Memory,
    Io(std::io::Error),
}

/// Reads a pipe to its end, keeping at most `cap` bytes.
fn drain(mut r: impl Read + Send + 'static, cap: usize) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut kept = Vec::new();
        let mut buf = [0u8; 64 * 1024];
        loop {
            match r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let room = cap.saturating_sub(kept.len());
                    kept.extend_from_slice(&buf[..n.min(room)]);
                }
            }
        }
        kept
    })
}

/// Kills the child, and with `group` the whole process group it leads.
fn kill(child: &mut Child, group: bool) {
    if group {
        if let Ok(pid) = libc::pid_t::try_from(child.id()) {
            // SAFETY: kill() sends a signal to the group the child leads; it touches no memory.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Resident memory of process `pid` in bytes (`/proc/<pid>/statm`), 0 if it is gone.
fn rss_of(pid: u32) -> u64 {
    // SAFETY: sysconf reads a constant of the system.
    let page = u64::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
    std::fs::read_to_string(format!("/proc/{pid}/statm"))
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|v| v.parse::<u64>().ok()))
        .map_or(0, |pages| pages * page)
}

/// The direct children of every thread of `pid` (`/proc/<pid>/task/<tid>/children`).
fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.flatten() {
        if let Ok(list) = std::fs::read_to_string(task.path().join("children")) {
            out.extend(list.split_whitespace().filter_map(|p| p.parse::<u32>().ok()));
        }
    }
    out
}

/// Resident memory of `root` and all its descendants, in bytes.
pub(crate) fn tree_rss(root: u32) -> u64 {
    let mut total = 0;
    let mut stack = vec![root];
    let mut seen = 0;
    while let Some(pid) = stack.pop() {
        seen += 1;
        if seen > 4096 {
            break; // a fork bomb is not ours to count
        }
        total += rss_of(pid);
        stack.extend(children_of(pid));
    }
    total
}

/// Runs `cmd` to completion or until `deadline`, capturing stdout (up to `stdout_cap` bytes).
pub(crate) fn run(cmd: &mut Command, deadline: Instant, stdout_cap: usize) -> Result<ToolOutput, RunError> {
    run_limited(cmd, deadline, stdout_cap, None)
}

/// [`run`] with a limit on the resident memory of the child and its descendants: the child is
/// started as the leader of a new process group, polled every [`WATCH_INTERVAL`], and the group
/// is killed when the sum passes `max_rss` bytes.
pub(crate) fn run_limited(cmd: &mut Command, deadline: Instant, stdout_cap: usize, max_rss: Option<u64>) -> Result<ToolOutput, RunError> {
    use std::os::unix::process::CommandExt;
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let group = max_rss.is_some();
    if group {
        cmd.process_group(0);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(RunError::Missing),
        Err(e) => return Err(RunError::Io(e)),
    };
    let (Some(out), Some(err)) = (child.stdout.take(), child.stderr.take()) else {
        kill(&mut child, group);
        return Err(RunError::Io(std::io::Error::other("child pipes missing")));
    };
    let out = drain(out, stdout_cap);
    let err = drain(err, 64 * 1024);
    let mut pause = Duration::from_millis(2);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                kill(&mut child, group);
                // The pipes close with the child; the readers end.
                let _ = out.join();
                let _ = err.join();
                return Err(RunError::Timeout);
            }
            Ok(None) => {
                if let Some(limit) = max_rss {
                    let rss = tree_rss(child.id());
                    PEAK_WATCHED_RSS.fetch_max(rss, std::sync::atomic::Ordering::Relaxed);
                    if rss > limit {
                        kill(&mut child, group);
                        let _ = out.join();
                        let _ = err.join();
                        return Err(RunError::Memory);
                    }
                    thread::sleep(WATCH_INTERVAL);
                } else {
                    thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
            }
            Err(e) => {
                kill(&mut child, group);
                return Err(RunError::Io(e));
            }
        }
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = String::from_utf8_lossy(&err.join().unwrap_or_default()).into_owned();
    Ok(ToolOutput { status, stdout, stderr })
}

/// The largest resident memory of a watched child's process tree seen by this process.
static PEAK_WATCHED_RSS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The largest resident memory, in bytes, that any memory-limited child (with its descendants)
/// reached in this process so far, as sampled by the watchdog; 0 when none ran.
pub fn peak_watched_rss() -> u64 {
    PEAK_WATCHED_RSS.load(std::sync::atomic::Ordering::Relaxed)
}

/// How often a memory-limited child's resident memory is read.
pub(crate) const WATCH_INTERVAL: Duration = Duration::from_millis(5);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_tool_is_reported() {
        let r = run(
            &mut Command::new("shirabe-no-such-tool"),
            Instant::now() + Duration::from_secs(5),
            1024,
        );
        assert!(matches!(r, Err(RunError::Missing)));
    }

    #[test]
    fn slow_tool_is_killed_at_the_deadline() {
        let start = Instant::now();
        let r = run(
            Command::new("sleep").arg("10"),
            Instant::now() + Duration::from_millis(200),
            1024,
        );
        assert!(matches!(r, Err(RunError::Timeout)));
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_child_over_the_memory_limit_is_killed_and_one_under_it_is_not() {
        // python3 holds 200 MiB of touched memory for a while; the limit is 64 MiB.
        let script = "b = bytearray(200 * 1024 * 1024)\nimport time\ntime.sleep(5)\n";
        let start = Instant::now();
        let r = run_limited(Command::new("python3").args(["-c", script]), Instant::now() + Duration::from_secs(30), 1024, Some(64 << 20));
        match r {
            Err(RunError::Memory) => assert!(peak_watched_rss() > 64 << 20, "the peak is recorded"),
            Err(RunError::Missing) => panic!("python3 is needed for this test"),
            _ => panic!("expected the memory limit"),
        }
        assert!(start.elapsed() < Duration::from_secs(5), "killed as soon as it passed the limit");
        // The same limit lets a small child finish.
        let Ok(out) = run_limited(Command::new("sh").args(["-c", "sleep 0.2; echo ok"]), Instant::now() + Duration::from_secs(10), 1024, Some(64 << 20)) else {
            panic!("a small child must pass");
        };
        assert!(out.status.success());
        assert_eq!(out.stdout, b"ok\n");
    }

    #[test]
    fn the_limit_counts_grandchildren() {
        // The shell itself is small; the memory is taken by its child.
        let script = "python3 -c 'b = bytearray(200 * 1024 * 1024)\nimport time\ntime.sleep(5)'; echo survived";
        let r = run_limited(Command::new("sh").args(["-c", script]), Instant::now() + Duration::from_secs(30), 1024, Some(64 << 20));
        assert!(matches!(r, Err(RunError::Memory)), "the grandchild's memory counts");
    }

    #[test]
    fn captures_output_with_a_cap() {
        let Ok(out) = run(
            Command::new("sh").args(["-c", "printf 'hello world'; echo oops >&2"]),
            Instant::now() + Duration::from_secs(10),
            5,
        ) else {
            panic!("sh failed");
        };
        assert!(out.status.success());
        assert_eq!(out.stdout, b"hello");
        assert_eq!(out.stderr.trim(), "oops");
    }
}
