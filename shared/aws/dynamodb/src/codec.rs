//! Item bodies: a record's JSON, and for finding records the original finding's bytes,
//! compressed with zstd and a dictionary, in one binary attribute (`b`).
//!
//! DynamoDB bills a write per started kilobyte of the item. A Security Hub finding is 2-5 KB of
//! JSON whose field names and vocabulary repeat from one finding to the next; zstd with a
//! dictionary of real findings stores one in about 700 bytes, so a finding record costs one
//! write unit instead of four or five.
//!
//! Layout of `b`: one format byte, then a zstd frame (with its content size). Format 1: the
//! dictionary [`DICTIONARY_V1`] (raw content: the built-in remediation texts, sample record and
//! incident bodies, and the project's fixture findings as compact JSON).
//! The frame holds the record's JSON, and for finding records a NUL byte and the finding's
//! original bytes (kept unescaped, so that they match the dictionary).
//!
//! A format, once written, must stay readable: a new dictionary is a new format byte, and the
//! old one stays compiled in.

use std::cell::RefCell;
use std::sync::OnceLock;

use vigil_domain::StoreError;
use zstd::bulk::{Compressor, Decompressor};
use zstd::dict::{DecoderDictionary, EncoderDictionary};

/// The format byte of bodies compressed with [`DICTIONARY_V1`].
pub const FORMAT_V1: u8 = 1;

/// The dictionary of format 1. Frozen: bodies in tables depend on these exact bytes.
pub static DICTIONARY_V1: &[u8] = include_bytes!("../dict/store-v1.dict");

/// zstd level: 3 (zstd's default) compresses a finding in about 10 µs; higher levels save a
/// few percent for several times the time.
const LEVEL: i32 = 3;

/// Largest body Vigil decompresses (DynamoDB items are at most 400 KB; bodies shrink 4x).
const MAX_BODY: usize = 4 * 1024 * 1024;

fn encoder_dictionary() -> &'static EncoderDictionary<'static> {
    static D: OnceLock<EncoderDictionary<'static>> = OnceLock::new();
    D.get_or_init(|| EncoderDictionary::copy(DICTIONARY_V1, LEVEL))
}

fn decoder_dictionary() -> &'static DecoderDictionary<'static> {
    static D: OnceLock<DecoderDictionary<'static>> = OnceLock::new();
    D.get_or_init(|| DecoderDictionary::copy(DICTIONARY_V1))
}

thread_local! {
    static COMPRESSOR: RefCell<Option<Compressor<'static>>> = const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<Decompressor<'static>>> = const { RefCell::new(None) };
}

fn codec_error(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Rejected {
        message: format!("cannot {what} an item body: {e}"),
        source: None,
    }
}

/// `json`, and `raw` after a NUL byte when given, as a format-1 body.
pub fn pack(json: &[u8], raw: Option<&[u8]>) -> Result<Vec<u8>, StoreError> {
    let mut plain = Vec::with_capacity(json.len() + raw.map_or(0, |r| r.len() + 1));
    plain.extend_from_slice(json);
    if let Some(raw) = raw {
        plain.push(0);
        plain.extend_from_slice(raw);
    }
    COMPRESSOR.with(|c| {
        let mut c = c.borrow_mut();
        if c.is_none() {
            *c = Some(
                Compressor::with_prepared_dictionary(encoder_dictionary())
                    .map_err(|e| codec_error("prepare to compress", e))?,
            );
        }
        let Some(c) = c.as_mut() else {
            return Err(codec_error("compress", "no compressor"));
        };
        let frame = c.compress(&plain).map_err(|e| codec_error("compress", e))?;
        let mut out = Vec::with_capacity(frame.len() + 1);
        out.push(FORMAT_V1);
        out.extend_from_slice(&frame);
        Ok(out)
    })
}

/// The JSON and the raw bytes (if any) of a body; `key` names the item in errors.
pub fn unpack(key: &str, body: &[u8]) -> Result<(Vec<u8>, Option<Vec<u8>>), StoreError> {
    let corrupt = |message: String| StoreError::Corrupt {
        key: key.to_owned(),
        message,
    };
    let Some((&format, frame)) = body.split_first() else {
        return Err(corrupt("empty body".into()));
    };
    if format != FORMAT_V1 {
        return Err(corrupt(format!(
            "body format {format} is unknown to this version of Vigil"
        )));
    }
    let size = zstd::zstd_safe::get_frame_content_size(frame)
        .ok()
        .flatten()
        .ok_or_else(|| corrupt("body is not a zstd frame with its content size".into()))?;
    let size = usize::try_from(size)
        .ok()
        .filter(|s| *s <= MAX_BODY)
        .ok_or_else(|| corrupt(format!("body claims {size} bytes")))?;
    let mut plain = DECOMPRESSOR.with(|d| {
        let mut d = d.borrow_mut();
        if d.is_none() {
            *d = Some(
                Decompressor::with_prepared_dictionary(decoder_dictionary())
                    .map_err(|e| corrupt(format!("cannot prepare to decompress: {e}")))?,
            );
        }
        let Some(d) = d.as_mut() else {
            return Err(corrupt("no decompressor".into()));
        };
        d.decompress(frame, size)
            .map_err(|e| corrupt(format!("cannot decompress body: {e}")))
    })?;
    match plain.iter().position(|b| *b == 0) {
        Some(at) => {
            let raw = plain.split_off(at + 1);
            plain.pop();
            Ok((plain, Some(raw)))
        }
        None => Ok((plain, None)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use sha2::Digest;

    #[test]
    fn the_format_1_dictionary_never_changes() {
        let digest = sha2::Sha256::digest(DICTIONARY_V1);
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex, "192314be2833c19458683a8a05a3da1ad0e4c7a544cd1cc2d701c82e08c0d482",
            "stored bodies need these exact bytes: add a new format instead"
        );
    }

    #[test]
    fn bodies_round_trip_with_and_without_raw_bytes() {
        let raw = br#"{"SchemaVersion":"2018-10-08","Id":"x","Title":"\u00e9 \"q\""}"#;
        let b = pack(br#"{"a":1}"#, Some(raw)).unwrap();
        assert_eq!(b[0], FORMAT_V1);
        let (json, back) = unpack("k", &b).unwrap();
        assert_eq!(json, br#"{"a":1}"#);
        assert_eq!(back.as_deref(), Some(&raw[..]));
        let (json, back) = unpack("k", &pack(b"{}", None).unwrap()).unwrap();
        assert_eq!((json.as_slice(), back), (&b"{}"[..], None));
    }

    #[test]
    fn a_finding_like_the_dictionary_compresses_several_fold() {
        let text = std::str::from_utf8(DICTIONARY_V1).unwrap();
        let one = text.lines().next().unwrap().replace("2026", "2027");
        let b = pack(b"{}", Some(one.as_bytes())).unwrap();
        assert!(b.len() * 4 < one.len(), "{} -> {}", one.len(), b.len());
    }

    #[test]
    fn damaged_bodies_are_named_errors() {
        for bad in [&b""[..], &[9u8, 1, 2][..], &[FORMAT_V1, 1, 2, 3][..]] {
            match unpack("F#k", bad) {
                Err(StoreError::Corrupt { key, .. }) => assert_eq!(key, "F#k"),
                other => panic!("{other:?}"),
            }
        }
    }
}
