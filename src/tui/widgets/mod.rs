//! Drawing helpers shared by the tabs and overlays: sanitised, ellipsis-truncated text, a
//! table that renders only its visible rows and drops low-priority columns when narrow, text
//! inputs, and centred boxes.

use super::app::ListView;
use super::theme::Theme;
use crate::domain::sanitize::terminal_safe;
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, TableState};
use tui_input::Input;
use unicode_width::UnicodeWidthChar;

/// Display width of text (after sanitising).
pub fn width(s: &str) -> usize {
    s.chars().map(|c| c.width().unwrap_or(0)).sum()
}

/// Sanitise `s` and cut it to `max` columns, ending with `…` when cut.
pub fn fit(s: &str, max: usize) -> String {
    let s = terminal_safe(s);
    if width(&s) <= max {
        return s.into_owned();
    }
    if max == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut w = 0;
    for c in s.chars() {
        let cw = c.width().unwrap_or(0);
        if w + cw > max - 1 {
            break;
        }
        out.push(c);
        w += cw;
    }
    out.push('…');
    out
}

/// A sanitised, owned span.
pub fn span(s: &str, style: Style) -> Span<'static> {
    Span::styled(terminal_safe(s).into_owned(), style)
}

/// A box of at most `w` x `h` in the middle of `area`.
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

/// A table column: its title, the width it needs at least and would like, and which columns
/// go first when the terminal is narrow (higher `drop` goes earlier).
#[derive(Debug, Clone, Copy)]
pub struct Col {
    pub title: &'static str,
    pub min: u16,
    pub ideal: u16,
    pub drop: u8,
}

const SPACING: u16 = 1;

/// Widths for the columns that fit in `total` (None = hidden).
pub fn fit_columns(cols: &[Col], total: u16) -> Vec<Option<u16>> {
    let mut shown: Vec<bool> = vec![true; cols.len()];
    let need = |shown: &[bool]| -> u16 {
        let n = shown.iter().filter(|s| **s).count() as u16;
        cols.iter()
            .zip(shown)
            .filter(|(_, s)| **s)
            .map(|(c, _)| c.min)
            .sum::<u16>()
            + n.saturating_sub(1) * SPACING
    };
    let mut order: Vec<usize> = (0..cols.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(cols[i].drop));
    for &i in &order {
        if need(&shown) <= total || cols[i].drop == 0 {
            break;
        }
        shown[i] = false;
    }
    let mut widths: Vec<Option<u16>> = cols
        .iter()
        .zip(&shown)
        .map(|(c, s)| s.then_some(c.min))
        .collect();
    let mut spare = total.saturating_sub(need(&shown));
    // Grow towards the ideal widths, most important columns first.
    let mut by_importance: Vec<usize> = (0..cols.len()).filter(|&i| shown[i]).collect();
    by_importance.sort_by_key(|&i| cols[i].drop);
    for &i in &by_importance {
        if let Some(w) = widths[i].as_mut() {
            let grow = cols[i].ideal.saturating_sub(*w).min(spare);
            *w += grow;
            spare -= grow;
        }
    }
    // Whatever is left goes to the last visible column.
    if let Some(w) = widths.iter_mut().rev().flatten().next() {
        *w += spare;
    }
    widths
}

/// Draw a table of `list.rows.len()` rows, building only the visible ones with `row`.
#[allow(clippy::too_many_arguments)]
pub fn table(
    f: &mut Frame,
    area: Rect,
    theme: &Theme,
    title: Line<'static>,
    cols: &[Col],
    list: &ListView,
    focused: bool,
    row: &dyn Fn(usize) -> Vec<String>,
) {
    table_styled(
        f,
        area,
        theme,
        title,
        cols,
        list,
        focused,
        row,
        &|_| Style::new(),
        theme.selected,
    );
}

