//! FITS header cards: parsing of 80-character card images and a merged, ordered header.
//!
//! Parsing follows the FITS standard 4.0 §4 (fixed-format keywords, quoted strings with `''`
//! escapes, logical `T`/`F`, integers, reals with `E` or `D` exponents) plus the ESO
//! `HIERARCH` convention (keyword up to the `=`) and the `CONTINUE` long-string convention.
//! The leading `HIERARCH ` is stripped from keyword names, so `ESO DPR TYPE` is looked up as is.

use std::fmt;

/// A header value as written in the card.
#[derive(Debug, Clone, PartialEq)]
pub enum HeaderValue {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// A keyword with no value (`KEY     =` followed by blanks, or a commentary card).
    Empty,
}

impl HeaderValue {
    /// The value as a number: integers, reals, and strings that hold a number
    /// (NEOSSat writes `GAIN = '1.10    '`).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            HeaderValue::Int(i) => Some(*i as f64),
            HeaderValue::Float(f) => Some(*f),
            HeaderValue::Str(s) => parse_number(s),
            HeaderValue::Bool(_) | HeaderValue::Empty => None,
        }
    }

    /// The value as text, trimmed (numbers are formatted, logicals are `T`/`F`).
    pub fn as_text(&self) -> Option<String> {
        match self {
            HeaderValue::Str(s) => Some(s.trim().to_string()),
            HeaderValue::Int(i) => Some(i.to_string()),
            HeaderValue::Float(f) => Some(f.to_string()),
            HeaderValue::Bool(b) => Some(if *b { "T" } else { "F" }.to_string()),
            HeaderValue::Empty => None,
        }
    }
}

impl fmt::Display for HeaderValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderValue::Str(s) => write!(f, "'{s}'"),
            HeaderValue::Int(i) => write!(f, "{i}"),
            HeaderValue::Float(x) => write!(f, "{x}"),
            HeaderValue::Bool(b) => write!(f, "{}", if *b { "T" } else { "F" }),
            HeaderValue::Empty => Ok(()),
        }
    }
}

/// Parses a number written as FITS text: optional sign, digits, decimal point and an
/// exponent introduced by `E` or `D`. Surrounding blanks are ignored.
pub fn parse_number(text: &str) -> Option<f64> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    let normalised = t.replace(['D', 'd'], "E");
    let value: f64 = normalised.parse().ok()?;
    value.is_finite().then_some(value)
}

/// One header card: keyword, value and comment.
#[derive(Debug, Clone, PartialEq)]
pub struct Card {
    pub key: String,
    pub value: HeaderValue,
    pub comment: String,
}

/// Commentary keywords: never merged, never looked up as values.
fn is_commentary(key: &str) -> bool {
    matches!(key, "COMMENT" | "HISTORY" | "" | "CONTINUE")
}

/// An ordered list of cards. Lookups return the last card with the key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Header {
    cards: Vec<Card>,
}

impl Header {
    pub fn new(cards: Vec<Card>) -> Self {
        Header { cards }
    }

    /// Parses a header given as concatenated 80-character card images (as cfitsio's
    /// `fits_hdr2str` returns it). Stops at `END`.
    pub fn from_card_images(text: &str) -> Self {
        Header::from_card_bytes(text.as_bytes())
    }

    /// As [`Header::from_card_images`], from raw bytes: the cards are cut every 80 bytes
    /// before any decoding, so a non-ASCII byte (invalid in FITS, but met in hand-edited
    /// headers) spoils only its own card, not the alignment of the following ones.
    pub fn from_card_bytes(bytes: &[u8]) -> Self {
        let mut cards: Vec<Card> = Vec::with_capacity(bytes.len() / 80);
        for chunk in bytes.chunks(80) {
            let image = String::from_utf8_lossy(chunk);
            let card = parse_card(&image);
            if card.key == "END" {
                break;
            }
            if card.key == "CONTINUE" {
                if let (Some(last), HeaderValue::Str(more)) = (cards.last_mut(), &card.value) {
                    if let HeaderValue::Str(s) = &mut last.value {
                        if let Some(stripped) = s.strip_suffix('&') {
                            *s = format!("{stripped}{more}");
                            continue;
                        }
                    }
                }
            }
            cards.push(card);
        }
        Header { cards }
    }

    pub fn cards(&self) -> &[Card] {
        &self.cards
    }

    /// Merges a primary and an extension header; the extension's value wins for keys in both.
    /// Structural keywords of the primary (SIMPLE, BITPIX, NAXISn, EXTEND, BZERO, BSCALE)
    /// are not carried over: they describe the primary's (empty) data.
    pub fn merged(primary: &Header, extension: &Header) -> Header {
        let structural = |k: &str| {
            matches!(
                k,
                "SIMPLE" | "BITPIX" | "EXTEND" | "BZERO" | "BSCALE" | "PCOUNT" | "GCOUNT"
            ) || k.starts_with("NAXIS")
        };
        let mut cards: Vec<Card> = primary
            .cards
            .iter()
            .filter(|c| {
                !structural(&c.key) && (is_commentary(&c.key) || extension.find(&c.key).is_none())
            })
            .cloned()
            .collect();
        cards.extend(extension.cards.iter().cloned());
        Header { cards }
    }

