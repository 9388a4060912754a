//! Child processes, timed, with their peak RSS (`wait4`'s rusage, `ru_maxrss`).

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Measured {
    pub wall: Duration,
    /// Peak resident set size of the child, in KiB.
    pub max_rss_kib: u64,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Measured {
    pub fn rss_mb(&self) -> f64 {
        self.max_rss_kib as f64 * 1024.0 / 1e6
    }
}

/// Runs `cmd` to its end: wall time, peak RSS, exit code (minus the signal when killed), output.
pub fn run(cmd: &mut Command) -> Result<Measured, String> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let out = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain data; wait4 fills it for our own child, which it reaps (`child`
    // is not waited for afterwards).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    if r != pid {
        return Err(format!("wait4: {}", std::io::Error::last_os_error()));
    }
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        -libc::WTERMSIG(status)
    } else {
        -1
    };
    Ok(Measured {
        wall,
        max_rss_kib: usage.ru_maxrss.max(0) as u64,
        code,
        stdout: String::from_utf8_lossy(&out.join().unwrap_or_default()).into_owned(),
        stderr: String::from_utf8_lossy(&err.join().unwrap_or_default()).into_owned(),
    })
}

/// The median of `runs` runs of `make()`'s command (each must exit 0), and the largest peak RSS.
pub fn median_of(runs: usize, mut make: impl FnMut() -> Command) -> Result<Measured, String> {
    let mut all = Vec::new();
    for _ in 0..runs.max(1) {
        let m = run(&mut make())?;
        if m.code != 0 {
            return Err(format!("exit {}: {}", m.code, m.stderr));
        }
        all.push(m);
    }
    let max_rss = all.iter().map(|m| m.max_rss_kib).max().unwrap_or(0);
    all.sort_by_key(|m| m.wall);
    let mut mid = all.swap_remove(all.len() / 2);
    mid.max_rss_kib = max_rss;
    Ok(mid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_exit_codes_output_and_a_peak_rss() {
        let m = run(Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"])).unwrap();
        assert_eq!(
            (m.code, m.stdout.as_str(), m.stderr.as_str()),
            (3, "out\n", "err\n")
        );
        assert!(m.max_rss_kib > 0);
        let ok = median_of(3, || {
            let mut c = Command::new("sh");
            c.args(["-c", "true"]);
            c
        })
        .unwrap();
        assert_eq!(ok.code, 0);
        assert!(median_of(1, || Command::new("false")).is_err());
    }
}
