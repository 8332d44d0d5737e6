//! `start`'s wait for the sandbox process to take the start: the byte it
//! writes into the start FIFO once `start` opens it for reading.

use std::fs::File;
use std::io::{ErrorKind, Read as _};
use std::os::fd::{AsFd as _, BorrowedFd};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

/// Waits until the sandbox process's byte arrives on `fifo` (opened for
/// reading, non-blocking), it dies (`alive` turns false; `watch`, its
/// pidfd, becomes readable then), or `timeout` passes.
pub fn wait_for_start(
    fifo: &mut File,
    watch: Option<BorrowedFd<'_>>,
    mut alive: impl FnMut() -> bool,
    timeout: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    let mut byte = [0u8; 1];
    loop {
        // Looked at before the read, not after: a container as short as
        // /bin/true runs to its end in ~15 ms after the byte is written,
        // and a `start` preempted that long between a read that found
        // nothing and the check saw a dead process whose byte was already
        // in the FIFO (1 run in ~50-300 on a loaded machine). A byte
        // written before the death is in the FIFO now, kept while the read
        // end is open.
        let dead = !alive();
        match fifo.read(&mut byte) {
            Ok(1) => return Ok(()),
            // No writer yet (0), or one that has not written.
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
            Err(e) => return Err(e).context("cannot read the start FIFO"),
        }
        if dead {
            bail!("the sandbox process exited before start");
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            bail!("the sandbox process did not take the start");
        }
        // Wakes when the sandbox process writes its byte, or dies.
        let ms = i32::try_from(left.as_millis()).unwrap_or(i32::MAX);
        let fds: Vec<BorrowedFd<'_>> = std::iter::once(fifo.as_fd()).chain(watch).collect();
        match crate::sys::poll_readable(&fds, ms) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e).context("cannot wait for the sandbox process"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    use std::path::PathBuf;

    use super::*;

    struct Fifo(PathBuf);

    impl Fifo {
        fn new(name: &str) -> Self {
            let path = std::env::temp_dir().join(format!("rf-startwait-{name}-{}", std::process::id()));
            let _ = std::fs::remove_file(&path);
            crate::sys::mkfifo(&path).expect("mkfifo");
            Fifo(path)
        }

        /// The read end, as `start` opens it.
        fn reader(&self) -> File {
            std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(&self.0).expect("open the FIFO")
        }

        /// The write end, as the sandbox process opens it (a reader exists).
        fn writer(&self) -> File {
            std::fs::OpenOptions::new().write(true).open(&self.0).expect("open the FIFO")
        }
    }

    impl Drop for Fifo {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    const LONG: Duration = Duration::from_secs(10);

    /// The race seen under load: the sandbox process wrote its byte and
    /// exited (its container ran to the end) before `start` looked. It
    /// took the start: `run` goes on to report the container's status.
    #[test]
    fn byte_written_before_the_exit_is_a_start() {
        let fifo = Fifo::new("race");
        let mut r = fifo.reader();
        fifo.writer().write_all(b"0").expect("write the byte");
        wait_for_start(&mut r, None, || false, LONG).expect("a start");
    }

    /// Same, the byte and the exit landing between a read that found
    /// nothing and the liveness check.
    #[test]
    fn byte_and_exit_between_read_and_check_is_a_start() {
        let fifo = Fifo::new("between");
        let mut r = fifo.reader();
        let mut w = Some(fifo.writer());
        let mut calls = 0;
        let alive = || {
            calls += 1;
            if calls == 1 {
                return true;
            }
            // The second look, after the first read found nothing.
            if let Some(mut w) = w.take() {
                w.write_all(b"0").expect("write the byte");
            }
            false
        };
        // Its pidfd, readable once it died: the poll returns at once.
        let (pidfd, mut death) = std::os::unix::net::UnixStream::pair().expect("socketpair");
        death.write_all(b"x").expect("write");
        wait_for_start(&mut r, Some(pidfd.as_fd()), alive, LONG).expect("a start");
    }

    #[test]
    fn exit_without_byte_is_an_error() {
        let fifo = Fifo::new("dead");
        let mut r = fifo.reader();
        drop(fifo.writer());
        let e = wait_for_start(&mut r, None, || false, LONG).expect_err("no start");
        assert_eq!(e.to_string(), "the sandbox process exited before start");
    }

    #[test]
    fn byte_later_wakes_the_wait() {
        let fifo = Fifo::new("later");
        let mut r = fifo.reader();
        let path = fifo.0.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .expect("open the FIFO")
                .write_all(b"0")
                .expect("write the byte");
        });
        let t0 = Instant::now();
        wait_for_start(&mut r, None, || true, LONG).expect("a start");
        assert!(t0.elapsed() < Duration::from_secs(5));
        t.join().expect("writer thread");
    }

    #[test]
    fn no_byte_times_out() {
        let fifo = Fifo::new("timeout");
        let mut r = fifo.reader();
        let e = wait_for_start(&mut r, None, || true, Duration::from_millis(50)).expect_err("no start");
        assert_eq!(e.to_string(), "the sandbox process did not take the start");
    }
}
