#![allow(clippy::cast_possible_truncation)]

use super::*;
use crate::testutil::{FakeSpace, TestMem};
use abi::layout::USER_END;

const P: u64 = PAGE_SIZE;

fn setup() -> (TestMem, MemoryManager<FakeSpace>) {
    (TestMem::new(4), MemoryManager::new(FakeSpace::new()))
}

fn spans(mm: &MemoryManager<FakeSpace>) -> Vec<(u64, u64, Perms, Backing)> {
    mm.vmas().map(|v| (v.start, v.end, v.perms, v.backing)).collect()
}

fn mapped(mm: &mut MemoryManager<FakeSpace>, va: u64) -> bool {
    mm.space_mut().translate(va).is_some()
}

#[test]
fn unmap_splits_and_releases_frames() {
    let (mut m, mut mm) = setup();
    let f = &mut m.frames;
    let before = f.available();
    let base = 0x10_0000;
    mm.map(f, base, 4 * P, Perms::RW, Backing::Anon, true).expect("map");
    mm.populate(f, base, 4 * P).expect("populate");
    assert_eq!(f.available(), before - 4);

    mm.unmap(f, base + P, P).expect("unmap");
    assert_eq!(
        spans(&mm),
        [(base, base + P, Perms::RW, Backing::Anon), (base + 2 * P, base + 4 * P, Perms::RW, Backing::Anon)]
    );
    assert!(!mapped(&mut mm, base + P));
    assert!(mapped(&mut mm, base + 2 * P));
    assert_eq!(f.available(), before - 3);

    // Unmapping across the hole and into both neighbours.
    mm.unmap(f, base, 3 * P).expect("unmap");
    assert_eq!(spans(&mm), [(base + 3 * P, base + 4 * P, Perms::RW, Backing::Anon)]);
    assert_eq!(f.available(), before - 1);

    assert_eq!(mm.unmap(f, base + 1, P).map_err(|e| e.errno), Err(errno::EINVAL));
    assert_eq!(mm.unmap(f, base, 0).map_err(|e| e.errno), Err(errno::EINVAL));
    mm.destroy(f);
    assert_eq!(f.available(), before);
}

#[test]
fn splitting_a_phys_vma_offsets_its_base() {
    let (mut m, mut mm) = setup();
    let f = &mut m.frames;
    let base = 0x20_0000;
    mm.map(f, base, 3 * P, Perms::R, Backing::Phys { base: 0x5000 }, true).expect("map");
    mm.unmap(f, base, P).expect("unmap");
    assert_eq!(spans(&mm), [(base + P, base + 3 * P, Perms::R, Backing::Phys { base: 0x6000 })]);
    mm.handle_fault(f, base + 2 * P + 5, Access::Read).expect("fault");
    assert_eq!(mm.space_mut().translate(base + 2 * P), Some((0x7000, Perms::R)));
    // Shared frames are mapped one page at a time.
    assert!(!mapped(&mut mm, base + P));
}

#[test]
fn fixed_mapping_replaces_what_was_there() {
    let (mut m, mut mm) = setup();
    let f = &mut m.frames;
    let before = f.available();
    let base = 0x40_0000;
    mm.map(f, base, 4 * P, Perms::RW, Backing::Anon, true).expect("map");
    mm.copy_out(f, base, &[0xaa; 4 * 4096]).expect("fill");
    assert_eq!(f.available(), before - 4);

    let got = mm.map(f, base + P, 2 * P, Perms::R, Backing::Anon, true).expect("fixed map");
    assert_eq!(got, base + P);
    assert_eq!(
        spans(&mm),
        [
            (base, base + P, Perms::RW, Backing::Anon),
            (base + P, base + 3 * P, Perms::R, Backing::Anon),
            (base + 3 * P, base + 4 * P, Perms::RW, Backing::Anon),
        ]
    );
    assert_eq!(f.available(), before - 2);
    let mut buf = [1u8; 8];
    mm.copy_in(f, base + P, &mut buf).expect("read replaced page");
    assert_eq!(buf, [0; 8]);
    mm.copy_in(f, base + 3 * P, &mut buf).expect("read kept page");
    assert_eq!(buf, [0xaa; 8]);

    let below = mm.map(f, 0x1000, P, Perms::RW, Backing::Anon, true).map_err(|e| e.errno);
    assert_eq!(below, Err(errno::EPERM));
    let high = mm.map(f, USER_END - P, 2 * P, Perms::RW, Backing::Anon, true).map_err(|e| e.errno);
    assert_eq!(high, Err(errno::ENOMEM));
}

