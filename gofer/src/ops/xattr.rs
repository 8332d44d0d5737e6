//! Extended attributes: not served (yet).
//!
//! Reading them needs an open descriptor (`fgetxattr` fails on `O_PATH`)
//! or `getxattrat` (Linux 6.13), and the sentry does not ask for them. Both
//! requests fail with `EOPNOTSUPP`, which Linux clients treat as "this
//! filesystem has no xattrs" (ls, cp and tar carry on).

use p9::{Rxattrcreate, Rxattrwalk, Txattrcreate, Txattrwalk};
use rustix::io::Errno;

use crate::server::Server;

impl Server {
    pub(crate) fn xattrwalk(&mut self, _t: &Txattrwalk<'_>) -> Result<Rxattrwalk, Errno> {
        Err(Errno::OPNOTSUPP)
    }

    pub(crate) fn xattrcreate(&mut self, _t: &Txattrcreate<'_>) -> Result<Rxattrcreate, Errno> {
        Err(Errno::OPNOTSUPP)
    }
}
