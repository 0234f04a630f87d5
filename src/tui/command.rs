//! The `:` command line. It parses the CLI's own `app` commands (the same clap definitions as
//! `rohe app ...`), so `:app unregister cctvs --purge` means exactly what the headless command
//! means, the orchestration commands of the Nodes and Deployments tabs (`:node cordon NAME`,
//! `:plan`, `:apply`, `:scale APP SERVICE N`: the requests of `rohe node|plan|apply|scale`),
//! plus a few console commands (`:q`, `:help`, tab names). Completion is derived from the same
//! clap definitions.

use super::app::Tab;
use crate::cli::AppCommand;
use clap::{ColorChoice, CommandFactory, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "",
    no_binary_name = true,
    disable_help_flag = true,
    disable_version_flag = true,
    disable_help_subcommand = true,
    color = ColorChoice::Never
)]
struct Line {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Applications: register, list, show, unregister, qoa-config (as `rohe app`)
    #[command(subcommand)]
    App(AppCommand),
    /// Nodes: cordon, uncordon, fail, recover (as `rohe node`)
    #[command(subcommand)]
    Node(NodeCmd),
    /// Preview what a reconciliation would start and stop where (as `rohe plan`)
    Plan,
    /// Reconcile the cluster, after confirming the plan (as `rohe apply`)
    Apply,
    /// Set a service's replicas (as `rohe scale APP SERVICE N`)
    Scale {
        app: String,
        service: String,
        replicas: u32,
    },
    /// Quit rohe
    #[command(name = "q", visible_alias = "quit", alias = "q!")]
    Quit,
    /// Show the keys
    Help,
    /// Refresh the visible view
    Refresh,
    /// Applications tab
    #[command(visible_alias = "apps")]
    Applications,
    /// Agents tab
    Agents,
    /// Nodes tab
    Nodes,
    /// Deployments tab
    Deployments,
    /// Metrics tab
    Metrics,
}

/// `:node ...`: the node requests the Nodes tab's keys make.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum NodeCmd {
    /// Keep a node out of placement (what runs there stays)
    Cordon { node: String },
    /// Let a cordoned node take instances again
    Uncordon { node: String },
    /// Simulated cluster only: the node stops, its instances are re-placed (asks first)
    Fail { node: String },
    /// Simulated cluster only: a failed node is ready again
    Recover { node: String },
}

/// What a command line asks for.
#[derive(Debug)]
pub enum Command {
    Quit,
    Help,
    Refresh,
    Tab(Tab),
    App(AppCommand),
    Node(NodeCmd),
    Plan,
    Apply,
    Scale {
        app: String,
        service: String,
        replicas: u32,
    },
}

/// Split a command line into words: whitespace separates, `'...'` and `"..."` quote, `\`
/// escapes the next character.
pub fn split(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), '\\') | (None, '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
                in_word = true;
            }
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err("unclosed quote".into());
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// `:app register FILE` is accepted as well as the CLI's `-f FILE`.
fn normalise(mut words: Vec<String>) -> Vec<String> {
    if words.len() >= 3 && words[0] == "app" && words[1] == "register" {
        let mut out = vec![words.remove(0), words.remove(0)];
        let mut after_flag = false;
        let mut has_file = false;
        for w in words {
            if !after_flag && !w.starts_with('-') && !has_file {
                out.push("--file".into());
                has_file = true;
            } else if after_flag {
                has_file = true;
            }
            after_flag = w == "-f" || w == "--file";
            out.push(w);
        }
        return out;
    }
    words
}

/// Parse one command line.
pub fn parse(line: &str) -> Result<Command, String> {
    let words = normalise(split(line)?);
    if words.is_empty() {
        return Err("empty command; try :help or press tab".into());
    }
    let parsed = Line::try_parse_from(&words).map_err(|e| first_line(&e.render().to_string()))?;
    Ok(match parsed.command {
        Cmd::App(c) => Command::App(c),
        Cmd::Node(c) => Command::Node(c),
        Cmd::Plan => Command::Plan,
        Cmd::Apply => Command::Apply,
        Cmd::Scale {
            app,
            service,
            replicas,
        } => Command::Scale {
            app,
            service,
            replicas,
        },
        Cmd::Quit => Command::Quit,
        Cmd::Help => Command::Help,
        Cmd::Refresh => Command::Refresh,
        Cmd::Applications => Command::Tab(Tab::Applications),
        Cmd::Agents => Command::Tab(Tab::Agents),
        Cmd::Nodes => Command::Tab(Tab::Nodes),
        Cmd::Deployments => Command::Tab(Tab::Deployments),
        Cmd::Metrics => Command::Tab(Tab::Metrics),
    })
}

