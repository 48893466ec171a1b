//! External tools (pdftotext, pdftoppm, tesseract) as child processes with a deadline.
//!
//! A hung or slow tool must cost one file, not the run: the child is killed at the deadline.
//! Output is read on helper threads so that a chatty tool cannot block on a full pipe.

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

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Runs `cmd` to completion or until `deadline`, capturing stdout (up to `stdout_cap` bytes).
pub(crate) fn run(cmd: &mut Command, deadline: Instant, stdout_cap: usize) -> Result<ToolOutput, RunError> {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(RunError::Missing),
        Err(e) => return Err(RunError::Io(e)),
    };
    let (Some(out), Some(err)) = (child.stdout.take(), child.stderr.take()) else {
        kill(&mut child);
        return Err(RunError::Io(std::io::Error::other("child pipes missing")));
    };
    let out = drain(out, stdout_cap);
    let err = drain(err, 64 * 1024);
    let mut pause = Duration::from_millis(2);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                kill(&mut child);
                // The pipes close with the child; the readers end.
                let _ = out.join();
                let _ = err.join();
                return Err(RunError::Timeout);
            }
            Ok(None) => {
                thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Err(e) => {
                kill(&mut child);
                return Err(RunError::Io(e));
            }
        }
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = String::from_utf8_lossy(&err.join().unwrap_or_default()).into_owned();
    Ok(ToolOutput { status, stdout, stderr })
}

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
