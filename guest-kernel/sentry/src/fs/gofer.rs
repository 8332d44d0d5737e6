//! The container's files over 9P2000.L: a client of the gofer.
//!
//! Every exchange goes through the platform's [`P9Transport`] using one
//! physically contiguous message buffer (msize bytes), so a hostcall carries
//! one request and one reply range. Each [`Node`] holds a walked fid; file
//! I/O uses separately opened fids, opened on first use.
//!
//! Caching: the served tree is exclusive to this sandbox (the gofer serves
//! it to nobody else), so the sentry's own operations are the only changes:
//! looked-up children stay cached in their directory until the sentry
//! removes or renames them, and attributes are cached until the sentry
//! writes, truncates or changes them. Changes made on the host while a
//! container runs are not seen.

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;

use p9::{Rmessage, Tmessage};

use crate::error::SysError;
use crate::mm::frames::FrameAllocator;
use crate::platform::{P9Transport, PhysAddr, PhysMem};
use crate::vfs::{DirEntry, FileType, Inode, InodeRef, SetAttr, Stat, StatFs, Walked};
use abi::layout::PAGE_SIZE;
use abi::linux::{errno, Timespec};

/// The msize the sentry asks for: 1 MiB of data plus headers.
pub const MSIZE: u32 = (1 << 20) + 4096;
/// Header bytes of Tread/Rread/Twrite around the data.
const IO_HEADER: u32 = 24;
const TAG: u16 = 1;
const NOFID: u32 = u32::MAX;

/// The connection: transport, message buffer and fid numbers.
pub struct Client {
    transport: Arc<dyn P9Transport>,
    phys: PhysMem,
    buf: PhysAddr,
    /// Read-ahead region (READAHEAD bytes of contiguous frames) and what it
    /// holds. One file at a time: the common case is one program reading
    /// one file sequentially.
    ra_buf: PhysAddr,
    ra: Option<ReadAhead>,
    /// A donated-file handle the last exchange returned, until
    /// [`Node::io_fid`] takes it (see [`P9Transport`]).
    donated: Option<u64>,
    msize: u32,
    next_fid: u32,
    free_fids: Vec<u32>,
}

/// What the read-ahead region holds.
#[derive(Debug, Clone, Copy)]
struct ReadAhead {
    fid: u32,
    /// File offset of the first byte, and bytes held.
    start: u64,
    len: u64,
    /// Bytes asked for: fewer came back only at the end of the file.
    window: u64,
}

impl ReadAhead {
    /// The window of the next refill at `at`: doubled up to READAHEAD
    /// while reads go on where this one ended, else back to the smallest,
    /// so random small reads of a big file do not copy a MiB each.
    fn next_window(this: Option<Self>, fid: u32, at: u64) -> u64 {
        match this {
            Some(r) if r.fid == fid && at == r.start + r.len => (r.window * 2).min(READAHEAD as u64),
            _ => READAHEAD_MIN,
        }
    }
}

fn proto_error(why: &'static str) -> SysError {
    SysError::new(errno::EIO, why)
}

/// Splits `segs` at `len` bytes: the ranges covering the first `len`.
fn take_segments(segs: &[(PhysAddr, u64)], mut len: u64) -> Vec<(PhysAddr, u64)> {
    let mut out = Vec::new();
    for &(pa, l) in segs {
        if len == 0 {
            break;
        }
        let take = l.min(len);
        out.push((pa, take));
        len -= take;
    }
    out
}

/// Skips the first `n` bytes of `segs`.
fn skip_segments(segs: &[(PhysAddr, u64)], mut n: u64) -> Vec<(PhysAddr, u64)> {
    let mut out = Vec::new();
    for &(pa, l) in segs {
        if n >= l {
            n -= l;
            continue;
        }
        out.push((pa + n, l - n));
        n = 0;
    }
    out
}

/// Segments per zero-copy exchange (the hostcall block holds 128).
const DATA_SEGMENTS: usize = 100;
/// Bytes per donated-file read (the hostcall's MAX_TRANSFER is 16 MiB).
const DONATED_CHUNK: u64 = 8 << 20;

impl Client {
    /// One exchange whose file data moves straight between the gofer and
    /// `data` (Tread: the reply's data lands there; Twrite: the request's
    /// data comes from there). `header` is the encoded message without its
    /// data. Returns the reply header (`size type tag` + 4 bytes: the count
    /// or the Rlerror code).
    fn rpc_data(&mut self, header: &[u8], data: &[(PhysAddr, u64)], write: bool) -> Result<[u8; 11], SysError> {
        self.phys.write(self.buf, header);
        let hdr = (self.buf, header.len() as u64);
        let reply_hdr = (self.buf + 64, 11);
        let n = if write {
            let mut req = alloc::vec![hdr];
            req.extend_from_slice(data);
            self.transport.exchange(&req, &[reply_hdr])
        } else {
            let mut reply = alloc::vec![reply_hdr];
            reply.extend_from_slice(data);
            self.transport.exchange(&[hdr], &reply)
        }
        .map_err(|e| SysError::new(e, "gofer unavailable"))?;
        if n < 11 {
            return Err(proto_error("short 9P reply"));
        }
        let mut h = [0u8; 11];
        self.phys.read(self.buf + 64, &mut h);
        if u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize != n {
            return Err(proto_error("9P reply size mismatch"));
        }
        Ok(h)
    }

