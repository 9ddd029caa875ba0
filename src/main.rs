//! wgdeploy: run the CLI, print errors in the one error style, map outcomes to exit codes.
#![forbid(unsafe_code)]

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = wgdeploy::cli::args::Cli::parse();
    let mut stdout = std::io::stdout().lock();
    match wgdeploy::cli::run(cli, &mut stdout) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprint!("{error}");
            ExitCode::from(1)
        }
    }
}
