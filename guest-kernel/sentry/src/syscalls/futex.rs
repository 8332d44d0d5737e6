//! futex(2).

use super::SyscallArgs;
use crate::error::{SysError, SysResult};
use crate::kernel::futex;
use crate::kernel::task::WaitKey;
use crate::kernel::{Kernel, Task};
use crate::platform::{Host, Platform};
use abi::linux::errno;
use abi::linux::futex::*;

fn read_word<P: Platform>(k: &mut Kernel<P>, t: &Task<P::AddressSpace>, addr: u64) -> Result<u32, SysError> {
    if !addr.is_multiple_of(4) {
        return Err(SysError::einval("futex word not aligned"));
    }
    let mut b = [0u8; 4];
    t.mm.lock().copy_in(&mut k.frames, addr, &mut b)?;
    Ok(u32::from_le_bytes(b))
}

/// FUTEX_WAKE_OP: applies `op` to the word at `addr2`, returns whether the
/// comparison on its old value holds.
fn wake_op_apply<P: Platform>(
    k: &mut Kernel<P>,
    t: &Task<P::AddressSpace>,
    addr2: u64,
    op: u32,
) -> Result<bool, SysError> {
    let old = read_word(k, t, addr2)?;
    let (kind, cmp) = ((op >> 28) & 0xf, (op >> 24) & 0xf);
    let mut oparg = (op >> 12) & 0xfff;
    let cmparg = op & 0xfff;
    if kind & 8 != 0 {
        oparg = 1u32.checked_shl(oparg).unwrap_or(0);
    }
    let new = match kind & 7 {
        0 => oparg,
        1 => old.wrapping_add(oparg),
        2 => old | oparg,
        3 => old & !oparg,
        4 => old ^ oparg,
        _ => return Err(SysError::new(errno::ENOSYS, "unknown FUTEX_OP")),
    };
    t.mm.lock().copy_out(&mut k.frames, addr2, &new.to_le_bytes())?;
    let (o, c) = (old.cast_signed(), cmparg.cast_signed());
    Ok(match cmp {
        0 => o == c,
        1 => o != c,
        2 => o < c,
        3 => o <= c,
        4 => o > c,
        5 => o >= c,
        _ => return Err(SysError::new(errno::ENOSYS, "unknown FUTEX_OP comparison")),
    })
}

/// Implements Linux `futex(2)`: WAIT, WAKE, REQUEUE, CMP_REQUEUE, WAKE_OP,
/// WAIT_BITSET, WAKE_BITSET (private and shared).
pub fn sys_futex<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let (addr, op, val) = (a.u64(0), a.uint(1), a.uint(2));
    let cmd = op & !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
    let private = op & FUTEX_PRIVATE_FLAG != 0;
    match cmd {
        FUTEX_WAIT | FUTEX_WAIT_BITSET => {
            if t.woken {
                return Ok(0);
            }
            let bitset = if cmd == FUTEX_WAIT { FUTEX_BITSET_MATCH_ANY } else { a.uint(5) };
            if bitset == 0 {
                return Err(SysError::einval("empty bitset"));
            }
            let clocks = k.host().clocks();
            if a.u64(3) != 0 {
                let ts = super::time::read_timespec(k, t, a.u64(3))?;
                let deadline = if cmd == FUTEX_WAIT {
                    t.deadline_after(clocks.monotonic_ns, ts)
                } else if op & FUTEX_CLOCK_REALTIME != 0 {
                    // Absolute realtime: convert to the monotonic clock.
                    *t.deadline.get_or_insert(clocks.monotonic_ns.saturating_add(ts.saturating_sub(clocks.realtime_ns)))
                } else {
                    *t.deadline.get_or_insert(ts)
                };
                if clocks.monotonic_ns >= deadline {
                    return Err(SysError::new(errno::ETIMEDOUT, "futex wait timed out"));
                }
            }
            if t.futex.is_none() {
                // First attempt: the word must still hold the expected value.
                if read_word(k, t, addr)? != val {
                    return Err(SysError::new(errno::EAGAIN, "futex word changed"));
                }
                t.futex = Some((futex::key(t, addr, private), bitset));
            }
            t.wait_on(WaitKey::Futex(addr));
            Err(SysError::block())
        }
        FUTEX_WAKE | FUTEX_WAKE_BITSET => {
            let bitset = if cmd == FUTEX_WAKE { FUTEX_BITSET_MATCH_ANY } else { a.uint(5) };
            if bitset == 0 {
                return Err(SysError::einval("empty bitset"));
            }
            Ok(u64::from(futex::wake_address(k, t, addr, val, bitset, private)))
        }
        FUTEX_REQUEUE | FUTEX_CMP_REQUEUE => {
            if cmd == FUTEX_CMP_REQUEUE && read_word(k, t, addr)? != a.uint(5) {
                return Err(SysError::new(errno::EAGAIN, "futex word changed"));
            }
            let n2 = u32::try_from(a.u64(3)).unwrap_or(u32::MAX);
            let from = futex::key(t, addr, private);
            let to = futex::key(t, a.u64(4), private);
            let woke = futex::wake(k, from, val, FUTEX_BITSET_MATCH_ANY);
            let moved = futex::requeue(k, from, to, n2);
            Ok(u64::from(woke + moved))
        }
        FUTEX_WAKE_OP => {
            let addr2 = a.u64(4);
            let n2 = u32::try_from(a.u64(3)).unwrap_or(u32::MAX);
            let hit = wake_op_apply(k, t, addr2, a.uint(5))?;
            let mut woke = futex::wake_address(k, t, addr, val, FUTEX_BITSET_MATCH_ANY, private);
            if hit {
                woke += futex::wake_address(k, t, addr2, n2, FUTEX_BITSET_MATCH_ANY, private);
            }
            Ok(u64::from(woke))
        }
        _ => Err(SysError::new(errno::ENOSYS, "futex operation not supported")),
    }
}