    /// One exchange: returns the reply frame.
    fn rpc(&mut self, t: Tmessage<'_>) -> Result<Vec<u8>, SysError> {
        let mut req = Vec::with_capacity(t.encoded_len());
        t.encode_to_vec(TAG, &mut req).map_err(|_| SysError::einval("9P request cannot be encoded"))?;
        if req.len() as u64 > u64::from(self.msize) {
            return Err(SysError::einval("9P request larger than msize"));
        }
        self.phys.write(self.buf, &req);
        let cap = u64::from(self.msize);
        let (n, donated) = self
            .transport
            .exchange_donated(&[(self.buf, req.len() as u64)], &[(self.buf, cap)])
            .map_err(|e| SysError::new(e, "gofer unavailable"))?;
        // A handle nobody took (only a read-only Tlopen brings one) is
        // released rather than leaked.
        if let Some(stale) = core::mem::replace(&mut self.donated, donated) {
            self.transport.close_donated(stale);
        }
        let mut reply = alloc::vec![0u8; n];
        self.phys.read(self.buf, &mut reply);
        Ok(reply)
    }

    fn fid(&mut self) -> u32 {
        self.free_fids.pop().unwrap_or_else(|| {
            self.next_fid += 1;
            self.next_fid
        })
    }

    fn clunk(&mut self, fid: u32) {
        // A reused fid number must not inherit the read-ahead.
        if self.ra.is_some_and(|r| r.fid == fid) {
            self.ra = None;
        }
        // A failed clunk still releases the fid on the server (9P semantics).
        let _ = self.rpc(p9::Tclunk { fid }.into());
        self.free_fids.push(fid);
    }
}

