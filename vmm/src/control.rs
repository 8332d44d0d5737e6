//! Control of a running sentry from other threads of the sandbox process
//! (the control server): requests queued for the sentry, their replies,
//! exits of exec'd processes, pause and resume.
//!
//! A posting thread queues the encoded request and nudges the VM
//! ([`StopSignal::nudge`]): the vCPU leaves `KVM_RUN` (or its sleeping
//! hostcall), the run loop writes the pending flag into the control page
//! ([`abi::layout::CONTROL_GPA`]) and resumes; the sentry reads the flag at
//! its next scheduling point, fetches the request and replies with
//! hostcalls (`hostcall/control.rs`), which wake the poster. Guest memory is
//! only ever written by the vCPU thread.

use std::collections::{HashMap, VecDeque};
use std::os::fd::OwnedFd;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use abi::control::{
    self, DecodeError, Header, Kind, ProcessEntry, Reader, SignalTarget, TaskDump, Writer, CONTROL_VERSION, LOG_STRACE,
    NO_SYSCALL,
};

use crate::stop::StopSignal;
use crate::vstate::GuestMemory;

/// A control request that failed.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The VM is not running any more (or not yet).
    #[error("the sandbox is not running")]
    Ended,
    /// No reply in time (the sentry may be busy, or paused).
    #[error("the sandbox did not answer in time")]
    Timeout,
    /// The sentry refused the request with this errno.
    #[error("{}", std::io::Error::from_raw_os_error(*.0))]
    Refused(i32),
    /// `wait_exit` of a process that exec did not start.
    #[error("process {0} was not started by exec")]
    NotExeced(u32),
    /// A request does not fit the limits of the encoding.
    #[error("request too large")]
    TooLarge,
    /// The sentry's reply did not decode.
    #[error("malformed reply from the sandbox: {0}")]
    BadReply(DecodeError),
}

/// One process of the container, as `ps` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: u32,
    pub ppid: u32,
    pub uid: u32,
    /// A /proc state letter (R, S, T, Z).
    pub state: char,
    /// Host CLOCK_MONOTONIC ns at which the process started.
    pub start_monotonic_ns: u64,
    /// User plus system CPU time, ns.
    pub cpu_ns: u64,
    /// Its controlling terminal's device number, 0 for none.
    pub tty: u32,
    pub comm: String,
    /// Arguments (lossy UTF-8).
    pub cmdline: Vec<String>,
}

/// One task of the sentry, as `debug --stacks` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskInfo {
    pub tid: u32,
    pub pid: u32,
    /// A /proc state letter (R, S, T, Z).
    pub state: char,
    /// The syscall a sleeping task is blocked in.
    pub syscall: Option<u64>,
    pub rip: u64,
    pub rsp: u64,
    pub comm: String,
    /// What a sleeping task waits on, in words (empty when running).
    pub wait: String,
}

/// Counters of the whole container.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub pids: u32,
    pub memory_bytes: u64,
    pub user_ns: u64,
    pub system_ns: u64,
}

/// A process to start in the running container. Its `Debug` shows the
/// environment's names only: values carry secrets.
#[derive(Clone, Default)]
pub struct ExecSpec {
    /// `argv[0]` is the program (searched in the `PATH` of `env`).
    pub argv: Vec<Vec<u8>>,
    pub env: Vec<Vec<u8>>,
    pub cwd: Vec<u8>,
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    /// A new pty of the sentry's devpts is its stdio and controlling
    /// terminal; stdio 0 and 1 are the host side (its master).
    pub terminal: bool,
    /// Bounding, effective, inheritable, permitted and ambient masks;
    /// `None`: root's default sets.
    pub caps: Option<[u64; 5]>,
}

impl std::fmt::Debug for ExecSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let argv: Vec<String> = self.argv.iter().map(|a| text(a)).collect();
        let names: Vec<String> =
            self.env.iter().map(|e| text(e.split(|&c| c == b'=').next().unwrap_or_default())).collect();
        f.debug_struct("ExecSpec")
            .field("argv", &argv)
            .field("env_names", &names)
            .field("cwd", &text(&self.cwd))
            .field("uid", &self.uid)
            .field("gid", &self.gid)
            .field("groups", &self.groups)
            .field("terminal", &self.terminal)
            .field("caps", &self.caps)
            .finish()
    }
}