#[test]
fn find_gap_allocates_top_down_and_honours_free_hints() {
    let (mut m, mut mm) = setup();
    let f = &mut m.frames;
    let a = mm.map(f, 0, P, Perms::RW, Backing::Anon, false).expect("a");
    assert_eq!(a, MMAP_TOP - P);
    // Leave a one-page hole below `a`.
    mm.map(f, MMAP_TOP - 3 * P, P, Perms::RW, Backing::Anon, true).expect("b");
    let two = mm.map(f, 0, 2 * P, Perms::RW, Backing::Anon, false).expect("two pages");
    assert_eq!(two, MMAP_TOP - 5 * P, "the one-page hole is too small");
    let one = mm.map(f, 0, P, Perms::RW, Backing::Anon, false).expect("one page");
    assert_eq!(one, MMAP_TOP - 2 * P, "the hole fits one page");

    let hinted = mm.map(f, 0x1234_5000, P, Perms::RW, Backing::Anon, false).expect("hint");
    assert_eq!(hinted, 0x1234_5000);
    let taken = mm.map(f, 0x1234_5000, P, Perms::RW, Backing::Anon, false).expect("hint taken");
    assert_eq!(taken, MMAP_TOP - 6 * P);
    let low = mm.map(f, 0x1000, P, Perms::RW, Backing::Anon, false).expect("hint too low");
    assert_eq!(low, MMAP_TOP - 7 * P);
}

#[test]
fn protect_splits_and_fails_on_holes() {
    let (mut m, mut mm) = setup();
    let f = &mut m.frames;
    let base = 0x60_0000;
    mm.map(f, base, 3 * P, Perms::RW, Backing::Anon, true).expect("map");
    mm.map(f, base + 4 * P, P, Perms::RW, Backing::Anon, true).expect("map");
    mm.populate(f, base, 3 * P).expect("populate");

    let err = mm.protect(f, base, 5 * P, Perms::R).map_err(|e| e.errno);
    assert_eq!(err, Err(errno::ENOMEM));
    assert!(mm.vmas().all(|v| v.perms == Perms::RW), "a failed protect changes nothing");

    mm.protect(f, base + P, P, Perms::R).expect("protect");
    assert_eq!(
        spans(&mm)[..3],
        [
            (base, base + P, Perms::RW, Backing::Anon),
            (base + P, base + 2 * P, Perms::R, Backing::Anon),
            (base + 2 * P, base + 3 * P, Perms::RW, Backing::Anon),
        ]
    );
    assert_eq!(mm.space_mut().translate(base + P).map(|(_, p)| p), Some(Perms::R));
    assert_eq!(mm.copy_out(f, base + P, &[1]).map_err(|e| e.errno), Err(errno::EFAULT));
    mm.copy_out(f, base, &[1]).expect("still writable");
}

#[test]
fn protect_refuses_to_make_shared_frames_writable() {
    let (mut m, mut mm) = setup();
    let f = &mut m.frames;
    let base = 0x60_0000;
    mm.map(f, base, 2 * P, Perms::RX, Backing::Phys { base: 0x3000 }, true).expect("map");
    let err = mm.protect(f, base, 2 * P, Perms::RWX).map_err(|e| e.errno);
    assert_eq!(err, Err(errno::EACCES));
    mm.protect(f, base, P, Perms::R).expect("dropping rights is fine");
}

#[test]
fn brk_grows_and_shrinks() {
    let (mut m, mut mm) = setup();
    let f = &mut m.frames;
    let before = f.available();
    mm.init_brk(0x60_0123);
    let start = 0x60_1000;
    assert_eq!(mm.brk(f, 0), start);
    assert_eq!(mm.brk(f, start - 1), start, "below the start is refused");

    assert_eq!(mm.brk(f, start + 5000), start + 5000);
    assert_eq!(spans(&mm), [(start, start + 2 * P, Perms::RW, Backing::Heap)]);
    mm.copy_out(f, start + 4096, &[7; 100]).expect("heap is writable");
    assert_eq!(mm.brk(f, start + 3 * P), start + 3 * P);
    assert_eq!(spans(&mm), [(start, start + 3 * P, Perms::RW, Backing::Heap)], "grown in place");

    assert_eq!(mm.brk(f, start + 10), start + 10);
    assert_eq!(spans(&mm), [(start, start + P, Perms::RW, Backing::Heap)]);
    assert!(!mapped(&mut mm, start + P));
    // Growing again gives zeroes, not the old contents.
    assert_eq!(mm.brk(f, start + 2 * P), start + 2 * P);
    let mut b = [1u8; 100];
    mm.copy_in(f, start + 4096, &mut b).expect("read");
    assert_eq!(b, [0; 100]);

    // A mapping in the way stops the heap.
    mm.map(f, start + 4 * P, P, Perms::R, Backing::Anon, true).expect("map");
    assert_eq!(mm.brk(f, start + 8 * P), start + 2 * P);
    assert_eq!(mm.brk(f, MMAP_TOP + P), start + 2 * P);

    mm.destroy(f);
    assert_eq!(f.available(), before);
}

