//! Programs reading stdin: the same bytes fed natively and in the sandbox
//! must produce the same stdout and exit status.

use ringfence_tests::{busybox, compare_busybox_stdin, compare_runs, pseudo_random_bytes, sample_text, Run};

#[test]
fn cat_copies_100k_of_binary_data() {
    let input = pseudo_random_bytes(100 * 1024, 1);
    let (_, sandboxed) = compare_busybox_stdin(&["cat"], &input);
    sandboxed.assert_code(0).assert_stdout(&input);
}

#[test]
fn cat_copies_4m() {
    let input = pseudo_random_bytes(4 << 20, 2);
    let (_, sandboxed) = compare_busybox_stdin(&["cat"], &input);
    sandboxed.assert_stdout(&input);
}

#[test]
fn cat_of_dev_null_is_empty() {
    // Run::stdin is not called: stdin is /dev/null.
    let (_, sandboxed) = compare_runs(Run::native(busybox(), &["cat"]), Run::sandbox(busybox(), &["cat"]));
    sandboxed.assert_code(0).assert_stdout("");
}

#[test]
fn wc_counts() {
    let text = sample_text(1000);
    for args in [&["wc"][..], &["wc", "-l"], &["wc", "-c"], &["wc", "-w"]] {
        compare_busybox_stdin(args, &text);
    }
}

#[test]
fn tr_translates_and_deletes() {
    let text = sample_text(500);
    compare_busybox_stdin(&["tr", "a-z", "A-Z"], &text);
    compare_busybox_stdin(&["tr", "-d", "aeiou0-9"], &text);
    compare_busybox_stdin(&["tr", "-s", "l"], &text);
}

#[test]
fn sort_orders() {
    let text = sample_text(2000);
    compare_busybox_stdin(&["sort"], &text);
    compare_busybox_stdin(&["sort", "-r"], &text);
    compare_busybox_stdin(&["sort", "-u"], &text);
    compare_busybox_stdin(&["sort", "-n", "-k", "3"], &text);
}

#[test]
fn head_and_tail() {
    let text = sample_text(3000);
    compare_busybox_stdin(&["head", "-n", "5"], &text);
    compare_busybox_stdin(&["head", "-c", "100"], &text);
    compare_busybox_stdin(&["tail", "-n", "5"], &text);
    compare_busybox_stdin(&["tail", "-c", "50"], &text);
}

#[test]
fn uniq_and_checksums() {
    let mut text = sample_text(200);
    text.extend_from_slice(b"dup\ndup\ndup\nend\n");
    compare_busybox_stdin(&["uniq", "-c"], &text);
    let data = pseudo_random_bytes(256 * 1024, 3);
    compare_busybox_stdin(&["md5sum"], &data);
    compare_busybox_stdin(&["sha256sum"], &data);
}