    fn find(&self, key: &str) -> Option<&Card> {
        let key = normalise_key(key);
        self.cards.iter().rev().find(|c| c.key == key)
    }

    pub fn get(&self, key: &str) -> Option<&HeaderValue> {
        self.find(key).map(|c| &c.value)
    }

    pub fn contains(&self, key: &str) -> bool {
        self.find(key).is_some()
    }

    /// Value as trimmed text; `None` when absent or without value.
    pub fn text(&self, key: &str) -> Option<String> {
        self.get(key).and_then(HeaderValue::as_text)
    }

    /// Value as a number (numeric strings accepted).
    pub fn number(&self, key: &str) -> Option<f64> {
        self.get(key).and_then(HeaderValue::as_f64)
    }

    /// Adds a card, replacing an existing one with the same key (commentary cards are appended).
    pub fn set(&mut self, key: &str, value: HeaderValue, comment: &str) {
        let key = normalise_key(key);
        let card = Card {
            key: key.clone(),
            value,
            comment: comment.to_string(),
        };
        if !is_commentary(&key) {
            if let Some(existing) = self.cards.iter_mut().find(|c| c.key == key) {
                *existing = card;
                return;
            }
        }
        self.cards.push(card);
    }
}

/// Upper-cases and strips a leading `HIERARCH ` so both spellings find the same card.
pub fn normalise_key(key: &str) -> String {
    let upper = key.trim().to_ascii_uppercase();
    match upper.strip_prefix("HIERARCH ") {
        Some(rest) => rest.trim().to_string(),
        None => upper,
    }
}

/// Parses one 80-character card image.
pub fn parse_card(image: &str) -> Card {
    let image = image.trim_end_matches(['\0', '\n']);
    let upper_start: String = image
        .chars()
        .take(9)
        .collect::<String>()
        .to_ascii_uppercase();
    let (key, rest) = if upper_start.starts_with("HIERARCH ") {
        match image.find('=') {
            Some(eq) => (normalise_key(&image[..eq]), Some(&image[eq + 1..])),
            None => (normalise_key(image), None),
        }
    } else {
        // Split after 8 characters, not bytes: a card holding non-ASCII bytes (invalid FITS,
        // but met in hand-edited headers) must not panic on a char boundary.
        let split = image.char_indices().nth(8).map_or(image.len(), |(i, _)| i);
        let (key_field, after) = image.split_at(split);
        let key = key_field.trim().to_ascii_uppercase();
        if let Some(value_field) = after.strip_prefix("= ") {
            (key, Some(value_field))
        } else if key == "CONTINUE" {
            (key, Some(after))
        } else {
            return Card {
                key,
                value: HeaderValue::Empty,
                comment: after.trim().to_string(),
            };
        }
    };
    let (value, comment) = match rest {
        Some(field) => parse_value_field(field),
        None => (HeaderValue::Empty, String::new()),
    };
    Card {
        key,
        value,
        comment,
    }
}

/// Splits a value field into value and comment.
fn parse_value_field(field: &str) -> (HeaderValue, String) {
    let trimmed = field.trim_start();
    if let Some(body) = trimmed.strip_prefix('\'') {
        let mut value = String::new();
        let mut chars = body.char_indices().peekable();
        let mut end = body.len();
        while let Some((i, c)) = chars.next() {
            if c == '\'' {
                if matches!(chars.peek(), Some((_, '\''))) {
                    value.push('\'');
                    chars.next();
                } else {
                    end = i + 1;
                    break;
                }
            } else {
                value.push(c);
            }
        }
        let comment = comment_after(&body[end.min(body.len())..]);
        return (HeaderValue::Str(value.trim_end().to_string()), comment);
    }
    let (value_text, comment) = match trimmed.find('/') {
        Some(slash) => (&trimmed[..slash], trimmed[slash + 1..].trim().to_string()),
        None => (trimmed, String::new()),
    };
    let value_text = value_text.trim();
    let value = match value_text {
        "" => HeaderValue::Empty,
        "T" => HeaderValue::Bool(true),
        "F" => HeaderValue::Bool(false),
        t => match t.parse::<i64>() {
            Ok(i) => HeaderValue::Int(i),
            Err(_) => match parse_number(t) {
                Some(f) => HeaderValue::Float(f),
                None => HeaderValue::Str(t.to_string()),
            },
        },
    };
    (value, comment)
}

