//! poll, ppoll, select, pselect6.
//!
//! Each attempt polls every watched file ([`crate::kernel::poll`]); when
//! none is ready and time is left, the task blocks on the files' wait keys
//! and is retried when one posts or the timeout (or a timer's time) comes.

use alloc::vec;
use alloc::vec::Vec;

use super::time::{read_timespec, timespec_bytes};
use super::SyscallArgs;
use crate::error::{SysError, SysResult};
use crate::kernel::poll::poll_file;
use crate::kernel::{Kernel, Task};
use crate::platform::{Host, Platform};
use crate::time::timespec_from_ns;
use abi::linux::poll::{
    FD_SETSIZE, POLLERR, POLLFD_SIZE, POLLHUP, POLLIN, POLLNVAL, POLLOUT, POLLPRI, POLLRDNORM, POLLWRNORM,
};
use abi::linux::rlimit;
use abi::linux::signal::{SIGKILL, SIGSTOP};

/// One watched descriptor: its number, the events asked for, and what
/// the attempt found.
#[derive(Debug, Clone, Copy)]
struct Watch {
    fd: i32,
    events: u32,
    revents: u32,
}

/// Polls `watches` once. Returns how many have events; with none, and
/// when `may_block`, registers the task's waits for any of them to change.
fn poll_once<P: Platform>(
    k: &mut Kernel<P>,
    t: &mut Task<P::AddressSpace>,
    watches: &mut [Watch],
    may_block: bool,
) -> u64 {
    let mut ready = 0;
    let mut keys = Vec::new();
    let mut wake_at = None::<u64>;
    for w in watches.iter_mut() {
        w.revents = 0;
        if w.fd < 0 {
            continue;
        }
        let Ok(file) = t.file(w.fd) else {
            w.revents = POLLNVAL;
            ready += 1;
            continue;
        };
        let r = poll_file(k, t, &file);
        // Errors and hang-ups are reported whether asked for or not.
        w.revents = r.events & (w.events | POLLERR | POLLHUP);
        if w.revents != 0 {
            ready += 1;
        } else {
            keys.extend(r.key);
            if let Some(at) = r.at {
                wake_at = Some(wake_at.map_or(at, |d| d.min(at)));
            }
        }
    }
    if ready == 0 && may_block {
        for key in keys {
            t.wait_on(key);
        }
        if let Some(at) = wake_at {
            t.wake_by(at);
        }
    }
    ready
}

/// The common wait: polls `watches` until one is ready or `timeout_ns`
/// (None: forever) from the first attempt passes. `Ok(n)` is the count
/// of ready watches (0 on timeout); `Err(block)` when the task waits.
fn wait_ready<P: Platform>(
    k: &mut Kernel<P>,
    t: &mut Task<P::AddressSpace>,
    watches: &mut [Watch],
    timeout_ns: Option<u64>,
) -> Result<u64, SysError> {
    let now = k.host().clocks().monotonic_ns;
    let deadline = t.begin_timed_wait(now, timeout_ns);
    let expired = deadline.is_some_and(|d| now >= d);
    let n = poll_once(k, t, watches, !expired);
    if n > 0 || expired {
        return Ok(n);
    }
    Err(SysError::block())
}

/// Time left before the task's timeout, for the syscalls that write it back.
fn time_left<P: Platform>(k: &Kernel<P>, t: &Task<P::AddressSpace>) -> u64 {
    let now = k.host().clocks().monotonic_ns;
    t.timeout.map_or(0, |d| d.saturating_sub(now))
}

/// Reads a `struct pollfd` array.
fn read_pollfds<P: Platform>(
    k: &mut Kernel<P>,
    t: &Task<P::AddressSpace>,
    addr: u64,
    nfds: u64,
) -> Result<Vec<Watch>, SysError> {
    // As Linux: no more than RLIMIT_NOFILE, which itself never passes
    // nr_open (1 << 20); the bound also caps the buffer allocated here.
    const NR_OPEN: u64 = 1 << 20;
    let limit = t.rlimits[rlimit::RLIMIT_NOFILE as usize].cur.min(NR_OPEN);
    if nfds > limit {
        return Err(SysError::einval("nfds above RLIMIT_NOFILE"));
    }
    let len = usize::try_from(nfds * POLLFD_SIZE).map_err(|_| SysError::einval("nfds"))?;
    let mut buf = vec![0u8; len];
    t.mm.lock().copy_in(&mut k.frames, addr, &mut buf)?;
    Ok(buf
        .chunks_exact(8)
        .map(|c| Watch {
            fd: i32::from_le_bytes([c[0], c[1], c[2], c[3]]),
            events: u32::from(u16::from_le_bytes([c[4], c[5]])),
            revents: 0,
        })
        .collect())
}

