//! A sampling profiler of the guest for hosts where `perf` cannot see into
//! it (on kvm_pvm, guest time shows up as one host instruction):
//! `RINGFENCE_GUEST_PROFILE=FILE` kicks the vCPU out of `KVM_RUN` every
//! 100 us, the run loop records where the guest was, and `FILE` gets one
//! `rip user` line per sample (hex rip, 1 for user mode) at the end.
//! Symbolize with `addr2line -f -e ringfence-guest`. Each sample costs an
//! exit (~30 us here): the profile is right in shares, not in totals.

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::vstate::VcpuKick;

const ENV: &str = "RINGFENCE_GUEST_PROFILE";
const PERIOD: Duration = Duration::from_micros(100);

/// The kicking thread and where the samples go.
pub struct Sampler {
    path: std::path::PathBuf,
    file: std::fs::File,
    done: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Sampler {
    /// A running sampler of the vCPU behind `kick`, if the environment asks.
    pub fn from_env(kick: VcpuKick) -> Option<Self> {
        let path = std::path::PathBuf::from(std::env::var_os(ENV).filter(|v| !v.is_empty())?);
        let file = std::fs::OpenOptions::new().create(true).append(true).open(&path).ok()?;
        let done = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&done);
        let thread = std::thread::Builder::new()
            .name("rf-profile".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(PERIOD);
                    let _ = kick.kick();
                }
            })
            .ok()?;
        Some(Self { path, file, done, thread: Some(thread) })
    }

    /// Stops kicking and writes `samples` out.
    pub fn finish(mut self, samples: Vec<(u64, bool)>) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let text: String = samples.iter().map(|(rip, user)| format!("{rip:x} {}\n", u8::from(*user))).collect();
        if let Err(err) = self.file.write_all(text.as_bytes()) {
            tracing::warn!(%err, path = %self.path.display(), "cannot write the guest profile");
        }
    }
}
