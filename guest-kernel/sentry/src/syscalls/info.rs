//! uname, sysinfo, getrandom, ioctl.

use super::SyscallArgs;
use crate::error::{SysError, SysResult};
use crate::kernel::fd::File;
use crate::kernel::{Kernel, Task};
use crate::platform::Platform;
use abi::linux::ioctl::{TCGETS, TIOCGWINSZ};
use abi::linux::{errno, UTSNAME_FIELD};

/// The kernel release the sandbox reports: new enough for every libc.
pub const RELEASE: &[u8] = b"6.1.0-ringfence";
/// The version string.
pub const VERSION: &[u8] = b"#1 SMP ringfence";

/// Implements Linux `uname(2)`.
pub fn sys_uname<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let mut buf = [0u8; UTSNAME_FIELD * 6];
    let host = k.params.hostname.clone();
    let fields: [&[u8]; 6] = [b"Linux", &host, RELEASE, VERSION, b"x86_64", b"(none)"];
    for (i, f) in fields.iter().enumerate() {
        let n = f.len().min(UTSNAME_FIELD - 1);
        buf[i * UTSNAME_FIELD..i * UTSNAME_FIELD + n].copy_from_slice(&f[..n]);
    }
    t.mm.lock().copy_out(&mut k.frames, a.u64(0), &buf)?;
    Ok(0)
}

/// Implements Linux `sysinfo(2)`: uptime, load averages, memory from the
/// frame allocator (no swap, no high memory), tasks.
pub fn sys_sysinfo<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let s = crate::fs::proc::system::sysinfo(k);
    let mut b = [0u8; 112];
    let mut put = |off: usize, v: &[u8]| b[off..off + v.len()].copy_from_slice(v);
    put(0, &s.uptime_s.to_le_bytes());
    for (i, l) in s.loads.iter().enumerate() {
        put(8 + i * 8, &l.to_le_bytes());
    }
    put(32, &s.total_bytes.to_le_bytes());
    put(40, &s.free_bytes.to_le_bytes());
    put(80, &s.procs.to_le_bytes());
    put(104, &1u32.to_le_bytes());
    t.mm.lock().copy_out(&mut k.frames, a.u64(0), &b)?;
    Ok(0)
}

const GRND_NONBLOCK: u64 = 1;
const GRND_RANDOM: u64 = 2;
const GRND_INSECURE: u64 = 4;

/// Implements Linux `getrandom(2)` from the sentry's ChaCha20 generator.
pub fn sys_getrandom<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let (buf, len, flags) = (a.u64(0), a.u64(1), a.u64(2));
    if flags & !(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE) != 0
        || flags & (GRND_RANDOM | GRND_INSECURE) == (GRND_RANDOM | GRND_INSECURE)
    {
        return Err(SysError::einval("bad flags"));
    }
    // Linux returns at most 32 MiB - 1 per call.
    let len = len.min((32 << 20) - 1);
    let mut done = 0u64;
    let mut chunk = [0u8; 256];
    while done < len {
        let n = usize::try_from((len - done).min(256)).unwrap_or(256);
        k.rng.fill(&mut chunk[..n]);
        if let Err(e) = t.mm.lock().copy_out(&mut k.frames, buf + done, &chunk[..n]) {
            return if done == 0 { Err(e) } else { Ok(done) };
        }
        done += n as u64;
    }
    Ok(done)
}

/// Implements Linux `ioctl(2)` for the standard streams: window size when
/// the host stream is a terminal, ENOTTY otherwise.
pub fn sys_ioctl<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let tty = match t.file(a.fd(0))? {
        File::Tty(f) => return super::tty::ioctl(k, t, &f, a.u64(1) & 0xffff_ffff, a.u64(2)),
        File::HostStdio { tty, .. } => tty,
        File::HostTty { .. } => true,
        File::Vfs(_) | File::Pipe(_) | File::Socket(_) | File::Event(_) => false,
    };
    let (cmd, arg) = (a.uint(1), a.u64(2));
    if !tty {
        return Err(SysError::new(errno::ENOTTY, "not a terminal"));
    }
    match u64::from(cmd) {
        TIOCGWINSZ => {
            let w = k.params.winsize;
            let mut b = [0u8; 8];
            for (i, v) in [w.ws_row, w.ws_col, w.ws_xpixel, w.ws_ypixel].iter().enumerate() {
                b[i * 2..i * 2 + 2].copy_from_slice(&v.to_le_bytes());
            }
            t.mm.lock().copy_out(&mut k.frames, arg, &b)?;
            Ok(0)
        }
        TCGETS => {
            let termios = k.params.termios;
            t.mm.lock().copy_out(&mut k.frames, arg, &termios)?;
            Ok(0)
        }
        _ => Err(SysError::new(errno::ENOTTY, "terminal ioctl not supported")),
    }
}
