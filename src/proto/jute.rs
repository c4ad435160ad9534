//! Jute binary primitives (`BinaryInputArchive` / `BinaryOutputArchive`):
//! big-endian `int`/`long`, one-byte `boolean`, and length-prefixed `ustring`,
//! `buffer` and `vector` where a length of `-1` means null.
//!
//! [`Reader`] decodes zero-copy from a frame held in a [`Bytes`]: strings borrow
//! from it and buffers are `Bytes::slice`s of it. Every length is checked against
//! `max_len` (`jute.maxbuffer`) and against the bytes actually left before it is
//! used, so a hostile length never makes us allocate or read out of bounds.

use bytes::{BufMut, Bytes, BytesMut};

/// Why a frame could not be decoded. The server answers such a request with
/// `MARSHALLINGERROR` or closes the connection, as ZooKeeper does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The record needs more bytes than the frame holds.
    #[error("truncated record: the frame ended before the record did")]
    Truncated,
    /// A string, buffer or vector length is negative (other than -1) or larger
    /// than `jute.maxbuffer` (ZooKeeper: "Unreasonable length").
    #[error("Unreasonable length = {len} (jute.maxbuffer={max})")]
    LengthOutOfRange {
        /// The length read from the wire.
        len: i64,
        /// The limit it was checked against.
        max: usize,
    },
    /// A `ustring` is not valid UTF-8.
    #[error("string is not valid UTF-8")]
    BadUtf8,
    /// The bytes are well-formed jute but not a valid record (bad multi op, ...).
    #[error("invalid record: {0}")]
    Invalid(&'static str),
}

/// A cursor over one frame payload.
///
/// Borrows the frame for `'a`; decoded strings borrow from it and decoded buffers
/// share its storage.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a Bytes,
    pos: usize,
    max_len: usize,
}

impl<'a> Reader<'a> {
    /// A reader over `buf` that rejects strings, buffers and vectors longer than
    /// `max_len` (pass `jute.maxbuffer`).
    pub fn new(buf: &'a Bytes, max_len: usize) -> Reader<'a> {
        Reader {
            buf,
            pos: 0,
            max_len,
        }
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The `max_len` this reader checks lengths against.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::Truncated);
        }
        let whole: &'a [u8] = self.buf;
        let out = &whole[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn take_array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// A jute `int`.
    pub fn read_i32(&mut self) -> Result<i32, DecodeError> {
        Ok(i32::from_be_bytes(self.take_array()?))
    }

    /// A jute `long`.
    pub fn read_i64(&mut self) -> Result<i64, DecodeError> {
        Ok(i64::from_be_bytes(self.take_array()?))
    }

    /// A jute `boolean`: any non-zero byte is true (`DataInput.readBoolean`).
    pub fn read_bool(&mut self) -> Result<bool, DecodeError> {
        Ok(self.take(1)?[0] != 0)
    }

    /// Reads a length prefix: `None` for -1; checked against `max_len` and the
    /// bytes remaining.
    fn read_len(&mut self) -> Result<Option<usize>, DecodeError> {
        let len = self.read_i32()?;
        if len == -1 {
            return Ok(None);
        }
        if len < 0 || len as usize > self.max_len {
            return Err(DecodeError::LengthOutOfRange {
                len: len.into(),
                max: self.max_len,
            });
        }
        let len = len as usize;
        if len > self.remaining() {
            return Err(DecodeError::Truncated);
        }
        Ok(Some(len))
    }

    /// A jute `buffer` as a borrowed slice; `None` for a null (-1) buffer.
    pub fn read_buffer_slice(&mut self) -> Result<Option<&'a [u8]>, DecodeError> {
        match self.read_len()? {
            None => Ok(None),
            Some(len) => Ok(Some(self.take(len)?)),
        }
    }

    /// A jute `buffer`, zero-copy; `None` for a null (-1) buffer.
    pub fn read_buffer(&mut self) -> Result<Option<Bytes>, DecodeError> {
        match self.read_len()? {
            None => Ok(None),
            Some(len) => {
                let start = self.pos;
                self.take(len)?;
                Ok(Some(self.buf.slice(start..start + len)))
            }
        }
    }