/// Numbers handed to the sentry for registered descriptors start above
/// this (0, 1 and 2 are the sandbox's own stdio).
const FIRST_HANDLE: u32 = 1000;

#[derive(Default)]
struct State {
    next_id: u64,
    /// The last descriptor number handed out.
    next_fd: u32,
    queue: VecDeque<Vec<u8>>,
    /// Requests posted and not answered yet; the reply once it came.
    waiting: HashMap<u64, Option<Vec<u8>>>,
    /// Exit statuses of exec'd processes not collected yet.
    exits: HashMap<u32, i32>,
    /// Host descriptors an exec'd process may use as stdio, by the number
    /// the sentry knows them by.
    fds: HashMap<u32, Arc<OwnedFd>>,
    /// Which descriptors belong to an exec request (until its reply) and
    /// then to its process (until its exit).
    fds_of_request: HashMap<u64, Vec<u32>>,
    fds_of_pid: HashMap<u32, Vec<u32>>,
    paused: bool,
    running: bool,
    ended: bool,
}

/// The control channel of one VM; shared by the vCPU thread and the
/// control server.
pub struct Control {
    state: Mutex<State>,
    changed: Condvar,
    stop: Arc<StopSignal>,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Control")
    }
}

impl Control {
    /// The control channel of the VM that `stop` stops.
    pub fn new(stop: Arc<StopSignal>) -> Arc<Self> {
        Arc::new(Self { state: Mutex::default(), changed: Condvar::new(), stop })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock aborts the process (panic=abort).
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Signals `target` (`pid` for [`SignalTarget::Process`]).
    pub fn signal(&self, target: SignalTarget, pid: u32, sig: u32, timeout: Duration) -> Result<(), ControlError> {
        self.request(Kind::Signal, timeout, |w| {
            w.u32(target as u32);
            w.u32(pid);
            w.u32(sig);
        })
        .map(drop)
    }

    /// The container's processes.
    pub fn processes(&self, timeout: Duration) -> Result<Vec<ProcessInfo>, ControlError> {
        let body = self.request(Kind::Processes, timeout, |_| {})?;
        let mut r = Reader::new(&body);
        let n = r.count(u32::MAX).map_err(ControlError::BadReply)?;
        let mut out = Vec::new();
        for _ in 0..n {
            let e = ProcessEntry::read(&mut r).map_err(ControlError::BadReply)?;
            out.push(ProcessInfo {
                pid: e.pid,
                ppid: e.ppid,
                uid: e.uid,
                state: char::from(e.state),
                start_monotonic_ns: e.start_ns,
                cpu_ns: e.cpu_ns,
                tty: e.tty,
                comm: String::from_utf8_lossy(e.comm).into_owned(),
                cmdline: e
                    .cmdline
                    .split(|&b| b == 0)
                    .filter(|a| !a.is_empty())
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect(),
            });
        }
        Ok(out)
    }

    /// The sentry's tasks, with their registers and what they wait on.
    pub fn stacks(&self, timeout: Duration) -> Result<Vec<TaskInfo>, ControlError> {
        let body = self.request(Kind::Stacks, timeout, |_| {})?;
        let mut r = Reader::new(&body);
        let n = r.count(u32::MAX).map_err(ControlError::BadReply)?;
        let mut out = Vec::new();
        for _ in 0..n {
            let d = TaskDump::read(&mut r).map_err(ControlError::BadReply)?;
            out.push(TaskInfo {
                tid: d.tid,
                pid: d.pid,
                state: char::from(d.state),
                syscall: (d.syscall != NO_SYSCALL).then_some(d.syscall),
                rip: d.rip,
                rsp: d.rsp,
                comm: String::from_utf8_lossy(d.comm).into_owned(),
                wait: String::from_utf8_lossy(d.wait).into_owned(),
            });
        }
        Ok(out)
    }

    /// Turns the sentry's syscall tracing on or off.
    pub fn set_strace(&self, on: bool, timeout: Duration) -> Result<(), ControlError> {
        self.request(Kind::Logging, timeout, |w| w.u32(if on { LOG_STRACE } else { 0 })).map(drop)
    }

    /// The container's counters.
    pub fn stats(&self, timeout: Duration) -> Result<Stats, ControlError> {
        let body = self.request(Kind::Stats, timeout, |_| {})?;
        let mut r = Reader::new(&body);
        let mut read = || -> Result<Stats, DecodeError> {
            Ok(Stats { pids: r.u32()?, memory_bytes: r.u64()?, user_ns: r.u64()?, system_ns: r.u64()? })
        };
        read().map_err(ControlError::BadReply)
    }

    /// Starts `spec` in the container with `stdio` as its fds 0, 1 and 2;
    /// returns its pid. Its exit is collected with [`Self::wait_exit`].
    pub fn exec(&self, spec: &ExecSpec, stdio: [OwnedFd; 3], timeout: Duration) -> Result<u32, ControlError> {
        let max = usize::try_from(control::MAX_LIST).unwrap_or(usize::MAX);
        if spec.argv.is_empty() || spec.argv.len() > max || spec.env.len() > max || spec.groups.len() > max {
            return Err(ControlError::TooLarge);
        }
        let stdio: Vec<Arc<OwnedFd>> = stdio.into_iter().map(Arc::new).collect();
        // Numbers never reused (not the host fds' own): a descendant that
        // kept a closed one must not reach a later process's stdio.
        let nums: Vec<u32> = {
            let mut s = self.lock();
            (0..stdio.len())
                .map(|_| {
                    s.next_fd = s.next_fd.max(FIRST_HANDLE).saturating_add(1);
                    s.next_fd
                })
                .collect()
        };
        if nums.contains(&u32::MAX) {
            return Err(ControlError::TooLarge);
        }
        let body = self.post(Kind::Exec, timeout, Some((&nums, &stdio)), |w| {
            list(w, &spec.argv);
            list(w, &spec.env);
            w.bytes(&spec.cwd);
            w.u32(spec.uid);
            w.u32(spec.gid);
            w.u32(u32::try_from(spec.groups.len()).unwrap_or(u32::MAX));
            for g in &spec.groups {
                w.u32(*g);
            }
            for n in &nums {
                w.u32(*n);
            }
            let mut flags = if spec.terminal { control::EXEC_TERMINAL } else { 0 };
            if spec.caps.is_some() {
                flags |= control::EXEC_CAPS;
            }
            w.u32(flags);
            for m in spec.caps.iter().flatten() {
                w.u64(*m);
            }
        })?;
        Reader::new(&body).u32().map_err(ControlError::BadReply)
    }

    /// Registers descriptors for the life of the VM (`--preserve-fds`);
    /// returns the numbers the sentry knows them by, in order.
    pub fn register_fds(&self, files: Vec<OwnedFd>) -> Result<Vec<u32>, ControlError> {
        let mut s = self.lock();
        let mut nums = Vec::with_capacity(files.len());
        for f in files {
            s.next_fd = s.next_fd.max(FIRST_HANDLE).saturating_add(1);
            if s.next_fd == u32::MAX {
                return Err(ControlError::TooLarge);
            }
            let n = s.next_fd;
            s.fds.insert(n, Arc::new(f));
            nums.push(n);
        }
        Ok(nums)
    }

    /// Waits for exec'd process `pid` to end; its wait status (Linux
    /// encoding). `None` waits forever.
    pub fn wait_exit(&self, pid: u32, timeout: Option<Duration>) -> Result<i32, ControlError> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut state = self.lock();
        loop {
            if let Some(st) = state.exits.get(&pid) {
                return Ok(*st);
            }
            if !state.fds_of_pid.contains_key(&pid) {
                return Err(ControlError::NotExeced(pid));
            }
            if state.ended {
                return Err(ControlError::Ended);
            }
            state = match deadline {
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(ControlError::Timeout);
                    }
                    self.changed.wait_timeout(state, left).unwrap_or_else(PoisonError::into_inner).0
                }
                None => self.changed.wait(state).unwrap_or_else(PoisonError::into_inner),
            };
        }
    }

    /// The stop signal of the VM this channel controls (pass it to
    /// [`crate::run_with`]).
    pub fn stop_signal(&self) -> Arc<StopSignal> {
        Arc::clone(&self.stop)
    }

    /// Stops running the vCPU until [`Self::resume`].
    pub fn pause(&self) {
        self.lock().paused = true;
        self.stop.nudge();
    }

    /// Lets a paused vCPU run again.
    pub fn resume(&self) {
        self.lock().paused = false;
        self.changed.notify_all();
        self.stop.nudge();
    }

    /// Whether the VM is paused.
    pub fn paused(&self) -> bool {
        self.lock().paused
    }

    /// Whether the VM is running (started and not ended).
    pub fn running(&self) -> bool {
        let s = self.lock();
        s.running && !s.ended
    }

    /// The run is about to start: requests are taken from now on (the
    /// platform running the sentry calls this).
    pub fn started(&self) {
        self.lock().running = true;
        self.changed.notify_all();
    }

    /// The run ended: every waiter gets [`ControlError::Ended`] and the
    /// exec'd processes' descriptors are closed.
    pub fn end(&self) {
        let mut s = self.lock();
        s.ended = true;
        s.queue.clear();
        s.fds.clear();
        s.fds_of_pid.clear();
        s.fds_of_request.clear();
        drop(s);
        self.changed.notify_all();
    }

    fn request(
        &self,
        kind: Kind,
        timeout: Duration,
        body: impl FnOnce(&mut Writer<'_>),
    ) -> Result<Vec<u8>, ControlError> {
        self.post(kind, timeout, None, body)
    }

    /// Queues a request (registering `fds` for it), nudges the VM and waits
    /// for the reply body.
    fn post(
        &self,
        kind: Kind,
        timeout: Duration,
        fds: Option<(&[u32], &[Arc<OwnedFd>])>,
        body: impl FnOnce(&mut Writer<'_>),
    ) -> Result<Vec<u8>, ControlError> {
        let mut buf = vec![0u8; control::MAX_REQUEST];
        let deadline = Instant::now() + timeout;
        let mut s = self.lock();
        // A request may come while the VM is still being built.
        while !s.running && !s.ended {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ControlError::Timeout);
            }
            s = self.changed.wait_timeout(s, left).unwrap_or_else(PoisonError::into_inner).0;
        }
        if s.ended {
            return Err(ControlError::Ended);
        }
        s.next_id += 1;
        let id = s.next_id;
        let mut w = Writer::new(&mut buf);
        Header { version: CONTROL_VERSION, id, kind: kind as u32, status: 0 }.write(&mut w);
        body(&mut w);
        if w.overflowed() {
            return Err(ControlError::TooLarge);
        }
        let n = w.len();
        buf.truncate(n);
        if let Some((nums, files)) = fds {
            for (n, f) in nums.iter().zip(files) {
                s.fds.insert(*n, Arc::clone(f));
            }
            s.fds_of_request.insert(id, nums.to_vec());
        }
        s.queue.push_back(buf);
        s.waiting.insert(id, None);
        drop(s);
        self.stop.nudge();
        let mut s = self.lock();
        let reply = loop {
            if let Some(Some(_)) = s.waiting.get(&id) {
                break s.waiting.remove(&id).flatten().unwrap_or_default();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if s.ended || left.is_zero() {
                s.waiting.remove(&id);
                // Still queued: take it back, so a late sentry does not act on it.
                s.queue.retain(|m| request_id(m) != Some(id));
                if let Some(nums) = s.fds_of_request.remove(&id) {
                    for n in nums {
                        s.fds.remove(&n);
                    }
                }
                return Err(if s.ended { ControlError::Ended } else { ControlError::Timeout });
            }
            s = self.changed.wait_timeout(s, left).unwrap_or_else(PoisonError::into_inner).0;
        };
        drop(s);
        let mut r = Reader::new(&reply);
        let h = Header::read(&mut r).map_err(ControlError::BadReply)?;
        if h.status != 0 {
            return Err(ControlError::Refused(h.status.saturating_neg()));
        }
        Ok(reply[Header::SIZE..].to_vec())
    }

    // The side of the thread that runs the sentry: the vCPU thread on KVM
    // (through the control page and hostcalls, below), the sentry's own
    // thread on the ptrace platform (these methods, called directly).

    /// Whether requests wait or the run is paused: the sentry should come
    /// to [`Self::hold_while_paused`] and [`Self::take`].
    pub fn needs_attention(&self) -> bool {
        let s = self.lock();
        s.paused || !s.queue.is_empty()
    }

    /// Waits while paused (or until stopped).
    pub fn hold_while_paused(&self) {
        loop {
            if !self.lock().paused || self.stop.reason().is_some() {
                return;
            }
            self.stop.wait_nudge(Duration::from_millis(100));
        }
    }

    /// The next request, if any.
    pub fn take(&self) -> Option<Vec<u8>> {
        self.lock().queue.pop_front()
    }

    /// Writes the pending flag into the control page, then waits while
    /// paused (or until stopped). Called by the run loop after a kick.
    pub(crate) fn sync(&self, mem: &GuestMemory) {
        self.stop.take_nudge();
        self.write_flag(mem);
        self.hold_while_paused();
    }

    fn write_flag(&self, mem: &GuestMemory) {
        let pending = u32::from(!self.lock().queue.is_empty());
        if let Err(err) = mem.write_bytes(abi::layout::CONTROL_GPA, &pending.to_le_bytes()) {
            tracing::warn!(%err, "cannot write the control page");
        }
    }

    /// The next request, if any, and updates the flag.
    pub(crate) fn take_request(&self, mem: &GuestMemory) -> Option<Vec<u8>> {
        let req = self.take();
        self.write_flag(mem);
        req
    }

    /// Puts back a request the sentry could not take.
    pub(crate) fn put_back(&self, req: Vec<u8>) {
        self.lock().queue.push_front(req);
    }

    /// A reply or event from the sentry. `Err` is the errno for the guest.
    pub fn deliver(&self, msg: Vec<u8>) -> Result<(), i32> {
        let mut r = Reader::new(&msg);
        let h = Header::read(&mut r).map_err(|_| libc::EINVAL)?;
        let mut s = self.lock();
        if h.id == 0 {
            if Kind::from_raw(h.kind) != Some(Kind::Exited) {
                return Err(libc::EINVAL);
            }
            let pid = r.u32().map_err(|_| libc::EINVAL)?;
            let status = r.u32().map_err(|_| libc::EINVAL)?.cast_signed();
            // Only exec'd processes are reported, and each once.
            let Some(nums) = s.fds_of_pid.remove(&pid) else { return Err(libc::ENOENT) };
            for n in nums {
                s.fds.remove(&n);
            }
            s.exits.insert(pid, status);
        } else {
            match s.waiting.get_mut(&h.id) {
                Some(slot @ None) => *slot = Some(msg.clone()),
                _ => return Err(libc::ENOENT),
            }
            if let Some(nums) = s.fds_of_request.remove(&h.id) {
                let pid = (h.status == 0 && Kind::from_raw(h.kind) == Some(Kind::Exec)).then(|| r.u32().ok()).flatten();
                match pid {
                    Some(pid) => {
                        s.fds_of_pid.insert(pid, nums);
                    }
                    None => {
                        for n in nums {
                            s.fds.remove(&n);
                        }
                    }
                }
            }
        }
        drop(s);
        self.changed.notify_all();
        Ok(())
    }

    /// A registered stdio descriptor, kept open while the caller uses it.
    pub fn host_fd(&self, n: u64) -> Option<Arc<OwnedFd>> {
        let n = u32::try_from(n).ok()?;
        self.lock().fds.get(&n).cloned()
    }
}

