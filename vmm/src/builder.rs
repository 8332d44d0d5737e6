//! Building and running the VM, as a linear recipe.

use std::time::Instant;

use abi::boot::{BootInfo, BOOT_MAGIC, BOOT_VERSION, FLAG_FSGSBASE, FLAG_INJECT_SENTRY_FAULT, FLAG_STRACE};
use abi::layout;
use abi::linux::Winsize;

use crate::arch::{self, Variant};
use crate::error::VmmError;
use crate::hostcall::Hostcalls;
use crate::loader::{self, Placement};
use crate::stop::StopSignal;
use crate::vstate::{cpuid_has_fsgsbase, GuestMemory, Kvm, Vcpu, Vm};
use crate::{sys, Outcome, RunStats, VmConfig};

/// vCPUs per VM for now; the layout has room for `MAX_VCPUS`.
const VCPUS: u64 = 1;

/// Builds the VM for `config` and runs it on the calling thread.
pub fn build_and_run(config: &VmConfig, stop: &StopSignal) -> Result<(Outcome, RunStats), VmmError> {
    run_built(build(config)?, config, stop)
}

/// A VM built and loaded, its vCPU configured, not yet run. Its fields
/// drop in declaration order: the vCPU and the VM before their memory.
pub struct Built {
    vcpu: Vcpu,
    vm: Vm,
    memory: GuestMemory,
    kvm: Kvm,
    started: Instant,
    /// The vCPU has an in-kernel local APIC, whose timer the run starts.
    lapic: bool,
}

/// Steps 1 to 4: everything but the run, from the fields of `config` that
/// shape the guest (not `gofer`, `gofer_ready`, `before_run`, `control`).
/// It may run on another thread than the run: nothing in it is tied to
/// the calling thread.
#[tracing::instrument(skip_all, err(level = "debug"))]
pub fn build(config: &VmConfig) -> Result<Built, VmmError> {
    check_config(config)?;
    let started = Instant::now();

    // 1. KVM and guest memory (dropped after the VM and its vCPU: locals
    //    drop in reverse order).
    let kvm = Kvm::open()?;
    let memory = GuestMemory::new_memfd(config.memory_bytes)?;
    let vm = kvm.create_vm()?;
    vm.register_memory(&memory)?;
    // The local APIC's timer preempts tasks that never trap; without it the
    // sentry still runs, switching tasks only at traps.
    let lapic = match vm.create_irqchip() {
        Ok(()) => true,
        Err(err) => {
            tracing::warn!(%err, "no in-kernel local APIC: tasks are not preempted");
            false
        }
    };

    // 2. The guest image, then the program and its arguments after it.
    let image = loader::load_image(&memory, &config.guest_image)?;
    let placement = loader::place_program(
        &memory,
        image.end,
        &config.program,
        &config.exec_path,
        &config.argv,
        &config.envp,
        &config.container_block,
    )?;

    // 3. The vCPU; which KVM flavour we run on decides the boot structures.
    let mut cpuid = kvm.supported_cpuid()?;
    arch::cpuid::guest_cpuid(&mut cpuid);
    let mut vcpu = vm.create_vcpu(0)?;
    vcpu.set_cpuid(&cpuid)?;
    let variant = Variant::detect(&vcpu);
    vcpu.set_mode_probe(variant.mode_probe());
    let fsgsbase = variant.fsgsbase(cpuid_has_fsgsbase(&cpuid));
    let tsc_khz = variant.tsc_khz(&vcpu);
    tracing::debug!(?variant, fsgsbase, tsc_khz, lapic, image_end = image.end, "vCPU created");

    // 4. Boot info, page tables, GDT/TSS, per-vCPU pages.
    let mut info = boot_info(config, &memory, variant, fsgsbase, tsc_khz, &placement)?;
    if lapic {
        info.flags |= abi::boot::FLAG_LAPIC_TIMER;
    }
    info.cpuid = arch::cpuid::boot_cpuid(&cpuid, variant.leaf1(&cpuid, lapic));
    memory.write(layout::BOOT_INFO_GPA, info)?;
    arch::write_boot_structures(&memory, variant, VCPUS)?;
    populate_boot_working_set(&memory, info.free_start);
    variant.prepare_vcpu_memory(&memory, vcpu.index())?;
    let mut setup = arch::vcpu_setup(variant, vcpu.index(), fsgsbase, &image.header);
    if lapic {
        setup.apic_base = Some(arch::x2apic_base(vcpu.index()));
    }
    vcpu.configure(&setup)?;
    Ok(Built { vcpu, vm, memory, kvm, started, lapic })
}

