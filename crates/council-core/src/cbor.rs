//! The canonical CBOR subset that every councilnet record is written in.
//!
//! Only these CBOR items exist in the protocol (RFC 8949 major types):
//!
//! | item            | encoding                                   |
//! |-----------------|--------------------------------------------|
//! | unsigned int    | major type 0, shortest head                |
//! | byte string     | major type 2, definite length, shortest head |
//! | text string     | major type 3, definite length, valid UTF-8 |
//! | array           | major type 4, definite length, shortest head |
//! | false/true/null | `0xf4` / `0xf5` / `0xf6`                   |
//!
//! There are no maps, tags, negative integers, floats or indefinite lengths, so every
//! value has exactly one encoding, and the result is also valid DAG-CBOR. The decoder
//! rejects anything else, including a head that is longer than it needs to be, so
//! anything that decodes re-encodes to the very same bytes.

use crate::error::DecodeError;

const MAJOR_UINT: u8 = 0;
const MAJOR_BYTES: u8 = 2;
const MAJOR_TEXT: u8 = 3;
const MAJOR_ARRAY: u8 = 4;
const FALSE: u8 = 0xf4;
const TRUE: u8 = 0xf5;
const NULL: u8 = 0xf6;

/// A type with one canonical CBOR encoding.
pub trait Cbor: Sized {
    /// Appends the canonical encoding of `self`.
    fn encode(&self, e: &mut Encoder);
    /// Reads one value, rejecting anything non-canonical.
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError>;

    /// The canonical bytes of `self`.
    fn to_cbor(&self) -> Vec<u8> {
        let mut e = Encoder::default();
        self.encode(&mut e);
        e.into_bytes()
    }

    /// Decodes exactly one value that fills the whole of `bytes`.
    fn from_cbor(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut d = Decoder::new(bytes);
        let v = Self::decode(&mut d)?;
        d.finish()?;
        Ok(v)
    }
}

/// Writes canonical CBOR.
#[derive(Debug, Default, Clone)]
pub struct Encoder {
    buf: Vec<u8>,
}

impl Encoder {
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    fn head(&mut self, major: u8, n: u64) {
        let m = major << 5;
        if n < 24 {
            self.buf.push(m | n as u8);
        } else if n <= u64::from(u8::MAX) {
            self.buf.push(m | 24);
            self.buf.push(n as u8);
        } else if n <= u64::from(u16::MAX) {
            self.buf.push(m | 25);
            self.buf.extend_from_slice(&(n as u16).to_be_bytes());
        } else if n <= u64::from(u32::MAX) {
            self.buf.push(m | 26);
            self.buf.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            self.buf.push(m | 27);
            self.buf.extend_from_slice(&n.to_be_bytes());
        }
    }

    pub fn u64(&mut self, n: u64) -> &mut Self {
        self.head(MAJOR_UINT, n);
        self
    }
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.head(MAJOR_BYTES, b.len() as u64);
        self.buf.extend_from_slice(b);
        self
    }
    pub fn text(&mut self, s: &str) -> &mut Self {
        self.head(MAJOR_TEXT, s.len() as u64);
        self.buf.extend_from_slice(s.as_bytes());
        self
    }
    pub fn array(&mut self, len: usize) -> &mut Self {
        self.head(MAJOR_ARRAY, len as u64);
        self
    }
    pub fn bool(&mut self, b: bool) -> &mut Self {
        self.buf.push(if b { TRUE } else { FALSE });
        self
    }
    pub fn null(&mut self) -> &mut Self {
        self.buf.push(NULL);
        self
    }
    pub fn value<T: Cbor>(&mut self, v: &T) -> &mut Self {
        v.encode(self);
        self
    }
    pub fn option<T: Cbor>(&mut self, v: &Option<T>) -> &mut Self {
        match v {
            Some(v) => v.encode(self),
            None => {
                self.null();
            }
        }
        self
    }
    pub fn list<T: Cbor>(&mut self, items: &[T]) -> &mut Self {
        self.array(items.len());
        for it in items {
            it.encode(self);
        }
        self
    }
    /// Appends bytes that are already canonical CBOR (a nested record kept verbatim).
    pub fn raw(&mut self, b: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(b);
        self
    }
}

