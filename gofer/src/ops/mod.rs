//! One file per family of 9P2000.L requests; each handler is a `Server`
//! method returning `Result<R, Errno>`, turned into `Rlerror` by dispatch.

mod attr;
mod create;
mod dir;
mod donate;
mod io;
mod link;
mod lock;
mod splice;
mod walk;

pub(crate) use splice::SplicePipe;
mod xattr;
