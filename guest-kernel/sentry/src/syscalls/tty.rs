//! read, write, ioctl and poll of terminals (`fs::tty`): the pty master,
//! its slave and the console, with job control (SIGTTIN/SIGTTOU for
//! background process groups) and the controlling-terminal ioctls.

use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::error::{SysError, SysResult};
use crate::fs::tty::{console, ldisc, Tty, TtyFile, TO_MASTER_MAX};
use crate::kernel::fd::File;
use crate::kernel::poll::{Readiness, READABLE, WRITABLE};
use crate::kernel::task::WaitKey;
use crate::kernel::{Kernel, Task};
use crate::platform::{Host, Platform};
use abi::linux::ioctl::*;
use abi::linux::poll::{POLLHUP, POLLIN};
use abi::linux::signal::{bit, SIGCONT, SIGHUP, SIGTTIN, SIGTTOU, SIGWINCH};
use abi::linux::{errno, Iovec};

/// Largest transfer of one call (a terminal's queues are smaller anyway).
const CHUNK: u64 = 64 << 10;

fn eio(why: &'static str) -> SysError {
    SysError::new(errno::EIO, why)
}

fn enotty(why: &'static str) -> SysError {
    SysError::new(errno::ENOTTY, why)
}

/// (pgid, sid) of `t`'s process.
fn ids<P: Platform>(k: &Kernel<P>, t: &Task<P::AddressSpace>) -> (u32, u32) {
    k.procs.get(&t.pid).map_or((0, 0), |p| (p.pgid, p.sid))
}

/// Whether group `pgid` of session `sid` is orphaned: no member has a
/// parent in another group of the same session (nobody to continue it).
fn orphaned<P: Platform>(k: &Kernel<P>, pgid: u32, sid: u32) -> bool {
    !k.procs
        .values()
        .filter(|p| p.pgid == pgid && p.zombie.is_none())
        .any(|p| k.procs.get(&p.ppid).is_some_and(|parent| parent.pgid != pgid && parent.sid == sid))
}

/// Linux's tty_check_change / job_control: a process of a background
/// group touching its controlling terminal gets `sig` (SIGTTIN for reads,
/// SIGTTOU for writes with TOSTOP and for changes) sent to its group, and
/// the call is retried once the signal has acted. A SIGTTIN that cannot
/// act (ignored, blocked, orphaned group) makes the call fail with EIO; a
/// SIGTTOU that is ignored or blocked lets it proceed.
fn job_check<P: Platform>(
    k: &mut Kernel<P>,
    t: &mut Task<P::AddressSpace>,
    tty: &Tty,
    sig: u32,
) -> Result<(), SysError> {
    let (pgid, sid) = ids(k, t);
    let fg = {
        let s = tty.state.lock();
        if s.session != Some(sid) {
            return Ok(());
        }
        match s.pgrp {
            Some(fg) => fg,
            None => return Ok(()),
        }
    };
    if fg == pgid {
        return Ok(());
    }
    let refused = t.sighand.lock().get(sig).handler == abi::linux::signal::SIG_IGN || t.sigmask & bit(sig) != 0;
    if refused {
        return if sig == SIGTTIN { Err(eio("background read with SIGTTIN ignored")) } else { Ok(()) };
    }
    if orphaned(k, pgid, sid) {
        return Err(eio("orphaned background process group"));
    }
    console::send_group(k, Some(&mut *t), pgid, sig);
    // Retried at once: the stop (or the handler) then takes over.
    let now = k.host().clocks().monotonic_ns;
    t.wait_on(WaitKey::Signal);
    t.wake_by(now);
    Err(SysError::block())
}

fn total_len(iovs: &[Iovec]) -> u64 {
    iovs.iter().fold(0u64, |a, i| a.saturating_add(i.len))
}

/// Copies `data` out to `iovs`.
fn copy_out_iovs<P: Platform>(
    k: &mut Kernel<P>,
    t: &mut Task<P::AddressSpace>,
    iovs: &[Iovec],
    data: &[u8],
) -> SysResult {
    let mut done = 0usize;
    for iov in iovs {
        if done == data.len() {
            break;
        }
        let n = usize::try_from(iov.len).unwrap_or(usize::MAX).min(data.len() - done);
        t.mm.lock().copy_out(&mut k.frames, iov.base, &data[done..done + n])?;
        done += n;
    }
    Ok(done as u64)
}

