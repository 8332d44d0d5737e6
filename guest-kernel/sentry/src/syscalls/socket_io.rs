//! sendto, recvfrom, sendmsg, recvmsg, and read/write on sockets, with
//! SCM_RIGHTS and SCM_CREDENTIALS control messages laid out as Linux's
//! (`struct cmsghdr` of 16 bytes, CMSG_ALIGN 8).
//!
//! A blocking stream send moves what fits and waits for room, keeping the
//! bytes moved in `t.progress` (a signal then returns that count, as
//! Linux); so does a MSG_WAITALL stream receive.

use alloc::sync::Arc;
use alloc::vec::Vec;

use super::read_write::{clip, read_iovecs, user_segments, Dir};
use super::socket::{cred, lookup, put_name, read_name, sock};
use super::SyscallArgs;
use crate::error::{SysError, SysResult};
use crate::fs::socket::{names, Cred, Io, Msg, Received, Socket};
use crate::kernel::deliver::{self, Sender};
use crate::kernel::fd::File;
use crate::kernel::signal::SigInfo;
use crate::kernel::task::WaitKey;
use crate::kernel::{Kernel, Task};
use crate::platform::{PhysAddr, Platform};
use abi::linux::signal::{SIGPIPE, SI_USER};
use abi::linux::socket::*;
use abi::linux::{errno, Iovec};

/// Largest control buffer a send takes (net.core.optmem_max).
const OPTMEM_MAX: u64 = 20480;

/// read/write/readv/writev on a socket: a receive or send with no flags.
pub(super) fn transfer<P: Platform>(
    k: &mut Kernel<P>,
    t: &mut Task<P::AddressSpace>,
    s: &Arc<Socket>,
    iovs: &[Iovec],
    dir: Dir,
) -> SysResult {
    match dir {
        Dir::Read => recv(k, t, s, iovs, 0).map(|r| r.ret),
        Dir::Write => send(k, t, s, iovs, 0, None, Vec::new(), None),
    }
}

/// Copies `data` into the physical segments in order.
fn scatter(phys: &crate::platform::PhysMem, segs: &[(PhysAddr, u64)], data: &[u8]) {
    let mut off = 0usize;
    for &(pa, len) in segs {
        if off >= data.len() {
            break;
        }
        let n = usize::try_from(len).unwrap_or(usize::MAX).min(data.len() - off);
        phys.write(pa, &data[off..off + n]);
        off += n;
    }
}

/// Reads `n` bytes of the iovecs after the first `skip`.
fn gather<P: Platform>(
    k: &mut Kernel<P>,
    t: &mut Task<P::AddressSpace>,
    iovs: &[Iovec],
    skip: u64,
    n: usize,
) -> Result<Vec<u8>, SysError> {
    let segs = user_segments(k, t, &clip(iovs, skip + n as u64), false, skip)?;
    let phys = *k.frames.phys();
    let mut out = alloc::vec![0u8; n];
    let mut off = 0usize;
    for (pa, len) in segs {
        if off >= n {
            break;
        }
        let m = usize::try_from(len).unwrap_or(usize::MAX).min(n - off);
        phys.read(pa, &mut out[off..off + m]);
        off += m;
    }
    out.truncate(off);
    Ok(out)
}

/// Raises SIGPIPE for a send to a closed peer unless MSG_NOSIGNAL.
fn sigpipe<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, flags: u32) {
    if flags & MSG_NOSIGNAL == 0 {
        let info = SigInfo::from_process(SIGPIPE, SI_USER, t.pid, 0);
        let tid = t.tid;
        let _ = deliver::send_thread(k, t, tid, info, Sender::Kernel);
    }
}