#[test]
fn handle_fault_checks_permissions() {
    let (mut m, mut mm) = setup();
    let f = &mut m.frames;
    let r = 0x70_0000;
    let rx = 0x80_0000;
    mm.map(f, r, P, Perms::R, Backing::Anon, true).expect("map");
    mm.map(f, rx, P, Perms { read: false, write: false, exec: true }, Backing::Anon, true).expect("map");
    mm.map(f, 0x90_0000, P, Perms::NONE, Backing::Anon, true).expect("map");

    let fault = |mm: &mut MemoryManager<FakeSpace>, f: &mut FrameAllocator, a, acc| {
        mm.handle_fault(f, a, acc).map_err(|e| e.errno)
    };
    assert_eq!(fault(&mut mm, f, r, Access::Write), Err(errno::EFAULT));
    assert_eq!(fault(&mut mm, f, r, Access::Exec), Err(errno::EFAULT));
    assert_eq!(fault(&mut mm, f, r + 8, Access::Read), Ok(()));
    assert_eq!(fault(&mut mm, f, rx, Access::Read), Ok(()), "exec implies read on x86");
    assert_eq!(fault(&mut mm, f, rx, Access::Exec), Ok(()));
    assert_eq!(fault(&mut mm, f, 0x90_0000, Access::Read), Err(errno::EFAULT));
    assert_eq!(fault(&mut mm, f, 0xa0_0000, Access::Read), Err(errno::EFAULT), "no VMA");
}

#[test]
fn fault_around_stays_inside_the_vma() {
    let (mut m, mut mm) = setup();
    let f = &mut m.frames;
    let span = FAULT_AROUND_PAGES * P;
    // Starts 3 pages into a fault-around window, ends 5 pages into a later one.
    let start = 0x100_0000 + 3 * P;
    let end = 0x100_0000 + 2 * span + 5 * P;
    mm.map(f, start, end - start, Perms::RW, Backing::Anon, true).expect("map");

    mm.handle_fault(f, start + P, Access::Write).expect("fault");
    let pages: Vec<u64> = mm.space_mut().pages.keys().copied().collect();
    // The window starts at the VMA start instead of below it.
    let want: Vec<u64> = (start..start + span).step_by(4096).collect();
    assert_eq!(pages, want, "first window, clipped to the VMA start");

    mm.handle_fault(f, end - 1, Access::Read).expect("fault");
    let last: Vec<u64> = mm.space_mut().pages.range(0x100_0000 + 2 * span..).map(|(&v, _)| v).collect();
    let want: Vec<u64> = (0x100_0000 + 2 * span..end).step_by(4096).collect();
    assert_eq!(last, want, "last window, clipped to the VMA end");
    assert!(!mapped(&mut mm, end));
    assert!(!mapped(&mut mm, start + span), "the rest of the middle window is untouched");
}

#[test]
fn copies_cross_page_boundaries() {
    let (mut m, mut mm) = setup();
    let f = &mut m.frames;
    let base = 0x200_0000;
    mm.map(f, base, 4 * P, Perms::RW, Backing::Anon, true).expect("map");
    let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
    mm.copy_out(f, base + 4090, &data).expect("copy out");
    let mut back = alloc::vec![0u8; data.len()];
    mm.copy_in(f, base + 4090, &mut back).expect("copy in");
    assert_eq!(back, data);
    assert_eq!(mm.read_u64(f, base + 4090).expect("u64"), u64::from_le_bytes(data[..8].try_into().expect("8")));

    // Physical ranges of one page each, since frames need not be adjacent.
    let segs = mm.segments(f, base + 4090, 10, false).expect("segments");
    assert_eq!(segs.iter().map(|s| s.1).sum::<u64>(), 10);

    let past_end = mm.copy_out(f, base + 4 * P - 4, &[0; 8]).map_err(|e| e.errno);
    assert_eq!(past_end, Err(errno::EFAULT));
    let unmapped = mm.copy_in(f, base + 8 * P, &mut [0; 1]).map_err(|e| e.errno);
    assert_eq!(unmapped, Err(errno::EFAULT));
    let wraps = mm.copy_in(f, u64::MAX - 2, &mut [0; 8]).map_err(|e| e.errno);
    assert_eq!(wraps, Err(errno::EFAULT));
}

