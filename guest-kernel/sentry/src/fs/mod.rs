//! Filesystems: in-sandbox ones (tmpfs, device nodes) and, with the gofer,
//! the container's root over 9P.

pub mod dev;
pub mod epoll;
pub mod event;
pub mod eventfd;
pub mod fifo;
pub mod gofer;
pub mod overlay;
pub mod pagecache;
pub mod pipe;
pub mod proc;
pub mod signalfd;
pub mod socket;
pub mod timerfd;
pub mod tmpfs;
pub mod tty;