    /// A jute `ustring`, borrowed; `None` for a null (-1) string.
    pub fn read_ustring(&mut self) -> Result<Option<&'a str>, DecodeError> {
        match self.read_buffer_slice()? {
            None => Ok(None),
            Some(raw) => std::str::from_utf8(raw)
                .map(Some)
                .map_err(|_| DecodeError::BadUtf8),
        }
    }

    /// A `ustring` where null means empty (kazoo writes "" as -1).
    pub fn read_str(&mut self) -> Result<&'a str, DecodeError> {
        Ok(self.read_ustring()?.unwrap_or(""))
    }

    /// A `buffer` where null means empty, with whether it was null.
    pub fn read_data(&mut self) -> Result<(Bytes, bool), DecodeError> {
        Ok(match self.read_buffer()? {
            Some(b) => (b, false),
            None => (Bytes::new(), true),
        })
    }

    /// A jute `vector` count; `None` for a null (-1) vector. The count is checked
    /// against `max_len` and against the bytes remaining (every element takes at
    /// least one byte), so it can size an allocation.
    pub fn read_vec_len(&mut self) -> Result<Option<usize>, DecodeError> {
        self.read_vec_len_min(1)
    }

    /// Like [`Reader::read_vec_len`], for elements that take at least
    /// `elem_min_bytes` each (4 for a `ustring`, 12 for an `ACL`).
    pub fn read_vec_len_min(
        &mut self,
        elem_min_bytes: usize,
    ) -> Result<Option<usize>, DecodeError> {
        let count = self.read_i32()?;
        if count == -1 {
            return Ok(None);
        }
        if count < 0 || count as usize > self.max_len {
            return Err(DecodeError::LengthOutOfRange {
                len: count.into(),
                max: self.max_len,
            });
        }
        let count = count as usize;
        if count.saturating_mul(elem_min_bytes.max(1)) > self.remaining() {
            return Err(DecodeError::Truncated);
        }
        Ok(Some(count))
    }

    /// A `vector<ustring>` of borrowed strings (null vector and null elements
    /// read as empty).
    pub fn read_str_vec(&mut self) -> Result<Vec<&'a str>, DecodeError> {
        let count = self.read_vec_len_min(4)?.unwrap_or(0);
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            out.push(self.read_str()?);
        }
        Ok(out)
    }

    /// A `vector<ustring>` of owned strings.
    pub fn read_string_vec(&mut self) -> Result<Vec<String>, DecodeError> {
        let count = self.read_vec_len_min(4)?.unwrap_or(0);
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            out.push(self.read_str()?.to_owned());
        }
        Ok(out)
    }
}

/// Jute encoding onto a growable buffer. `int`/`long` are `BufMut::put_i32`/`put_i64`.
pub trait JuteWrite {
    /// A `boolean`: one byte, 0 or 1.
    fn put_jute_bool(&mut self, v: bool);
    /// A `ustring`: length then UTF-8 bytes.
    fn put_jute_str(&mut self, s: &str);
    /// A `buffer`: length then bytes.
    fn put_jute_buf(&mut self, b: &[u8]);
    /// A null string, buffer or vector: length -1.
    fn put_jute_null(&mut self);

    /// A nullable `ustring`: `None` is written as -1.
    fn put_jute_opt_str(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.put_jute_str(s),
            None => self.put_jute_null(),
        }
    }

    /// A `buffer` that is written as -1 when `null` is set.
    fn put_jute_data(&mut self, b: &[u8], null: bool) {
        if null {
            self.put_jute_null();
        } else {
            self.put_jute_buf(b);
        }
    }
}

/// Converts a length we are about to write; lengths come from our own bounded
/// data, so one that does not fit an `int` is our bug.
pub(crate) fn wire_len(len: usize) -> i32 {
    assert!(
        len <= i32::MAX as usize,
        "jute length {len} does not fit an int"
    );
    len as i32
}

impl JuteWrite for BytesMut {
    fn put_jute_bool(&mut self, v: bool) {
        self.put_u8(u8::from(v));
    }

    fn put_jute_str(&mut self, s: &str) {
        self.put_jute_buf(s.as_bytes());
    }

    fn put_jute_buf(&mut self, b: &[u8]) {
        self.put_i32(wire_len(b.len()));
        self.put_slice(b);
    }

    fn put_jute_null(&mut self) {
        self.put_i32(-1);
    }
}

