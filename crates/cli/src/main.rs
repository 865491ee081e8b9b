//! The `offboard` binary: parses the command line and hands each command to its module.
#![forbid(unsafe_code)]

mod args;
mod commands;
mod output;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    quiet_on_closed_output();
    let cli = args::Cli::parse_from(hoist_globals(std::env::args_os().collect()));
    match commands::run(cli) {
        Ok(code) => code,
        // The reader of the output went away (`... --json | head -c 10`): end quietly.
        Err(e)
            if e.chain().any(|c| {
                let kind = c
                    .downcast_ref::<std::io::Error>()
                    .map(std::io::Error::kind)
                    .or_else(|| c.downcast_ref::<serde_json::Error>()?.io_error_kind());
                kind == Some(std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            // A model file's problems already read "error: file:line:col: ..." each.
            let text = output::chain(&e);
            match text.strip_prefix("error: ") {
                Some(rest) => eprintln!("error: {rest}"),
                None => eprintln!("error: {text}"),
            }
            ExitCode::from(1)
        }
    }
}

/// `offboard stats | head -1`: when the reader of the output goes away, the command ends
/// quietly (as other command-line tools do) instead of panicking with a backtrace: 0 when
/// standard output closed, 1 when standard error did.
fn quiet_on_closed_output() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let text = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if text.contains("failed printing to stdout") {
            std::process::exit(0);
        }
        if text.contains("failed printing to stderr") {
            std::process::exit(1);
        }
        default(info);
    }));
}

/// Global options go anywhere: `records delete` takes the rest of the line as its own
/// arguments (ids, `--contract 17`, `--from ...`), so the global ones found there (`--as`,
/// `--db`, `--model`) are moved before the command for clap.
fn hoist_globals(args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let text: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let Some(start) = text
        .windows(2)
        .position(|w| w[0] == "records" && w[1] == "delete")
    else {
        return args;
    };
    let mut globals = Vec::new();
    let mut rest = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let t = &text[i];
        let with_value = ["--as", "--db", "--model"];
        if i > start + 1 && with_value.contains(&t.as_str()) && i + 1 < args.len() {
            globals.push(args[i].clone());
            globals.push(args[i + 1].clone());
            i += 2;
            continue;
        }
        if i > start + 1 && with_value.iter().any(|f| t.starts_with(&format!("{f}="))) {
            globals.push(args[i].clone());
        } else {
            rest.push(args[i].clone());
        }
        i += 1;
    }
    let mut out = Vec::with_capacity(args.len());
    out.extend(rest.first().cloned());
    out.extend(globals);
    out.extend(rest.into_iter().skip(1));
    out
}
