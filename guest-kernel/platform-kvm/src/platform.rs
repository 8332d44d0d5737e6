//! The KVM platform: the sentry's `Platform`, `Context` implementations.

use core::cell::Cell;

use abi::layout::{selector, BOOT_PML4_GPA, USER_END};
use sentry::arch::{FpState, UserRegs};
use sentry::mm::frames::FrameAllocator;
use sentry::platform::{Access, Context, MapError, PhysMem, Platform, ThreadId, Trap};

use crate::arch::entry::{switch_to_user, CPU_LOCAL, VECTOR_SYSCALL};
use crate::arch::{self, Backend};
use crate::host::KvmHost;
use crate::paging::GuestSpace;

/// This vCPU's execution context.
#[derive(Debug)]
pub struct KvmContext {
    backend: Backend,
    fsgsbase: bool,
    /// Page-table root currently loaded.
    cr3: u64,
    /// FS and GS bases currently loaded for user mode.
    fs_base: u64,
    gs_base: u64,
}

impl KvmContext {
    pub fn new(backend: Backend, fsgsbase: bool) -> Self {
        Self { backend, fsgsbase, cr3: BOOT_PML4_GPA, fs_base: 0, gs_base: 0 }
    }
}

impl Context for KvmContext {
    type AddressSpace = GuestSpace;

    fn switch(&mut self, space: &mut GuestSpace, _thread: ThreadId, regs: &mut UserRegs, fp: &mut FpState) -> Trap {
        // Never trust the register file: a non-canonical or kernel-half
        // rip/rsp would fault inside the return path, in supervisor mode.
        if regs.rip >= USER_END || regs.rsp >= USER_END {
            return Trap::Exception { vector: 13, error_code: 0 };
        }
        regs.cs = u64::from(selector::USER_CS);
        regs.ss = u64::from(selector::USER_DS);
        if space.root != self.cr3 {
            arch::load_cr3(self.backend, space.root);
            self.cr3 = space.root;
        }
        if regs.fs_base != self.fs_base {
            arch::set_fs_base(self.fsgsbase, regs.fs_base);
            self.fs_base = regs.fs_base;
        }
        if regs.gs_base != self.gs_base {
            arch::set_gs_base(self.fsgsbase, regs.gs_base);
            self.gs_base = regs.gs_base;
        }
        let sysret = u64::from(regs.rcx == regs.rip && regs.r11 == regs.rflags);
        // SAFETY: CPU_LOCAL is this vCPU's entry data; `regs` and `fp`
        // outlive the call (the entry code writes them before
        // switch_to_user returns), `fp` is 64-byte aligned for fxsave, and
        // the registers were sanitised above (user selectors, canonical
        // user rip/rsp; rflags by the sentry).
        unsafe {
            CPU_LOCAL.regs = regs as *mut UserRegs;
            CPU_LOCAL.fpu = fp.bytes.as_mut_ptr();
            switch_to_user(sysret);
        }
        match regs.vector {
            VECTOR_SYSCALL => Trap::Syscall,
            14 => {
                let e = regs.error_code;
                let access = if e & 0x10 != 0 {
                    Access::Exec
                } else if e & 0x2 != 0 {
                    Access::Write
                } else {
                    Access::Read
                };
                Trap::PageFault { addr: arch::fault_address(self.backend), access, present: e & 1 != 0 }
            }
            v if v < 32 => Trap::Exception { vector: u8::try_from(v).unwrap_or(0), error_code: regs.error_code },
            arch::lapic::VECTOR_TIMER => {
                arch::lapic::eoi();
                Trap::Interrupted
            }
            _ => Trap::Interrupted,
        }
    }
}

/// The KVM platform.
#[derive(Debug)]
pub struct KvmPlatform {
    ctx: KvmContext,
    host: KvmHost,
    phys: PhysMem,
    backend: Backend,
    /// Whether the boot page-table pair has been handed out (to init).
    boot_pair_used: Cell<bool>,
}

impl KvmPlatform {
    pub fn new(ctx: KvmContext, host: KvmHost, phys: PhysMem, backend: Backend) -> Self {
        Self { ctx, host, phys, backend, boot_pair_used: Cell::new(false) }
    }
}

impl Platform for KvmPlatform {
    type AddressSpace = GuestSpace;
    type Context = KvmContext;
    type Host = KvmHost;

    fn new_address_space(&self, frames: &mut FrameAllocator) -> Result<GuestSpace, MapError> {
        if !self.boot_pair_used.replace(true) {
            return Ok(GuestSpace::from_pair(BOOT_PML4_GPA, self.phys, self.backend));
        }
        GuestSpace::new(frames, BOOT_PML4_GPA, self.backend)
    }

    fn context(&mut self) -> &mut KvmContext {
        &mut self.ctx
    }

    fn host(&self) -> &KvmHost {
        &self.host
    }

    fn p9_transport(&self) -> alloc::sync::Arc<dyn sentry::platform::P9Transport> {
        alloc::sync::Arc::new(crate::host::KvmP9)
    }
}
