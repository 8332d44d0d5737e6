//! `/dev/console` when the container has a terminal: the runtime handed the
//! pty master to its console-socket holder and gave the sandbox the slave,
//! in raw mode, as host fds 0 and 1. Bytes from host fd 0 are the
//! console's input (through its line discipline); its output goes to host
//! fd 1.
//!
//! Input is pulled from the host by [`pump`]: when the sentry idles (a
//! `Poll` hostcall that also ends when the host window size changes,
//! so a resize reaches the sandbox within ~20 ms while it waits), every
//! [`PUMP_INTERVAL_NS`] while tasks run (so ^C reaches a busy foreground
//! job), and when a task reads the console.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use super::Tty;
use crate::kernel::signal::SigInfo;
use crate::kernel::task::WaitKey;
use crate::kernel::{Kernel, Task};
use crate::platform::{Host, Platform};
use abi::linux::poll::{POLLERR, POLLHUP, POLLIN};
use abi::linux::signal::{SIGCONT, SIGHUP, SIGWINCH, SI_KERNEL};
use abi::linux::Winsize;

/// How often running tasks are interrupted to look for console input.
pub const PUMP_INTERVAL_NS: u64 = 10_000_000;
/// Largest host read per pump.
const PUMP_CHUNK: usize = 4096;

static CONSOLE: spin::Mutex<Option<Arc<Tty>>> = spin::Mutex::new(None);
static NEXT_PUMP: AtomicU64 = AtomicU64::new(0);
/// (st_dev, st_ino) of the `/dev/console` node, which fstat of the open
/// console reports.
static NODE: spin::Mutex<(u64, u64)> = spin::Mutex::new((0, 0));

/// Records the `/dev/console` node's identity.
pub fn set_node_ident(dev: u64, ino: u64) {
    *NODE.lock() = (dev, ino);
}

/// The `/dev/console` node's (st_dev, st_ino).
pub fn node_ident() -> (u64, u64) {
    *NODE.lock()
}

/// The console, if the container has a terminal.
pub fn get() -> Option<Arc<Tty>> {
    CONSOLE.lock().clone()
}

/// Whether the console still takes input from the host.
pub fn active() -> bool {
    get().is_some_and(|c| !c.state.lock().hung_up)
}

/// Creates the console, controlling terminal of session `sid` with
/// foreground group `sid` (init's).
pub fn init(winsize: Winsize, sid: u32) -> Arc<Tty> {
    let tty = Arc::new(Tty::new(None, Some(super::HostLink { read_fd: 0, write_fd: 1 })));
    {
        let mut s = tty.state.lock();
        s.winsize = winsize;
        s.session = Some(sid);
        s.pgrp = Some(sid);
        // The host side is the master: always there until it hangs up.
        s.masters = 1;
    }
    *CONSOLE.lock() = Some(tty.clone());
    tty
}

/// Sends `sig` to every process of group `pgrp`, as the kernel (the
/// terminal's signal characters, SIGWINCH, SIGTTIN/SIGTTOU, hangups).
pub fn send_group<P: Platform>(k: &mut Kernel<P>, mut cur: Option<&mut Task<P::AddressSpace>>, pgrp: u32, sig: u32) {
    let pids: Vec<u32> = k.procs.values().filter(|p| p.pgid == pgrp && p.zombie.is_none()).map(|p| p.pid).collect();
    for pid in pids {
        crate::kernel::timer::send(k, cur.as_deref_mut(), pid, None, SigInfo::new(sig, SI_KERNEL));
    }
}

/// Writes `bytes` to the host side of terminal `tty` (the console's is
/// host fd 1).
pub fn write_host<P: Platform>(k: &mut Kernel<P>, tty: &Tty, bytes: &[u8]) -> Result<(), i32> {
    let Some(link) = tty.host else { return Err(abi::linux::errno::EIO) };
    if bytes.is_empty() {
        return Ok(());
    }
    let pa = k.frames.alloc_zeroed().ok_or(abi::linux::errno::ENOMEM)?;
    let mut r = Ok(());
    for chunk in bytes.chunks(4096) {
        if !k.frames.phys().write(pa, chunk) {
            r = Err(abi::linux::errno::EFAULT);
            break;
        }
        let mut done = 0u64;
        let len = chunk.len() as u64;
        while done < len {
            match k.host().write(link.write_fd, &[(pa + done, len - done)]) {
                Ok(0) => {
                    r = Err(abi::linux::errno::EIO);
                    break;
                }
                Ok(n) => done += n as u64,
                Err(e) => {
                    r = Err(e);
                    break;
                }
            }
        }
        if r.is_err() {
            break;
        }
    }
    k.frames.put(pa);
    r
}