fn comment_after(rest: &str) -> String {
    match rest.find('/') {
        Some(slash) => rest[slash + 1..].trim().to_string(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pad(card: &str) -> String {
        format!("{card:<80}")
    }

    #[test]
    fn parses_value_kinds() {
        let c = parse_card(&pad("EXPTIME =                1200. / exposure time"));
        assert_eq!(c.key, "EXPTIME");
        assert_eq!(c.value, HeaderValue::Float(1200.0));
        assert_eq!(c.comment, "exposure time");
        let c = parse_card(&pad("NAXIS1  =                  400 / length"));
        assert_eq!(c.value, HeaderValue::Int(400));
        let c = parse_card(&pad("MIRROR_X=                    F / mirrored"));
        assert_eq!(c.value, HeaderValue::Bool(false));
        let c = parse_card(&pad("FILTER  = 'r''_SDSS 618_148' / with quote"));
        assert_eq!(c.value, HeaderValue::Str("r'_SDSS 618_148".into()));
        assert_eq!(c.comment, "with quote");
        let c = parse_card(&pad("SHUT_AGE=         -4.1342998D3 / [s]"));
        assert_eq!(c.value, HeaderValue::Float(-4134.2998));
    }

    #[test]
    fn numeric_strings_are_numbers() {
        let c = parse_card(&pad("GAIN    = '1.10    '           / [electrons/ADU]"));
        assert_eq!(c.value.as_f64(), Some(1.10));
        assert_eq!(c.value.as_text().as_deref(), Some("1.10"));
        assert_eq!(HeaderValue::Str("UNKNOWN".into()).as_f64(), None);
    }

    #[test]
    fn hierarch_keys_are_found_with_or_without_prefix() {
        let c = parse_card(&pad(
            "HIERARCH ESO DPR TYPE        = 'OBJECT  '   / Observation type",
        ));
        assert_eq!(c.key, "ESO DPR TYPE");
        let h = Header::new(vec![c]);
        assert_eq!(h.text("ESO DPR TYPE").as_deref(), Some("OBJECT"));
        assert_eq!(h.text("HIERARCH ESO DPR TYPE").as_deref(), Some("OBJECT"));
    }

    #[test]
    fn extension_wins_when_merging() {
        let primary = Header::from_card_images(
            &[
                pad("SIMPLE  =                    T"),
                pad("BITPIX  =                   32"),
                pad("GAIN    =                  0.0"),
                pad("OBJECT  = 'C/2025 N1'"),
                pad("END"),
            ]
            .concat(),
        );
        let ext = Header::from_card_images(
            &[
                pad("XTENSION= 'IMAGE   '"),
                pad("BITPIX  =                   16"),
                pad("GAIN    =                 6.42"),
                pad("END"),
            ]
            .concat(),
        );
        let merged = Header::merged(&primary, &ext);
        assert_eq!(merged.number("GAIN"), Some(6.42));
        assert_eq!(merged.number("BITPIX"), Some(16.0));
        assert_eq!(merged.text("OBJECT").as_deref(), Some("C/2025 N1"));
        assert!(!merged.contains("SIMPLE"));
    }

    #[test]
    fn long_strings_continue() {
        let h = Header::from_card_images(
            &[
                pad("PROPTITL= 'Identifying radio &'"),
                pad("CONTINUE  'loud quasars'"),
                pad("END"),
            ]
            .concat(),
        );
        assert_eq!(
            h.text("PROPTITL").as_deref(),
            Some("Identifying radio loud quasars")
        );
    }

    #[test]
    fn non_ascii_cards_do_not_panic() {
        // Found by tests/properties.rs: byte slicing at columns 9-10 split a multi-byte char.
        let c = parse_card(" \0AAA¡");
        assert_eq!(c.value, HeaderValue::Empty);
        let c = parse_card("=¡");
        assert_eq!(c.key, "=¡");
        let c = parse_card("OBSERVER= 'Ångström'");
        assert_eq!(c.value, HeaderValue::Str("Ångström".into()));
        let c = parse_card("ÅÅÅÅÅÅÅÅ= 1");
        assert_eq!(c.value, HeaderValue::Int(1));
        let h = Header::from_card_images(&String::from_utf8_lossy(&[0xff_u8; 200]));
        assert!(!h.cards().is_empty());
        // A Latin-1 byte in one card does not shift the next cards.
        let mut bytes = pad("OBSERVER= 'JosX'").into_bytes();
        bytes[14] = 0xe9;
        bytes.extend_from_slice(pad("EXPTIME =                 30.0").as_bytes());
        let h = Header::from_card_bytes(&bytes);
        assert_eq!(h.number("EXPTIME"), Some(30.0));
        assert_eq!(h.text("OBSERVER").as_deref(), Some("Jos\u{fffd}"));
    }

    #[test]
    fn stops_at_end_and_keeps_history() {
        let h = Header::from_card_images(
            &[
                pad("HISTORY bias subtracted"),
                pad("END"),
                pad("OBJECT  = 'ignored'"),
            ]
            .concat(),
        );
        assert_eq!(h.cards().len(), 1);
        assert!(h.get("OBJECT").is_none());
    }
}
