//! A 9P client over a socketpair, built on the `p9` codec, and temporary
//! directory trees for the server tests.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::JoinHandle;

use gofer::{GoferError, GoferOptions, Server};
use p9::*;

pub const MSIZE: u32 = 1 << 20;

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(what: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("gofer-{what}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub struct Client {
    pub sock: UnixStream,
    pub server: Option<JoinHandle<Result<(), GoferError>>>,
    tag: u16,
    buf: Vec<u8>,
}

/// The errno of an `Rlerror`, or the reply.
pub type Reply<'a> = Result<Rmessage<'a>, u32>;

impl Client {
    /// Starts a server on `root` in a thread; negotiates the version.
    pub fn start(root: &Path, opts: GoferOptions) -> Self {
        let (mine, theirs) = UnixStream::pair().expect("socketpair");
        let mut server = Server::new(root, opts).expect("server");
        let handle = std::thread::Builder::new()
            .name("gofer-test".into())
            .spawn(move || {
                let mut theirs = theirs;
                server.serve(&mut theirs)
            })
            .expect("spawn");
        let mut c = Self { sock: mine, server: Some(handle), tag: 0, buf: Vec::new() };
        match c.call(Tversion { msize: MSIZE, version: VERSION_9P2000L }) {
            Ok(Rmessage::Version(r)) => {
                assert_eq!(r.msize, MSIZE);
                assert_eq!(r.version, VERSION_9P2000L);
            }
            other => panic!("version: {other:?}"),
        }
        c
    }

    /// Sends raw bytes, returns the raw reply frame.
    pub fn raw(&mut self, frame: &[u8]) -> std::io::Result<Vec<u8>> {
        self.sock.write_all(frame)?;
        let mut size = [0u8; 4];
        self.sock.read_exact(&mut size)?;
        let len = usize::try_from(u32::from_le_bytes(size)).expect("len");
        let mut reply = vec![0u8; len];
        reply[..4].copy_from_slice(&size);
        self.sock.read_exact(&mut reply[4..])?;
        Ok(reply)
    }

    pub fn call<'s, 'm>(&'s mut self, msg: impl Into<Tmessage<'m>>) -> Reply<'s> {
        let msg = msg.into();
        self.tag = self.tag.wrapping_add(1) % 0xfff0;
        let tag = self.tag;
        let mut frame = Vec::new();
        msg.encode_to_vec(tag, &mut frame).expect("encode");
        self.buf = self.raw(&frame).expect("transport");
        let (got, reply) = decode_r(&self.buf).expect("reply frame");
        assert_eq!(got, tag, "reply tag");
        match reply.expect("reply body") {
            Rmessage::Lerror(e) => Err(e.ecode),
            r => Ok(r),
        }
    }

    pub fn attach(&mut self, fid: u32) -> Qid {
        match self.call(Tattach { fid, afid: NOFID, uname: b"root", aname: b"", n_uname: 0 }) {
            Ok(Rmessage::Attach(r)) => r.qid,
            other => panic!("attach: {other:?}"),
        }
    }

    /// `Ok(qids)` for a full or partial walk, `Err(errno)` for an error.
    pub fn walk(&mut self, fid: u32, newfid: u32, names: &[&str]) -> Result<Vec<Qid>, u32> {
        let wnames = names.iter().map(|n| n.as_bytes()).collect();
        match self.call(Twalk { fid, newfid, wnames })? {
            Rmessage::Walk(r) => Ok(r.wqids),
            other => panic!("walk: {other:?}"),
        }
    }

    pub fn lopen(&mut self, fid: u32, flags: u32) -> Result<Qid, u32> {
        match self.call(Tlopen { fid, flags })? {
            Rmessage::Lopen(r) => Ok(r.qid),
            other => panic!("lopen: {other:?}"),
        }
    }

    pub fn read(&mut self, fid: u32, offset: u64, count: u32) -> Result<Vec<u8>, u32> {
        match self.call(Tread { fid, offset, count })? {
            Rmessage::Read(r) => Ok(r.data.to_vec()),
            other => panic!("read: {other:?}"),
        }
    }

    pub fn write(&mut self, fid: u32, offset: u64, data: &[u8]) -> Result<u32, u32> {
        match self.call(Twrite { fid, offset, data })? {
            Rmessage::Write(r) => Ok(r.count),
            other => panic!("write: {other:?}"),
        }
    }

    pub fn getattr(&mut self, fid: u32) -> Result<Rgetattr, u32> {
        match self.call(Tgetattr { fid, request_mask: getattr::ALL })? {
            Rmessage::Getattr(r) => Ok(r),
            other => panic!("getattr: {other:?}"),
        }
    }

    pub fn readlink(&mut self, fid: u32) -> Result<Vec<u8>, u32> {
        match self.call(Treadlink { fid })? {
            Rmessage::Readlink(r) => Ok(r.target.to_vec()),
            other => panic!("readlink: {other:?}"),
        }
    }

    pub fn clunk(&mut self, fid: u32) -> Result<(), u32> {
        self.call(Tclunk { fid }).map(drop)
    }

    /// Every entry of an open directory fid, `count` bytes per request;
    /// returns (name, qid, type) and the number of requests made.
    pub fn readdir_all(&mut self, fid: u32, count: u32) -> (Vec<(Vec<u8>, Qid, u8)>, usize) {
        let mut entries = Vec::new();
        let mut offset = 0;
        let mut calls = 0;
        loop {
            calls += 1;
            let data = match self.call(Treaddir { fid, offset, count }) {
                Ok(Rmessage::Readdir(r)) => r.data.to_vec(),
                other => panic!("readdir: {other:?}"),
            };
            if data.is_empty() {
                return (entries, calls);
            }
            assert!(data.len() <= usize::try_from(count).expect("count"));
            for d in DirentIter::new(&data) {
                let d = d.expect("dirent");
                entries.push((d.name.to_vec(), d.qid, d.ty));
                offset = d.offset;
            }
        }
    }

    /// Closes the connection and returns how the server ended.
    pub fn finish(mut self) -> Result<(), GoferError> {
        let _ = self.sock.shutdown(std::net::Shutdown::Both);
        self.server.take().expect("server").join().expect("server thread")
    }
}
