//! The `ringfence` binary.

mod cli;

use std::process::ExitCode;

use clap::Parser as _;

use ringfence::program::ProgramError;

/// Exit status of a failure in ringfence itself (as `env`/`timeout` use).
const RUNTIME_FAILURE: u8 = 125;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cli::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("ringfence: {err:#}");
            let code = err
                .downcast_ref::<ProgramError>()
                .map_or(RUNTIME_FAILURE, ProgramError::exit_code);
            ExitCode::from(code)
        }
    }
}