/// Copies up to [`CHUNK`] bytes in from `iovs`.
fn copy_in_iovs<P: Platform>(
    k: &mut Kernel<P>,
    t: &mut Task<P::AddressSpace>,
    iovs: &[Iovec],
) -> Result<Vec<u8>, SysError> {
    let total = usize::try_from(total_len(iovs).min(CHUNK)).unwrap_or(0);
    let mut buf = alloc::vec![0u8; total];
    let mut done = 0usize;
    for iov in iovs {
        if done == total {
            break;
        }
        let n = usize::try_from(iov.len).unwrap_or(usize::MAX).min(total - done);
        t.mm.lock().copy_in(&mut k.frames, iov.base, &mut buf[done..done + n])?;
        done += n;
    }
    Ok(buf)
}

/// Implements Linux `read(2)` of a terminal.
pub fn read<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, f: &TtyFile, iovs: &[Iovec]) -> SysResult {
    let max = usize::try_from(total_len(iovs).min(CHUNK)).unwrap_or(0);
    if max == 0 {
        return Ok(0);
    }
    let tty = &f.tty;
    if f.master {
        let data: Vec<u8> = {
            let mut s = tty.state.lock();
            if s.to_master.is_empty() {
                if s.slave_opened && s.slaves == 0 {
                    return Err(eio("pty slave closed"));
                }
                if f.nonblocking() {
                    return Err(SysError::new(errno::EAGAIN, "no pty output"));
                }
                drop(s);
                t.wait_on(tty.key());
                return Err(SysError::block());
            }
            let n = max.min(s.to_master.len());
            s.to_master.drain(..n).collect()
        };
        tty.notify();
        return copy_out_iovs(k, t, iovs, &data);
    }
    job_check(k, t, tty, SIGTTIN)?;
    if tty.host.is_some() {
        console::pump(k, Some(&mut *t), tty, 0);
    }
    let now = k.host().clocks().monotonic_ns;
    let timed_out = t.timeout.is_some_and(|d| now >= d);
    let mut s = tty.state.lock();
    if let Some(data) = s.ld.read(max, timed_out) {
        drop(s);
        tty.notify();
        return copy_out_iovs(k, t, iovs, &data);
    }
    if s.hung_up {
        return Ok(0);
    }
    if f.nonblocking() {
        return Err(SysError::new(errno::EAGAIN, "no terminal input"));
    }
    let timeout = s.ld.read_timeout_ns();
    drop(s);
    t.begin_timed_wait(now, timeout);
    t.wait_on(tty.key());
    Err(SysError::block())
}

/// Implements Linux `write(2)` of a terminal.
pub fn write<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, f: &TtyFile, iovs: &[Iovec]) -> SysResult {
    if total_len(iovs) == 0 {
        return Ok(0);
    }
    let tty = f.tty.clone();
    if f.master {
        // Input for the slave, as if typed.
        let data = copy_in_iovs(k, t, iovs)?;
        let fx = tty.state.lock().ld.receive(&data);
        if fx.taken == 0 {
            if f.nonblocking() {
                return Err(SysError::new(errno::EAGAIN, "terminal input queue full"));
            }
            t.wait_on(tty.key());
            return Err(SysError::block());
        }
        let taken = fx.taken as u64;
        console::apply_input(k, Some(t), &tty, fx);
        return Ok(taken);
    }
    let tostop = tty.state.lock().ld.termios.lflag & ldisc::lflag::TOSTOP != 0;
    if tostop {
        job_check(k, t, &tty, SIGTTOU)?;
    }
    {
        let s = tty.state.lock();
        if s.hung_up {
            return Err(eio("terminal hung up"));
        }
        if tty.host.is_none() && s.to_master.len() >= TO_MASTER_MAX {
            if f.nonblocking() {
                return Err(SysError::new(errno::EAGAIN, "pty output full"));
            }
            drop(s);
            t.wait_on(tty.key());
            return Err(SysError::block());
        }
    }
    let data = copy_in_iovs(k, t, iovs)?;
    let mut out = Vec::with_capacity(data.len());
    tty.state.lock().ld.process_output(&data, &mut out);
    if tty.host.is_some() {
        // A host descriptor closed under a descendant of an exec'd process
        // reads as a hang-up.
        console::write_host(k, &tty, &out)
            .map_err(|e| SysError::new(if e == errno::EBADF { errno::EIO } else { e }, "host terminal write failed"))?;
    } else {
        tty.state.lock().to_master.extend(out.iter());
        tty.notify();
    }
    Ok(data.len() as u64)
}