/// Step 5: runs `built` on the calling thread, with `config`'s gofer,
/// `before_run` and control channel.
#[tracing::instrument(skip_all, err(level = "debug"))]
pub fn run_built(built: Built, config: &VmConfig, stop: &StopSignal) -> Result<(Outcome, RunStats), VmmError> {
    // Dropped in reverse: the vCPU, the VM, then memory and /dev/kvm.
    let Built { vcpu, vm, memory, kvm, started, lapic } = built;
    let _kvm = kvm;
    let memory = memory;
    let _vm = vm;
    let mut vcpu = vcpu;

    // 5. Run.
    // The gofer started alongside the VM: its handshake is waited for at
    // the first 9P exchange, so that guest boot overlaps its start-up.
    let mut hostcalls = Hostcalls::new(&memory, stop, vcpu.index());
    if let Some(sock) = &config.gofer {
        let sock = sock.try_clone().map_err(|_| VmmError::Config("cannot use the gofer connection"))?;
        hostcalls = hostcalls.with_gofer(sock, config.gofer_ready.clone());
    }
    let mut stats = RunStats::default();
    // The counters cost a few hundred microseconds to read: only for --debug.
    let want_kvm = tracing::enabled!(tracing::Level::DEBUG);
    let kvm_before = if want_kvm { vcpu.kvm_stats() } else { Vec::new() };
    vcpu.start_profiler();
    // It may wait (an OCI container built ahead of `start` waits there).
    if let Some(before_run) = &config.before_run {
        (before_run.0)().map_err(VmmError::BeforeRun)?;
    }
    // Control requests wait until the guest is about to run, not while
    // `before_run` waits.
    if let Some(control) = &config.control {
        hostcalls = hostcalls.with_control(std::sync::Arc::clone(control));
    }
    // The tick starts with the guest, not while a created container waits.
    if lapic {
        let period = u32::try_from(abi::boot::TICK_NS).map_err(|_| VmmError::Config("tick period too long"))?;
        vcpu.start_lapic_timer(period, abi::boot::TIMER_VECTOR, abi::boot::SPURIOUS_VECTOR)?;
    }
    let outcome = vcpu.run(stop, &mut hostcalls, started, &mut stats);
    hostcalls.hang_up_gofer();
    stats.hostcalls = hostcalls.count;
    stats.p9_exchanges = hostcalls.p9_count;
    stats.p9_ns = hostcalls.p9_ns;
    stats.kvm = if want_kvm { vcpu.kvm_stats() } else { Vec::new() }
        .into_iter()
        .filter_map(|(name, after)| {
            let before = kvm_before.iter().find(|(n, _)| *n == name).map_or(0, |(_, v)| *v);
            (after != before).then(|| (name, after.wrapping_sub(before)))
        })
        .collect();
    tracing::debug!(?stats, "run finished");
    outcome.map(|o| (o, stats))
}

/// Host pages, now, for what the guest writes first: the hostcall blocks
/// and the IDT (the low fixed structures), the top of vCPU 0's kernel stack
/// and its trap stack, the start of the sentry's heap and of its single
/// frames (page tables, the first program's stack, heap and copied data
/// pages: busybox `true` touches 23 of the first 39, the sentry's large
/// contiguous buffers come from the other end). Each first touch of a page
/// the host has not backed costs ~30 µs on PVM (a shadow-paging fault that
/// allocates; ~6 µs once backed, ~2.3 µs a page to back here); once backed,
/// KVM maps up to 8 neighbours with the one that faulted. The ranges are
/// small: pages the guest would not touch soon stay unbacked.
fn populate_boot_working_set(memory: &GuestMemory, free_start: u64) {
    const STACK_BYTES: u64 = 64 << 10;
    const HEAP_BYTES: u64 = 128 << 10;
    const FRAME_BYTES: u64 = 160 << 10;
    memory.populate(layout::BOOT_INFO_GPA, layout::CONTROL_GPA - layout::BOOT_INFO_GPA);
    let stacks_end = layout::STACKS_GPA + layout::STACK_STRIDE;
    memory.populate(stacks_end - STACK_BYTES, STACK_BYTES);
    memory.populate(free_start, HEAP_BYTES);
    memory.populate(free_start + layout::sentry_heap_size(memory.size()), FRAME_BYTES);
}