/// Sends the iovecs' bytes (and `files`, `creds`) on `s`, to `to` or the peer.
#[allow(clippy::too_many_arguments)]
fn send<P: Platform>(
    k: &mut Kernel<P>,
    t: &mut Task<P::AddressSpace>,
    s: &Arc<Socket>,
    iovs: &[Iovec],
    flags: u32,
    to: Option<Arc<Socket>>,
    files: Vec<File>,
    creds: Option<Cred>,
) -> SysResult {
    if flags & MSG_OOB != 0 {
        return Err(SysError::new(errno::EOPNOTSUPP, "no out-of-band data on unix sockets"));
    }
    let done = t.progress;
    let target = match s.send_target(to) {
        Ok(x) => x,
        Err(e) if e.errno == errno::EPIPE => {
            // Datagram sockets fail without the signal, as Linux.
            if s.kind.connection() {
                sigpipe(k, t, flags);
            }
            return if done > 0 { Ok(done) } else { Err(e) };
        }
        Err(e) => return Err(e),
    };
    if s.passcred() && s.addr().is_none() {
        names::autobind(s)?;
    }
    let nonblock = s.nonblocking() || flags & MSG_DONTWAIT != 0;
    let total: u64 = iovs.iter().map(|i| i.len).sum();
    let creds = creds.unwrap_or_else(|| cred(t));
    let wait = |t: &mut Task<P::AddressSpace>| {
        t.wait_on(WaitKey::Io(target.id));
        t.wait_on(WaitKey::Io(s.id));
        Err(SysError::block())
    };
    if !s.kind.datagrams() {
        if total == 0 {
            return Ok(0);
        }
        let room = s.stream_room(&target);
        if room == 0 {
            if nonblock {
                return if done > 0 { Ok(done) } else { Err(SysError::new(errno::EAGAIN, "peer's buffer full")) };
            }
            return wait(t);
        }
        let n = usize::try_from(total - done).unwrap_or(usize::MAX).min(room).min(1 << 20);
        let data = match gather(k, t, iovs, done, n) {
            Ok(d) => d,
            Err(e) if done == 0 => return Err(e),
            Err(_) => return Ok(done),
        };
        let sent = data.len() as u64;
        let files = if done == 0 { files } else { Vec::new() };
        target.deliver(Msg::new(data, files, creds, s.addr()));
        let done = done + sent;
        if done < total && !nonblock {
            t.progress = done;
            return wait(t);
        }
        return Ok(done);
    }
    let len = usize::try_from(total).map_err(|_| SysError::new(errno::EMSGSIZE, "message too long"))?;
    if !s.dgram_fits(&target, len)? {
        if nonblock {
            return Err(SysError::new(errno::EAGAIN, "receiver's queue full"));
        }
        return wait(t);
    }
    let data = gather(k, t, iovs, 0, len)?;
    if data.len() < len {
        return Err(SysError::efault("message buffer not readable"));
    }
    target.deliver(Msg::new(data, files, creds, s.addr()));
    Ok(total)
}

/// A finished receive: the return value, msg_flags and what came along.
struct RecvOut {
    ret: u64,
    flags: u32,
    got: Option<Received>,
}

fn recv<P: Platform>(
    k: &mut Kernel<P>,
    t: &mut Task<P::AddressSpace>,
    s: &Arc<Socket>,
    iovs: &[Iovec],
    flags: u32,
) -> Result<RecvOut, SysError> {
    if flags & MSG_OOB != 0 {
        return Err(SysError::new(errno::EOPNOTSUPP, "no out-of-band data on unix sockets"));
    }
    let peek = flags & MSG_PEEK != 0;
    let nonblock = s.nonblocking() || flags & MSG_DONTWAIT != 0;
    let waitall = flags & MSG_WAITALL != 0 && !s.kind.datagrams() && !peek;
    let total: u64 = iovs.iter().map(|i| i.len).sum();
    let done = t.progress;
    let partial = |n: u64| RecvOut { ret: n, flags: 0, got: None };
    if total == done && !s.kind.datagrams() {
        return Ok(partial(done));
    }
    // Fault in the part of the buffer the data will fill before taking
    // it off the queue.
    let want = (total - done).min(s.pending_len() as u64);
    let segs = user_segments(k, t, &clip(iovs, done + want), true, done)?;
    let room: u64 = segs.iter().map(|s| s.1).sum();
    let max = usize::try_from(room).unwrap_or(usize::MAX);
    let got = match s.recv(max, peek) {
        Ok(Io::Done(Some(r))) => r,
        Ok(Io::Done(None)) => return Ok(partial(done)),
        Ok(Io::Wait(_)) if done > 0 && nonblock => return Ok(partial(done)),
        Ok(Io::Wait(_)) if nonblock => return Err(SysError::new(errno::EAGAIN, "nothing to receive")),
        Ok(Io::Wait(_)) => {
            t.wait_on(WaitKey::Io(s.id));
            return Err(SysError::block());
        }
        Err(e) if done > 0 => {
            let _ = e;
            return Ok(partial(done));
        }
        Err(e) => return Err(e),
    };
    let phys = *k.frames.phys();
    scatter(&phys, &segs, &got.data);
    let n = done + got.data.len() as u64;
    if waitall && n < total && got.files.is_empty() && !nonblock && !got.data.is_empty() {
        t.progress = n;
        t.wait_on(WaitKey::Io(s.id));
        return Err(SysError::block());
    }
    let mut out_flags = 0;
    if got.truncated {
        out_flags |= MSG_TRUNC;
    }
    let ret = if flags & MSG_TRUNC != 0 && s.kind.datagrams() { got.full_len as u64 } else { n };
    Ok(RecvOut { ret, flags: out_flags, got: Some(got) })
}

