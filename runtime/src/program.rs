//! Finding and reading the program `ringfence do` runs.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Largest program file read into the sandbox.
pub const MAX_PROGRAM_SIZE: u64 = 1 << 30;

/// Why the program cannot be run. [`ProgramError::exit_code`] gives the
/// shell's status for each (127 not found, 126 found but not runnable).
#[derive(Debug, thiserror::Error)]
pub enum ProgramError {
    /// Not found (on PATH or at the given path).
    #[error("{}: no such file", .0.to_string_lossy())]
    NotFound(OsString),
    /// No execute permission.
    #[error("{}: permission denied (not executable)", .0.display())]
    NotExecutable(PathBuf),
    /// Found but not a regular file.
    #[error("{}: not a regular file", .0.display())]
    NotRegular(PathBuf),
    /// Could not be opened or read.
    #[error("{}: cannot read", .path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Larger than [`MAX_PROGRAM_SIZE`].
    #[error("{}: larger than {MAX_PROGRAM_SIZE} bytes", .0.display())]
    TooLarge(PathBuf),
    /// No ELF magic.
    #[error("{}: not an ELF executable", .0.display())]
    NotElf(PathBuf),
}

impl ProgramError {
    /// The exit status a shell would report.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::NotFound(_) => 127,
            _ => 126,
        }
    }
}

/// A program ready to be loaded.
#[derive(Debug, Clone)]
pub struct Program {
    /// Where it was found (`AT_EXECFN`).
    pub path: PathBuf,
    /// The whole ELF file.
    pub bytes: Vec<u8>,
}

/// Resolves `name` like `execvp`: as a path if it contains `/`, else on
/// `path_var` (the host's PATH; an empty entry means the current directory).
pub fn resolve(name: &OsStr, path_var: Option<&OsStr>) -> Result<PathBuf, ProgramError> {
    if name.is_empty() {
        return Err(ProgramError::NotFound(name.to_owned()));
    }
    if name.as_bytes().contains(&b'/') {
        let p = PathBuf::from(name);
        return if p.exists() { Ok(p) } else { Err(ProgramError::NotFound(name.to_owned())) };
    }
    let path_var = path_var.unwrap_or(OsStr::new("/usr/local/bin:/usr/bin:/bin"));
    // Like execvp: the first executable file wins; a non-executable one is
    // reported (as 126) only if nothing better is found.
    let mut fallback = None;
    for dir in path_var.as_bytes().split(|&b| b == b':') {
        let dir = if dir.is_empty() { Path::new(".") } else { Path::new(OsStr::from_bytes(dir)) };
        let candidate = dir.join(name);
        match candidate.metadata() {
            Ok(m) if m.is_file() && is_executable(&m) => return Ok(candidate),
            Ok(m) if m.is_file() => {
                fallback.get_or_insert(candidate);
            }
            _ => {}
        }
    }
    fallback.ok_or_else(|| ProgramError::NotFound(name.to_owned()))
}

/// Whether any execute bit is set (execve requires one, even for root).
fn is_executable(meta: &std::fs::Metadata) -> bool {
    meta.permissions().mode() & 0o111 != 0
}

/// Reads the program at `path`, checking it is a regular ELF file of at
/// most [`MAX_PROGRAM_SIZE`] bytes.
pub fn read(path: &Path) -> Result<Program, ProgramError> {
    let unreadable = |source| ProgramError::Unreadable { path: path.to_owned(), source };
    let file = File::open(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => ProgramError::NotFound(path.as_os_str().to_owned()),
        _ => unreadable(e),
    })?;
    let meta = file.metadata().map_err(unreadable)?;
    if !meta.is_file() {
        return Err(ProgramError::NotRegular(path.to_owned()));
    }
    if !is_executable(&meta) {
        return Err(ProgramError::NotExecutable(path.to_owned()));
    }
    if meta.len() > MAX_PROGRAM_SIZE {
        return Err(ProgramError::TooLarge(path.to_owned()));
    }
    // Sized up front: one read instead of a doubling buffer.
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0).saturating_add(1));
    file.take(MAX_PROGRAM_SIZE + 1).read_to_end(&mut bytes).map_err(unreadable)?;
    if u64::try_from(bytes.len()).map_or(true, |n| n > MAX_PROGRAM_SIZE) {
        return Err(ProgramError::TooLarge(path.to_owned()));
    }
    if !bytes.starts_with(b"\x7fELF") {
        return Err(ProgramError::NotElf(path.to_owned()));
    }
    Ok(Program { path: path.to_owned(), bytes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_on_path_and_by_path() {
        let p = resolve(OsStr::new("sh"), Some(OsStr::new("/nonexistent:/bin"))).expect("sh");
        assert_eq!(p, Path::new("/bin/sh"));
        assert!(matches!(
            resolve(OsStr::new("no-such-prog-xyz"), Some(OsStr::new("/bin"))),
            Err(ProgramError::NotFound(_))
        ));
        assert!(matches!(resolve(OsStr::new("./no/such"), None), Err(ProgramError::NotFound(_))));
        assert_eq!(resolve(OsStr::new("/bin/sh"), None).expect("abs"), Path::new("/bin/sh"));
    }

    #[test]
    fn read_checks() {
        let e = read(Path::new("/")).expect_err("dir");
        assert!(matches!(e, ProgramError::NotRegular(_)));
        assert_eq!(e.exit_code(), 126);
        let e = read(Path::new("/etc/hostname")).expect_err("text");
        assert!(matches!(e, ProgramError::NotElf(_)) || matches!(e, ProgramError::NotFound(_)));
        let dir = std::env::temp_dir().join(format!("rf-program-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let noexec = dir.join("sh");
        std::fs::copy("/bin/sh", &noexec).expect("copy");
        std::fs::set_permissions(&noexec, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let e = read(&noexec).expect_err("not executable");
        assert!(matches!(e, ProgramError::NotExecutable(_)));
        assert_eq!(e.exit_code(), 126);
        assert_eq!(resolve(OsStr::new("sh"), Some(dir.as_os_str())).expect("fallback"), noexec);
        std::fs::remove_dir_all(&dir).expect("rm");
        let prog = read(Path::new("/bin/sh")).expect("elf");
        assert!(prog.bytes.starts_with(b"\x7fELF"));
        assert_eq!(ProgramError::NotFound("x".into()).to_string(), "x: no such file");
    }
}