fn check_config(config: &VmConfig) -> Result<(), VmmError> {
    if config.memory_bytes < layout::MIN_GUEST_MEMORY || config.memory_bytes > layout::MAX_GUEST_MEMORY {
        return Err(VmmError::Config("memory size must be between 64 MiB and 64 GiB"));
    }
    if config.memory_bytes & (layout::PAGE_SIZE - 1) != 0 {
        return Err(VmmError::Config("memory size must be a multiple of 4 KiB"));
    }
    if config.hostname.len() > 64 {
        return Err(VmmError::Config("host name longer than 64 bytes"));
    }
    if config.argv.is_empty() {
        return Err(VmmError::Config("argv is empty"));
    }
    Ok(())
}

fn boot_info(
    config: &VmConfig,
    memory: &GuestMemory,
    variant: Variant,
    fsgsbase: bool,
    tsc_khz: u64,
    placement: &Placement,
) -> Result<BootInfo, VmmError> {
    let mut flags = variant.boot_flags();
    if config.strace {
        flags |= FLAG_STRACE;
    }
    if fsgsbase {
        flags |= FLAG_FSGSBASE;
    }
    if config.inject_sentry_fault {
        flags |= FLAG_INJECT_SENTRY_FAULT;
    }
    if config.root_overlay {
        flags |= abi::boot::FLAG_ROOT_OVERLAY;
    }
    if config.console {
        flags |= abi::boot::FLAG_CONSOLE;
    }
    let tty_mask = (0..3).filter(|&fd| sys::isatty(fd)).fold(0u32, |m, fd| m | (1 << fd));
    let winsize = if tty_mask & 2 != 0 { sys::winsize(1) } else { None }.unwrap_or(Winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    });
    let mut seed = [0u8; 32];
    sys::getrandom(&mut seed).map_err(|_| VmmError::Config("getrandom failed"))?;
    let mut hostname = [0u8; 64];
    hostname[..config.hostname.len()].copy_from_slice(&config.hostname);
    Ok(BootInfo {
        magic: BOOT_MAGIC,
        version: BOOT_VERSION,
        flags,
        mem_size: memory.size(),
        free_start: placement.free_start,
        module_gpa: placement.module_gpa,
        module_len: placement.module_len,
        args_gpa: placement.args_gpa,
        args_len: placement.args_len,
        argc: placement.argc,
        envc: placement.envc,
        tsc_khz,
        tty_mask,
        pad: 0,
        winsize,
        seed,
        hostname,
        stdio: [sys::stdio_stat(0), sys::stdio_stat(1), sys::stdio_stat(2)],
        termios: (0..3).filter(|&fd| tty_mask & (1 << fd) != 0).find_map(sys::termios).unwrap_or([0; 36]),
        pad2: 0,
        cpuid: abi::boot::CpuidInfo::default(),
    })
}

#[cfg(test)]
mod tests {
    //! End-to-end runs of hand-assembled guests; skipped without /dev/kvm.

    use std::sync::Arc;
    use std::time::Duration;

    use abi::hostcall::HOSTCALL_PORT;

    use super::*;
    use crate::error::GuestFault;
    use crate::loader::tests::tiny_image;
    use crate::StopReason;

    fn have_kvm() -> bool {
        let ok = std::path::Path::new("/dev/kvm").exists();
        if !ok {
            eprintln!("skipped: no /dev/kvm");
        }
        ok
    }

    fn config(code: &[u8]) -> VmConfig {
        VmConfig {
            memory_bytes: 128 << 20,
            guest_image: tiny_image(code, 0).into(),
            program: b"\x7fELF-not-really".to_vec(),
            exec_path: b"/bin/true".to_vec(),
            argv: vec![b"true".to_vec()],
            envp: vec![b"A=1".to_vec()],
            strace: false,
            hostname: b"ringfence".to_vec(),
            inject_sentry_fault: false,
            gofer: None,
            gofer_ready: None,
            root_overlay: false,
            container_block: Vec::new(),
            before_run: None,
            console: false,
            control: None,
        }
    }

