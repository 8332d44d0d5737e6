//! readdir: getdents64 on the fid's open directory, many entries per call.

use std::os::fd::AsFd;

use p9::{Dirent, DirentWriter, Qid, Treaddir};
use rustix::fs::{FileType, RawDir, SeekFrom};
use rustix::io::Errno;

use crate::fid::qid_type_of;
use crate::server::Server;

/// Linux `d_type` (`DT_*`) of a file type.
fn d_type(ft: FileType) -> u8 {
    match ft {
        FileType::Fifo => 1,
        FileType::CharacterDevice => 2,
        FileType::Directory => 4,
        FileType::BlockDevice => 6,
        FileType::RegularFile => 8,
        FileType::Symlink => 10,
        FileType::Socket => 12,
        _ => 0,
    }
}

impl Server {
    /// Packs entries from `offset` (0, or the `offset` of the last entry
    /// received) into `buf`, at most `count` and `msize - IOHDRSZ` bytes.
    /// `.` and `..` are included, as getdents returns them. Returns the
    /// bytes used; 0 at the end of the directory.
    pub(crate) fn readdir(&mut self, t: &Treaddir, buf: &mut [u8]) -> Result<usize, Errno> {
        let dev = self.fid(t.fid)?.node.dev;
        // Entries carry the directory's device (getdents has no st_dev).
        let dev_bits = self.qid_path(dev, 0);
        let max = usize::try_from(t.count.min(self.msize.saturating_sub(p9::IOHDRSZ))).map_err(|_| Errno::INVAL)?;
        let buf = buf.get_mut(..max.min(buf.len())).ok_or(Errno::INVAL)?;
        let open = self.fid(t.fid)?.open_file()?;
        if !self.fid(t.fid)?.node.is_dir() {
            return Err(Errno::NOTDIR);
        }
        rustix::fs::seek(&open.fd, SeekFrom::Start(t.offset))?;
        // A getdents64 record is about the size of a 9P dirent, so a buffer
        // of the reply's size fetches about one reply's worth per syscall.
        let mut raw = Vec::<u8>::with_capacity(buf.len().max(4096));
        let mut entries = RawDir::new(open.fd.as_fd(), raw.spare_capacity_mut());
        let mut out = DirentWriter::new(buf);
        while let Some(entry) = entries.next() {
            let entry = entry?;
            let ft = entry.file_type();
            let dirent = Dirent {
                qid: Qid { ty: qid_type_of(ft), version: 0, path: entry.ino() ^ dev_bits },
                offset: entry.next_entry_cookie(),
                ty: d_type(ft),
                name: entry.file_name().to_bytes(),
            };
            if !out.push(&dirent).map_err(|_| Errno::INVAL)? {
                if out.is_empty() {
                    // Not even one entry fits in `count`.
                    return Err(Errno::INVAL);
                }
                break;
            }
        }
        Ok(out.len())
    }
}
