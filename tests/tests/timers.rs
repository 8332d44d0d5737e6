//! The timer C programs of resources/c, natively and in the sandbox:
//! `timers` (alarm, setitimer/getitimer with ITIMER_REAL, ITIMER_VIRTUAL
//! and ITIMER_PROF, timer_create/settime/gettime/getoverrun/delete with
//! each sigevent kind, fork and exec inheritance) and `preempt` (tasks
//! spinning without syscalls neither starve the others nor miss their
//! timers). The native run must print exactly the expected text, the
//! sandboxed run the same.

use ringfence_tests::{compare_runs, resource, Run};

const NO_ARGS: &[&str] = &[];

/// What `timers` prints on Linux.
const TIMERS: &str = r#"alarm: first 0, replacing a 5 s alarm 5, cancelling a 3 s alarm 3, cancelling nothing 0
alarm: 0.3 s left reads 1, 2.7 s left reads 3
setitimer: old value of a disarmed timer 0.000000, interval 0
getitimer: value in (1.5 s, 2 s] yes, interval 1.000000
setitimer off: old value in (1.5 s, 2 s] yes, old interval 1.000000
getitimer after: value 0.000000
refusals: which 99 -1 EINVAL, usec 1000000 -1 EINVAL, negative -1 EINVAL, getitimer(7) -1 EINVAL
periodic ITIMER_REAL: 5 ticks, SI_KERNEL, took at least 45 ms yes
ITIMER_VIRTUAL: armed yes, fired yes (SI_KERNEL), after at least 45 ms of CPU yes, then disarmed yes
ITIMER_PROF: armed yes, fired yes (SI_KERNEL), after at least 45 ms of CPU yes, then disarmed yes
one-shot: gettime value in (0, 20 ms] yes, got RTMIN+1, SI_TIMER, si_value 77, si_timerid right yes, si_overrun 0, after 20 ms yes
one-shot after expiry: value 0, interval 0, overrun 0
periodic 5 ms, blocked for 100 ms: one signal yes, si_overrun at least 10 yes, timer_getoverrun agrees yes
disarm: old interval 5000000 ns, old value in (0, 5 ms] yes
rearm: old interval 500000000 ns, old value in (0.9 s, 1 s] yes
TIMER_ABSTIME: realtime +30 ms fired yes after at least 25 ms yes; a time in the past fires at once yes
SIGEV_NONE: value counted down yes, expired to 0 yes, nothing pending yes
SIGEV_THREAD_ID: got yes, SI_TIMER, si_value is the timer id yes
SIGEV_THREAD_ID of a thread not in the process: -1 EINVAL
timer_delete: pending before yes, still pending after yes; gettime -1 EINVAL, delete again -1 EINVAL
refusals: clock 123 -1 EINVAL, sigev_notify 99 -1 EINVAL, signo 0 -1 EINVAL, signo 65 -1 EINVAL, tv_nsec 1e9 -1 EINVAL
SIGEV_THREAD: the function ran at least 3 times, value 1234
fork child: alarm left 0, ITIMER_REAL value 0, parent's timer: -1 EINVAL
fork parent: still has its alarm yes and its timer yes
after exec: alarm left 7, the timer from before: -1 EINVAL
exec child exited 5
"#;

#[test]
fn timers_natively() {
    Run::native(resource("timers"), NO_ARGS).run().assert_code(0).assert_stdout(TIMERS);
}

#[test]
fn timers_match_linux() {
    let (_, sandboxed) =
        compare_runs(Run::native(resource("timers"), NO_ARGS), Run::sandbox(resource("timers"), NO_ARGS));
    sandboxed.assert_code(0).assert_stdout(TIMERS);
}

/// What `preempt` prints on Linux.
const PREEMPT: &str = r#"spinning child: parent slept 5 times beside it, child killed by SIGKILL
two spinning processes: 20 turns each, child exited 0
spinning thread: main thread slept and stopped it, it spun yes
ITIMER_REAL interrupts a pure spin loop: yes
ITIMER_VIRTUAL interrupts a pure spin loop: yes
ITIMER_PROF interrupts a pure spin loop: yes
spinning child with a 20 ms ITIMER_REAL: killed by SIGALRM
"#;

#[test]
fn preempt_natively() {
    Run::native(resource("preempt"), NO_ARGS).run().assert_code(0).assert_stdout(PREEMPT);
}

#[test]
fn preempt_match_linux() {
    let (_, sandboxed) =
        compare_runs(Run::native(resource("preempt"), NO_ARGS), Run::sandbox(resource("preempt"), NO_ARGS));
    sandboxed.assert_code(0).assert_stdout(PREEMPT);
}
