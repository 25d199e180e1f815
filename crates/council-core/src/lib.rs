//! # council-core
//!
//! The councilnet protocol with no I/O: member and node keys, the canonical encoding of
//! every signed record, the rules that decide whether a record is valid, the tally, and
//! the offline verification of export files.
//!
//! The daemon and `council verify` both validate records through this crate, and only
//! through it: [`verify`] turns a record from outside into a [`verify::Verified`] one,
//! and [`council::CouncilState::apply`] applies the council's rules to it in log order.
//!
//! `docs/PROTOCOL.md` at the root of the repository is the specification this crate
//! implements.

pub mod access;
pub mod cbor;
pub mod council;
pub mod draft;
pub mod error;
pub mod export;
pub mod federation;
pub mod hash;
pub mod invite;
pub mod keys;
pub mod receipt;
pub mod records;
pub mod replica;
pub mod sample;
pub mod tally;
pub mod verify;

pub use error::{DecodeError, KeyError};
pub use hash::Hash;
pub use keys::{PublicKey, SecretKey, Signature};
