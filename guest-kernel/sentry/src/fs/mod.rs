//! Filesystems: in-sandbox ones (tmpfs, device nodes) and, with the gofer,
//! the container's root over 9P.

pub mod dev;
pub mod epoll;
pub mod event;
pub mod eventfd;
pub mod gofer;
pub mod overlay;
pub mod pipe;
pub mod signalfd;
pub mod timerfd;
pub mod tmpfs;
