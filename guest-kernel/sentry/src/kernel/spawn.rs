//! Starting a process with an OCI `process` description: user, working
//! directory, umask, resource limits and capabilities. The container's
//! init is started this way, and so can any later process the runtime
//! starts in the container (`exec`): see [`spawn_with_spec`].

use alloc::vec::Vec;

use abi::linux::errno;

use super::container::ProcessSpec;
use super::exec::{self, ProgramFile};
use super::task::Task;
use super::Kernel;
use crate::error::SysError;
use crate::platform::Platform;
use crate::vfs::path::FsContext;
use crate::vfs::FileType;

/// Why a process could not be started.
#[derive(Debug, Clone, Copy)]
pub enum SpawnError {
    /// `process.cwd` does not resolve to a directory in the container.
    Cwd(SysError),
    /// The program could not be loaded.
    Exec(SysError),
}

/// A started process's first task, not yet in the kernel's tables.
pub struct Spawned<A: crate::platform::AddressSpace> {
    pub task: Task<A>,
    /// `/proc/PID/exe`.
    pub exe: Vec<u8>,
    /// Where its environment strings lie (`/proc/PID/environ`).
    pub env: (u64, u64),
}

/// Changes `fs`'s working directory to `spec.cwd`, resolved in the
/// container (following symlinks, as chdir(2)).
pub fn enter_cwd(fs: &mut FsContext, spec: &ProcessSpec) -> Result<(), SysError> {
    let Some(cwd) = &spec.cwd else { return Ok(()) };
    let loc = fs.resolve(&fs.root, cwd, true)?;
    if loc.node().file_kind()? != Some(FileType::Directory) {
        return Err(SysError::new(errno::ENOTDIR, "not a directory"));
    }
    fs.cwd = loc;
    Ok(())
}

/// Gives `t` the spec's credentials (after exec's capability transition,
/// as the execve at the end of runc's init), umask and resource limits.
pub fn apply_process_spec<A: crate::platform::AddressSpace>(t: &mut Task<A>, spec: &ProcessSpec) {
    let mut creds = spec.credentials();
    creds.exec();
    t.creds = creds;
    t.umask = spec.umask;
    for &(res, limit) in &spec.rlimits {
        if let Some(slot) = usize::try_from(res).ok().and_then(|i| t.rlimits.get_mut(i)) {
            *slot = limit;
        }
    }
}

/// Starts `execfn` (searched on `envp`'s PATH when it has no `/`) as a new
/// process in `fs` with `spec`: cwd first (so a relative program is found
/// from it), then the program, then the credentials and limits. The caller
/// gives the task an id and puts it in the tables.
pub fn spawn_with_spec<P: Platform>(
    k: &mut Kernel<P>,
    mut fs: FsContext,
    spec: &ProcessSpec,
    execfn: &[u8],
    argv: Vec<Vec<u8>>,
    envp: &[Vec<u8>],
    boot_file: Option<ProgramFile>,
) -> Result<Spawned<P::AddressSpace>, SpawnError> {
    enter_cwd(&mut fs, spec).map_err(SpawnError::Cwd)?;
    let img = exec::load_program(k, &fs, execfn, argv, envp, true, boot_file).map_err(SpawnError::Exec)?;
    let exe = exec::exe_path(&fs, &img.path, envp, true);
    let mut task = Task::new(img.mm, fs, img.entry, img.sp, k.params.tty_mask);
    task.set_comm_from_path(&img.path);
    apply_process_spec(&mut task, spec);
    Ok(Spawned { task, exe, env: img.env })
}