/// Runs `t` and maps the reply with `f` (`None`: unexpected reply type).
fn call<R>(
    client: &spin::Mutex<Client>,
    t: Tmessage<'_>,
    f: impl FnOnce(Rmessage<'_>) -> Option<R>,
) -> Result<R, SysError> {
    let frame = client.lock().rpc(t)?;
    let (_, body) = p9::decode_r(&frame).map_err(|_| proto_error("malformed 9P reply frame"))?;
    match body.map_err(|_| proto_error("malformed 9P reply"))? {
        Rmessage::Lerror(e) => Err(SysError::new(i32::try_from(e.ecode).unwrap_or(errno::EIO), "gofer")),
        r => f(r).ok_or_else(|| proto_error("unexpected 9P reply")),
    }
}

/// Connects to the gofer and attaches its root; `Err(ENOSYS)` when the
/// sandbox has no gofer.
pub fn mount(transport: Arc<dyn P9Transport>, frames: &mut FrameAllocator, dev: u64) -> Result<InodeRef, SysError> {
    connect(transport, frames)?.attach(b"", dev)
}

/// A 9P session with the gofer: one connection, any number of attached
/// trees (the root and the config's bind mounts, by attach name).
#[derive(Clone)]
pub struct Session {
    client: Arc<spin::Mutex<Client>>,
}

/// Connects to the gofer (`Tversion`); `Err(ENOSYS)` when the sandbox has
/// no gofer.
pub fn connect(transport: Arc<dyn P9Transport>, frames: &mut FrameAllocator) -> Result<Session, SysError> {
    let pages = u64::from(MSIZE).div_ceil(PAGE_SIZE);
    let buf = frames.alloc_contiguous(pages).ok_or(SysError::enomem("no memory for the 9P buffer"))?;
    let ra_buf =
        frames.alloc_contiguous(READAHEAD as u64 / PAGE_SIZE).ok_or(SysError::enomem("no memory for 9P read-ahead"))?;
    let client = Client {
        transport,
        phys: *frames.phys(),
        buf,
        ra_buf,
        ra: None,
        donated: None,
        msize: MSIZE,
        next_fid: 0,
        free_fids: Vec::new(),
    };
    let client = Arc::new(spin::Mutex::new(client));
    let msize = call(&client, p9::Tversion { msize: MSIZE, version: b"9P2000.L" }.into(), |r| match r {
        Rmessage::Version(v) if v.version == b"9P2000.L" => Some(v.msize),
        _ => None,
    })?;
    if msize < 8192 {
        return Err(proto_error("gofer msize too small"));
    }
    client.lock().msize = msize.min(MSIZE);
    Ok(Session { client })
}

impl Session {
    /// Attaches the tree the gofer serves as `aname` (empty: the root) as
    /// a filesystem with device number `dev`.
    pub fn attach(&self, aname: &[u8], dev: u64) -> Result<InodeRef, SysError> {
        let fid = self.client.lock().fid();
        let attach = p9::Tattach { fid, afid: NOFID, uname: b"root", aname, n_uname: 0 };
        let qid = call(&self.client, attach.into(), |r| match r {
            Rmessage::Attach(a) => Some(a.qid),
            _ => None,
        });
        match qid {
            Ok(qid) => Ok(Node::new_ref(Arc::clone(&self.client), fid, qid, dev)),
            Err(e) => {
                // The failed attach bound nothing: the number is free again.
                self.client.lock().free_fids.push(fid);
                Err(e)
            }
        }
    }
}

/// A node a multi-name walk passed through: its parent and its name there.
type Unbound = (Arc<Node>, Vec<u8>);

/// Where a walk starts (see [`Node::walk_base`]).
struct WalkBase {
    from: Arc<Node>,
    /// Each unbound directory on the way: its qid path and name.
    path: Vec<(u64, Vec<u8>)>,
}

/// A file or directory of the gofer's tree.
pub struct Node {
    client: Arc<spin::Mutex<Client>>,
    /// The walked fid; `None` for a directory a multi-name walk passed
    /// through (9P binds a fid to the last name only), bound on first use
    /// by walking `unbound` (the parent and this node's name there).
    fid: spin::Mutex<Option<u32>>,
    unbound: spin::Mutex<Option<Unbound>>,
    me: alloc::sync::Weak<Node>,
    qid: p9::Qid,
    dev: u64,
    attr: spin::Mutex<Option<Stat>>,
    /// Fids opened for reading and for writing, opened on first use.
    read_fid: spin::Mutex<Option<u32>>,
    /// The donated host file behind `read_fid`, if the platform took one:
    /// reads go straight to it.
    read_handle: spin::Mutex<Option<u64>>,
    write_fid: spin::Mutex<Option<u32>>,
    children: spin::Mutex<BTreeMap<Vec<u8>, InodeRef>>,
    /// A symlink's target once read: it never changes (no call rewrites a
    /// symlink), and exec reads it twice (the walk, then the exe path).
    target: spin::Mutex<Option<Vec<u8>>>,
}

/// Reads smaller than this are served through the read-ahead buffer.
const SMALL_READ: u64 = 64 << 10;
/// Most bytes fetched per read-ahead: one exit per MiB of small sequential
/// reads (each costs ~32 µs on PVM).
const READAHEAD: usize = 1 << 20;
/// The first read-ahead of a file, or after a jump.
const READAHEAD_MIN: u64 = 128 << 10;

impl Drop for Node {
    fn drop(&mut self) {
        let fids = [self.fid.lock().take(), self.read_fid.lock().take(), self.write_fid.lock().take()];
        let mut c = self.client.lock();
        if let Some(h) = self.read_handle.lock().take() {
            c.transport.close_donated(h);
        }
        for fid in fids.into_iter().flatten() {
            c.clunk(fid);
        }
    }
}

fn timespec(sec: u64, nsec: u64) -> Timespec {
    Timespec { tv_sec: i64::try_from(sec).unwrap_or(i64::MAX), tv_nsec: i64::try_from(nsec).unwrap_or(0) }
}

impl Node {
    fn new_ref(client: Arc<spin::Mutex<Client>>, fid: u32, qid: p9::Qid, dev: u64) -> InodeRef {
        Self::make(client, Some(fid), None, qid, dev)
    }

    fn make(
        client: Arc<spin::Mutex<Client>>,
        fid: Option<u32>,
        unbound: Option<Unbound>,
        qid: p9::Qid,
        dev: u64,
    ) -> Arc<Node> {
        Arc::new_cyclic(|me| Self {
            client,
            fid: spin::Mutex::new(fid),
            unbound: spin::Mutex::new(unbound),
            me: me.clone(),
            qid,
            dev,
            attr: spin::Mutex::new(None),
            read_fid: spin::Mutex::new(None),
            read_handle: spin::Mutex::new(None),
            write_fid: spin::Mutex::new(None),
            children: spin::Mutex::new(BTreeMap::new()),
            target: spin::Mutex::new(None),
        })
    }

    /// This node's fid, walking to it from its parent if a multi-name
    /// walk left it unbound.
    fn fid(&self) -> Result<u32, SysError> {
        let mut slot = self.fid.lock();
        if let Some(fid) = *slot {
            return Ok(fid);
        }
        let (parent, name) = self.unbound.lock().clone().ok_or_else(|| proto_error("9P node without a fid"))?;
        let (fid, qid) = parent.walk(&[&name])?;
        if qid.map(|q| q.path) != Some(self.qid.path) {
            self.client.lock().clunk(fid);
            return Err(SysError::new(errno::ESTALE, "file replaced since it was walked"));
        }
        *slot = Some(fid);
        *self.unbound.lock() = None;
        Ok(fid)
    }

    /// The node of `name` in this directory's cache.
    fn cached(&self, name: &[u8]) -> Option<InodeRef> {
        self.children.lock().get(name).cloned()
    }

    fn invalidate(&self) {
        *self.attr.lock() = None;
        // Any change may touch the bytes the read-ahead holds.
        self.client.lock().ra = None;
    }

    /// Serves a small read through the client's read-ahead region: a miss
    /// refills it with one zero-copy Tread of READAHEAD bytes from the
    /// first byte not covered; hits are one copy within physical memory.
    fn read_small(&self, phys: &PhysMem, off: u64, segs: &[(PhysAddr, u64)], total: u64) -> Result<usize, SysError> {
        let fid = self.io_fid(false)?;
        let mut done = 0u64;
        while done < total {
            let at = off + done;
            let (ra_buf, entry) = {
                let c = self.client.lock();
                (c.ra_buf, c.ra)
            };
            let (start, len, window) = match entry {
                Some(r) if r.fid == fid && at >= r.start && at < r.start + r.len => (r.start, r.len, r.window),
                _ => {
                    let window = ReadAhead::next_window(entry, fid, at);
                    let n = self.read_fid_phys(fid, at, &[(ra_buf, window)])? as u64;
                    self.client.lock().ra = Some(ReadAhead { fid, start: at, len: n, window });
                    if n == 0 {
                        break;
                    }
                    (at, n, window)
                }
            };
            let avail = start + len - at;
            let n = (total - done).min(avail);
            let mut src = ra_buf + (at - start);
            for (pa, l) in take_segments(&skip_segments(segs, done), n) {
                phys.copy(pa, src, l);
                src += l;
            }
            done += n;
            if len < window && n >= avail {
                break; // end of file
            }
        }
        Ok(usize::try_from(done).unwrap_or(usize::MAX))
    }

    /// Zero-copy Treads on `fid` from `off` into `segs` until they are
    /// full or the file ends.
    fn read_fid_phys(&self, fid: u32, off: u64, segs: &[(PhysAddr, u64)]) -> Result<usize, SysError> {
        if let Some(handle) = *self.read_handle.lock() {
            return self.read_donated(handle, off, segs);
        }
        let total: u64 = segs.iter().map(|s| s.1).sum();
        let max = self.max_io() as u64;
        let mut done = 0u64;
        while done < total {
            let rest = skip_segments(segs, done);
            let mut chunk = take_segments(&rest, (total - done).min(max));
            chunk.truncate(DATA_SEGMENTS);
            let want: u64 = chunk.iter().map(|s| s.1).sum();
            let count = u32::try_from(want).unwrap_or(0);
            // Tread: size[4] type[1] tag[2] fid[4] offset[8] count[4].
            let mut h = Vec::with_capacity(23);
            h.extend_from_slice(&23u32.to_le_bytes());
            h.push(p9::TREAD);
            h.extend_from_slice(&TAG.to_le_bytes());
            h.extend_from_slice(&fid.to_le_bytes());
            h.extend_from_slice(&(off + done).to_le_bytes());
            h.extend_from_slice(&count.to_le_bytes());
            let r = self.client.lock().rpc_data(&h, &chunk, false)?;
            let word = u32::from_le_bytes([r[7], r[8], r[9], r[10]]);
            match r[4] {
                p9::RREAD if word <= count => {
                    done += u64::from(word);
                    if word < count {
                        break;
                    }
                }
                p9::RLERROR => return Err(SysError::new(i32::try_from(word).unwrap_or(errno::EIO), "gofer")),
                _ => return Err(proto_error("unexpected reply to Tread")),
            }
        }
        Ok(usize::try_from(done).unwrap_or(usize::MAX))
    }

    /// Reads the donated file behind the read fid from `off` into `segs`
    /// until they are full or the file ends: no gofer round trip.
    fn read_donated(&self, handle: u64, off: u64, segs: &[(PhysAddr, u64)]) -> Result<usize, SysError> {
        let transport = Arc::clone(&self.client.lock().transport);
        let total: u64 = segs.iter().map(|s| s.1).sum();
        let mut done = 0u64;
        while done < total {
            let mut chunk = take_segments(&skip_segments(segs, done), (total - done).min(DONATED_CHUNK));
            chunk.truncate(DATA_SEGMENTS);
            let want: u64 = chunk.iter().map(|s| s.1).sum();
            let n = transport.read_donated(handle, off + done, &chunk).map_err(|e| SysError::new(e, "donated file"))?;
            done += n as u64;
            if (n as u64) < want {
                break; // end of file
            }
        }
        Ok(usize::try_from(done).unwrap_or(usize::MAX))
    }

    /// Walks from this node: `names` empty clones the fid.
    fn walk(&self, names: &[&[u8]]) -> Result<(u32, Option<p9::Qid>), SysError> {
        match self.walk_partial(names)? {
            (Some(fid), qids) => Ok((fid, qids.last().copied())),
            (None, _) => Err(SysError::new(errno::ENOENT, "no such file or directory")),
        }
    }

    /// Where a walk from this node starts: the nearest node with a fid
    /// (this one, or an ancestor when a multi-name walk left it unbound)
    /// and the names (with the qid paths) from there down to this node, so
    /// that the walk passes through them in the same Twalk instead of first
    /// binding this node with one of its own. `None` when that path is too
    /// long for one Twalk of `names` more.
    fn walk_base(&self, names: usize) -> Option<WalkBase> {
        let mut path = Vec::new();
        let mut node = self.me.upgrade()?;
        loop {
            if node.fid.lock().is_some() {
                path.reverse();
                return Some(WalkBase { from: node, path });
            }
            let (parent, name) = node.unbound.lock().clone()?;
            path.push((node.qid.path, name));
            if path.len() + names > p9::MAXWELEM {
                return None;
            }
            node = parent;
        }
    }

    /// One Twalk of up to MAXWELEM names: the qids walked and, when the
    /// walk went all the way, the new fid (a partial walk binds nothing;
    /// the gofer answers a failure at the first name with Rlerror).
    fn walk_partial(&self, names: &[&[u8]]) -> Result<(Option<u32>, Vec<p9::Qid>), SysError> {
        let WalkBase { from: base, path } = match self.walk_base(names.len()) {
            Some(b) => b,
            None => WalkBase {
                from: self.me.upgrade().ok_or_else(|| proto_error("9P node is being dropped"))?,
                path: Vec::new(),
            },
        };
        let fid = base.fid()?;
        let skip = path.len();
        let mut wnames: Vec<&[u8]> = path.iter().map(|(_, name)| &name[..]).collect();
        wnames.extend_from_slice(names);
        let total = wnames.len();
        let newfid = self.client.lock().fid();
        let r = call(&self.client, p9::Twalk { fid, newfid, wnames }.into(), |r| match r {
            Rmessage::Walk(w) => Some(w.wqids),
            _ => None,
        });
        let qids = match r {
            Ok(qids) => qids,
            Err(e) => {
                self.client.lock().free_fids.push(newfid);
                return Err(e);
            }
        };
        // The directories on the way to this node must still be the ones
        // walked before; a walk that stops among them found this node gone.
        let fail = if path.iter().zip(&qids).any(|((p, _), q)| *p != q.path) {
            Some(SysError::new(errno::ESTALE, "file replaced since it was walked"))
        } else if qids.len() > total {
            Some(proto_error("Rwalk with a wrong number of qids"))
        } else if qids.len() < total && qids.len() <= skip {
            // Stopped before any of `names`: as Rlerror for the first one.
            Some(SysError::new(errno::ENOENT, "no such file or directory"))
        } else {
            None
        };
        if let Some(e) = fail {
            let mut c = self.client.lock();
            if qids.len() == total {
                c.clunk(newfid);
            } else {
                c.free_fids.push(newfid);
            }
            return Err(e);
        }
        let qids = qids[skip..].to_vec();
        if qids.len() == names.len() {
            Ok((Some(newfid), qids))
        } else {
            // A partial walk binds nothing.
            self.client.lock().free_fids.push(newfid);
            Ok((None, qids))
        }
    }

    /// A fid of this file opened with `flags`.
    fn open(&self, flags: u32) -> Result<u32, SysError> {
        let (fid, _) = self.walk(&[])?;
        match call(&self.client, p9::Tlopen { fid, flags }.into(), |r| matches!(r, Rmessage::Lopen(_)).then_some(())) {
            Ok(()) => Ok(fid),
            Err(e) => {
                self.client.lock().clunk(fid);
                Err(e)
            }
        }
    }

    fn io_fid(&self, write: bool) -> Result<u32, SysError> {
        let slot = if write { &self.write_fid } else { &self.read_fid };
        let mut s = slot.lock();
        if let Some(fid) = *s {
            return Ok(fid);
        }
        let fid = self.open(if write { p9::open_flags::WRONLY } else { p9::open_flags::RDONLY })?;
        let donated = self.client.lock().donated.take();
        if write {
            if let Some(h) = donated {
                self.client.lock().transport.close_donated(h);
            }
        } else {
            *self.read_handle.lock() = donated;
        }
        *s = Some(fid);
        Ok(fid)
    }

    fn max_io(&self) -> usize {
        usize::try_from(self.client.lock().msize - IO_HEADER).unwrap_or(4096)
    }

    fn same_client<'a>(&self, other: &'a InodeRef) -> Result<&'a Node, SysError> {
        match other.as_any().downcast_ref::<Node>() {
            Some(n) if Arc::ptr_eq(&n.client, &self.client) => Ok(n),
            _ => Err(SysError::new(errno::EXDEV, "not on the same filesystem")),
        }
    }
}