/// [`table`], with a style per row (`style` is called for the visible rows only) and the
/// selected row's style.
#[allow(clippy::too_many_arguments)]
pub fn table_styled(
    f: &mut Frame,
    area: Rect,
    theme: &Theme,
    title: Line<'static>,
    cols: &[Col],
    list: &ListView,
    focused: bool,
    row: &dyn Fn(usize) -> Vec<String>,
    style: &dyn Fn(usize) -> Style,
    highlight: Style,
) {
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(if focused {
            theme.border_focus
        } else {
            theme.border
        })
        .title(title);
    let inner = block.inner(area);
    f.render_widget(block, area);
    if inner.height == 0 || inner.width == 0 {
        return;
    }
    let widths = fit_columns(cols, inner.width);
    let visible_rows = inner.height.saturating_sub(1) as usize;
    let total = list.rows.len();
    let sel = list.selected.min(total.saturating_sub(1));
    let mut off = list.offset.get();
    if sel < off {
        off = sel;
    } else if visible_rows > 0 && sel >= off + visible_rows {
        off = sel + 1 - visible_rows;
    }
    off = off.min(total.saturating_sub(visible_rows));
    list.offset.set(off);
    let header = Row::new(
        cols.iter()
            .zip(&widths)
            .filter_map(|(c, w)| w.map(|w| Cell::from(fit(c.title, w as usize)))),
    )
    .style(theme.header);
    let rows: Vec<Row> = list.rows[off..(off + visible_rows).min(total)]
        .iter()
        .map(|&i| {
            let cells = row(i);
            Row::new(
                cells
                    .iter()
                    .zip(&widths)
                    .filter_map(|(text, w)| w.map(|w| Cell::from(fit(text, w as usize)))),
            )
            .style(style(i))
        })
        .collect();
    let constraints: Vec<Constraint> = widths
        .iter()
        .flatten()
        .map(|w| Constraint::Length(*w))
        .collect();
    let t = Table::new(rows, constraints)
        .header(header)
        .column_spacing(SPACING)
        .row_highlight_style(highlight);
    let mut state = TableState::default();
    if total > 0 {
        state.select(Some(sel - off));
    }
    f.render_stateful_widget(t, inner, &mut state);
}

/// Draw a one-line text input in `area`; place the cursor when `focused`.
pub fn input(f: &mut Frame, area: Rect, input: &Input, style: Style, focused: bool) {
    if area.width == 0 {
        return;
    }
    let w = area.width.saturating_sub(1) as usize;
    let scroll = input.visual_scroll(w);
    let value = terminal_safe(input.value()).into_owned();
    f.render_widget(
        Paragraph::new(value)
            .style(style)
            .scroll((0, scroll as u16)),
        area,
    );
    if focused {
        let x = area.x + (input.visual_cursor().saturating_sub(scroll)) as u16;
        f.set_cursor_position((x.min(area.right().saturating_sub(1)), area.y));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_truncates_with_an_ellipsis_and_sanitises() {
        assert_eq!(fit("cctvs", 10), "cctvs");
        assert_eq!(fit("abcdefghij", 5), "abcd…");
        assert_eq!(fit("ab\u{1b}[2Jcd", 20), "ab\u{FFFD}[2Jcd");
        assert_eq!(fit("日本語テキスト", 5), "日本…");
    }

    #[test]
    fn columns_drop_by_priority_and_fill_the_width() {
        let cols = [
            Col {
                title: "NAME",
                min: 8,
                ideal: 14,
                drop: 0,
            },
            Col {
                title: "ID",
                min: 36,
                ideal: 36,
                drop: 5,
            },
            Col {
                title: "RUN",
                min: 6,
                ideal: 16,
                drop: 1,
            },
        ];
        let w = fit_columns(&cols, 30);
        assert_eq!(w[1], None);
        assert_eq!(w[0].unwrap() + w[2].unwrap() + 1, 30);
        let w = fit_columns(&cols, 100);
        assert!(w.iter().all(Option::is_some));
        assert_eq!(w.iter().flatten().sum::<u16>() + 2, 100);
    }
}