#[test]
fn read_cstr_spans_pages_and_bounds_length() {
    let (mut m, mut mm) = setup();
    let f = &mut m.frames;
    let base = 0x300_0000;
    mm.map(f, base, 2 * P, Perms::RW, Backing::Anon, true).expect("map");
    mm.copy_out(f, base + 4090, b"hello, world\0").expect("write");
    assert_eq!(mm.read_cstr(f, base + 4090, 64).expect("cstr"), b"hello, world");
    assert_eq!(mm.read_cstr(f, base + 4090, 12).expect("exact max"), b"hello, world");
    let long = mm.read_cstr(f, base + 4090, 5).map_err(|e| e.errno);
    assert_eq!(long, Err(errno::ENAMETOOLONG));
    assert_eq!(mm.read_cstr(f, base + 100, 64).expect("empty"), b"");

    // Unterminated up to the end of the mapping.
    mm.copy_out(f, base + 2 * P - 3, b"abc").expect("write");
    let unterminated = mm.read_cstr(f, base + 2 * P - 3, 4096).map_err(|e| e.errno);
    assert_eq!(unterminated, Err(errno::EFAULT));
}

#[test]
fn huge_anonymous_lengths_fail_cleanly() {
    let mut mem = crate::testutil::TestMem::new(4);
    let mut mm = MemoryManager::new(crate::testutil::FakeSpace::new());
    for len in [u64::MAX - 0xfff, u64::MAX - 0x1_0000 + 1, MMAP_TOP, 1 << 62] {
        let e = mm.map(&mut mem.frames, 0, len, Perms::RW, Backing::Anon, false).expect_err("cannot fit");
        assert!(e.errno == abi::linux::errno::ENOMEM || e.errno == abi::linux::errno::EINVAL, "len {len:#x}: {e:?}");
    }
    assert_eq!(mm.vmas().count(), 0);
}

#[test]
fn a_platform_with_a_lower_user_end_refuses_mappings_beyond_it() {
    // The ptrace platform keeps its stub page at USER_END - P.
    const END: u64 = USER_END - P;
    let mut m = TestMem::new(4);
    let f = &mut m.frames;
    let mut mm = MemoryManager::new(FakeSpace::<END>::default());
    let fixed = mm.map(f, END, P, Perms::RW, Backing::Anon, true).map_err(|e| e.errno);
    assert_eq!(fixed, Err(errno::ENOMEM));
    assert!(!mm.range_is_free(END - P, 2 * P));
    assert!(!MemoryManager::<FakeSpace<END>>::in_user_range(END, P));
    assert!(MemoryManager::<FakeSpace<END>>::in_user_range(END - P, P));
    // The page below is the application's, fixed or hinted.
    assert_eq!(mm.map(f, END - P, P, Perms::RW, Backing::Anon, true).ok(), Some(END - P));
    let hinted = mm.map(f, END, P, Perms::RW, Backing::Anon, false).expect("hinted map elsewhere");
    assert!(hinted + P <= END, "placed at {hinted:#x}");
    let mut byte = [0u8; 1];
    assert!(mm.copy_in(f, END, &mut byte).is_err());
}

#[test]
fn read_cstr_stops_at_the_nul_across_pages_and_at_bad_memory() {
    let (mut m, mut mm) = setup();
    let f = &mut m.frames;
    let base = 0x300_0000;
    mm.map(f, base, 2 * P, Perms::RW, Backing::Anon, true).expect("map");
    // A string spanning the page boundary, longer than one scan chunk.
    let s: Vec<u8> = (0..300u32).map(|i| b'a' + (i % 26) as u8).collect();
    let at = base + P - 200;
    mm.copy_out(f, at, &s).expect("copy out");
    mm.copy_out(f, at + 300, &[0]).expect("nul");
    assert_eq!(mm.read_cstr(f, at, 4096).expect("read"), s);
    assert_eq!(mm.read_cstr(f, at + 299, 4096).expect("read"), &s[299..]);
    assert_eq!(mm.read_cstr(f, at + 300, 4096).expect("empty"), b"");
    assert_eq!(mm.read_cstr(f, at, 299).map_err(|e| e.errno), Err(errno::ENAMETOOLONG));
    assert_eq!(mm.read_cstr(f, at, 300).expect("exactly max").len(), 300);
    // No NUL before the end of the mapping: EFAULT at the unmapped page.
    mm.copy_out(f, base + 2 * P - 8, &[b'x'; 8]).expect("fill");
    assert_eq!(mm.read_cstr(f, base + 2 * P - 8, 4096).map_err(|e| e.errno), Err(errno::EFAULT));
    assert_eq!(mm.read_cstr(f, base + 2 * P - 8, 4).map_err(|e| e.errno), Err(errno::ENAMETOOLONG));
    assert_eq!(mm.read_cstr(f, USER_END - 1, 4096).map_err(|e| e.errno), Err(errno::EFAULT));
}