impl Inode for Node {
    fn stat(&self) -> Result<Stat, SysError> {
        if let Some(s) = *self.attr.lock() {
            return Ok(s);
        }
        let a =
            call(
                &self.client,
                p9::Tgetattr { fid: self.fid()?, request_mask: p9::getattr::BASIC }.into(),
                |r| match r {
                    Rmessage::Getattr(a) => Some(a),
                    _ => None,
                },
            )?;
        let st = Stat {
            dev: self.dev,
            ino: self.qid.path,
            mode: a.mode,
            nlink: a.nlink,
            uid: a.uid,
            gid: a.gid,
            rdev: a.rdev,
            size: a.size,
            blksize: a.blksize,
            blocks: a.blocks,
            atime: timespec(a.atime_sec, a.atime_nsec),
            mtime: timespec(a.mtime_sec, a.mtime_nsec),
            ctime: timespec(a.ctime_sec, a.ctime_nsec),
        };
        *self.attr.lock() = Some(st);
        Ok(st)
    }

    fn file_kind(&self) -> Result<Option<FileType>, SysError> {
        if self.qid.ty & p9::qid_type::DIR != 0 {
            return Ok(Some(FileType::Directory));
        }
        if self.qid.ty & p9::qid_type::SYMLINK != 0 {
            return Ok(Some(FileType::Symlink));
        }
        Ok(self.stat()?.file_type())
    }

