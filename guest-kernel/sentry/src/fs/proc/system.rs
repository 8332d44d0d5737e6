//! Top-level /proc files: cpuinfo, meminfo, uptime, loadavg, stat,
//! filesystems, version, mounts and the sys/ entries.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write as _;

use super::node::SysFile;
use super::pid::{ticks, HZ};
use crate::error::SysError;
use crate::kernel::task::RunState;
use crate::kernel::Kernel;
use crate::platform::{Host as _, Platform};
use crate::syscalls::info::{RELEASE, VERSION};
use abi::layout::PAGE_SIZE;

/// PID_MAX as the kernel allocates ids.
const PID_MAX: u32 = 4_194_304;

/// Generates top-level file `f`.
pub fn generate<P: Platform>(k: &mut Kernel<P>, f: SysFile) -> Result<Vec<u8>, SysError> {
    let text = match f {
        SysFile::Cpuinfo => cpuinfo(),
        SysFile::Meminfo => meminfo(k),
        SysFile::Uptime => {
            let up = uptime_ns(k);
            let idle = k.cpu.idle_ns;
            format!(
                "{}.{:02} {}.{:02}\n",
                up / 1_000_000_000,
                up / 10_000_000 % 100,
                idle / 1_000_000_000,
                idle / 10_000_000 % 100
            )
        }
        SysFile::Loadavg => loadavg(k),
        SysFile::Stat => stat(k),
        SysFile::Filesystems => String::from("nodev\tproc\nnodev\ttmpfs\nnodev\tpipefs\nnodev\t9p\nnodev\toverlay\n"),
        SysFile::Version => format!(
            "Linux version {} (ringfence@sentry) {}\n",
            String::from_utf8_lossy(RELEASE),
            String::from_utf8_lossy(VERSION)
        ),
        SysFile::Hostname => format!("{}\n", String::from_utf8_lossy(&k.params.hostname)),
        SysFile::Osrelease => format!("{}\n", String::from_utf8_lossy(RELEASE)),
        SysFile::Ostype => String::from("Linux\n"),
        SysFile::PidMax => format!("{PID_MAX}\n"),
        SysFile::KernelVersion => format!("{}\n", String::from_utf8_lossy(VERSION)),
        SysFile::Uuid => {
            let mut b = [0u8; 16];
            k.rng.fill(&mut b);
            b[6] = (b[6] & 0x0f) | 0x40;
            b[8] = (b[8] & 0x3f) | 0x80;
            let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
            format!("{}-{}-{}-{}-{}\n", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
        }
        // Memory is given on first touch, never refused at mmap: heuristic overcommit.
        SysFile::Overcommit => String::from("0\n"),
        SysFile::PipeMaxSize => format!("{}\n", crate::fs::pipe::PIPE_MAX_SIZE),
    };
    Ok(text.into_bytes())
}

fn uptime_ns<P: Platform>(k: &Kernel<P>) -> u64 {
    k.host().clocks().monotonic_ns.saturating_sub(k.boot_ns)
}

/// `/proc/meminfo` from the frame allocator (the sandbox's memory).
fn meminfo<P: Platform>(k: &Kernel<P>) -> String {
    let kb = |pages: u64| pages * PAGE_SIZE / 1024;
    let total = kb(k.frames.total());
    let free = kb(k.frames.available());
    let mut s = String::new();
    let mut line = |name: &str, v: u64| {
        let _ = writeln!(s, "{:<16}{v:>8} kB", format!("{name}:"));
    };
    line("MemTotal", total);
    line("MemFree", free);
    line("MemAvailable", free);
    for name in ["Buffers", "Cached", "SwapCached"] {
        line(name, 0);
    }
    line("Active", total - free);
    line("Inactive", 0);
    line("Active(anon)", total - free);
    for name in ["Inactive(anon)", "Active(file)", "Inactive(file)", "Unevictable", "Mlocked"] {
        line(name, 0);
    }
    for name in ["SwapTotal", "SwapFree", "Dirty", "Writeback"] {
        line(name, 0);
    }
    line("AnonPages", total - free);
    for name in ["Mapped", "Shmem", "KReclaimable", "Slab", "SReclaimable", "SUnreclaim"] {
        line(name, 0);
    }
    line("CommitLimit", total);
    line("Committed_AS", total - free);
    s
}

/// Load averages in Linux's fixed point (11 fractional bits), brought up
/// to date when read: each 5 s interval since the last read decays them
/// towards the number of runnable tasks now.
#[derive(Debug, Default, Clone, Copy)]
pub struct LoadAvg {
    avg: [u64; 3],
    /// Monotonic time of the last interval counted.
    at: u64,
}

const FSHIFT: u32 = 11;
const FIXED_1: u64 = 1 << FSHIFT;
/// exp(-5s/1min), exp(-5s/5min), exp(-5s/15min) in fixed point.
const EXP: [u64; 3] = [1884, 2014, 2037];
const LOAD_FREQ_NS: u64 = 5_000_000_000;

impl LoadAvg {
    fn update(&mut self, now: u64, running: u64) {
        if self.at == 0 {
            self.at = now;
        }
        let intervals = (now.saturating_sub(self.at) / LOAD_FREQ_NS).min(1024);
        let active = running * FIXED_1;
        for _ in 0..intervals {
            for (a, e) in self.avg.iter_mut().zip(EXP) {
                *a = (*a * e + active * (FIXED_1 - e)) >> FSHIFT;
            }
        }
        self.at += intervals * LOAD_FREQ_NS;
    }
}

fn fixed(v: u64) -> String {
    let frac = (v & (FIXED_1 - 1)) * 100 / FIXED_1;
    format!("{}.{frac:02}", v >> FSHIFT)
}

/// Runnable tasks (the caller, which is not in the table, included) and all tasks.
fn task_counts<P: Platform>(k: &Kernel<P>) -> (u64, u64) {
    let running = k.tasks.values().filter(|t| t.state == RunState::Runnable).count() as u64 + 1;
    (running, k.tasks.len() as u64 + 1)
}

/// The load averages, shared by /proc/loadavg and sysinfo(2). One kernel
/// runs in a sandbox.
static LOAD: spin::Mutex<LoadAvg> = spin::Mutex::new(LoadAvg { avg: [0; 3], at: 0 });

/// The load averages brought up to date (fixed point, 11 fractional bits).
fn load_now<P: Platform>(k: &Kernel<P>) -> [u64; 3] {
    let (running, _) = task_counts(k);
    let mut l = LOAD.lock();
    l.update(k.host().clocks().monotonic_ns, running);
    l.avg
}

fn loadavg<P: Platform>(k: &Kernel<P>) -> String {
    let (running, total) = task_counts(k);
    let l = load_now(k);
    format!("{} {} {} {running}/{total} {}\n", fixed(l[0]), fixed(l[1]), fixed(l[2]), k.last_id())
}

/// What sysinfo(2) reports.
#[derive(Debug, Clone, Copy)]
pub struct SysInfo {
    pub uptime_s: u64,
    /// Load averages with 16 fractional bits.
    pub loads: [u64; 3],
    pub total_bytes: u64,
    pub free_bytes: u64,
    pub procs: u16,
}

/// The numbers of sysinfo(2), from the same sources as /proc.
pub fn sysinfo<P: Platform>(k: &Kernel<P>) -> SysInfo {
    let (_, total) = task_counts(k);
    SysInfo {
        uptime_s: uptime_ns(k) / 1_000_000_000,
        loads: load_now(k).map(|l| l << (16 - FSHIFT)),
        total_bytes: k.frames.total() * PAGE_SIZE,
        free_bytes: k.frames.available() * PAGE_SIZE,
        procs: u16::try_from(total).unwrap_or(u16::MAX),
    }
}

/// `/proc/stat`. Interrupts and context switches are not counted, so
/// their lines are left out.
fn stat<P: Platform>(k: &Kernel<P>) -> String {
    let c = k.cpu;
    let (running, _) = task_counts(k);
    let blocked = 0;
    let cpu = format!("{} 0 {} {} 0 0 0 0 0 0", ticks(c.user_ns), ticks(c.system_ns), ticks(c.idle_ns));
    let clocks = k.host().clocks();
    let btime = clocks.realtime_ns.saturating_sub(clocks.monotonic_ns.saturating_sub(k.boot_ns)) / 1_000_000_000;
    let _ = HZ;
    format!(
        "cpu  {cpu}\ncpu0 {cpu}\nbtime {btime}\nprocesses {}\nprocs_running {running}\nprocs_blocked {blocked}\n",
        k.forks + 1
    )
}

/// `/proc/mounts` (and `/proc/<pid>/mounts`).
pub fn mounts(fs: &super::ProcShared) -> String {
    let mut s = String::new();
    for m in &fs.mounts {
        let _ = writeln!(s, "{} {} {} {} 0 0", m.source, m.point, m.fstype, m.options);
    }
    s
}

/// `/proc/<pid>/mountinfo`: mount ids are the devices' minor numbers; each
/// mount's parent is the one whose point is the longest prefix of its own.
pub fn mountinfo(fs: &super::ProcShared) -> String {
    let mut s = String::new();
    let id = |dev: u64| dev & 0xff;
    for m in &fs.mounts {
        let parent = fs
            .mounts
            .iter()
            .filter(|p| p.point != m.point && (p.point == "/" || m.point.starts_with(&format!("{}/", p.point))))
            .max_by_key(|p| p.point.len())
            .map_or(id(m.dev), |p| id(p.dev));
        let _ = writeln!(
            s,
            "{} {parent} {}:{} / {} {} - {} {} {}",
            id(m.dev),
            (m.dev >> 8) & 0xfff,
            m.dev & 0xff,
            m.point,
            m.options,
            m.fstype,
            m.source,
            m.options
        );
    }
    s
}

/// CPUID leaf `leaf`, subleaf `sub`.
#[cfg(target_arch = "x86_64")]
fn cpuid(leaf: u32, sub: u32) -> [u32; 4] {
    // CPUID is unprivileged and side-effect free.
    let r = core::arch::x86_64::__cpuid_count(leaf, sub);
    [r.eax, r.ebx, r.ecx, r.edx]
}

#[cfg(not(target_arch = "x86_64"))]
fn cpuid(_leaf: u32, _sub: u32) -> [u32; 4] {
    [0; 4]
}

/// Flag names of CPUID.1:EDX, CPUID.1:ECX, CPUID.7.0:EBX, CPUID.80000001:ECX/EDX bits.
const EDX1: [&str; 32] = [
    "fpu", "vme", "de", "pse", "tsc", "msr", "pae", "mce", "cx8", "apic", "", "sep", "mtrr", "pge", "mca", "cmov",
    "pat", "pse36", "pn", "clflush", "", "dts", "acpi", "mmx", "fxsr", "sse", "sse2", "ss", "ht", "tm", "ia64", "pbe",
];
const ECX1: [&str; 32] = [
    "pni",
    "pclmulqdq",
    "dtes64",
    "monitor",
    "ds_cpl",
    "vmx",
    "smx",
    "est",
    "tm2",
    "ssse3",
    "cid",
    "sdbg",
    "fma",
    "cx16",
    "xtpr",
    "pdcm",
    "",
    "pcid",
    "dca",
    "sse4_1",
    "sse4_2",
    "x2apic",
    "movbe",
    "popcnt",
    "tsc_deadline_timer",
    "aes",
    "xsave",
    "",
    "avx",
    "f16c",
    "rdrand",
    "hypervisor",
];
const EBX7: [&str; 32] = [
    "fsgsbase",
    "tsc_adjust",
    "sgx",
    "bmi1",
    "hle",
    "avx2",
    "",
    "smep",
    "bmi2",
    "erms",
    "invpcid",
    "rtm",
    "cqm",
    "",
    "mpx",
    "rdt_a",
    "avx512f",
    "avx512dq",
    "rdseed",
    "adx",
    "smap",
    "avx512ifma",
    "",
    "clflushopt",
    "clwb",
    "",
    "avx512pf",
    "avx512er",
    "avx512cd",
    "sha_ni",
    "avx512bw",
    "avx512vl",
];
const EDX81: [&str; 32] = [
    "", "", "", "", "", "", "", "", "", "", "", "syscall", "", "", "", "", "", "", "", "", "nx", "", "mmxext", "", "",
    "fxsr_opt", "pdpe1gb", "rdtscp", "", "lm", "3dnowext", "3dnow",
];
const ECX81: [&str; 32] = [
    "lahf_lm",
    "cmp_legacy",
    "svm",
    "extapic",
    "cr8_legacy",
    "abm",
    "sse4a",
    "misalignsse",
    "3dnowprefetch",
    "osvw",
    "ibs",
    "xop",
    "skinit",
    "wdt",
    "",
    "lwp",
    "fma4",
    "tce",
    "",
    "nodeid_msr",
    "",
    "tbm",
    "topoext",
    "perfctr_core",
    "perfctr_nb",
    "",
    "bpext",
    "ptsc",
    "perfctr_llc",
    "mwaitx",
    "",
    "",
];

fn flag_names(out: &mut String, reg: u32, names: &[&str; 32]) {
    for (i, n) in names.iter().enumerate() {
        if !n.is_empty() && reg & (1 << i) != 0 {
            out.push(' ');
            out.push_str(n);
        }
    }
}

/// `/proc/cpuinfo` from CPUID, one processor per vCPU (the sentry runs one).
fn cpuinfo() -> String {
    let l0 = cpuid(0, 0);
    let mut vendor = Vec::new();
    for r in [l0[1], l0[3], l0[2]] {
        vendor.extend_from_slice(&r.to_le_bytes());
    }
    let l1 = cpuid(1, 0);
    let base_family = (l1[0] >> 8) & 0xf;
    let family = if base_family == 0xf { base_family + ((l1[0] >> 20) & 0xff) } else { base_family };
    let model = if base_family == 0x6 || base_family == 0xf {
        ((l1[0] >> 4) & 0xf) | (((l1[0] >> 16) & 0xf) << 4)
    } else {
        (l1[0] >> 4) & 0xf
    };
    let ext_max = cpuid(0x8000_0000, 0)[0];
    let mut name = Vec::new();
    if ext_max >= 0x8000_0004 {
        for leaf in 0x8000_0002..=0x8000_0004u32 {
            for r in cpuid(leaf, 0) {
                name.extend_from_slice(&r.to_le_bytes());
            }
        }
    }
    let name = String::from_utf8_lossy(&name).trim_end_matches('\0').trim().replace('\0', "");
    let mut flags = String::new();
    flag_names(&mut flags, l1[3], &EDX1);
    flag_names(&mut flags, l1[2], &ECX1);
    if ext_max >= 0x8000_0001 {
        let e = cpuid(0x8000_0001, 0);
        flag_names(&mut flags, e[3], &EDX81);
        flag_names(&mut flags, e[2], &ECX81);
    }
    if l0[0] >= 7 {
        flag_names(&mut flags, cpuid(7, 0)[1], &EBX7);
    }
    let (phys_bits, virt_bits) = if ext_max >= 0x8000_0008 {
        let a = cpuid(0x8000_0008, 0)[0];
        (a & 0xff, (a >> 8) & 0xff)
    } else {
        (36, 48)
    };
    let clflush = ((l1[1] >> 8) & 0xff) * 8;
    let mut s = String::new();
    let _ = writeln!(s, "processor\t: 0");
    let _ = writeln!(s, "vendor_id\t: {}", String::from_utf8_lossy(&vendor));
    let _ = writeln!(s, "cpu family\t: {family}\nmodel\t\t: {model}\nmodel name\t: {name}");
    let _ = writeln!(s, "stepping\t: {}", l1[0] & 0xf);
    let _ = writeln!(s, "physical id\t: 0\nsiblings\t: 1\ncore id\t\t: 0\ncpu cores\t: 1\napicid\t\t: 0");
    let _ = writeln!(s, "fpu\t\t: yes\nfpu_exception\t: yes\ncpuid level\t: {}\nwp\t\t: yes", l0[0]);
    let _ = writeln!(s, "flags\t\t:{flags}");
    let _ = writeln!(s, "clflush size\t: {clflush}\ncache_alignment\t: {clflush}");
    let _ = writeln!(s, "address sizes\t: {phys_bits} bits physical, {virt_bits} bits virtual\npower management:\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::proc::{MountDesc, ProcShared};

    #[test]
    fn load_average_decays_towards_the_running_count() {
        let mut l = LoadAvg::default();
        l.update(1, 1);
        // One minute of one running task: 1 - 1/e of the way for the 1-minute average.
        l.update(1 + 60_000_000_000, 1);
        assert_eq!(fixed(l.avg[0]), "0.63");
        assert!(l.avg[1] < l.avg[0] && l.avg[2] < l.avg[1]);
        l.update(1 + 3_600_000_000_000, 0);
        assert_eq!(fixed(l.avg[0]), "0.00");
    }

    #[test]
    fn mount_tables() {
        let m = |point: &str, fstype, dev| MountDesc {
            source: "src",
            point: point.into(),
            fstype,
            options: "rw".into(),
            dev,
        };
        let fs = ProcShared {
            dev: 36,
            mounts: alloc::vec![m("/", "9p", 33), m("/dev", "tmpfs", 31), m("/dev/shm", "tmpfs", 37)],
        };
        assert_eq!(mounts(&fs), "src / 9p rw 0 0\nsrc /dev tmpfs rw 0 0\nsrc /dev/shm tmpfs rw 0 0\n");
        let info = mountinfo(&fs);
        let parents: Vec<&str> = info.lines().map(|l| l.split(' ').nth(1).unwrap_or("")).collect();
        assert_eq!(parents, ["33", "33", "31"]);
        assert!(info.starts_with("33 33 0:33 / / rw - 9p src rw\n"), "{info}");
    }

    #[test]
    fn cpuinfo_has_one_processor() {
        let c = cpuinfo();
        assert_eq!(c.lines().filter(|l| l.starts_with("processor")).count(), 1);
        assert!(c.contains("\nflags\t\t: fpu"), "{c}");
    }
}