fn first_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("invalid command")
        .trim_start_matches("error: ")
        .to_string()
}

/// How the word under the cursor can be completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completion {
    /// Candidates for the last word.
    Words(Vec<String>),
    /// The last word is a file system path (completed in the background).
    Path,
}

/// What can replace the last word of `line` (the empty word after a trailing space).
pub fn complete(line: &str, app_names: &[&str]) -> Completion {
    let mut words = split(line).unwrap_or_default();
    let current = if line.ends_with(char::is_whitespace) || line.is_empty() {
        String::new()
    } else {
        words.pop().unwrap_or_default()
    };
    let mut cmd = Line::command();
    cmd.build();
    let mut node = &cmd;
    let mut positional = 0usize;
    let mut pending_value: Option<String> = None;
    for w in &words {
        if let Some(sub) = node.find_subcommand(w) {
            node = sub;
            positional = 0;
            continue;
        }
        if pending_value.take().is_some() {
            continue;
        }
        if w.starts_with('-') {
            let takes_value = node.get_arguments().any(|a| {
                let named = a.get_long().is_some_and(|l| *w == format!("--{l}"))
                    || a.get_short().is_some_and(|s| *w == format!("-{s}"));
                named && a.get_action().takes_values()
            });
            if takes_value {
                pending_value = Some(w.clone());
            }
        } else {
            positional += 1;
        }
    }
    let is_register = node.get_name() == "register";
    let filter = |cands: Vec<String>| {
        let mut v: Vec<String> = cands
            .into_iter()
            .filter(|c| c.starts_with(&current))
            .collect();
        v.sort();
        v.dedup();
        Completion::Words(v)
    };
    if let Some(flag) = pending_value {
        return match flag.as_str() {
            "-f" | "--file" | "--out" => Completion::Path,
            _ => Completion::Words(Vec::new()),
        };
    }
    if current.starts_with('-') {
        let flags = node
            .get_arguments()
            .filter(|a| !a.is_positional())
            .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
            .collect();
        return filter(flags);
    }
    if node.has_subcommands() {
        let subs = node
            .get_subcommands()
            .filter(|s| !s.is_hide_set())
            .map(|s| s.get_name().to_string())
            .collect();
        return filter(subs);
    }
    if is_register {
        return Completion::Path;
    }
    let pos = node
        .get_arguments()
        .filter(|a| a.is_positional())
        .nth(positional);
    match pos.map(|a| a.get_id().as_str()) {
        Some("name") => filter(app_names.iter().map(|s| s.to_string()).collect()),
        _ => Completion::Words(Vec::new()),
    }
}

/// Replace the last word of `line` with `word` (quoted when needed).
pub fn replace_last_word(line: &str, word: &str, finished: bool) -> String {
    let start = if line.ends_with(char::is_whitespace) {
        line.len()
    } else {
        line.rfind(char::is_whitespace).map_or(0, |i| i + 1)
    };
    let mut out = line[..start].to_string();
    if word
        .chars()
        .any(|c| c.is_whitespace() || c == '\'' || c == '"')
    {
        out.push_str(&format!("'{}'", word.replace('\'', "")));
    } else {
        out.push_str(word);
    }
    if finished {
        out.push(' ');
    }
    out
}

/// The last word of a line (for path completion).
pub fn last_word(line: &str) -> String {
    if line.ends_with(char::is_whitespace) {
        return String::new();
    }
    split(line)
        .ok()
        .and_then(|mut w| w.pop())
        .unwrap_or_default()
}