    fn lookup(&self, name: &[u8]) -> Result<InodeRef, SysError> {
        if let Some(n) = self.cached(name) {
            return Ok(n);
        }
        let (fid, qid) = self.walk(&[name])?;
        let node = Node::new_ref(Arc::clone(&self.client), fid, qid.unwrap_or_default(), self.dev);
        self.children.lock().insert(name.to_vec(), Arc::clone(&node));
        Ok(node)
    }

    /// Follows cached children, then walks the rest in one Twalk. The
    /// directories it passes through get unbound nodes (see [`Node::fid`]);
    /// a partial Rwalk means the name after the last qid does not exist
    /// (as Linux's v9fs reads it), unless the walk stopped at a symlink or
    /// a file, which the caller handles.
    fn lookup_many(&self, names: &[&[u8]], stop: &dyn Fn((u64, u64)) -> bool) -> Walked {
        let mut nodes: Vec<InodeRef> = Vec::new();
        let Some(mut dir) = self.me.upgrade() else {
            return Walked { nodes, err: Some(SysError::new(errno::ESTALE, "9P node is being dropped")) };
        };
        // A node the walk cannot go on from: a mount point, a symlink, a file.
        let ends = |n: &Node| stop(n.id()) || n.qid.ty & p9::qid_type::DIR == 0;
        let mut i = 0;
        while i < names.len() {
            let Some(c) = dir.cached(names[i]) else { break };
            let Some(n) = c.as_any().downcast_ref::<Node>().and_then(|n| n.me.upgrade()) else { break };
            nodes.push(c);
            i += 1;
            if ends(&n) {
                return Walked { nodes, err: None };
            }
            dir = n;
        }
        if i == names.len() {
            return Walked { nodes, err: None };
        }
        let (fid, qids) = match dir.walk_partial(&names[i..]) {
            Ok(r) => r,
            Err(e) => return Walked { nodes, err: Some(e) },
        };
        for (j, q) in qids.iter().enumerate() {
            let name = names[i + j];
            let last = j + 1 == qids.len();
            let node = match fid {
                Some(fid) if last => Node::make(Arc::clone(&self.client), Some(fid), None, *q, self.dev),
                _ => Node::make(Arc::clone(&self.client), None, Some((Arc::clone(&dir), name.to_vec())), *q, self.dev),
            };
            dir.children.lock().insert(name.to_vec(), Arc::clone(&node) as InodeRef);
            nodes.push(Arc::clone(&node) as InodeRef);
            if ends(&node) {
                if let (Some(fid), false) = (fid, last) {
                    // The walked fid names a node past where the walk ends here.
                    self.client.lock().clunk(fid);
                }
                return Walked { nodes, err: None };
            }
            dir = node;
        }
        let err = fid.is_none().then(|| SysError::new(errno::ENOENT, "no such file or directory"));
        Walked { nodes, err }
    }