    /// Guest code (at KERNEL_BASE + KERNEL_IMAGE_GPA + 32) that writes `msg`
    /// to fd 2 with a Write hostcall, then exits with `code`.
    fn hello_guest(msg: &[u8], code: u8) -> Vec<u8> {
        let block = layout::KERNEL_BASE + layout::hostcall_block_gpa(0);
        let mut c = Vec::new();
        c.extend([0x48, 0xb8]);
        c.extend(block.to_le_bytes()); // movabs rax, block
        c.extend([0x48, 0xbb]);
        c.extend(((1u64 << 32) | 1).to_le_bytes()); // movabs rbx, nr Write | version 1
        c.extend([0x48, 0x89, 0x18]); // mov [rax], rbx
        c.extend([0x48, 0xc7, 0x40, 0x08, 2, 0, 0, 0]); // args[0] = 2
        c.extend([0xc7, 0x40, 0x38, 1, 0, 0, 0]); // nsegs = 1
        let msg_at_patch = c.len() + 2;
        c.extend([0x48, 0xbb]);
        c.extend(0u64.to_le_bytes()); // movabs rbx, msg gpa (patched)
        c.extend([0x48, 0x89, 0x58, 0x40]); // seg[0].gpa = rbx
        let len = u8::try_from(msg.len()).expect("short message");
        c.extend([0x48, 0xc7, 0x40, 0x48, len, 0, 0, 0]); // seg[0].len
        c.extend([0x66, 0xba]);
        c.extend(HOSTCALL_PORT.to_le_bytes()); // mov dx, port
        c.push(0xef); // out dx, eax
        c.extend([0x48, 0xbb]);
        c.extend(((3u64 << 32) | 1).to_le_bytes()); // nr Exit | version 1
        c.extend([0x48, 0x89, 0x18]);
        c.extend([0x48, 0xc7, 0x40, 0x08, 0, 0, 0, 0]); // args[0] = Exited
        c.extend([0x48, 0xc7, 0x40, 0x10, code, 0, 0, 0]); // args[1] = code
        c.extend([0xc7, 0x40, 0x38, 0, 0, 0, 0]); // nsegs = 0
        c.push(0xef); // out dx, eax
        c.push(0xf4); // hlt (not reached)
        let msg_gpa = layout::KERNEL_IMAGE_GPA + 32 + c.len() as u64;
        c[msg_at_patch..msg_at_patch + 8].copy_from_slice(&msg_gpa.to_le_bytes());
        c.extend_from_slice(msg);
        c
    }

    #[test]
    fn guest_writes_and_exits() {
        if !have_kvm() {
            return;
        }
        let (outcome, stats) = crate::run(config(&hello_guest(b"[vmm test] hello from the guest\n", 42))).expect("run");
        assert_eq!(outcome, Outcome::Exited(42));
        assert_eq!(stats.hostcalls, 2);
        assert!(stats.exits >= 2);
        assert!(stats.boot_ns > 0);
    }

    #[test]
    fn ud2_with_empty_idt_triple_faults() {
        if !have_kvm() {
            return;
        }
        match crate::run(config(&[0x0f, 0x0b])) {
            Err(VmmError::Guest { fault, rip, .. }) => {
                assert_eq!(fault, GuestFault::TripleFault);
                eprintln!("rip {rip:#x}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn stop_interrupts_a_spinning_guest() {
        if !have_kvm() {
            return;
        }
        let stop = Arc::new(StopSignal::new());
        let s2 = Arc::clone(&stop);
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            s2.stop(StopReason::Timeout(Duration::from_millis(300)));
        });
        let start = Instant::now();
        let r = crate::run_with(config(&[0xeb, 0xfe]), Arc::clone(&stop)); // jmp .
        t.join().expect("join");
        assert!(matches!(r, Err(VmmError::Stopped(StopReason::Timeout(_)))), "{r:?}");
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn bad_memory_size_is_refused() {
        let mut c = config(&[0x90]);
        c.memory_bytes = 1 << 20;
        assert!(matches!(crate::run(c), Err(VmmError::Config(_))));
        let mut c = config(&[0x90]);
        c.memory_bytes = (128 << 20) + 1;
        assert!(matches!(crate::run(c), Err(VmmError::Config(_))));
    }
}
