//! Error types. Every variant says what was wrong and, where it can, where.

use thiserror::Error;

/// Bytes that are not a canonical encoding of the expected record.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("input ends early (at byte {at})")]
    Truncated { at: usize },
    #[error("{at} trailing bytes after the record")]
    TrailingBytes { at: usize },
    #[error("expected {expected} at byte {at}")]
    UnexpectedType { at: usize, expected: &'static str },
    #[error("non-canonical encoding at byte {at}: {what}")]
    NonCanonical { at: usize, what: &'static str },
    #[error("value out of range for {what} at byte {at}")]
    OutOfRange { at: usize, what: &'static str },
    #[error("expected {expected} bytes at byte {at}, found {found}")]
    BadLength { at: usize, expected: usize, found: usize },
    #[error("expected an array of {expected} items at byte {at}, found {found}")]
    WrongArity { at: usize, expected: usize, found: u64 },
    #[error("list at byte {at} is longer than the limit of {max}")]
    TooLong { at: usize, max: usize },
    #[error("nesting too deep at byte {at}")]
    TooDeep { at: usize },
    #[error("invalid UTF-8 in text at byte {at}")]
    InvalidUtf8 { at: usize },
    #[error("expected tag {expected:?} at byte {at}, found {found:?}")]
    WrongTag { at: usize, expected: &'static str, found: String },
    #[error("unknown variant {found:?} at byte {at}")]
    UnknownVariant { at: usize, found: String },
    #[error("invalid key at byte {at}: {source}")]
    Key { at: usize, source: KeyError },
}

/// A public key that the protocol does not accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum KeyError {
    #[error("not a valid curve point")]
    NotAPoint,
    #[error("non-canonical point encoding")]
    NonCanonical,
    #[error("weak key (small-order point)")]
    SmallOrder,
    #[error("mixed-order key (point has a torsion component)")]
    MixedOrder,
    #[error("not a did:key for an ed25519 key")]
    BadDidKey,
}