    fn readdir(&self) -> Result<Vec<DirEntry>, SysError> {
        let fid = self.open(p9::open_flags::RDONLY | p9::open_flags::DIRECTORY)?;
        let count = u32::try_from(self.max_io()).unwrap_or(4096);
        let mut out = Vec::new();
        let mut offset = 0u64;
        let result = loop {
            let data = call(&self.client, p9::Treaddir { fid, offset, count }.into(), |r| match r {
                Rmessage::Readdir(d) => Some(d.data.to_vec()),
                _ => None,
            });
            let data = match data {
                Ok(d) => d,
                Err(e) => break Err(e),
            };
            if data.is_empty() {
                break Ok(());
            }
            for d in p9::DirentIter::new(&data) {
                let Ok(d) = d else { break };
                offset = d.offset;
                if d.name == b"." || d.name == b".." {
                    continue;
                }
                let kind = match d.ty {
                    1 => FileType::Fifo,
                    2 => FileType::CharDevice,
                    4 => FileType::Directory,
                    6 => FileType::BlockDevice,
                    10 => FileType::Symlink,
                    12 => FileType::Socket,
                    _ => FileType::Regular,
                };
                out.push(DirEntry { ino: d.qid.path, kind, name: d.name.to_vec() });
            }
        };
        self.client.lock().clunk(fid);
        result.map(|()| out)
    }

    fn read_at(&self, off: u64, buf: &mut [u8]) -> Result<usize, SysError> {
        let fid = self.io_fid(false)?;
        let max = self.max_io();
        let mut done = 0;
        while done < buf.len() {
            let count = u32::try_from((buf.len() - done).min(max)).unwrap_or(0);
            let data = call(&self.client, p9::Tread { fid, offset: off + done as u64, count }.into(), |r| match r {
                Rmessage::Read(d) => Some(d.data.to_vec()),
                _ => None,
            })?;
            let n = data.len().min(buf.len() - done);
            buf[done..done + n].copy_from_slice(&data[..n]);
            done += n;
            if n < count as usize {
                break;
            }
        }
        Ok(done)
    }

    fn read_phys(&self, phys: &PhysMem, off: u64, segs: &[(PhysAddr, u64)]) -> Result<usize, SysError> {
        let total: u64 = segs.iter().map(|s| s.1).sum();
        if total < SMALL_READ {
            return self.read_small(phys, off, segs, total);
        }
        let fid = self.io_fid(false)?;
        self.read_fid_phys(fid, off, segs)
    }

