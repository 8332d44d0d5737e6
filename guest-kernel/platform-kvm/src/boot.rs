//! From the VMM's boot information to a running sentry.

use alloc::vec::Vec;

use abi::boot::{BootInfo, BOOT_MAGIC, BOOT_VERSION, FLAG_FSGSBASE, FLAG_INJECT_SENTRY_FAULT, FLAG_PVM, FLAG_STRACE};
use abi::layout::{
    BOOT_INFO_GPA, KERNEL_BASE, KERNEL_IMAGE_END, MAX_GUEST_MEMORY, MIN_GUEST_MEMORY, PAGE_SIZE, PHYS_MAP_BASE,
};
use sentry::kernel::{BootParams, InitProgram};
use sentry::mm::frames::FrameAllocator;
use sentry::platform::PhysMem;

use crate::arch::entry::CPU_LOCAL;
use crate::arch::Backend;
use crate::host::KvmHost;
use crate::platform::{KvmContext, KvmPlatform};

/// An upper-half address outside every kernel mapping (PML4 slot 384).
const INJECTED_FAULT_ADDRESS: u64 = 0xffff_c000_0000_0000;

/// Fails boot with a message (before the sentry runs).
fn fail(msg: &str) -> ! {
    panic!("boot: {msg}")
}

/// Splits the VMM's argument blob into (execfn, argv, envp).
/// The argument area: exec path, argv, envp, then the container block.
struct Args {
    execfn: Vec<u8>,
    argv: Vec<Vec<u8>>,
    envp: Vec<Vec<u8>>,
    container: Vec<u8>,
}

fn parse_args(phys: &PhysMem, info: &BootInfo) -> Args {
    let len = usize::try_from(info.args_len).unwrap_or_else(|_| fail("argument blob too large"));
    let mut blob = alloc::vec![0u8; len];
    if !phys.read(info.args_gpa, &mut blob) {
        fail("argument blob outside memory");
    }
    let argc = usize::try_from(info.argc).unwrap_or(0);
    let envc = usize::try_from(info.envc).unwrap_or(0);
    // exec path, argc args and envc entries, each NUL-terminated; the
    // container block (abi::container) takes the rest.
    let mut strings = Vec::new();
    let mut rest = &blob[..];
    for _ in 0..1 + argc.min(len) + envc.min(len) {
        let Some(end) = rest.iter().position(|&b| b == 0) else { fail("argument blob shorter than its counts") };
        strings.push(rest[..end].to_vec());
        rest = &rest[end + 1..];
    }
    if strings.len() != 1 + argc + envc {
        fail("argument blob shorter than its counts");
    }
    let envp = strings.split_off(1 + argc);
    let argv = strings.split_off(1);
    let execfn = strings.pop().unwrap_or_default();
    Args { execfn, argv, envp, container: rest.to_vec() }
}

/// The boot path (rdi = vCPU index, on the kernel stack the VMM set).
#[no_mangle]
extern "C" fn kmain(vcpu: u64) -> ! {
    crate::arch::init_idt();
    start(vcpu)
}

/// Reads and checks the boot information, sets up memory and runs init.
pub fn start(_vcpu: u64) -> ! {
    // SAFETY: the boot info page at KERNEL_BASE + BOOT_INFO_GPA is mapped
    // by the boot tables and written by the VMM before the vCPU started;
    // it is copied out once and then checked field by field.
    let info = unsafe { ((KERNEL_BASE + BOOT_INFO_GPA) as *const BootInfo).read_volatile() };
    if info.magic != BOOT_MAGIC || info.version != BOOT_VERSION {
        fail("bad boot information magic or version");
    }
    let mem = info.mem_size;
    if !(MIN_GUEST_MEMORY..=MAX_GUEST_MEMORY).contains(&mem) || mem % PAGE_SIZE != 0 {
        fail("bad memory size");
    }
    let in_mem = |start: u64, len: u64| {
        start >= KERNEL_IMAGE_END && start.checked_add(len).is_some_and(|e| e <= info.free_start)
    };
    if info.free_start % PAGE_SIZE != 0
        || info.free_start >= mem
        || !in_mem(info.module_gpa, info.module_len)
        || !in_mem(info.args_gpa, info.args_len)
    {
        fail("bad boot memory ranges");
    }
    let backend = if info.flags & FLAG_PVM != 0 { Backend::Pvm } else { Backend::Hardware };
    // SAFETY: set once at boot before any switch to user mode.
    unsafe { CPU_LOCAL.pvm = u64::from(backend == Backend::Pvm) };
    // SAFETY: as above.
    unsafe { CPU_LOCAL.xsave = u64::from(crate::arch::xsave_usable(backend, &info.cpuid)) };

    // The heap takes an eighth of memory (8..64 MiB) above the boot data.
    let heap_size = abi::layout::sentry_heap_size(mem);
    let heap_start = info.free_start;
    if heap_start + heap_size >= mem {
        fail("memory too small for the heap");
    }
    // SAFETY: [free_start, free_start + heap_size) is free guest memory
    // (the VMM placed everything it wrote below free_start), mapped by the
    // direct map, and used by nothing else; this is the only init call.
    unsafe { crate::heap::init(PHYS_MAP_BASE + heap_start, heap_size) };
    // SAFETY: the direct map covers all guest memory for the VM's life, and
    // the sentry reaches physical memory only through this view.
    let phys = unsafe { PhysMem::new(PHYS_MAP_BASE as *mut u8, mem) };
    let frames = FrameAllocator::new(phys, heap_start + heap_size, mem);

    let host = KvmHost::new(info.tsc_khz);
    if info.flags & FLAG_INJECT_SENTRY_FAULT != 0 {
        // SAFETY: deliberately reads an address no table maps (test hook);
        // the page fault is taken in supervisor mode and never returns.
        unsafe { core::ptr::read_volatile(INJECTED_FAULT_ADDRESS as *const u64) };
    }
    let Args { execfn, argv, envp, container } = parse_args(&phys, &info);
    let hostname: Vec<u8> = info.hostname.iter().copied().take_while(|&b| b != 0).collect();
    let params = BootParams {
        strace: info.flags & FLAG_STRACE != 0,
        tty_mask: info.tty_mask,
        winsize: info.winsize,
        termios: info.termios,
        stdio: info.stdio,
        root_overlay: info.flags & abi::boot::FLAG_ROOT_OVERLAY != 0,
        hostname,
        seed: info.seed,
        console: info.flags & abi::boot::FLAG_CONSOLE != 0,
        hwcap: u64::from(info.cpuid.leaf1_edx),
    };
    let prog = InitProgram { file_pa: info.module_gpa, file_len: info.module_len, execfn, argv, envp, container };
    let ctx = KvmContext::new(backend, info.flags & FLAG_FSGSBASE != 0);
    let platform = KvmPlatform::new(ctx, host, phys, backend);
    sentry::kernel::boot(platform, frames, params, &prog)
}
