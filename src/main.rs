use clap::Parser;
use rohe::cli::{self, Cli};
use std::process::ExitCode;

fn main() -> ExitCode {
    // Parse first: `--version` and `--help` return before any runtime or file is touched.
    let args = Cli::parse();
    let fmt = args.global.output;
    let Some(command) = args.command else {
        let mut cmd = <Cli as clap::CommandFactory>::command();
        let _ = cmd.print_help();
        return ExitCode::SUCCESS;
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