    fn write_phys(&self, _phys: &PhysMem, off: u64, segs: &[(PhysAddr, u64)]) -> Result<usize, SysError> {
        let fid = self.io_fid(true)?;
        let max = self.max_io() as u64;
        let total: u64 = segs.iter().map(|s| s.1).sum();
        let mut done = 0u64;
        while done < total {
            let rest = skip_segments(segs, done);
            let mut chunk = take_segments(&rest, (total - done).min(max));
            chunk.truncate(DATA_SEGMENTS);
            let len: u64 = chunk.iter().map(|s| s.1).sum();
            let count = u32::try_from(len).unwrap_or(0);
            // Twrite: size[4] type[1] tag[2] fid[4] offset[8] count[4] data.
            let size =
                u32::try_from(p9::TWRITE_HEADER_LEN as u64 + len).map_err(|_| SysError::einval("write too large"))?;
            let mut h = Vec::with_capacity(p9::TWRITE_HEADER_LEN);
            h.extend_from_slice(&size.to_le_bytes());
            h.push(p9::TWRITE);
            h.extend_from_slice(&TAG.to_le_bytes());
            h.extend_from_slice(&fid.to_le_bytes());
            h.extend_from_slice(&(off + done).to_le_bytes());
            h.extend_from_slice(&count.to_le_bytes());
            let r = self.client.lock().rpc_data(&h, &chunk, true)?;
            let word = u32::from_le_bytes([r[7], r[8], r[9], r[10]]);
            match r[4] {
                p9::RWRITE if word <= count => {
                    done += u64::from(word);
                    if word < count {
                        break;
                    }
                }
                p9::RLERROR => return Err(SysError::new(i32::try_from(word).unwrap_or(errno::EIO), "gofer")),
                _ => return Err(proto_error("unexpected reply to Twrite")),
            }
        }
        self.invalidate();
        Ok(usize::try_from(done).unwrap_or(usize::MAX))
    }

    fn write_at(&self, off: u64, buf: &[u8]) -> Result<usize, SysError> {
        let fid = self.io_fid(true)?;
        let max = self.max_io();
        let mut done = 0;
        while done < buf.len() {
            let chunk = &buf[done..(done + max).min(buf.len())];
            let n =
                call(&self.client, p9::Twrite { fid, offset: off + done as u64, data: chunk }.into(), |r| match r {
                    Rmessage::Write(w) => Some(w.count),
                    _ => None,
                })?;
            done += n as usize;
            if (n as usize) < chunk.len() {
                break;
            }
        }
        self.invalidate();
        Ok(done)
    }

    fn readlink(&self) -> Result<Vec<u8>, SysError> {
        if let Some(t) = &*self.target.lock() {
            return Ok(t.clone());
        }
        let target = call(&self.client, p9::Treadlink { fid: self.fid()? }.into(), |r| match r {
            Rmessage::Readlink(l) => Some(l.target.to_vec()),
            _ => None,
        })?;
        *self.target.lock() = Some(target.clone());
        Ok(target)
    }

    fn create(&self, name: &[u8], kind: FileType, perm: u32, rdev: u64) -> Result<InodeRef, SysError> {
        match kind {
            FileType::Regular => {
                let (fid, _) = self.walk(&[])?;
                let flags = p9::open_flags::RDWR;
                let r = call(&self.client, p9::Tlcreate { fid, name, flags, mode: perm, gid: 0 }.into(), |r| {
                    matches!(r, Rmessage::Lcreate(_)).then_some(())
                });
                // The create fid is now open on the new file: keep it for I/O.
                let node = r.and_then(|()| self.lookup(name));
                match node {
                    Ok(node) => {
                        if let Some(n) = node.as_any().downcast_ref::<Node>() {
                            let mut w = n.write_fid.lock();
                            if w.is_none() {
                                *w = Some(fid);
                                return Ok(Arc::clone(&node));
                            }
                        }
                        self.client.lock().clunk(fid);
                        Ok(node)
                    }
                    Err(e) => {
                        self.client.lock().clunk(fid);
                        Err(e)
                    }
                }
            }
            FileType::Fifo | FileType::CharDevice | FileType::BlockDevice | FileType::Socket => {
                let (major, minor) = (u32::try_from(rdev >> 8).unwrap_or(0), u32::try_from(rdev & 0xff).unwrap_or(0));
                let mode = kind.mode_bits() | perm;
                call(&self.client, p9::Tmknod { dfid: self.fid()?, name, mode, major, minor, gid: 0 }.into(), |r| {
                    matches!(r, Rmessage::Mknod(_)).then_some(())
                })?;
                self.invalidate();
                self.lookup(name)
            }
            FileType::Directory | FileType::Symlink => Err(SysError::einval("use mkdir or symlink")),
        }
    }

    fn mkdir(&self, name: &[u8], perm: u32) -> Result<InodeRef, SysError> {
        call(&self.client, p9::Tmkdir { dfid: self.fid()?, name, mode: perm, gid: 0 }.into(), |r| {
            matches!(r, Rmessage::Mkdir(_)).then_some(())
        })?;
        self.invalidate();
        self.lookup(name)
    }