/// Implements Linux `sendto(2)`.
pub fn sys_sendto<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let s = sock(t, a.fd(0))?;
    let to = if a.u64(4) != 0 {
        let name = read_name(k, t, a.u64(4), a.u64(5))?;
        Some(lookup(t, &name, s.kind)?)
    } else {
        None
    };
    let iov = [Iovec { base: a.u64(1), len: a.u64(2) }];
    send(k, t, &s, &iov, a.uint(3), to, Vec::new(), None)
}

/// Implements Linux `recvfrom(2)`.
pub fn sys_recvfrom<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let s = sock(t, a.fd(0))?;
    let iov = [Iovec { base: a.u64(1), len: a.u64(2) }];
    let out = recv(k, t, &s, &iov, a.uint(3))?;
    if let Some(got) = &out.got {
        let name = got.from.as_ref().map_or_else(Vec::new, names::Addr::to_bytes);
        put_name(k, t, a.u64(4), a.u64(5), &name)?;
        // Files sent to a receive without a control buffer are closed.
    } else if a.u64(4) != 0 {
        put_name(k, t, a.u64(4), a.u64(5), &[])?;
    }
    Ok(out.ret)
}

/// `struct msghdr`, decoded.
struct MsgHdr {
    name: u64,
    namelen: u32,
    iovs: Vec<Iovec>,
    control: u64,
    controllen: u64,
}

fn read_msghdr<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, addr: u64) -> Result<MsgHdr, SysError> {
    let mut b = [0u8; MSGHDR_SIZE];
    t.mm.lock().copy_in(&mut k.frames, addr, &mut b)?;
    let word =
        |i: usize| u64::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3], b[i + 4], b[i + 5], b[i + 6], b[i + 7]]);
    let namelen = u32::from_le_bytes([b[8], b[9], b[10], b[11]]);
    let iovcnt = usize::try_from(word(24)).map_err(|_| SysError::new(errno::EMSGSIZE, "too many iovecs"))?;
    if iovcnt > 1024 {
        return Err(SysError::new(errno::EMSGSIZE, "iovcnt above UIO_MAXIOV"));
    }
    let iovs = read_iovecs(k, t, word(16), iovcnt)?;
    Ok(MsgHdr { name: word(0), namelen, iovs, control: word(32), controllen: word(40) })
}

/// Parses a send's control messages: the files of SCM_RIGHTS and the
/// credentials of SCM_CREDENTIALS (which must be the sender's own).
fn parse_control<P: Platform>(
    k: &mut Kernel<P>,
    t: &mut Task<P::AddressSpace>,
    addr: u64,
    len: u64,
) -> Result<(Vec<File>, Option<Cred>), SysError> {
    if len == 0 {
        return Ok((Vec::new(), None));
    }
    if len > OPTMEM_MAX {
        return Err(SysError::new(errno::ENOBUFS, "control buffer above optmem_max"));
    }
    let mut buf = alloc::vec![0u8; usize::try_from(len).unwrap_or(0)];
    t.mm.lock().copy_in(&mut k.frames, addr, &mut buf)?;
    let mut files = Vec::new();
    let mut creds = None;
    let mut off = 0usize;
    while buf.len() - off >= CMSGHDR_SIZE {
        let h = &buf[off..];
        let clen = usize::try_from(u64::from_le_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]]))
            .map_err(|_| SysError::einval("bad cmsg_len"))?;
        let level = i32::from_le_bytes([h[8], h[9], h[10], h[11]]);
        let kind = i32::from_le_bytes([h[12], h[13], h[14], h[15]]);
        if clen < CMSGHDR_SIZE || clen > buf.len() - off {
            return Err(SysError::einval("bad cmsg_len"));
        }
        let data = &h[CMSGHDR_SIZE..clen];
        if level == SOL_SOCKET {
            match kind {
                SCM_RIGHTS => {
                    let n = data.len() / 4;
                    if n == 0 || n + files.len() > SCM_MAX_FD {
                        return Err(SysError::einval("SCM_RIGHTS with no or too many fds"));
                    }
                    for c in data.chunks_exact(4) {
                        files.push(t.file(i32::from_le_bytes([c[0], c[1], c[2], c[3]]))?);
                    }
                }
                SCM_CREDENTIALS => {
                    if data.len() != 12 {
                        return Err(SysError::einval("SCM_CREDENTIALS of the wrong size"));
                    }
                    let w = |i: usize| u32::from_le_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]);
                    let c = Cred { pid: w(0), uid: w(4), gid: w(8) };
                    // Root may claim any uid/gid but only its own pid (no
                    // CAP_SYS_ADMIN in the sandbox).
                    if c.pid != t.pid {
                        return Err(SysError::new(errno::EPERM, "SCM_CREDENTIALS pid is not the sender's"));
                    }
                    creds = Some(c);
                }
                _ => return Err(SysError::einval("unknown SOL_SOCKET control message")),
            }
        }
        off += clen.next_multiple_of(CMSG_ALIGN).min(buf.len() - off);
    }
    Ok((files, creds))
}

