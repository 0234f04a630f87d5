//! `rohe serve`: ROHE's REST APIs in the foreground until Ctrl-C or SIGTERM.

use super::GlobalArgs;
use crate::config;
use crate::error::Result;
use crate::ops::Source;
use clap::Args;
use std::net::IpAddr;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The observation API's port (ROHE: 5010); default serve.observation_port.
    #[arg(long, value_name = "PORT")]
    pub observation_port: Option<u16>,
    /// The orchestration API's port (ROHE: 5002); default serve.orchestration_port.
    #[arg(long, value_name = "PORT")]
    pub orchestration_port: Option<u16>,
    /// The address to listen on; default serve.bind (127.0.0.1). Non-loopback needs serve.token.
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<IpAddr>,
}

pub async fn run(global: &GlobalArgs, a: ServeArgs) -> Result<()> {
    let loaded = config::load(&global.overrides())?;
    let mut opts = crate::serve::ServeOptions::from_config(&loaded.config)?;
    if let Some(b) = a.bind {
        opts.bind = b;
    }
    if let Some(p) = a.observation_port {
        opts.observation_port = p;
    }
    if let Some(p) = a.orchestration_port {
        opts.orchestration_port = p;
    }
    opts.check()?;
    // The server hosts the agents it starts (as the console does).
    let ops = super::open_ops_with(&loaded, Source::Serve, true)?;
    let ops = crate::backends::with_orchestration(ops, &loaded.config).await?;
    let server = crate::serve::start(ops, loaded.config.clone(), &opts).await?;
    let auth = if opts.token.is_empty() {
        "no token (loopback only)"
    } else {
        "bearer token required on state-changing routes"
    };
    // Written, not println!: the banner's reader may go away (`rohe serve | head -1`, a
    // supervisor that reads one line), and a server must not die of a closed stdout.
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "rohe serve: observation API on http://{}  orchestration API on http://{}  ({auth})",
        server.observation, server.orchestration
    );
    let _ = writeln!(
        out,
        "QoA4ML clients: registration_url: http://{}/registration/",
        server.observation
    );
    let _ = out.flush();
    drop(out);
    crate::serve::run_until_signal(server).await
}