    fn symlink(&self, name: &[u8], target: &[u8]) -> Result<InodeRef, SysError> {
        call(&self.client, p9::Tsymlink { fid: self.fid()?, name, symtgt: target, gid: 0 }.into(), |r| {
            matches!(r, Rmessage::Symlink(_)).then_some(())
        })?;
        self.lookup(name)
    }

    fn link(&self, name: &[u8], node: &InodeRef) -> Result<(), SysError> {
        let n = self.same_client(node)?;
        call(&self.client, p9::Tlink { dfid: self.fid()?, fid: n.fid()?, name }.into(), |r| {
            matches!(r, Rmessage::Link(_)).then_some(())
        })?;
        n.invalidate();
        Ok(())
    }

    fn unlink(&self, name: &[u8], dir: bool) -> Result<(), SysError> {
        let flags = if dir { p9::AT_REMOVEDIR } else { 0 };
        // A node still in use elsewhere keeps working after the unlink only
        // with a fid: it can no longer be walked to.
        if let Some(n) = self.cached(name).filter(|n| Arc::strong_count(n) > 2) {
            if let Some(n) = n.as_any().downcast_ref::<Node>() {
                n.fid()?;
            }
        }
        call(&self.client, p9::Tunlinkat { dirfid: self.fid()?, name, flags }.into(), |r| {
            matches!(r, Rmessage::Unlinkat(_)).then_some(())
        })?;
        let gone = self.children.lock().remove(name);
        drop(gone);
        self.invalidate();
        Ok(())
    }

    fn rename(&self, name: &[u8], new_dir: &InodeRef, new_name: &[u8]) -> Result<(), SysError> {
        let target = self.same_client(new_dir)?;
        // An unbound node would be walked to by its old name: bind it first.
        if let Some(n) = self.cached(name) {
            if let Some(n) = n.as_any().downcast_ref::<Node>() {
                n.fid()?;
            }
        }
        call(
            &self.client,
            p9::Trenameat { olddirfid: self.fid()?, oldname: name, newdirfid: target.fid()?, newname: new_name }.into(),
            |r| matches!(r, Rmessage::Renameat(_)).then_some(()),
        )?;
        let moved = self.children.lock().remove(name);
        let replaced = target.children.lock().remove(new_name);
        drop(replaced);
        if let Some(m) = moved {
            target.children.lock().insert(new_name.to_vec(), m);
        }
        self.invalidate();
        target.invalidate();
        Ok(())
    }

    fn setattr(&self, a: &SetAttr) -> Result<(), SysError> {
        use p9::setattr::*;
        let mut valid = CTIME;
        let mut t = p9::Tsetattr {
            fid: self.fid()?,
            valid: 0,
            mode: 0,
            uid: 0,
            gid: 0,
            size: 0,
            atime_sec: 0,
            atime_nsec: 0,
            mtime_sec: 0,
            mtime_nsec: 0,
        };
        if let Some(m) = a.mode {
            valid |= MODE;
            t.mode = m;
        }
        if let Some(u) = a.uid {
            valid |= UID;
            t.uid = u;
        }
        if let Some(g) = a.gid {
            valid |= GID;
            t.gid = g;
        }
        if let Some(s) = a.size {
            valid |= SIZE;
            t.size = s;
        }
        if let Some(ts) = a.atime {
            valid |= ATIME | ATIME_SET;
            t.atime_sec = ts.tv_sec.unsigned_abs();
            t.atime_nsec = ts.tv_nsec.unsigned_abs();
        }
        if let Some(ts) = a.mtime {
            valid |= MTIME | MTIME_SET;
            t.mtime_sec = ts.tv_sec.unsigned_abs();
            t.mtime_nsec = ts.tv_nsec.unsigned_abs();
        }
        t.valid = valid;
        let r = call(&self.client, t.into(), |r| matches!(r, Rmessage::Setattr(_)).then_some(()));
        self.invalidate();
        r
    }

    fn fsync(&self) -> Result<(), SysError> {
        let fid = *self.write_fid.lock();
        match fid {
            Some(fid) => call(&self.client, p9::Tfsync { fid, datasync: 0 }.into(), |r| {
                matches!(r, Rmessage::Fsync(_)).then_some(())
            }),
            None => Ok(()),
        }
    }

    fn statfs(&self) -> Result<StatFs, SysError> {
        let s = call(&self.client, p9::Tstatfs { fid: self.fid()? }.into(), |r| match r {
            Rmessage::Statfs(s) => Some(s),
            _ => None,
        })?;
        Ok(StatFs {
            fs_type: u64::from(s.ty),
            bsize: u64::from(s.bsize),
            blocks: s.blocks,
            bfree: s.bfree,
            bavail: s.bavail,
            files: s.files,
            ffree: s.ffree,
            namelen: u64::from(s.namelen),
            flags: 0,
        })
    }

    fn id(&self) -> (u64, u64) {
        (self.dev, self.qid.path)
    }

    fn as_any(&self) -> &dyn core::any::Any {
        self
    }
}

#[cfg(test)]
#[path = "gofer_tests.rs"]
mod tests;
