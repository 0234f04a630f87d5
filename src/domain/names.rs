//! Name rules. An application, stage or microservice name ends up as an AMQP routing-key
//! segment, a Kubernetes label value, part of a MongoDB database name and (with `_` mapped to
//! `-`) part of a DNS-1123 object name, so one rule has to satisfy all of them at once.

use crate::error::{Error, Result};

/// MongoDB refuses database names of 64 bytes or more.
pub const MONGODB_DB_NAME_MAX: usize = 63;
/// Kubernetes label values are at most 63 characters.
pub const LABEL_VALUE_MAX: usize = 63;
/// `application_<name>_<uuid>`: 12 + name + 1 + 36 bytes.
pub const DB_NAME_OVERHEAD: usize = "application_".len() + 1 + 36;
/// The longest application name whose derived database name still fits MongoDB's limit.
pub const APP_NAME_MAX: usize = MONGODB_DB_NAME_MAX - DB_NAME_OVERHEAD;

const NAME_RULE: &str =
    "use lowercase letters, digits, '_' and '-', starting and ending with a letter or digit";
const ID_RULE: &str =
    "use letters, digits, '_' and '-', starting and ending with a letter or digit";

fn check_charset(value: &str, lowercase_only: bool) -> bool {
    let ok_char = |c: char| {
        c.is_ascii_digit()
            || c == '_'
            || c == '-'
            || c.is_ascii_lowercase()
            || (!lowercase_only && c.is_ascii_uppercase())
    };
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    !value.is_empty()
        && value.chars().all(ok_char)
        && edge(value.chars().next())
        && edge(value.chars().last())
}

/// A DNS-1123 label (Kubernetes namespace, Service name): 1-63 characters of `[a-z0-9-]`,
/// starting and ending with a letter or digit.
pub fn is_dns1123_label(value: &str) -> bool {
    value.len() <= 63
        && !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !value.starts_with('-')
        && !value.ends_with('-')
}

/// Turn any text into a DNS-1123 label of at most `max` (<= 63) characters: lowercase, runs of
/// other characters become one `-`, edges trimmed. When that changed or shortened the text, a
/// short hash of the original is appended so two different inputs never collide
/// (`object_detection_web` and `object-detection-web` get different names). Empty input gives
/// `x-<hash>`.
pub fn dns1123_label(value: &str, max: usize) -> String {
    let max = max.clamp(12, 63);
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let trimmed = out.trim_matches('-');
    if !trimmed.is_empty() && trimmed == value && trimmed.len() <= max {
        return trimmed.to_string();
    }
    // FNV-1a: stable across versions and platforms (the name is persisted in clusters).
    let hash = value.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let suffix = format!("{:08x}", hash as u32);
    let keep = max - suffix.len() - 1;
    let mut head: String = trimmed.chars().take(keep).collect();
    while head.ends_with('-') {
        head.pop();
    }
    if head.is_empty() {
        format!("x-{suffix}")
    } else {
        format!("{head}-{suffix}")
    }
}

/// Describe a rejected value without echoing control characters back to the terminal.
fn shown(value: &str) -> String {
    format!("{:?}", value)
}

/// Names of applications, stages and microservices. Lowercase only: MongoDB refuses two
/// databases whose names differ only in case, and DNS-1123 names are lowercase.
pub fn validate_name(field: &str, value: &str, max: usize) -> Result<()> {
    if value.is_empty() {
        return Err(Error::invalid("must not be empty")
            .field(field)
            .hint(NAME_RULE));
    }
    if !check_charset(value, true) {
        return Err(
            Error::invalid(format!("{} is not a valid name", shown(value)))
                .field(field)
                .hint(NAME_RULE),
        );
    }
    if value.len() > max {
        return Err(Error::invalid(format!(
            "{} is {} characters long; the limit is {max}",
            shown(value),
            value.len()
        ))
        .field(field)
        .hint("choose a shorter name"));
    }
    Ok(())
}

