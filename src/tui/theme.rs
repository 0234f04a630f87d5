//! Colours. The built-in theme uses only the 16 ANSI colours, so it follows the terminal's
//! palette; with `NO_COLOR` set (to anything non-empty) no colour is emitted at all and
//! emphasis comes from bold and reverse video. A theme file (`console.theme`) overrides slots:
//!
//! ```yaml
//! selected: { fg: black, bg: lightgreen, bold: true }
//! error: { fg: "#ff5555" }
//! ```
//!
//! Colours are ANSI names (`red`, `lightblue`, `darkgray`, `reset`), `#rrggbb` or an index
//! `0`-`255`; under `NO_COLOR` only the modifiers of a theme file apply.

use crate::error::{Error, Result};
use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    pub tab_active: Style,
    pub tab: Style,
    pub header: Style,
    pub selected: Style,
    pub border: Style,
    pub border_focus: Style,
    pub dim: Style,
    pub error: Style,
    pub ok: Style,
    pub warning: Style,
    pub readonly: Style,
    pub key: Style,
    pub title: Style,
    pub button: Style,
    pub button_focus: Style,
}

/// The slot names a theme file may set.
pub const SLOTS: &[&str] = &[
    "tab_active",
    "tab",
    "header",
    "selected",
    "border",
    "border_focus",
    "dim",
    "error",
    "ok",
    "warning",
    "readonly",
    "key",
    "title",
    "button",
    "button_focus",
];

impl Theme {
    /// 16-colour defaults.
    pub fn colored() -> Theme {
        let s = Style::new();
        Theme {
            tab_active: s
                .fg(Color::Black)
                .bg(Color::Cyan)
                .add_modifier(Modifier::BOLD),
            tab: s,
            header: s.fg(Color::Yellow).add_modifier(Modifier::BOLD),
            selected: s.fg(Color::Black).bg(Color::Cyan),
            border: s.fg(Color::DarkGray),
            border_focus: s.fg(Color::Cyan),
            dim: s.fg(Color::DarkGray),
            error: s.fg(Color::Red).add_modifier(Modifier::BOLD),
            ok: s.fg(Color::Green),
            warning: s.fg(Color::Yellow),
            readonly: s
                .fg(Color::White)
                .bg(Color::Red)
                .add_modifier(Modifier::BOLD),
            key: s.fg(Color::Cyan).add_modifier(Modifier::BOLD),
            title: s.add_modifier(Modifier::BOLD),
            button: s,
            button_focus: s
                .fg(Color::Black)
                .bg(Color::Cyan)
                .add_modifier(Modifier::BOLD),
        }
    }

    /// No colour at all (`NO_COLOR`).
    pub fn monochrome() -> Theme {
        let s = Style::new();
        let rev = s.add_modifier(Modifier::REVERSED);
        let bold = s.add_modifier(Modifier::BOLD);
        Theme {
            tab_active: rev.add_modifier(Modifier::BOLD),
            tab: s,
            header: bold,
            selected: rev,
            border: s,
            border_focus: bold,
            dim: s,
            error: bold,
            ok: s,
            warning: bold,
            readonly: rev.add_modifier(Modifier::BOLD),
            key: bold,
            title: bold,
            button: s,
            button_focus: rev.add_modifier(Modifier::BOLD),
        }
    }

    fn slot_mut(&mut self, name: &str) -> Option<&mut Style> {
        Some(match name {
            "tab_active" => &mut self.tab_active,
            "tab" => &mut self.tab,
            "header" => &mut self.header,
            "selected" => &mut self.selected,
            "border" => &mut self.border,
            "border_focus" => &mut self.border_focus,
            "dim" => &mut self.dim,
            "error" => &mut self.error,
            "ok" => &mut self.ok,
            "warning" => &mut self.warning,
            "readonly" => &mut self.readonly,
            "key" => &mut self.key,
            "title" => &mut self.title,
            "button" => &mut self.button,
            "button_focus" => &mut self.button_focus,
            _ => return None,
        })
    }

