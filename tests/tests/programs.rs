//! The C test programs of resources/c: static-PIE loading with malloc, the
//! benchmark's output format, stderr.

use ringfence_tests::{compare_runs, resource, Run};

#[test]
fn static_pie_with_malloc_runs_the_same() {
    let args = ["alpha", "beta gamma", ""];
    let (native, sandboxed) = compare_runs(
        Run::native(resource("hello_pie"), &args).env("RF_HELLO", "world"),
        Run::sandbox(resource("hello_pie"), &args).env("RF_HELLO", "world"),
    );
    sandboxed.assert_code(0);
    let text = sandboxed.stdout_str();
    assert!(text.starts_with("hello from static-pie\nargc=4\n"), "{text}");
    assert!(text.contains("RF_HELLO=world\n"), "{text}");
    assert!(text.contains("main_relocated=yes\n"), "{text}");
    assert!(native.stderr_str().contains("hello_pie: stderr works"));
    assert!(
        sandboxed.stderr_str().contains("hello_pie: stderr works"),
        "the program's stderr did not reach ringfence's stderr:\n{}",
        sandboxed.stderr_str()
    );
}

#[test]
fn getppid_bench_reports_ns_per_call() {
    for run in [Run::native(resource("getppid_bench"), &["1000"]), Run::sandbox(resource("getppid_bench"), &["1000"])] {
        let out = run.run();
        out.assert_code(0);
        let text = out.stdout_str();
        let value = text.trim_end().strip_prefix("ns_per_call=").and_then(|v| v.parse::<f64>().ok());
        assert!(value.is_some_and(|v| v > 0.0), "`{}` printed {text:?}", out.label);
    }
}
