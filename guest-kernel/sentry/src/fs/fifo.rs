//! FIFOs (named pipes): every open of one FIFO node shares one pipe.
//!
//! The pipe lives in a sentry-side table keyed by the node's identity for
//! as long as some end of it is open, as Linux keeps `inode->i_pipe`.
//! Opening follows Linux's `fifo_open`: a reader waits for a writer to
//! open (and a writer for a reader) unless O_NONBLOCK is set, in which case
//! a reader succeeds at once and a writer fails with ENXIO; O_RDWR never
//! waits.
//!
//! A waiting open has already counted itself among the readers or writers
//! (so the other side sees it and goes on); with no kernel stack to keep it
//! in, its end is parked here by task id until the retried open takes it.

use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};

use super::pipe::{Pipe, PipeEnd};
use crate::error::SysError;
use crate::kernel::shared::Shared;
use crate::vfs::file::flags::{O_ACCMODE, O_NONBLOCK, O_RDONLY, O_RDWR, O_WRONLY};
use crate::vfs::InodeRef;
use abi::linux::errno;

/// Pipes of FIFO nodes with an open end, by node identity.
type PipeTable = BTreeMap<(u64, u64), Weak<Shared<Pipe>>>;
static PIPES: spin::Mutex<PipeTable> = spin::Mutex::new(BTreeMap::new());

/// Ends of waiting opens, by task id, with the partner count seen first.
static PARKED: spin::Mutex<BTreeMap<u32, (Arc<PipeEnd>, u64)>> = spin::Mutex::new(BTreeMap::new());

/// What [`open`] decided.
pub enum Opened {
    /// The end, ready to install.
    End(Arc<PipeEnd>),
    /// Wait for this pipe's key and retry.
    Wait(u64),
}

fn pipe_of(node: &InodeRef) -> Arc<Shared<Pipe>> {
    let id = node.id();
    let mut pipes = PIPES.lock();
    if let Some(p) = pipes.get(&id).and_then(Weak::upgrade) {
        return p;
    }
    pipes.retain(|_, w| w.strong_count() > 0);
    let p = Pipe::new();
    pipes.insert(id, Arc::downgrade(&p));
    p
}

/// Opens FIFO `node` with `flags` for task `tid`; a retry takes the end
/// it parked. (An end parked by an open that a signal interrupted is taken
/// by the task's next open of the same FIFO in the same mode, or dropped by
/// its next open of another.)
pub fn open(node: &InodeRef, flags: u32, tid: u32) -> Result<Opened, SysError> {
    let parked = PARKED.lock().remove(&tid);
    let mode = flags & O_ACCMODE;
    let same = |e: &PipeEnd| {
        e.fifo.as_ref().is_some_and(|f| f.id() == node.id())
            && (e.read, e.write) == (mode == O_RDONLY, mode == O_WRONLY)
    };
    let (end, seen) = match parked {
        Some((end, seen)) if same(&end) => (end, seen),
        _ => {
            let pipe = pipe_of(node);
            let (read, write) = match flags & O_ACCMODE {
                O_RDONLY => (true, false),
                O_WRONLY => (false, true),
                O_RDWR => (true, true),
                _ => return Err(SysError::einval("bad access mode")),
            };
            if write && !read && flags & O_NONBLOCK != 0 && pipe.lock().readers == 0 {
                return Err(SysError::new(errno::ENXIO, "FIFO has no reader"));
            }
            let seen = {
                let p = pipe.lock();
                if read {
                    p.w_counter
                } else {
                    p.r_counter
                }
            };
            (PipeEnd::open(&pipe, read, write, flags & !OPEN_ONLY_FLAGS, Some(Arc::clone(node))), seen)
        }
    };
    if end.read && end.write || flags & O_NONBLOCK != 0 {
        return Ok(Opened::End(end));
    }
    let p = end.pipe.lock();
    let partner = if end.read { (p.writers, p.w_counter) } else { (p.readers, p.r_counter) };
    let id = p.id;
    drop(p);
    if partner.0 > 0 || partner.1 != seen {
        return Ok(Opened::End(end));
    }
    PARKED.lock().insert(tid, (end, seen));
    Ok(Opened::Wait(id))
}

/// Open flags that describe the open call, not the file (kept off the end).
const OPEN_ONLY_FLAGS: u32 = crate::vfs::file::flags::O_CREAT
    | crate::vfs::file::flags::O_EXCL
    | crate::vfs::file::flags::O_NOCTTY
    | crate::vfs::file::flags::O_TRUNC
    | crate::vfs::file::flags::O_CLOEXEC;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::tmpfs;
    use crate::vfs::FileType;

    #[test]
    fn reader_waits_for_writer_and_ends_share_a_pipe() {
        let root = tmpfs::new(90, 0o755, 1 << 20);
        let f = root.create(b"f", FileType::Fifo, 0o644, 0).expect("mkfifo");
        // O_WRONLY|O_NONBLOCK with no reader: ENXIO.
        assert_eq!(open(&f, O_WRONLY | O_NONBLOCK, 1).err().map(|e| e.errno), Some(errno::ENXIO));
        // A reader waits, parked; a writer then opens at once.
        assert!(matches!(open(&f, O_RDONLY, 1), Ok(Opened::Wait(_))));
        let Ok(Opened::End(w)) = open(&f, O_WRONLY, 2) else { panic!("writer should open") };
        let Ok(Opened::End(r)) = open(&f, O_RDONLY, 1) else { panic!("reader should open on retry") };
        assert!(Arc::ptr_eq(&r.pipe, &w.pipe));
        assert_eq!(r.pipe.lock().readers, 1);
        // O_RDWR never waits.
        let Ok(Opened::End(rw)) = open(&f, O_RDWR, 3) else { panic!("O_RDWR should open") };
        assert!(rw.read && rw.write);
    }
}
