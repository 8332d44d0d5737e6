//! Character devices, reached through device nodes on any filesystem by
//! their device number, as on Linux: null, zero, full, random, urandom.

use crate::error::SysError;
use crate::kernel::random::Rng;
use abi::linux::errno;

/// `makedev(major, minor)` for small numbers.
pub const fn makedev(major: u64, minor: u64) -> u64 {
    (major << 8) | minor
}

pub const NULL: u64 = makedev(1, 3);
pub const ZERO: u64 = makedev(1, 5);
pub const FULL: u64 = makedev(1, 7);
pub const RANDOM: u64 = makedev(1, 8);
pub const URANDOM: u64 = makedev(1, 9);
/// /dev/tty: opened as the host terminal (see `syscalls::file`).
pub const TTY: u64 = makedev(5, 0);
/// /dev/console: the container's terminal (see `fs::tty::console`).
pub const CONSOLE: u64 = makedev(5, 1);
/// /dev/ptmx: opening it makes a pty pair (see `fs::tty`).
pub const PTMX: u64 = makedev(5, 2);

/// The generator behind /dev/random and /dev/urandom, set at boot.
static RNG: spin::Mutex<Option<Rng>> = spin::Mutex::new(None);

/// Installs the random generator for the random devices.
pub fn set_rng(rng: Rng) {
    *RNG.lock() = Some(rng);
}

fn no_device() -> SysError {
    SysError::new(errno::ENXIO, "no such device")
}

/// Reads from character device `rdev`.
pub fn read(rdev: u64, buf: &mut [u8]) -> Result<usize, SysError> {
    match rdev {
        NULL => Ok(0),
        ZERO | FULL => {
            buf.fill(0);
            Ok(buf.len())
        }
        RANDOM | URANDOM => {
            let mut g = RNG.lock();
            let rng = g.as_mut().ok_or_else(no_device)?;
            rng.fill(buf);
            Ok(buf.len())
        }
        _ => Err(no_device()),
    }
}

/// Writes to character device `rdev`.
pub fn write(rdev: u64, buf: &[u8]) -> Result<usize, SysError> {
    match rdev {
        NULL | ZERO | RANDOM | URANDOM => Ok(buf.len()),
        FULL => Err(SysError::new(errno::ENOSPC, "/dev/full is always full")),
        _ => Err(no_device()),
    }
}