/// Implements Linux `sendmsg(2)`.
pub fn sys_sendmsg<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let s = sock(t, a.fd(0))?;
    let h = read_msghdr(k, t, a.u64(1))?;
    let to = if h.name != 0 && h.namelen != 0 {
        let name = read_name(k, t, h.name, u64::from(h.namelen))?;
        Some(lookup(t, &name, s.kind)?)
    } else {
        None
    };
    let (files, creds) = parse_control(k, t, h.control, h.controllen)?;
    send(k, t, &s, &h.iovs, a.uint(2), to, files, creds)
}

/// Builds a received message's control data for a buffer of `room` bytes:
/// SCM_CREDENTIALS (with SO_PASSCRED) then SCM_RIGHTS, installing as many
/// fds as fit (the rest are closed and MSG_CTRUNC set).
fn control_out<P: Platform>(
    t: &mut Task<P::AddressSpace>,
    room: usize,
    creds: Option<Cred>,
    files: Vec<File>,
    cloexec: bool,
) -> Result<(Vec<u8>, u32), SysError> {
    let mut out = Vec::new();
    let mut flags = 0;
    let header = |out: &mut Vec<u8>, len: usize, kind: i32| {
        out.extend_from_slice(&(len as u64).to_le_bytes());
        out.extend_from_slice(&SOL_SOCKET.to_le_bytes());
        out.extend_from_slice(&kind.to_le_bytes());
    };
    if let Some(c) = creds {
        let len = CMSGHDR_SIZE + 12;
        if room < CMSGHDR_SIZE {
            flags |= MSG_CTRUNC;
        } else {
            let mut m = Vec::new();
            header(&mut m, len, SCM_CREDENTIALS);
            m.extend_from_slice(&c.to_bytes());
            if room < len {
                flags |= MSG_CTRUNC;
                m.truncate(room);
            }
            m.resize(m.len().next_multiple_of(CMSG_ALIGN).min(room), 0);
            out.extend_from_slice(&m);
        }
    }
    if !files.is_empty() {
        let left = room.saturating_sub(out.len());
        let fit = if left > CMSGHDR_SIZE { (left - CMSGHDR_SIZE) / 4 } else { 0 };
        let n = fit.min(files.len());
        if n < files.len() {
            flags |= MSG_CTRUNC;
        }
        if n > 0 {
            let mut fds = Vec::with_capacity(n);
            let limit = t.fd_limit();
            {
                let mut table = t.fds.lock();
                for f in files.into_iter().take(n) {
                    match table.install(f, 0, limit, cloexec) {
                        Ok(fd) => fds.push(fd),
                        Err(_) => {
                            flags |= MSG_CTRUNC;
                            break;
                        }
                    }
                }
            }
            let len = CMSGHDR_SIZE + 4 * fds.len();
            header(&mut out, len, SCM_RIGHTS);
            for fd in fds {
                out.extend_from_slice(&fd.to_le_bytes());
            }
            let padded = out.len().next_multiple_of(CMSG_ALIGN).min(room);
            out.resize(padded, 0);
        }
    }
    Ok((out, flags))
}

/// Implements Linux `recvmsg(2)`.
pub fn sys_recvmsg<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let s = sock(t, a.fd(0))?;
    let flags = a.uint(2);
    let h = read_msghdr(k, t, a.u64(1))?;
    let out = recv(k, t, &s, &h.iovs, flags)?;
    let mut msg_flags = out.flags;
    let mut name = Vec::new();
    let mut control = Vec::new();
    if let Some(got) = out.got {
        name = got.from.as_ref().map_or_else(Vec::new, names::Addr::to_bytes);
        let creds = s.passcred().then_some(got.cred);
        let room = usize::try_from(h.controllen.min(OPTMEM_MAX * 16)).unwrap_or(0);
        let (c, f) = control_out::<P>(t, room, creds, got.files, flags & MSG_CMSG_CLOEXEC != 0)?;
        control = c;
        msg_flags |= f;
    }
    let base = a.u64(1);
    let mut mm = t.mm.lock();
    if h.name != 0 {
        let n = name.len().min(usize::try_from(h.namelen).unwrap_or(0));
        mm.copy_out(&mut k.frames, h.name, &name[..n])?;
        mm.copy_out(&mut k.frames, base + 8, &u32::try_from(name.len()).unwrap_or(0).to_le_bytes())?;
    }
    if !control.is_empty() {
        mm.copy_out(&mut k.frames, h.control, &control)?;
    }
    mm.copy_out(&mut k.frames, base + 40, &(control.len() as u64).to_le_bytes())?;
    mm.copy_out(&mut k.frames, base + 48, &msg_flags.to_le_bytes())?;
    Ok(out.ret)
}