/// The readiness of a terminal side.
pub fn poll<P: Platform>(k: &Kernel<P>, f: &TtyFile) -> Readiness {
    let tty = &f.tty;
    let s = tty.state.lock();
    let mut events = 0;
    if f.master {
        if !s.to_master.is_empty() {
            events |= READABLE;
        }
        if s.slave_opened && s.slaves == 0 {
            events |= POLLHUP;
        }
        if s.ld.room() > 0 {
            events |= WRITABLE;
        }
    } else {
        let host_input = tty.host.is_some_and(|l| !s.hung_up && k.host().poll(l.read_fd, POLLIN, 0) & POLLIN != 0);
        if s.ld.has_input() || host_input {
            events |= READABLE;
        }
        if s.hung_up {
            events |= POLLHUP | READABLE;
        }
        if tty.host.is_some() || s.to_master.len() < TO_MASTER_MAX {
            events |= WRITABLE;
        }
    }
    Readiness { events, key: Some(tty.key()), at: None }
}

fn get_u32<P: Platform>(k: &mut Kernel<P>, t: &Task<P::AddressSpace>, addr: u64) -> Result<u32, SysError> {
    let mut b = [0u8; 4];
    t.mm.lock().copy_in(&mut k.frames, addr, &mut b)?;
    Ok(u32::from_le_bytes(b))
}

fn put_u32<P: Platform>(k: &mut Kernel<P>, t: &Task<P::AddressSpace>, addr: u64, v: u32) -> SysResult {
    t.mm.lock().copy_out(&mut k.frames, addr, &v.to_le_bytes())?;
    Ok(0)
}

