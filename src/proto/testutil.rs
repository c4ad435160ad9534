//! Helpers shared by the codec's unit tests.

use bytes::{Bytes, BytesMut};

use super::jute::{DecodeError, Reader};

/// A generous `jute.maxbuffer` for tests.
pub const MAX: usize = 1 << 20;

/// Runs an encoder into a fresh buffer.
pub fn encoded(f: impl FnOnce(&mut BytesMut)) -> Bytes {
    let mut out = BytesMut::new();
    f(&mut out);
    out.freeze()
}

/// Decodes all of `bytes`, asserting nothing is left over.
pub fn decode_all<'a, T>(
    bytes: &'a Bytes,
    decode: impl Fn(&mut Reader<'a>) -> Result<T, DecodeError>,
) -> T {
    let mut r = Reader::new(bytes, MAX);
    let v = decode(&mut r).expect("decodes");
    assert_eq!(r.remaining(), 0, "decoder left bytes");
    v
}

/// Every strict prefix of `bytes` must fail to decode (and not panic). `decode`
/// drops what it decodes (`|r| X::decode(r).map(drop)`).
pub fn assert_every_truncation_fails(
    bytes: &Bytes,
    decode: impl Fn(&mut Reader<'_>) -> Result<(), DecodeError>,
) {
    for cut in 0..bytes.len() {
        let prefix = bytes.slice(..cut);
        let mut r = Reader::new(&prefix, MAX);
        let got = decode(&mut r);
        assert!(
            got.is_err(),
            "prefix of {cut}/{} bytes decoded",
            bytes.len()
        );
    }
}
