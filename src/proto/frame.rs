//! Length-prefixed frames: every message in both directions is a big-endian
//! `int` length followed by that many bytes (`ClientCnxn.Packet.createBB`,
//! `NIOServerCnxn.readLength`).

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::jute::wire_len;

/// A frame header the server refuses; the connection must be closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The advertised length is negative or above `jute.maxbuffer`.
    #[error(
        "Len error. A message with advertised length of {len} is either a malformed message \
         or too large to process (length is greater than jute.maxbuffer={max})"
    )]
    TooLong {
        /// The advertised length.
        len: i64,
        /// The `jute.maxbuffer` it exceeds.
        max: usize,
    },
}

/// Splits one complete frame payload (without its 4-byte length) off the front of
/// `buf`; `Ok(None)` if incomplete. The length is checked (`len < 0 || len > max`)
/// before anything is reserved; once it is known good, room for the rest of the
/// frame is reserved so the next socket read can complete it.
pub fn split_frame(buf: &mut BytesMut, max: usize) -> Result<Option<Bytes>, FrameError> {
    let Some(header) = buf.get(..4) else {
        return Ok(None);
    };
    let len = i32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    if len < 0 || len as usize > max {
        return Err(FrameError::TooLong {
            len: len.into(),
            max,
        });
    }
    let len = len as usize;
    if buf.len() < 4 + len {
        buf.reserve(4 + len - buf.len());
        return Ok(None);
    }
    buf.advance(4);
    Ok(Some(buf.split_to(len).freeze()))
}

/// Starts a frame: reserves the 4-byte length and returns its offset, to be
/// handed to [`end_frame`] once the payload is written.
pub fn begin_frame(out: &mut BytesMut) -> usize {
    let start = out.len();
    out.put_i32(0);
    start
}

/// Ends a frame started at `start` by back-patching its length.
pub fn end_frame(out: &mut BytesMut, start: usize) {
    let len = wire_len(out.len() - start - 4);
    out[start..start + 4].copy_from_slice(&len.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_and_join() {
        let mut out = BytesMut::new();
        let a = begin_frame(&mut out);
        out.put_slice(b"hello");
        end_frame(&mut out, a);
        let b = begin_frame(&mut out);
        end_frame(&mut out, b);
        assert_eq!(&out[..], b"\x00\x00\x00\x05hello\x00\x00\x00\x00");

        // Byte by byte: incomplete until the whole frame is there.
        let whole = out.freeze();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for byte in whole.iter() {
            buf.put_u8(*byte);
            while let Some(frame) = split_frame(&mut buf, 100).unwrap() {
                got.push(frame);
            }
        }
        assert_eq!(got, vec![Bytes::from_static(b"hello"), Bytes::new()]);
        assert!(buf.is_empty());
    }

    #[test]
    fn hostile_lengths_close_without_reserving() {
        for len in [-1i32, i32::MIN, i32::MAX, 101] {
            let mut buf = BytesMut::from(&len.to_be_bytes()[..]);
            let cap = buf.capacity();
            assert_eq!(
                split_frame(&mut buf, 100),
                Err(FrameError::TooLong {
                    len: len.into(),
                    max: 100
                })
            );
            assert_eq!(buf.capacity(), cap);
        }
        let mut buf = BytesMut::from(&100i32.to_be_bytes()[..]);
        assert_eq!(split_frame(&mut buf, 100), Ok(None));
        assert!(buf.capacity() >= 104);
    }

    #[test]
    fn message_names_the_length() {
        let e = FrameError::TooLong {
            len: 2_000_000,
            max: 1_048_575,
        };
        assert!(e.to_string().starts_with("Len error."));
        assert!(e.to_string().contains("2000000"));
        assert!(e.to_string().contains("jute.maxbuffer=1048575"));
    }
}
