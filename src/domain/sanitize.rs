//! Text from outside (names, report fields, logs) never reaches the terminal raw: control
//! characters, including ESC and so every escape sequence, are replaced.

use std::borrow::Cow;

/// Replace control characters with U+FFFD (tabs become a space); leave other text as is.
pub fn terminal_safe(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| c.is_control()) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| match c {
                '\t' => ' ',
                c if c.is_control() => '\u{FFFD}',
                c => c,
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_neutralised() {
        let s = terminal_safe("a\u{1b}[2Jb\u{9b}31mc\u{7}d\te");
        assert!(!s.chars().any(|c| c.is_control()));
        assert_eq!(s, "a\u{FFFD}[2Jb\u{FFFD}31mc\u{FFFD}d e");
        assert!(matches!(terminal_safe("plain"), Cow::Borrowed(_)));
    }
}
