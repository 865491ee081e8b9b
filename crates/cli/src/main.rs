//! The `offboard` binary: parses the command line and hands each command to its module.
#![forbid(unsafe_code)]

mod args;
mod commands;
mod output;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    match commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", output::chain(&e));
            ExitCode::from(1)
        }
    }
}