/// Implements Linux `ioctl(2)` of a terminal.
pub fn ioctl<P: Platform>(
    k: &mut Kernel<P>,
    t: &mut Task<P::AddressSpace>,
    f: &Arc<TtyFile>,
    cmd: u64,
    arg: u64,
) -> SysResult {
    let tty = f.tty.clone();
    let (pgid, sid) = ids(k, t);
    let is_ctty = tty.state.lock().session == Some(sid);
    match cmd {
        TCGETS => {
            let b = tty.state.lock().ld.termios.to_bytes();
            t.mm.lock().copy_out(&mut k.frames, arg, &b)?;
            Ok(0)
        }
        TCSETS | TCSETSW | TCSETSF => {
            let mut b = [0u8; 36];
            t.mm.lock().copy_in(&mut k.frames, arg, &mut b)?;
            if !f.master {
                job_check(k, t, &tty, SIGTTOU)?;
            }
            let mut s = tty.state.lock();
            // Output is always drained (written synchronously), so
            // TCSETSW is TCSETS; TCSETSF also discards pending input.
            if cmd == TCSETSF {
                s.ld.flush_input();
            }
            s.ld.set_termios(ldisc::Termios::from_bytes(&b));
            drop(s);
            tty.notify();
            Ok(0)
        }
        TIOCGWINSZ => {
            let w = tty.state.lock().winsize;
            let mut b = [0u8; 8];
            for (i, v) in [w.ws_row, w.ws_col, w.ws_xpixel, w.ws_ypixel].iter().enumerate() {
                b[i * 2..i * 2 + 2].copy_from_slice(&v.to_le_bytes());
            }
            t.mm.lock().copy_out(&mut k.frames, arg, &b)?;
            Ok(0)
        }
        TIOCSWINSZ => {
            let mut b = [0u8; 8];
            t.mm.lock().copy_in(&mut k.frames, arg, &mut b)?;
            let v = |i: usize| u16::from_le_bytes([b[i * 2], b[i * 2 + 1]]);
            let w = abi::linux::Winsize { ws_row: v(0), ws_col: v(1), ws_xpixel: v(2), ws_ypixel: v(3) };
            let pgrp = {
                let mut s = tty.state.lock();
                let changed = s.winsize != w;
                s.winsize = w;
                s.pgrp.filter(|_| changed)
            };
            if let Some(g) = pgrp {
                console::send_group(k, Some(t), g, SIGWINCH);
            }
            Ok(0)
        }
        FIONREAD => {
            let n = {
                let s = tty.state.lock();
                if f.master {
                    s.to_master.len()
                } else {
                    s.ld.readable_len()
                }
            };
            put_u32(k, t, arg, u32::try_from(n).unwrap_or(u32::MAX))
        }
        TIOCOUTQ => {
            let n = if f.master || tty.host.is_some() { 0 } else { tty.state.lock().to_master.len() };
            put_u32(k, t, arg, u32::try_from(n).unwrap_or(u32::MAX))
        }
        TCFLSH => {
            // TCIFLUSH 0, TCOFLUSH 1, TCIOFLUSH 2; the master's view is
            // the other way round.
            let (input, output) = match (arg, f.master) {
                (0, false) | (1, true) => (true, false),
                (1, false) | (0, true) => (false, true),
                (2, _) => (true, true),
                _ => return Err(SysError::einval("bad TCFLSH queue")),
            };
            let mut s = tty.state.lock();
            if input {
                s.ld.flush_input();
            }
            if output {
                s.to_master.clear();
            }
            drop(s);
            tty.notify();
            Ok(0)
        }
        // Output is written synchronously: nothing is left to drain.
        TCSBRK | TCSBRKP => Ok(0),
        FIONBIO => {
            let on = get_u32(k, t, arg)? != 0;
            let mut fl = f.flags.lock();
            if on {
                *fl |= crate::vfs::file::flags::O_NONBLOCK;
            } else {
                *fl &= !crate::vfs::file::flags::O_NONBLOCK;
            }
            Ok(0)
        }
        TIOCGPGRP => {
            if !f.master && !is_ctty {
                return Err(enotty("not the controlling terminal"));
            }
            // Linux reports a pid no group has when there is no foreground.
            let g = tty.state.lock().pgrp.unwrap_or(0x7fff_ffff);
            put_u32(k, t, arg, g)
        }
        TIOCSPGRP => {
            if !is_ctty {
                return Err(enotty("not the controlling terminal"));
            }
            let g = get_u32(k, t, arg)?.cast_signed();
            if g < 0 {
                return Err(SysError::einval("negative process group"));
            }
            let g = g.cast_unsigned();
            if !k.procs.values().any(|p| p.pgid == g && p.zombie.is_none()) {
                return Err(SysError::new(errno::ESRCH, "no such process group"));
            }
            if !k.procs.values().any(|p| p.pgid == g && p.sid == sid) {
                return Err(SysError::new(errno::EPERM, "process group in another session"));
            }
            job_check(k, t, &tty, SIGTTOU)?;
            tty.state.lock().pgrp = Some(g);
            Ok(0)
        }
        TIOCGSID => {
            if !f.master && !is_ctty {
                return Err(enotty("not the controlling terminal"));
            }
            let session = tty.state.lock().session;
            put_u32(k, t, arg, session.ok_or(enotty("no session"))?)
        }
        TIOCSCTTY => {
            if f.master {
                return Err(SysError::new(errno::EINVAL, "a pty master cannot be a controlling terminal"));
            }
            if is_ctty {
                return Ok(0);
            }
            if sid != t.pid || crate::fs::tty::controlling(sid).is_some() {
                return Err(SysError::new(errno::EPERM, "not a session leader without a terminal"));
            }
            let mut s = tty.state.lock();
            if s.session.is_some() {
                let steal = arg == 1 && t.creds.capable(abi::linux::caps::CAP_SYS_ADMIN);
                if !steal {
                    return Err(SysError::new(errno::EPERM, "controlling terminal of another session"));
                }
            }
            s.session = Some(sid);
            s.pgrp = Some(pgid);
            Ok(0)
        }
        TIOCNOTTY => {
            if !is_ctty {
                return Err(enotty("not the controlling terminal"));
            }
            // A session leader gives the terminal up for the whole session
            // (its foreground group gets SIGHUP and SIGCONT). Other
            // processes cannot drop it alone here: the controlling
            // terminal is the session's, not kept per process.
            if sid == t.pid {
                let pgrp = {
                    let mut s = tty.state.lock();
                    s.session = None;
                    s.pgrp.take()
                };
                if let Some(g) = pgrp {
                    console::send_group(k, Some(&mut *t), g, SIGHUP);
                    console::send_group(k, Some(t), g, SIGCONT);
                }
            }
            Ok(0)
        }
        TIOCGPTN => match (f.master, tty.index) {
            (true, Some(i)) => put_u32(k, t, arg, i),
            _ => Err(enotty("not a pty master")),
        },
        TIOCSPTLCK => {
            if !f.master {
                return Err(enotty("not a pty master"));
            }
            let lock = get_u32(k, t, arg)? != 0;
            tty.state.lock().locked = lock;
            Ok(0)
        }
        TIOCGPTLCK => {
            if !f.master {
                return Err(enotty("not a pty master"));
            }
            let locked = tty.state.lock().locked;
            put_u32(k, t, arg, u32::from(locked))
        }
        TIOCGPTPEER => {
            if !f.master || tty.index.is_none() {
                return Err(enotty("not a pty master"));
            }
            let flags = u32::try_from(arg).map_err(|_| SysError::einval("bad flags"))?;
            let file = open_slave(tty, flags)?;
            let limit = t.fd_limit();
            let cloexec = flags & crate::vfs::file::flags::O_CLOEXEC != 0;
            t.fds.lock().install(file, 0, limit, cloexec).map(|fd| fd.unsigned_abs().into())
        }
        _ => Err(enotty("terminal ioctl not supported")),
    }
}

