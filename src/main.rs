use clap::Parser;
use rohe::cli::{self, Cli, output::Format};
use rohe::error::Error;
use std::process::ExitCode;

/// The output format asked for on a command line clap refused, so that even usage errors
/// come out as JSON for scripts that asked for JSON.
fn requested_format(args: &[String]) -> Format {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let v = match a.as_str() {
            "--output" | "-o" => it.next().map(String::as_str),
            s => s.strip_prefix("--output=").or_else(|| s.strip_prefix("-o")),
        };
        if v == Some("json") {
            return Format::Json;
        }
    }
    Format::Table
}

/// clap's usage errors span several lines; rohe's errors are one line.
fn usage_error(e: &clap::Error) -> Error {
    let text = e.to_string();
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty() && !l.starts_with("Usage:") && !l.starts_with("For more information")
        })
        .collect();
    let msg = lines.join(" ");
    let msg = msg.strip_prefix("error: ").unwrap_or(&msg).to_string();
    Error::invalid(msg).hint("see rohe --help")
}

fn main() -> ExitCode {
    // Parse first: `--version` and `--help` return before any runtime or file is touched.
    let raw: Vec<String> = std::env::args().collect();
    let args = match Cli::try_parse_from(&raw) {
        Ok(a) => a,
        Err(e) if !e.use_stderr() => {
            // --help, --version
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            cli::output::emit_error(requested_format(&raw), &usage_error(&e));
            return ExitCode::from(2);
        }
    };
    let fmt = args.global.output;
    let Some(command) = args.command else {
        return console(&args.global);
    };
    // Headless commands are short: one thread is plenty and starts fastest.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(cli::run(&args.global, command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            cli::output::emit_error(fmt, &e);
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

/// No subcommand: the interactive console, on a multi-thread runtime so that background
/// loads never compete with the UI task for its thread.
fn console(global: &cli::GlobalArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("rohe-worker")
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(rohe::tui::run(global));
    // Background loads may still be waiting on the store; do not wait for them.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            cli::output::emit_error(global.output, &e);
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