/// A file whose byte at offset `o` is `o % 251`, counting its reads.
struct Numbers {
    len: u64,
    reads: alloc::sync::Arc<core::sync::atomic::AtomicUsize>,
}

impl lazy::PageSource for Numbers {
    fn read(&self, phys: &crate::platform::PhysMem, off: u64, segs: &[(PhysAddr, u64)]) -> Result<usize, SysError> {
        self.reads.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
        let (pa, len) = segs[0];
        let n = len.min(self.len.saturating_sub(off));
        let bytes: Vec<u8> = (off..off + n).map(|o| (o % 251) as u8).collect();
        assert!(phys.write(pa, &bytes));
        Ok(n as usize)
    }
}

#[test]
fn program_pages_are_read_when_first_touched_a_window_at_a_time() {
    lazy_program_pages(false);
    // As on KVM, where a page without access is not present at all.
    lazy_program_pages(true);
}

fn lazy_program_pages(hide_none: bool) {
    let (mut m, mut mm) = setup();
    mm.space_mut().hide_none = hide_none;
    let f = &mut m.frames;
    let reads = alloc::sync::Arc::new(core::sync::atomic::AtomicUsize::new(0));
    let len = 100 * P + 10;
    let file = f.alloc_lazy(101, len, alloc::boxed::Box::new(Numbers { len, reads: reads.clone() })).expect("frames");
    let base = 0x40_0000;
    mm.map(f, base, 101 * P, Perms::RX, Backing::Phys { base: file }, true).expect("map");
    // Exec maps every page (each holding its frame) but none is readable
    // before it is read.
    mm.populate(f, base, 101 * P).expect("populate");
    let hidden = |pa| if hide_none { None } else { Some((pa, Perms::NONE)) };
    assert_eq!(mm.space_mut().translate(base + 50 * P), hidden(file + 50 * P));
    assert_eq!(reads.load(core::sync::atomic::Ordering::Relaxed), 0);
    mm.handle_fault(f, base + 50 * P + 7, Access::Exec).expect("fault");
    assert_eq!(reads.load(core::sync::atomic::Ordering::Relaxed), 1, "one read for the window");
    let (lo, hi) = (50 - 50 % lazy::READ_AROUND, 50 - 50 % lazy::READ_AROUND + lazy::READ_AROUND);
    for page in lo..hi {
        assert_eq!(mm.space_mut().translate(base + page * P), Some((file + page * P, Perms::RX)), "page {page}");
    }
    assert_eq!(mm.space_mut().translate(base + (lo - 1) * P), hidden(file + (lo - 1) * P));
    assert_eq!(mm.space_mut().translate(base + hi * P), hidden(file + hi * P));
    let mut b = [0u8; 1];
    assert!(f.phys().read(file + 50 * P + 7, &mut b));
    assert_eq!(b[0], ((50 * P + 7) % 251) as u8);
    // mprotect does not expose pages still to be read.
    mm.protect(f, base, 101 * P, Perms::R).expect("protect");
    assert_eq!(mm.space_mut().translate(base + 50 * P).map(|t| t.1), Some(Perms::R));
    assert_eq!(mm.space_mut().translate(base + 10 * P), hidden(file + 10 * P));
    // The last page: the file's tail, then zeros.
    let mut copy = [0xffu8; 16];
    mm.copy_in(f, base + 100 * P, &mut copy).expect("copy_in reads the page in");
    let want: Vec<u8> = (0..16u64).map(|i| if i < 10 { ((100 * P + i) % 251) as u8 } else { 0 }).collect();
    assert_eq!(copy.to_vec(), want);
    // The frames stay the file's while mapped, and go with the last mapping.
    let before = f.available();
    mm.destroy(f);
    assert_eq!(f.available(), before);
    for i in 0..101 {
        f.put(file + i * P);
    }
    assert!(!f.any_lazy(), "the range goes with its last frame");
}
