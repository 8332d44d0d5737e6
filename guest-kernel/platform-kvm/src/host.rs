//! The sentry's host services on KVM: hostcalls, and time from the TSC.

use abi::hostcall::{ExitKind, Hostcall, LogLevel, MAX_SEGMENTS};
use sentry::platform::{Clocks, ExitStatus, Host, PhysAddr};

use crate::{arch, hostcall};

/// The gofer channel: 9P exchanges through the P9 hostcall.
#[derive(Debug)]
pub struct KvmP9;

fn result(ret: i64) -> Result<usize, i32> {
    if ret < 0 {
        Err(i32::try_from(-ret).unwrap_or(abi::linux::errno::EIO))
    } else {
        Ok(usize::try_from(ret).unwrap_or(0))
    }
}

impl sentry::platform::P9Transport for KvmP9 {
    fn exchange(&self, request: &[(PhysAddr, u64)], reply: &[(PhysAddr, u64)]) -> Result<usize, i32> {
        sentry::platform::exchange_releasing_donation(self, request, reply)
    }

    fn exchange_donated(
        &self,
        request: &[(PhysAddr, u64)],
        reply: &[(PhysAddr, u64)],
    ) -> Result<(usize, Option<u64>), i32> {
        let mut segs = alloc::vec::Vec::with_capacity(request.len() + reply.len());
        segs.extend_from_slice(request);
        segs.extend_from_slice(reply);
        if segs.len() > MAX_SEGMENTS {
            return Err(abi::linux::errno::EINVAL);
        }
        let (ret, handle) = hostcall::call(Hostcall::P9, [request.len() as u64, 0, 0, 0], &segs);
        Ok((result(ret)?, (handle != 0).then_some(handle)))
    }

    fn read_donated(&self, handle: u64, off: u64, segs: &[(PhysAddr, u64)]) -> Result<usize, i32> {
        if segs.len() > MAX_SEGMENTS {
            return Err(abi::linux::errno::EINVAL);
        }
        result(hostcall::call(Hostcall::FileRead, [handle, off, 0, 0], segs).0)
    }

    fn close_donated(&self, handle: u64) {
        hostcall::call(Hostcall::FileClose, [handle, 0, 0, 0], &[]);
    }
}

/// Host services for the sentry.
#[derive(Debug)]
pub struct KvmHost {
    /// Host clocks at `tsc0`.
    base: Clocks,
    tsc0: u64,
    /// ns per TSC tick as a 32.32 fixed-point multiplier (0: ask the host).
    mult: u64,
}

impl KvmHost {
    /// Samples the host clocks once and derives time from the TSC after.
    pub fn new(tsc_khz: u64) -> Self {
        let base = host_clocks();
        let tsc0 = arch::rdtsc();
        let mult =
            if tsc_khz == 0 { 0 } else { u64::try_from((1_000_000u128 << 32) / u128::from(tsc_khz)).unwrap_or(0) };
        Self { base, tsc0, mult }
    }
}

fn host_clocks() -> Clocks {
    let (r, m) = hostcall::call(Hostcall::Clock, [0; 4], &[]);
    Clocks { realtime_ns: r.cast_unsigned(), monotonic_ns: m }
}

impl Host for KvmHost {
    fn write(&self, fd: u32, segments: &[(PhysAddr, u64)]) -> Result<usize, i32> {
        let mut total = 0usize;
        for chunk in segments.chunks(MAX_SEGMENTS) {
            let want: u64 = chunk.iter().map(|s| s.1).sum();
            let (ret, _) = hostcall::call(Hostcall::Write, [u64::from(fd), 0, 0, 0], chunk);
            if ret < 0 {
                return if total > 0 { Ok(total) } else { Err(i32::try_from(-ret).unwrap_or(abi::linux::errno::EIO)) };
            }
            total += usize::try_from(ret).unwrap_or(0);
            if ret.cast_unsigned() < want {
                break;
            }
        }
        Ok(total)
    }

