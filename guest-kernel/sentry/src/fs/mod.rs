//! Filesystems: in-sandbox ones (tmpfs, device nodes) and, with the gofer,
//! the container's root over 9P.

pub mod dev;
pub mod fifo;
pub mod gofer;
pub mod overlay;
pub mod pagecache;
pub mod pipe;
pub mod proc;
pub mod socket;
pub mod tmpfs;