/// The application name: a name whose database `application_<name>_<app_id>` fits in MongoDB's
/// 63-byte limit.
pub fn validate_app_name(field: &str, value: &str) -> Result<()> {
    validate_name(field, value, LABEL_VALUE_MAX)?;
    if value.len() > APP_NAME_MAX {
        return Err(Error::invalid(format!(
            "{} is {} characters long; the limit is {APP_NAME_MAX}, because the metric database \
             application_<name>_<app_id> must fit MongoDB's {MONGODB_DB_NAME_MAX}-byte limit",
            shown(value),
            value.len()
        ))
        .field(field)
        .hint("choose a shorter application name"));
    }
    Ok(())
}

/// `run_id` and `user_id`: routing-key segments and part of the collection name
/// `metric_collection_<run_id>`. Case is kept (user ids are often mixed case).
pub fn validate_id(field: &str, value: &str) -> Result<()> {
    if value.is_empty() {
        return Err(Error::invalid("must not be empty")
            .field(field)
            .hint(ID_RULE));
    }
    if !check_charset(value, false) {
        return Err(
            Error::invalid(format!("{} is not a valid identifier", shown(value)))
                .field(field)
                .hint(ID_RULE),
        );
    }
    if value.len() > LABEL_VALUE_MAX {
        return Err(Error::invalid(format!(
            "{} is {} characters long; the limit is {LABEL_VALUE_MAX}",
            shown(value),
            value.len()
        ))
        .field(field)
        .hint("choose a shorter identifier"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_follows_from_mongodb() {
        assert_eq!(APP_NAME_MAX, 14);
        let name = "a".repeat(APP_NAME_MAX);
        let db = format!("application_{name}_{}", uuid::Uuid::nil());
        assert_eq!(db.len(), MONGODB_DB_NAME_MAX);
        assert!(validate_app_name("application_name", &name).is_ok());
        let e = validate_app_name("application_name", &format!("{name}b")).unwrap_err();
        assert!(e.message.contains("15 characters"), "{}", e.message);
        assert!(e.message.contains("limit is 14"), "{}", e.message);
    }

    #[test]
    fn charset() {
        for ok in ["cctvs", "a", "bts-2", "obj_det", "x9"] {
            assert!(validate_name("f", ok, 63).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Cctvs",
            "a.b",
            "a#",
            "a*",
            "-a",
            "a-",
            "_a",
            "a b",
            "a/b",
            "é",
            "a\u{1b}[2J",
        ] {
            assert!(validate_name("f", bad, 63).is_err(), "{bad:?}");
        }
        assert!(validate_id("f", "User_01").is_ok());
        assert!(validate_id("f", "u.1").is_err());
    }

    #[test]
    fn dns1123_labels_are_valid_and_do_not_collide() {
        assert!(is_dns1123_label("rohe"));
        assert!(!is_dns1123_label("Rohe"));
        assert!(!is_dns1123_label("-a"));
        assert!(!is_dns1123_label(&"a".repeat(64)));
        assert_eq!(dns1123_label("image-ingestion", 63), "image-ingestion");
        let a = dns1123_label("object_detection_web", 63);
        let b = dns1123_label("object-detection-web", 63);
        assert_ne!(a, b);
        assert!(a.starts_with("object-detection-web-"), "{a}");
        for input in [
            "",
            "___",
            "ÄÖÜ",
            &"x_".repeat(100),
            "RaspberryPi_02",
            "a--b",
        ] {
            let l = dns1123_label(input, 63);
            assert!(is_dns1123_label(&l), "{input:?} gave {l:?}");
            assert_eq!(l, dns1123_label(input, 63), "stable");
        }
        assert!(dns1123_label(&"y".repeat(200), 40).len() <= 40);
    }

    #[test]
    fn control_characters_are_not_echoed_raw() {
        let e = validate_name("f", "a\u{1b}[2Jb", 63).unwrap_err();
        assert!(!e.to_string().contains('\u{1b}'));
    }
}
