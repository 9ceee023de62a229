//! Bounds on what Vigil stores, whatever a product sends.
//!
//! DynamoDB keys hold at most 2,048 bytes and items 400 KB, and an incident collects strings
//! from every finding it holds. So every stored string is clipped to a bound (with `…`), and a
//! value that goes into a key (resource ids, principal names) is replaced by its hash when it
//! is long. The finding's own JSON keeps the full values.

use std::borrow::Cow;

use sha2::{Digest, Sha256};

/// Longest finding `Id` or `ProductArn` accepted (ASFF allows 512 characters): they identify
/// the finding to Security Hub, so they are never clipped; a longer one is an invalid finding.
pub const MAX_ID_BYTES: usize = 1024;
/// Titles (ASFF allows 256 characters).
pub const MAX_TITLE_CHARS: usize = 512;
/// Names, types, products, owners, entity labels.
pub const MAX_LABEL_CHARS: usize = 256;
/// Remediation text and URLs.
pub const MAX_TEXT_CHARS: usize = 2048;
/// A raw value longer than this (in bytes) is hashed where it goes into a key.
pub const MAX_KEY_PART_BYTES: usize = 128;

/// `s`, cut to at most `max_chars` characters (the last one `…` when cut).
pub fn clip(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        None => s.to_owned(),
        Some(_) => {
            let keep = max_chars.saturating_sub(1);
            let end = s.char_indices().nth(keep).map_or(s.len(), |(i, _)| i);
            let mut out = String::with_capacity(end + 3);
            out.push_str(&s[..end]);
            out.push('…');
            out
        }
    }
}

/// `s` if it is short enough for a key, else `h:` and its SHA-256 in hex: equal values still
/// give equal keys, and the key stays small.
pub fn key_part(s: &str) -> Cow<'_, str> {
    if s.len() <= MAX_KEY_PART_BYTES {
        return Cow::Borrowed(s);
    }
    let digest = Sha256::digest(s.as_bytes());
    let mut out = String::with_capacity(66);
    out.push_str("h:");
    for b in digest {
        out.push(hex_digit(b >> 4));
        out.push(hex_digit(b & 0xf));
    }
    Cow::Owned(out)
}

fn hex_digit(n: u8) -> char {
    char::from_digit(u32::from(n), 16).unwrap_or('0')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn short_values_pass_and_long_ones_are_clipped_or_hashed() {
        assert_eq!(clip("abc", 3), "abc");
        assert_eq!(clip("abcd", 3), "ab…");
        assert_eq!(clip("ünï🚨x", 4), "ünï…");
        assert_eq!(key_part("i-0abc"), "i-0abc");
        let long = "r".repeat(500);
        let h = key_part(&long);
        assert!(h.starts_with("h:") && h.len() == 66, "{h}");
        assert_eq!(h, key_part(&long));
        assert_ne!(h, key_part(&"s".repeat(500)));
    }

    proptest! {
        #[test]
        fn clipping_never_splits_a_character_or_exceeds_the_bound(s in ".{0,300}", n in 1usize..64) {
            let c = clip(&s, n);
            prop_assert!(c.chars().count() <= n);
            prop_assert!(s.starts_with(c.trim_end_matches('…')) || c == s);
        }
    }
}