    fn read(&self, fd: u32, segments: &[(PhysAddr, u64)]) -> Result<usize, i32> {
        let n = segments.len().min(MAX_SEGMENTS);
        let (ret, _) = hostcall::call(Hostcall::Read, [u64::from(fd), 0, 0, 0], &segments[..n]);
        if ret < 0 {
            Err(i32::try_from(-ret).unwrap_or(abi::linux::errno::EIO))
        } else {
            Ok(usize::try_from(ret).unwrap_or(0))
        }
    }

    fn clocks(&self) -> Clocks {
        if self.mult == 0 {
            return host_clocks();
        }
        let ticks = arch::rdtsc().wrapping_sub(self.tsc0);
        let ns = u64::try_from((u128::from(ticks) * u128::from(self.mult)) >> 32).unwrap_or(u64::MAX);
        Clocks { realtime_ns: self.base.realtime_ns + ns, monotonic_ns: self.base.monotonic_ns + ns }
    }

    fn sleep(&self, ns: u64) {
        hostcall::call(Hostcall::Sleep, [ns, 0, 0, 0], &[]);
    }

    fn poll(&self, fd: u32, events: u32, ns: u64) -> u32 {
        let (ret, _) = hostcall::call(Hostcall::Poll, [u64::from(fd), u64::from(events), ns, 0], &[]);
        u32::try_from(ret).unwrap_or(0)
    }

    fn poll_console(&self, ns: u64, known: abi::linux::Winsize) -> (u32, abi::linux::Winsize) {
        self.poll_terminal(0, ns, known)
    }

    fn poll_terminal(&self, fd: u32, ns: u64, known: abi::linux::Winsize) -> (u32, abi::linux::Winsize) {
        let events = u64::from(abi::linux::poll::POLLIN) | abi::hostcall::POLL_WATCH_WINSIZE;
        let args = [u64::from(fd), events, ns, abi::hostcall::pack_winsize(known)];
        let (ret, ret2) = hostcall::call(Hostcall::Poll, args, &[]);
        (u32::try_from(ret).unwrap_or(0), abi::hostcall::unpack_winsize(ret2))
    }

    fn log(&self, level: LogLevel, msg: &str) {
        hostcall::call_with_text(Hostcall::Log, [level as u64, 0, 0, 0], msg.as_bytes());
    }

    fn control_pending(&self) -> bool {
        hostcall::control_pending()
    }

    fn control_fetch(&self, buf: &mut [u8]) -> Result<usize, i32> {
        let pa = hostcall::virt_to_phys(buf.as_ptr() as u64).ok_or(abi::linux::errno::EFAULT)?;
        let (ret, _) = hostcall::call(Hostcall::ControlFetch, [0; 4], &[(pa, buf.len() as u64)]);
        if ret < 0 {
            Err(i32::try_from(-ret).unwrap_or(abi::linux::errno::EIO))
        } else {
            Ok(usize::try_from(ret).unwrap_or(0).min(buf.len()))
        }
    }

    fn control_reply(&self, msg: &[u8]) -> Result<(), i32> {
        let pa = hostcall::virt_to_phys(msg.as_ptr() as u64).ok_or(abi::linux::errno::EFAULT)?;
        let (ret, _) = hostcall::call(Hostcall::ControlReply, [0; 4], &[(pa, msg.len() as u64)]);
        if ret < 0 {
            Err(i32::try_from(-ret).unwrap_or(abi::linux::errno::EIO))
        } else {
            Ok(())
        }
    }

    fn exit(&self, status: ExitStatus) -> ! {
        let (kind, v) = match status {
            ExitStatus::Exited(c) => (ExitKind::Exited, u64::from(c)),
            ExitStatus::Signaled(s) => (ExitKind::Signaled, u64::from(s)),
        };
        hostcall::call(Hostcall::Exit, [kind as u64, v, 0, 0], &[]);
        arch::halt_forever()
    }
}