/// Reads canonical CBOR from a byte slice.
#[derive(Debug, Clone)]
pub struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Decoder<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    /// Fails unless every byte has been consumed.
    pub fn finish(&self) -> Result<(), DecodeError> {
        if self.pos != self.buf.len() {
            return Err(DecodeError::TrailingBytes { at: self.pos });
        }
        Ok(())
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end =
            self.pos.checked_add(n).filter(|&e| e <= self.buf.len()).ok_or(DecodeError::Truncated { at: self.pos })?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn peek(&self) -> Result<u8, DecodeError> {
        self.buf.get(self.pos).copied().ok_or(DecodeError::Truncated { at: self.pos })
    }

    /// Reads a head of the given major type and returns its argument.
    fn head(&mut self, major: u8) -> Result<u64, DecodeError> {
        let at = self.pos;
        let ib = self.peek()?;
        if ib >> 5 != major {
            return Err(DecodeError::UnexpectedType { at, expected: major_name(major) });
        }
        self.pos += 1;
        let info = ib & 0x1f;
        let (n, min) = match info {
            0..=23 => return Ok(u64::from(info)),
            24 => (u64::from(self.take(1)?[0]), 24),
            25 => {
                let b = self.take(2)?;
                (u64::from(u16::from_be_bytes([b[0], b[1]])), 0x100)
            }
            26 => {
                let b = self.take(4)?;
                (u64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]])), 0x1_0000)
            }
            27 => {
                let b = self.take(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                (u64::from_be_bytes(a), 0x1_0000_0000)
            }
            _ => return Err(DecodeError::NonCanonical { at, what: "indefinite or reserved length" }),
        };
        if n < min {
            return Err(DecodeError::NonCanonical { at, what: "integer head longer than needed" });
        }
        Ok(n)
    }

    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        self.head(MAJOR_UINT)
    }

    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        let at = self.pos;
        u32::try_from(self.u64()?).map_err(|_| DecodeError::OutOfRange { at, what: "u32" })
    }

    pub fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.head(MAJOR_BYTES)?;
        let n = usize::try_from(n).map_err(|_| DecodeError::Truncated { at: self.pos })?;
        self.take(n)
    }

    pub fn bytes_fixed<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let at = self.pos;
        let b = self.bytes()?;
        b.try_into().map_err(|_| DecodeError::BadLength { at, expected: N, found: b.len() })
    }

    pub fn text(&mut self) -> Result<&'a str, DecodeError> {
        let n = self.head(MAJOR_TEXT)?;
        let at = self.pos;
        let n = usize::try_from(n).map_err(|_| DecodeError::Truncated { at })?;
        let b = self.take(n)?;
        std::str::from_utf8(b).map_err(|_| DecodeError::InvalidUtf8 { at })
    }

    /// Reads an array head and returns its length (at most `max`).
    pub fn array(&mut self, max: usize) -> Result<usize, DecodeError> {
        let at = self.pos;
        let n = self.head(MAJOR_ARRAY)?;
        if n > max as u64 {
            return Err(DecodeError::TooLong { at, max });
        }
        Ok(n as usize)
    }

    /// Reads an array head that must have exactly `len` elements.
    pub fn array_exact(&mut self, len: usize) -> Result<(), DecodeError> {
        let at = self.pos;
        let n = self.head(MAJOR_ARRAY)?;
        if n != len as u64 {
            return Err(DecodeError::WrongArity { at, expected: len, found: n });
        }
        Ok(())
    }

    pub fn bool(&mut self) -> Result<bool, DecodeError> {
        let at = self.pos;
        match self.peek()? {
            FALSE => {
                self.pos += 1;
                Ok(false)
            }
            TRUE => {
                self.pos += 1;
                Ok(true)
            }
            _ => Err(DecodeError::UnexpectedType { at, expected: "bool" }),
        }
    }

    /// True (and consumed) if the next item is `null`.
    pub fn null(&mut self) -> Result<bool, DecodeError> {
        if self.peek()? == NULL {
            self.pos += 1;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    pub fn value<T: Cbor>(&mut self) -> Result<T, DecodeError> {
        T::decode(self)
    }

    pub fn option<T: Cbor>(&mut self) -> Result<Option<T>, DecodeError> {
        if self.null()? {
            Ok(None)
        } else {
            T::decode(self).map(Some)
        }
    }

    pub fn list<T: Cbor>(&mut self, max: usize) -> Result<Vec<T>, DecodeError> {
        let n = self.array(max)?;
        let mut v = Vec::with_capacity(n.min(64));
        for _ in 0..n {
            v.push(T::decode(self)?);
        }
        Ok(v)
    }

    /// Reads a text string that must equal `tag` (a record's domain tag or a variant name).
    pub fn tag(&mut self, tag: &'static str) -> Result<(), DecodeError> {
        let at = self.pos;
        let t = self.text()?;
        if t != tag {
            return Err(DecodeError::WrongTag { at, expected: tag, found: t.chars().take(64).collect() });
        }
        Ok(())
    }

    /// Skips one item of the subset and returns its raw bytes.
    pub fn raw_item(&mut self) -> Result<&'a [u8], DecodeError> {
        let start = self.pos;
        self.skip(0)?;
        Ok(&self.buf[start..self.pos])
    }

    fn skip(&mut self, depth: usize) -> Result<(), DecodeError> {
        const MAX_DEPTH: usize = 32;
        let at = self.pos;
        if depth > MAX_DEPTH {
            return Err(DecodeError::TooDeep { at });
        }
        let ib = self.peek()?;
        match ib >> 5 {
            MAJOR_UINT => {
                self.u64()?;
            }
            MAJOR_BYTES => {
                self.bytes()?;
            }
            MAJOR_TEXT => {
                self.text()?;
            }
            MAJOR_ARRAY => {
                let n = self.head(MAJOR_ARRAY)?;
                for _ in 0..n {
                    self.skip(depth + 1)?;
                }
            }
            7 if ib == FALSE || ib == TRUE || ib == NULL => self.pos += 1,
            _ => return Err(DecodeError::UnexpectedType { at, expected: "an item of the councilnet CBOR subset" }),
        }
        Ok(())
    }
}

