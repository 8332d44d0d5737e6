//! Tread replies without copying the data through the gofer: the file's
//! pages go into a pipe and from the pipe into the connection socket
//! (`splice`; Linux >= 6.5 passes them on to a unix socket by reference),
//! so the only copy left is the reader's, straight into guest memory. Any
//! request this cannot serve (not an open readable file, a file type
//! splice refuses, a pipe too small) falls back to `pread` + write.

use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};

use p9::{Tmessage, RREAD};
use rustix::io::Errno;
use rustix::pipe::{PipeFlags, SpliceFlags};

use crate::server::Server;

/// The pipe size asked for (the kernel may grant less: pipe-max-size).
const PIPE_SIZE: usize = 2 << 20;

/// The pipe Rread data passes through.
pub(crate) struct SplicePipe {
    read: OwnedFd,
    write: OwnedFd,
    capacity: usize,
}

impl SplicePipe {
    fn new(want: usize) -> Result<Self, Errno> {
        let (read, write) = rustix::pipe::pipe_with(PipeFlags::CLOEXEC)?;
        // Bounded by /proc/sys/fs/pipe-max-size for an unprivileged gofer.
        let _ = rustix::pipe::fcntl_setpipe_size(&write, want);
        let capacity = rustix::pipe::fcntl_getpipe_size(&write)?;
        Ok(Self { read, write, capacity })
    }
}

impl Server {
    /// Serves `frame` if it is a Tread that can be spliced: writes the
    /// Rread header and its data to `conn` and returns `Ok(true)`;
    /// `Ok(false)` leaves the request to the ordinary path (nothing was
    /// written). `Err` means the connection failed.
    pub(crate) fn read_spliced<C: Write + AsFd>(&mut self, frame: &[u8], conn: &mut C) -> std::io::Result<bool> {
        let Ok((tag, Ok(Tmessage::Read(t)))) = p9::decode_t(frame) else { return Ok(false) };
        let max = t.count.min(self.msize.saturating_sub(p9::IOHDRSZ));
        let Ok(max) = usize::try_from(max) else { return Ok(false) };
        if max == 0 {
            return Ok(false);
        }
        if self.splice.is_none() {
            match SplicePipe::new(PIPE_SIZE) {
                Ok(p) => self.splice = Some(p),
                Err(_) => return Ok(false),
            }
        }
        let Ok(open) = self.fid(t.fid).and_then(|f| f.open_file()) else { return Ok(false) };
        if !open.readable {
            return Ok(false);
        }
        // The count goes in the header, before the data: what the file
        // holds from the offset, up to `max`.
        let Ok(st) = rustix::fs::fstat(&open.fd) else { return Ok(false) };
        let size = u64::try_from(st.st_size).unwrap_or(0);
        let want = usize::try_from(size.saturating_sub(t.offset)).map_or(max, |left| left.min(max));
        let Some(pipe) = self.splice.as_ref() else { return Ok(false) };
        if want == 0 || pipe.capacity < 16 * 4096 {
            return Ok(false);
        }
        // Chunks two pages short of the pipe: an empty pipe always has the
        // slots for one (a page fragment at either end included), so no
        // splice blocks.
        let chunk = pipe.capacity - 2 * 4096;
        let mut off = t.offset;
        let mut sent = 0usize;
        let mut header_sent = false;
        while sent < want {
            let n = match rustix::pipe::splice(
                &open.fd,
                Some(&mut off),
                &pipe.write,
                None,
                (want - sent).min(chunk),
                SpliceFlags::MOVE,
            ) {
                Ok(n) => n,
                Err(Errno::INTR) => continue,
                // Nothing sent yet: let pread answer (and report the error).
                Err(_) if !header_sent => return Ok(false),
                Err(_) => 0,
            };
            if !header_sent {
                if n == 0 {
                    return Ok(false);
                }
                let count = u32::try_from(want).map_err(|_| std::io::Error::from_raw_os_error(libc::EIO))?;
                let len = u32::try_from(p9::RREAD_HEADER_LEN + want)
                    .map_err(|_| std::io::Error::from_raw_os_error(libc::EIO))?;
                let mut header = [0u8; p9::RREAD_HEADER_LEN];
                header[..4].copy_from_slice(&len.to_le_bytes());
                header[4] = RREAD;
                header[5..7].copy_from_slice(&tag.to_le_bytes());
                header[7..].copy_from_slice(&count.to_le_bytes());
                conn.write_all(&header)?;
                header_sent = true;
            }
            if n == 0 {
                // The file shrank under us after the header promised
                // `want` bytes: what is no longer there reads as zeros, as
                // a read racing a truncate may see.
                conn.write_all(&vec![0u8; want - sent])?;
                break;
            }
            // Pipe -> socket, all of it (the pipe must end up empty).
            let mut left = n;
            while left > 0 {
                match rustix::pipe::splice(&pipe.read, None, conn.as_fd(), None, left, SpliceFlags::MOVE) {
                    Ok(0) => return Err(std::io::Error::from_raw_os_error(libc::EPIPE)),
                    Ok(k) => left -= k,
                    Err(Errno::INTR) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            sent += n;
        }
        Ok(true)
    }
}
