//! The `ringfence` binary.

mod cli;

use std::process::ExitCode;

use clap::Parser as _;

/// Exit status of a failure in ringfence itself (as `env`/`timeout` use).
const RUNTIME_FAILURE: u8 = 125;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help, --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let text = e.render().to_string();
            eprint!("ringfence: {}", text.strip_prefix("error: ").unwrap_or(&text));
            return ExitCode::from(RUNTIME_FAILURE);
        }
    };
    match cli::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("ringfence: {err:#}");
            ExitCode::from(RUNTIME_FAILURE)
        }
    }
}