    /// The theme for this process: `NO_COLOR` from `no_color`, overrides from `file`.
    pub fn load(file: Option<&Path>, no_color: bool) -> Result<Theme> {
        let mut theme = if no_color {
            Theme::monochrome()
        } else {
            Theme::colored()
        };
        if let Some(path) = file {
            let shown = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|e| {
                Error::invalid(format!("cannot read the theme file: {e}"))
                    .file(&shown)
                    .field("console.theme")
            })?;
            theme.apply(&text, &shown, no_color)?;
        }
        Ok(theme)
    }

    /// Apply a theme file's text.
    pub fn apply(&mut self, text: &str, source: &str, no_color: bool) -> Result<()> {
        let spec: BTreeMap<String, SlotSpec> = if text.trim().is_empty() {
            BTreeMap::new()
        } else {
            crate::yaml::parse(text, source)?
        };
        for (name, s) in spec {
            let Some(slot) = self.slot_mut(&name) else {
                return Err(Error::invalid(format!("unknown theme slot {name:?}"))
                    .file(source)
                    .field(name)
                    .hint(format!("slots: {}", SLOTS.join(", "))));
            };
            let mut style = Style::new();
            if !no_color {
                if let Some(fg) = &s.fg {
                    style = style.fg(parse_color(fg, source, &name, "fg")?);
                }
                if let Some(bg) = &s.bg {
                    style = style.bg(parse_color(bg, source, &name, "bg")?);
                }
            }
            for (on, m) in [
                (s.bold, Modifier::BOLD),
                (s.italic, Modifier::ITALIC),
                (s.underline, Modifier::UNDERLINED),
                (s.reversed, Modifier::REVERSED),
            ] {
                if on {
                    style = style.add_modifier(m);
                }
            }
            *slot = style;
        }
        Ok(())
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SlotSpec {
    #[serde(default)]
    fg: Option<String>,
    #[serde(default)]
    bg: Option<String>,
    #[serde(default)]
    bold: bool,
    #[serde(default)]
    italic: bool,
    #[serde(default)]
    underline: bool,
    #[serde(default)]
    reversed: bool,
}

fn parse_color(s: &str, source: &str, slot: &str, which: &str) -> Result<Color> {
    Color::from_str(s).map_err(|_| {
        Error::invalid(format!("{s:?} is not a colour"))
            .file(source)
            .field(format!("{slot}.{which}"))
            .hint("use an ANSI name (red, lightblue, darkgray), #rrggbb or 0-255")
    })
}

/// `NO_COLOR` is honoured when set to any non-empty value (no-color.org).
pub fn no_color_from_env() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn theme_file_overrides_slots_and_rejects_unknown_ones() {
        let mut t = Theme::colored();
        t.apply(
            "selected: { fg: white, bg: \"#102030\", bold: true }\n",
            "t",
            false,
        )
        .unwrap();
        assert_eq!(
            t.selected,
            Style::new()
                .fg(Color::White)
                .bg(Color::Rgb(0x10, 0x20, 0x30))
                .add_modifier(Modifier::BOLD)
        );
        let e = t.apply("selcted: { fg: red }\n", "t", false).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("selcted"));
        let e = t.apply("error: { fg: reddish }\n", "t", false).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("error.fg"));
    }

    #[test]
    fn no_color_emits_no_colour() {
        let mut t = Theme::monochrome();
        t.apply("error: { fg: red, underline: true }\n", "t", true)
            .unwrap();
        let all = [
            t.tab_active,
            t.tab,
            t.header,
            t.selected,
            t.border,
            t.border_focus,
            t.dim,
            t.error,
            t.ok,
            t.warning,
            t.readonly,
            t.key,
            t.title,
            t.button,
            t.button_focus,
        ];
        assert!(all.iter().all(|s| s.fg.is_none() && s.bg.is_none()));
        assert!(t.error.add_modifier.contains(Modifier::UNDERLINED));
    }

    #[test]
    fn default_theme_uses_only_the_16_ansi_colours() {
        let t = Theme::colored();
        for s in [t.tab_active, t.selected, t.error, t.readonly, t.key] {
            for c in [s.fg, s.bg].into_iter().flatten() {
                assert!(
                    !matches!(c, Color::Rgb(..) | Color::Indexed(_)),
                    "{c:?} needs more than 16 colours"
                );
            }
        }
    }
}