/// Writes a `vector<ustring>` from any iterator, back-patching the count, so the
/// caller needs no intermediate collection.
pub fn put_str_vec<I, S>(out: &mut BytesMut, items: I)
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let at = out.len();
    out.put_i32(0);
    let mut count = 0usize;
    for item in items {
        out.put_jute_str(item.as_ref());
        count += 1;
    }
    out[at..at + 4].copy_from_slice(&wire_len(count).to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(v: &[u8]) -> Bytes {
        Bytes::copy_from_slice(v)
    }

    #[test]
    fn primitives_round_trip() {
        let mut out = BytesMut::new();
        out.put_i32(-7);
        out.put_i64(1 << 40);
        out.put_jute_bool(true);
        out.put_jute_bool(false);
        out.put_jute_str("héllo");
        out.put_jute_buf(b"\x00\x01");
        out.put_jute_null();
        out.put_jute_opt_str(None);
        out.put_jute_data(b"", true);
        put_str_vec(&mut out, ["a", "bc"]);
        let frame = out.freeze();
        let mut r = Reader::new(&frame, 1 << 20);
        assert_eq!(r.read_i32(), Ok(-7));
        assert_eq!(r.read_i64(), Ok(1 << 40));
        assert_eq!(r.read_bool(), Ok(true));
        assert_eq!(r.read_bool(), Ok(false));
        assert_eq!(r.read_ustring(), Ok(Some("héllo")));
        assert_eq!(r.read_buffer(), Ok(Some(bytes(b"\x00\x01"))));
        assert_eq!(r.read_ustring(), Ok(None));
        assert_eq!(r.read_buffer(), Ok(None));
        assert_eq!(r.read_data(), Ok((Bytes::new(), true)));
        assert_eq!(r.read_str_vec(), Ok(vec!["a", "bc"]));
        assert_eq!(r.remaining(), 0);
        assert_eq!(r.read_i32(), Err(DecodeError::Truncated));
    }

    #[test]
    fn buffer_is_zero_copy() {
        let frame = bytes(b"\x00\x00\x00\x03abc");
        let mut r = Reader::new(&frame, 100);
        let b = r.read_buffer().unwrap().unwrap();
        assert_eq!(b.as_ptr(), frame[4..].as_ptr());
        let mut r = Reader::new(&frame, 100);
        let s = r.read_ustring().unwrap().unwrap();
        assert_eq!(s.as_ptr(), frame[4..].as_ptr());
    }

    #[test]
    fn bool_is_any_non_zero() {
        let frame = bytes(&[2]);
        assert_eq!(Reader::new(&frame, 10).read_bool(), Ok(true));
    }

    #[test]
    fn hostile_lengths_are_rejected() {
        for len in [i32::MAX, -2, i32::MIN] {
            let frame = bytes(&len.to_be_bytes());
            let max = 1 << 20;
            let err = DecodeError::LengthOutOfRange {
                len: len.into(),
                max,
            };
            assert_eq!(Reader::new(&frame, max).read_buffer(), Err(err.clone()));
            assert_eq!(Reader::new(&frame, max).read_ustring(), Err(err.clone()));
            assert_eq!(Reader::new(&frame, max).read_vec_len(), Err(err));
        }
        // Within max_len but beyond the frame.
        let frame = bytes(&[0, 0, 0, 10, b'a']);
        assert_eq!(
            Reader::new(&frame, 100).read_buffer(),
            Err(DecodeError::Truncated)
        );
        assert_eq!(
            Reader::new(&frame, 100).read_vec_len(),
            Err(DecodeError::Truncated)
        );
        // A vector of 2 strings needs at least 8 more bytes.
        let frame = bytes(&[0, 0, 0, 2, 0, 0, 0, 0, 0]);
        assert_eq!(
            Reader::new(&frame, 100).read_str_vec(),
            Err(DecodeError::Truncated)
        );
        // max_len applies even when the bytes are there.
        let frame = bytes(&[0, 0, 0, 3, b'a', b'b', b'c']);
        assert_eq!(
            Reader::new(&frame, 2).read_buffer(),
            Err(DecodeError::LengthOutOfRange { len: 3, max: 2 })
        );
    }

    #[test]
    fn bad_utf8_is_rejected() {
        let frame = bytes(&[0, 0, 0, 2, 0xc3, 0x28]);
        assert_eq!(
            Reader::new(&frame, 100).read_ustring(),
            Err(DecodeError::BadUtf8)
        );
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            DecodeError::LengthOutOfRange { len: -5, max: 10 }.to_string(),
            "Unreasonable length = -5 (jute.maxbuffer=10)"
        );
        assert_eq!(DecodeError::Invalid("x").to_string(), "invalid record: x");
    }
}