/// Writes the revents fields back.
fn write_revents<P: Platform>(
    k: &mut Kernel<P>,
    t: &Task<P::AddressSpace>,
    addr: u64,
    watches: &[Watch],
) -> Result<(), SysError> {
    let mut mm = t.mm.lock();
    for (i, w) in watches.iter().enumerate() {
        let at = addr + i as u64 * POLLFD_SIZE + 6;
        #[allow(clippy::cast_possible_truncation)] // revents is a short; only low bits are set
        mm.copy_out(&mut k.frames, at, &(w.revents as u16).to_le_bytes())?;
    }
    Ok(())
}

fn do_poll<P: Platform>(
    k: &mut Kernel<P>,
    t: &mut Task<P::AddressSpace>,
    addr: u64,
    nfds: u64,
    timeout_ns: Option<u64>,
) -> SysResult {
    let mut watches = read_pollfds(k, t, addr, nfds)?;
    let n = wait_ready(k, t, &mut watches, timeout_ns)?;
    write_revents(k, t, addr, &watches)?;
    Ok(n)
}

/// Implements Linux `poll(2)`.
pub fn sys_poll<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let ms = a.int(2);
    let timeout = u64::try_from(ms).ok().map(|ms| ms * 1_000_000);
    do_poll(k, t, a.u64(0), a.u64(1), timeout)
}

/// Installs the temporary signal mask of ppoll/pselect6 on the first
/// attempt; the old one comes back when the call returns, or after the
/// handler of the signal that interrupted it.
pub(super) fn set_temp_mask<P: Platform>(
    k: &mut Kernel<P>,
    t: &mut Task<P::AddressSpace>,
    addr: u64,
    size: u64,
) -> Result<(), SysError> {
    if addr == 0 || t.saved_sigmask.is_some() {
        return Ok(());
    }
    if size != 8 {
        return Err(SysError::einval("sigsetsize is not 8"));
    }
    let m = t.mm.lock().read_u64(&mut k.frames, addr)?;
    t.saved_sigmask = Some(t.sigmask);
    t.sigmask = m & !((1 << (SIGKILL - 1)) | (1 << (SIGSTOP - 1)));
    Ok(())
}

/// Ends a ppoll/pselect6 that returns (rather than blocks): the caller's
/// mask comes back.
pub(super) fn finish_masked<A: crate::platform::AddressSpace>(t: &mut Task<A>, r: SysResult) -> SysResult {
    if matches!(r, Err(ref e) if e.is_block()) {
        return r;
    }
    if let Some(m) = t.saved_sigmask.take() {
        t.sigmask = m;
    }
    r
}

/// Writes the time left back to a timespec (ppoll, pselect6), as Linux does.
fn write_left_timespec<P: Platform>(k: &mut Kernel<P>, t: &Task<P::AddressSpace>, addr: u64) {
    if addr != 0 {
        let left = time_left(k, t);
        // Linux ignores a fault here (the result stands).
        let _ = t.mm.lock().copy_out(&mut k.frames, addr, &timespec_bytes(timespec_from_ns(left)));
    }
}

/// Implements Linux `ppoll(2)`.
pub fn sys_ppoll<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let tsp = a.u64(2);
    let timeout = if tsp == 0 { None } else { Some(read_timespec(k, t, tsp)?) };
    set_temp_mask(k, t, a.u64(3), a.u64(4))?;
    let r = do_poll(k, t, a.u64(0), a.u64(1), timeout);
    if !matches!(r, Err(ref e) if e.is_block()) && timeout.is_some() {
        write_left_timespec(k, t, tsp);
    }
    finish_masked(t, r)
}

/// The three fd sets of select, as bitmaps of `nfds` bits.
struct FdSets {
    sets: [Option<Vec<u64>>; 3],
}

fn read_fdset<P: Platform>(
    k: &mut Kernel<P>,
    t: &Task<P::AddressSpace>,
    addr: u64,
    words: usize,
) -> Result<Option<Vec<u64>>, SysError> {
    if addr == 0 {
        return Ok(None);
    }
    let mut b = vec![0u8; words * 8];
    t.mm.lock().copy_in(&mut k.frames, addr, &mut b)?;
    Ok(Some(b.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8]))).collect()))
}

/// The events that make an fd count as ready in each select set.
const SELECT_EVENTS: [u32; 3] = [POLLIN | POLLRDNORM | POLLHUP | POLLERR, POLLOUT | POLLWRNORM | POLLERR, POLLPRI];

