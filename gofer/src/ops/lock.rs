//! Advisory byte-range locks as Linux open-file-description locks on the
//! fid's open file: real locks, visible to other users of the same host
//! files (another sandbox sharing a volume). Each fid is its own open file
//! description, so two fids of one client conflict as two processes would.
//! The server never blocks: a conflicting lock is answered `BLOCKED`, and a
//! client asking to wait (`FLAGS_BLOCK`) retries, as Linux's v9fs does.

use std::os::fd::AsFd;

use p9::{lock, Rgetlock, Rlock, Tgetlock, Tlock};
use rustix::io::Errno;

use crate::server::Server;
use crate::sys::{self, RangeLock};

fn lock_type(ty: u8) -> Result<i16, Errno> {
    match ty {
        lock::TYPE_RDLCK => Ok(sys::F_RDLCK),
        lock::TYPE_WRLCK => Ok(sys::F_WRLCK),
        lock::TYPE_UNLCK => Ok(sys::F_UNLCK),
        _ => Err(Errno::INVAL),
    }
}

fn range(start: u64, length: u64) -> Result<(i64, i64), Errno> {
    Ok((i64::try_from(start).map_err(|_| Errno::INVAL)?, i64::try_from(length).map_err(|_| Errno::INVAL)?))
}

impl Server {
    pub(crate) fn lock(&mut self, t: &Tlock<'_>) -> Result<Rlock, Errno> {
        let open = self.fid(t.fid)?.open_file()?;
        let (start, len) = range(t.start, t.length)?;
        let request = RangeLock { ty: lock_type(t.ty)?, start, len, pid: 0 };
        match sys::ofd_setlk(open.fd.as_fd(), request) {
            Ok(()) => Ok(Rlock { status: lock::SUCCESS }),
            Err(Errno::AGAIN | Errno::ACCESS) => Ok(Rlock { status: lock::BLOCKED }),
            Err(e) => Err(e),
        }
    }

    /// The first conflicting lock, or the request with type `UNLCK`. The
    /// holder's pid is unknown for an OFD lock and reported as `u32::MAX`.
    pub(crate) fn getlock<'a>(&mut self, t: &Tgetlock<'a>) -> Result<Rgetlock<'a>, Errno> {
        let open = self.fid(t.fid)?.open_file()?;
        let (start, len) = range(t.start, t.length)?;
        let request = RangeLock { ty: lock_type(t.ty)?, start, len, pid: 0 };
        let found = sys::ofd_getlk(open.fd.as_fd(), request)?;
        if found.ty == sys::F_UNLCK {
            return Ok(Rgetlock {
                ty: lock::TYPE_UNLCK,
                start: t.start,
                length: t.length,
                proc_id: t.proc_id,
                client_id: t.client_id,
            });
        }
        Ok(Rgetlock {
            ty: if found.ty == sys::F_WRLCK { lock::TYPE_WRLCK } else { lock::TYPE_RDLCK },
            start: found.start.unsigned_abs(),
            length: found.len.unsigned_abs(),
            proc_id: u32::try_from(found.pid).unwrap_or(u32::MAX),
            client_id: t.client_id,
        })
    }
}