/// Flags an open terminal keeps (the access mode and O_NONBLOCK).
fn kept(flags: u32) -> u32 {
    use crate::vfs::file::flags::{O_ACCMODE, O_NONBLOCK};
    flags & (O_ACCMODE | O_NONBLOCK)
}

/// Opens the slave of pty `tty` (`/dev/pts/N`, TIOCGPTPEER).
pub fn open_slave(tty: Arc<Tty>, flags: u32) -> Result<File, SysError> {
    {
        let s = tty.state.lock();
        if s.locked {
            return Err(SysError::new(errno::EIO, "pty is locked (unlockpt)"));
        }
        if s.masters == 0 {
            return Err(SysError::new(errno::EIO, "pty master closed"));
        }
    }
    Ok(File::Tty(TtyFile::open(tty, false, kept(flags))))
}

/// Opens the terminal device `rdev` if it is one: `/dev/ptmx` (a new pty
/// master), `/dev/pts/N`, `/dev/console`, or `/dev/tty` when the caller
/// has a controlling terminal. A session leader without a controlling
/// terminal that opens a terminal without O_NOCTTY acquires it, as on
/// Linux. `None`: not a terminal device (or /dev/tty without one).
pub fn open_device<P: Platform>(
    k: &mut Kernel<P>,
    t: &Task<P::AddressSpace>,
    rdev: u64,
    flags: u32,
) -> Option<Result<File, SysError>> {
    use crate::fs::dev::{CONSOLE, PTMX, TTY};
    let (pgid, sid) = ids(k, t);
    let r = match rdev {
        PTMX => match crate::fs::tty::new_pty((t.creds.fsuid, t.creds.fsgid)) {
            Some(tty) => return Some(Ok(File::Tty(TtyFile::open(tty, true, kept(flags))))),
            None => return Some(Err(SysError::new(errno::ENOSPC, "no free pty"))),
        },
        CONSOLE => match console::get() {
            Some(c) => Ok(File::Tty(TtyFile::open(c, false, kept(flags)))),
            None => Err(SysError::new(errno::ENXIO, "the container has no terminal")),
        },
        TTY => match crate::fs::tty::controlling(sid) {
            Some(c) => return Some(Ok(File::Tty(TtyFile::open(c, false, kept(flags))))),
            // With a console, a process without a controlling terminal has
            // none to open; without one, /dev/tty is the host's terminal.
            None if console::get().is_some() => Err(SysError::new(errno::ENXIO, "no controlling terminal")),
            None => return None,
        },
        r => match crate::fs::tty::devpts::slave_index(r) {
            Some(i) => match crate::fs::tty::pty(i) {
                Some(tty) => open_slave(tty, flags),
                None => Err(SysError::new(errno::ENXIO, "no such pty")),
            },
            None => return None,
        },
    };
    if let Ok(File::Tty(f)) = &r {
        if flags & crate::vfs::file::flags::O_NOCTTY == 0 && sid == t.pid && crate::fs::tty::controlling(sid).is_none()
        {
            let mut s = f.tty.state.lock();
            if s.session.is_none() {
                s.session = Some(sid);
                s.pgrp = Some(pgid);
            }
        }
    }
    Some(r)
}

/// A session leader exited: its controlling terminal is released and
/// the foreground group gets SIGHUP and SIGCONT (Linux's disassociate_ctty).
pub fn session_leader_exited<P: Platform>(k: &mut Kernel<P>, cur: Option<&mut Task<P::AddressSpace>>, sid: u32) {
    if let Some((_tty, Some(pgrp))) = crate::fs::tty::session_ended(sid) {
        let mut cur = cur;
        console::send_group(k, cur.as_deref_mut(), pgrp, SIGHUP);
        console::send_group(k, cur, pgrp, SIGCONT);
    }
}