fn do_select<P: Platform>(
    k: &mut Kernel<P>,
    t: &mut Task<P::AddressSpace>,
    a: &SyscallArgs,
    timeout_ns: Option<u64>,
) -> SysResult {
    let nfds = a.int(0);
    let nfds = usize::try_from(nfds).map_err(|_| SysError::einval("negative nfds"))?;
    let limit = usize::try_from(t.rlimits[rlimit::RLIMIT_NOFILE as usize].cur).unwrap_or(usize::MAX);
    let nfds = nfds.min(limit.max(usize::try_from(FD_SETSIZE).unwrap_or(usize::MAX)));
    let words = nfds.div_ceil(64);
    let addrs = [a.u64(1), a.u64(2), a.u64(3)];
    let mut sets = FdSets { sets: [None, None, None] };
    for (i, &addr) in addrs.iter().enumerate() {
        sets.sets[i] = read_fdset(k, t, addr, words)?;
    }
    let bit = |set: &Option<Vec<u64>>, fd: usize| set.as_ref().is_some_and(|s| s[fd / 64] & (1 << (fd % 64)) != 0);
    let mut watches = Vec::new();
    for fd in 0..nfds {
        let events = (0..3).filter(|&i| bit(&sets.sets[i], fd)).fold(0, |e, i| e | SELECT_EVENTS[i]);
        if events != 0 {
            let fd = i32::try_from(fd).map_err(|_| SysError::einval("nfds"))?;
            watches.push(Watch { fd, events, revents: 0 });
        }
    }
    for w in &watches {
        if t.file(w.fd).is_err() {
            return Err(SysError::ebadf("fd in a select set is not open"));
        }
    }
    wait_ready(k, t, &mut watches, timeout_ns)?;
    // Rebuild the sets with only the ready fds.
    let mut out: [Vec<u64>; 3] = [vec![0; words], vec![0; words], vec![0; words]];
    let mut count = 0u64;
    for w in &watches {
        let fd = usize::try_from(w.fd).unwrap_or(0);
        for i in 0..3 {
            if bit(&sets.sets[i], fd) && w.revents & SELECT_EVENTS[i] != 0 {
                out[i][fd / 64] |= 1 << (fd % 64);
                count += 1;
            }
        }
    }
    let mut mm = t.mm.lock();
    for (i, &addr) in addrs.iter().enumerate() {
        if addr != 0 {
            let bytes: Vec<u8> = out[i].iter().flat_map(|w| w.to_le_bytes()).collect();
            mm.copy_out(&mut k.frames, addr, &bytes)?;
        }
    }
    Ok(count)
}

/// Implements Linux `select(2)`.
pub fn sys_select<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let tvp = a.u64(4);
    let timeout = if tvp == 0 {
        None
    } else {
        let mut b = [0u8; 16];
        t.mm.lock().copy_in(&mut k.frames, tvp, &mut b)?;
        let sec = i64::from_le_bytes(b[..8].try_into().unwrap_or([0; 8]));
        let usec = i64::from_le_bytes(b[8..].try_into().unwrap_or([0; 8]));
        // Linux carries whole seconds out of tv_usec before checking.
        let sec = sec.saturating_add(usec / 1_000_000);
        let nsec = (usec % 1_000_000) * 1000;
        if sec < 0 || nsec < 0 {
            return Err(SysError::einval("invalid timeval"));
        }
        Some(sec.cast_unsigned().saturating_mul(1_000_000_000).saturating_add(nsec.cast_unsigned()))
    };
    let r = do_select(k, t, a, timeout);
    if tvp != 0 && !matches!(r, Err(ref e) if e.is_block()) {
        let left = time_left(k, t);
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&(left / 1_000_000_000).to_le_bytes());
        b[8..].copy_from_slice(&((left % 1_000_000_000) / 1000).to_le_bytes());
        let _ = t.mm.lock().copy_out(&mut k.frames, tvp, &b);
    }
    r
}

/// Implements Linux `pselect6(2)`.
pub fn sys_pselect6<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let tsp = a.u64(4);
    let timeout = if tsp == 0 { None } else { Some(read_timespec(k, t, tsp)?) };
    let sig = a.u64(5);
    if sig != 0 {
        // struct { const sigset_t *ss; size_t ss_len; }
        let mut b = [0u8; 16];
        t.mm.lock().copy_in(&mut k.frames, sig, &mut b)?;
        let ss = u64::from_le_bytes(b[..8].try_into().unwrap_or([0; 8]));
        let len = u64::from_le_bytes(b[8..].try_into().unwrap_or([0; 8]));
        set_temp_mask(k, t, ss, len)?;
    }
    let r = do_select(k, t, a, timeout);
    if !matches!(r, Err(ref e) if e.is_block()) && timeout.is_some() {
        write_left_timespec(k, t, tsp);
    }
    finish_masked(t, r)
}