/// The id of an encoded request.
fn request_id(msg: &[u8]) -> Option<u64> {
    Header::read(&mut Reader::new(msg)).ok().map(|h| h.id)
}

fn list(w: &mut Writer<'_>, items: &[Vec<u8>]) {
    w.u32(u32::try_from(items.len()).unwrap_or(u32::MAX));
    for i in items {
        w.bytes(i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(id: u64, kind: Kind, status: i32, body: &[u8]) -> Vec<u8> {
        let mut out = vec![0u8; Header::SIZE + body.len()];
        let mut w = Writer::new(&mut out);
        Header { version: CONTROL_VERSION, id, kind: kind as u32, status }.write(&mut w);
        out[Header::SIZE..].copy_from_slice(body);
        out
    }

    #[test]
    fn hostile_replies_are_refused() {
        let c = Control::new(Arc::new(StopSignal::new()));
        assert_eq!(c.deliver(vec![1, 2, 3]), Err(libc::EINVAL));
        assert_eq!(c.deliver(vec![0xff; 64]), Err(libc::EINVAL));
        // No request 5 waits.
        assert_eq!(c.deliver(reply(5, Kind::Stats, 0, &[])), Err(libc::ENOENT));
        // Exit of a process exec did not start.
        assert_eq!(c.deliver(reply(0, Kind::Exited, 0, &[1, 0, 0, 0, 0, 0, 0, 0])), Err(libc::ENOENT));
        assert_eq!(c.deliver(reply(0, Kind::Stats, 0, &[])), Err(libc::EINVAL));
        assert!(matches!(c.wait_exit(1, Some(Duration::from_millis(1))), Err(ControlError::NotExeced(1))));
    }

    #[test]
    fn requests_before_the_run_time_out_and_after_it_fail() {
        let c = Control::new(Arc::new(StopSignal::new()));
        assert!(matches!(c.stats(Duration::from_millis(20)), Err(ControlError::Timeout)));
        c.end();
        assert!(matches!(c.stats(Duration::from_millis(20)), Err(ControlError::Ended)));
    }

    #[test]
    fn a_direct_caller_sees_requests_and_is_held_while_paused() {
        let c = Control::new(Arc::new(StopSignal::new()));
        c.started();
        assert!(!c.needs_attention());
        c.pause();
        assert!(c.needs_attention());
        let c2 = Arc::clone(&c);
        let held = std::thread::spawn(move || {
            let t0 = Instant::now();
            c2.hold_while_paused();
            t0.elapsed()
        });
        std::thread::sleep(Duration::from_millis(50));
        c.resume();
        assert!(held.join().expect("join") >= Duration::from_millis(40));
        assert!(!c.needs_attention());
        let c2 = Arc::clone(&c);
        let t = std::thread::spawn(move || c2.stats(Duration::from_millis(200)));
        let msg = loop {
            if let Some(m) = c.take() {
                break m;
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        assert_eq!(Header::read(&mut Reader::new(&msg)).expect("header").kind, Kind::Stats as u32);
        // Taken and never answered: the poster times out.
        assert!(matches!(t.join().expect("join"), Err(ControlError::Timeout)));
    }

    #[test]
    fn a_reply_wakes_its_request() {
        let c = Control::new(Arc::new(StopSignal::new()));
        c.started();
        let c2 = Arc::clone(&c);
        let t = std::thread::spawn(move || c2.stats(Duration::from_secs(10)));
        let msg = loop {
            if let Some(m) = c.lock().queue.pop_front() {
                break m;
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        let h = Header::read(&mut Reader::new(&msg)).expect("header");
        assert_eq!(h.kind, Kind::Stats as u32);
        let mut body = Vec::new();
        body.extend(3u32.to_le_bytes());
        for v in [4096u64, 5, 6] {
            body.extend(v.to_le_bytes());
        }
        assert_eq!(c.deliver(reply(h.id, Kind::Stats, 0, &body)), Ok(()));
        let s = t.join().expect("join").expect("stats");
        assert_eq!(s, Stats { pids: 3, memory_bytes: 4096, user_ns: 5, system_ns: 6 });
        // A second reply to the same request is refused.
        assert_eq!(c.deliver(reply(h.id, Kind::Stats, 0, &body)), Err(libc::ENOENT));
    }
}