/// The length of the first complete CBOR item in `buf`, or `None` if `buf` holds only a
/// prefix of one. Used to frame records in a stream.
pub fn item_len(buf: &[u8]) -> Result<Option<usize>, DecodeError> {
    let mut d = Decoder::new(buf);
    match d.skip(0) {
        Ok(()) => Ok(Some(d.pos)),
        Err(DecodeError::Truncated { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

fn major_name(major: u8) -> &'static str {
    match major {
        MAJOR_UINT => "unsigned integer",
        MAJOR_BYTES => "byte string",
        MAJOR_TEXT => "text string",
        MAJOR_ARRAY => "array",
        _ => "other",
    }
}

impl Cbor for u64 {
    fn encode(&self, e: &mut Encoder) {
        e.u64(*self);
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        d.u64()
    }
}

impl Cbor for u32 {
    fn encode(&self, e: &mut Encoder) {
        e.u64(u64::from(*self));
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        d.u32()
    }
}

impl Cbor for bool {
    fn encode(&self, e: &mut Encoder) {
        e.bool(*self);
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        d.bool()
    }
}

impl Cbor for String {
    fn encode(&self, e: &mut Encoder) {
        e.text(self);
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        d.text().map(str::to_owned)
    }
}

impl<'a> Decoder<'a> {
    /// The bytes from `start` up to the current position.
    pub fn slice_from(&self, start: usize) -> &'a [u8] {
        &self.buf[start..self.pos]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_are_minimal() {
        for n in [0u64, 23, 24, 255, 256, 65535, 65536, u32::MAX as u64, u32::MAX as u64 + 1, u64::MAX] {
            let b = n.to_cbor();
            assert_eq!(u64::from_cbor(&b).unwrap(), n);
        }
        assert_eq!(24u64.to_cbor(), vec![0x18, 24]);
        assert_eq!(500u64.to_cbor(), vec![0x19, 0x01, 0xf4]);
    }

    #[test]
    fn rejects_non_minimal_heads() {
        // 10 written with a one-byte argument.
        assert!(matches!(u64::from_cbor(&[0x18, 10]), Err(DecodeError::NonCanonical { .. })));
        // 255 written with a two-byte argument.
        assert!(matches!(u64::from_cbor(&[0x19, 0x00, 0xff]), Err(DecodeError::NonCanonical { .. })));
        // A byte string whose length uses a longer head than needed.
        assert!(matches!(Decoder::new(&[0x58, 0x01, 0xaa]).bytes(), Err(DecodeError::NonCanonical { .. })));
    }

    #[test]
    fn rejects_indefinite_trailing_and_foreign_types() {
        assert!(Decoder::new(&[0x9f, 0xff]).array(10).is_err()); // indefinite array
        assert!(matches!(u64::from_cbor(&[0x01, 0x00]), Err(DecodeError::TrailingBytes { .. })));
        assert!(Decoder::new(&[0xa0]).raw_item().is_err()); // a map
        assert!(Decoder::new(&[0x20]).raw_item().is_err()); // negative int
        assert!(Decoder::new(&[0xf9, 0, 0]).raw_item().is_err()); // half float
        assert!(Decoder::new(&[0xc0, 0x00]).raw_item().is_err()); // tag
        assert!(matches!(String::from_cbor(&[0x62, 0xff, 0xfe]), Err(DecodeError::InvalidUtf8 { .. })));
    }

    #[test]
    fn item_len_frames_a_stream() {
        let mut e = Encoder::default();
        e.array(2).u64(1).text("ab");
        let b = e.into_bytes();
        assert_eq!(item_len(&b).unwrap(), Some(b.len()));
        assert_eq!(item_len(&b[..b.len() - 1]).unwrap(), None);
        let mut two = b.clone();
        two.extend_from_slice(&b);
        assert_eq!(item_len(&two).unwrap(), Some(b.len()));
    }
}