/// Applies the effects of input the line discipline took: echo to the
/// host, signals to the foreground group.
pub fn apply_input<P: Platform>(
    k: &mut Kernel<P>,
    mut cur: Option<&mut Task<P::AddressSpace>>,
    tty: &Tty,
    fx: super::ldisc::InputEffects,
) {
    if tty.host.is_some() {
        let _ = write_host(k, tty, &fx.echo);
    } else {
        tty.state.lock().to_master.extend(fx.echo.iter());
    }
    if !fx.signals.is_empty() {
        let pgrp = tty.state.lock().pgrp;
        if let Some(pgrp) = pgrp {
            for sig in fx.signals {
                send_group(k, cur.as_deref_mut(), pgrp, sig);
            }
        }
    }
    tty.notify();
}

/// Pulls what the host side of `con` (the console, or an exec'd process's
/// pty) has, waiting up to `wait_ns` for it, into its line discipline, and
/// notices window size changes. Returns whether anything happened.
pub fn pump<P: Platform>(
    k: &mut Kernel<P>,
    mut cur: Option<&mut Task<P::AddressSpace>>,
    con: &Arc<Tty>,
    wait_ns: u64,
) -> bool {
    let Some(link) = con.host else { return false };
    let (known, room, hung_up) = {
        let s = con.state.lock();
        (s.winsize, s.ld.room(), s.hung_up)
    };
    if hung_up {
        return false;
    }
    // With a full input queue, only the window size is watched.
    let (events, winsize) = k.host().poll_terminal(link.read_fd, if room == 0 { 0 } else { wait_ns }, known);
    let mut happened = false;
    if winsize != known {
        let pgrp = {
            let mut s = con.state.lock();
            s.winsize = winsize;
            s.pgrp
        };
        if let Some(pgrp) = pgrp {
            send_group(k, cur.as_deref_mut(), pgrp, SIGWINCH);
        }
        happened = true;
    }
    if room == 0 || events & (POLLIN | POLLHUP | POLLERR) == 0 {
        return happened;
    }
    let Some(pa) = k.frames.alloc_zeroed() else { return happened };
    let want = room.min(PUMP_CHUNK);
    let r = k.host().read(link.read_fd, &[(pa, want as u64)]);
    let mut buf = alloc::vec![0u8; want];
    let n = match r {
        Ok(n) if n > 0 && k.frames.phys().read(pa, &mut buf[..n.min(want)]) => n.min(want),
        _ => 0,
    };
    k.frames.put(pa);
    if n == 0 {
        hang_up(k, cur, con);
        return true;
    }
    let fx = con.state.lock().ld.receive(&buf[..n]);
    apply_input(k, cur, con, fx);
    true
}

/// The host terminal is gone (its master closed): readers see end of
/// file, and the session's foreground group gets SIGHUP and SIGCONT.
fn hang_up<P: Platform>(k: &mut Kernel<P>, mut cur: Option<&mut Task<P::AddressSpace>>, con: &Tty) {
    let pgrp = {
        let mut s = con.state.lock();
        s.hung_up = true;
        s.pgrp
    };
    if let Some(pgrp) = pgrp {
        send_group(k, cur.as_deref_mut(), pgrp, SIGHUP);
        send_group(k, cur, pgrp, SIGCONT);
    }
    con.notify();
}

/// The scheduler's periodic look at the host terminals while tasks run.
pub fn pump_if_due<P: Platform>(k: &mut Kernel<P>, now: u64) {
    if NEXT_PUMP.load(Ordering::Relaxed) > now {
        return;
    }
    NEXT_PUMP.store(now + PUMP_INTERVAL_NS, Ordering::Relaxed);
    for tty in super::host_linked() {
        pump(k, None, &tty, 0);
    }
}

/// The key a console reader waits on.
pub const fn key() -> WaitKey {
    WaitKey::HostStdin
}