/// The longest prefix all candidates share.
pub fn common_prefix(cands: &[String]) -> String {
    let Some(first) = cands.first() else {
        return String::new();
    };
    let mut len = first.len();
    for c in &cands[1..] {
        len = len.min(
            first
                .char_indices()
                .zip(c.chars())
                .take_while(|((_, a), b)| a == b)
                .last()
                .map_or(0, |((i, a), _)| i + a.len_utf8()),
        );
    }
    first[..len].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn app_commands_parse_like_the_cli() {
        match parse("app register example/applications/cctvs.yaml").unwrap() {
            Command::App(AppCommand::Register { file, dry_run }) => {
                assert_eq!(file, PathBuf::from("example/applications/cctvs.yaml"));
                assert!(!dry_run);
            }
            other => panic!("{other:?}"),
        }
        match parse("app register -f 'my dir/x.yaml' --dry-run").unwrap() {
            Command::App(AppCommand::Register { file, dry_run }) => {
                assert_eq!(file, PathBuf::from("my dir/x.yaml"));
                assert!(dry_run);
            }
            other => panic!("{other:?}"),
        }
        match parse("app unregister cctvs --purge").unwrap() {
            Command::App(AppCommand::Unregister { name, purge, .. }) => {
                assert_eq!(name, "cctvs");
                assert!(purge);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(parse("q").unwrap(), Command::Quit));
        assert!(matches!(parse("quit").unwrap(), Command::Quit));
        assert!(matches!(
            parse("agents").unwrap(),
            Command::Tab(Tab::Agents)
        ));
        let e = parse("app frobnicate").unwrap_err();
        assert!(e.contains("frobnicate"), "{e}");
        assert!(!e.contains('\u{1b}'));
        assert!(parse("app unregister").is_err());
    }

    #[test]
    fn orchestration_commands_parse() {
        match parse("node cordon edge-1").unwrap() {
            Command::Node(NodeCmd::Cordon { node }) => assert_eq!(node, "edge-1"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse("node uncordon e").unwrap(),
            Command::Node(NodeCmd::Uncordon { .. })
        ));
        assert!(matches!(
            parse("node fail e").unwrap(),
            Command::Node(NodeCmd::Fail { .. })
        ));
        assert!(matches!(
            parse("node recover e").unwrap(),
            Command::Node(NodeCmd::Recover { .. })
        ));
        assert!(matches!(parse("plan").unwrap(), Command::Plan));
        assert!(matches!(parse("apply").unwrap(), Command::Apply));
        match parse("scale cctvs image_ingestion 3").unwrap() {
            Command::Scale {
                app,
                service,
                replicas,
            } => assert_eq!(
                (app.as_str(), service.as_str(), replicas),
                ("cctvs", "image_ingestion", 3)
            ),
            other => panic!("{other:?}"),
        }
        let e = parse("scale cctvs image_ingestion many").unwrap_err();
        assert!(e.contains("many"), "{e}");
        assert!(parse("scale cctvs image_ingestion -1").is_err());
        assert!(parse("node cordon").is_err());
        assert!(parse("node frobnicate x").is_err());
    }

    #[test]
    fn completion_follows_the_clap_definitions() {
        assert_eq!(
            complete("ap", &[]),
            Completion::Words(vec!["app".into(), "applications".into(), "apply".into()])
        );
        let Completion::Words(w) = complete("node ", &[]) else {
            panic!()
        };
        assert_eq!(w, ["cordon", "fail", "recover", "uncordon"]);
        let Completion::Words(w) = complete("app ", &[]) else {
            panic!()
        };
        assert!(w.contains(&"register".to_string()) && w.contains(&"unregister".to_string()));
        assert_eq!(
            complete("app unregister cc", &["cctvs", "bts"]),
            Completion::Words(vec!["cctvs".into()])
        );
        assert_eq!(complete("app register ex", &[]), Completion::Path);
        assert_eq!(
            complete("app qoa-config cctvs --out ", &[]),
            Completion::Path
        );
        let Completion::Words(w) = complete("app unregister cctvs --p", &[]) else {
            panic!()
        };
        assert_eq!(w, vec!["--purge".to_string()]);
    }

    #[test]
    fn words_split_and_replace() {
        assert_eq!(
            split(r#"a 'b c' "d" e\ f"#).unwrap(),
            ["a", "b c", "d", "e f"]
        );
        assert!(split("'open").is_err());
        assert_eq!(
            replace_last_word("app unregister cc", "cctvs", true),
            "app unregister cctvs "
        );
        assert_eq!(replace_last_word("app ", "register", true), "app register ");
        assert_eq!(common_prefix(&["cctvs".into(), "cctv2".into()]), "cctv");
        assert_eq!(last_word("app register ex/ap"), "ex/ap");
    }
}
