//! Hostile and broken input: each bad connection is closed on its own, with no
//! effect on the server or on any other session.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use common::TestServer;
use corekeeper::proto::frame::{begin_frame, end_frame};
use corekeeper::proto::records::{ConnectRequest, ConnectResponse, ReplyHeader};
use corekeeper::proto::request::PathWatch;
use corekeeper::proto::{Reader, Request};

const READ_TIMEOUT: Duration = Duration::from_secs(5);

fn connect(server: &TestServer) -> TcpStream {
    let stream = TcpStream::connect(&server.addr).expect("connect");
    stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    stream
}

/// Reads until the server closes the connection; returns what it sent first.
fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return all,
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return all,
            Err(e) => panic!("server did not close the connection: {e}"),
        }
    }
}

fn read_frame(stream: &mut TcpStream) -> Bytes {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).expect("frame length");
    let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
    stream.read_exact(&mut body).expect("frame body");
    Bytes::from(body)
}

/// A raw session: handshake done, ready for hand-made frames.
fn handshake(server: &TestServer) -> (TcpStream, ConnectResponse) {
    let mut stream = connect(server);
    let request = ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0,
        timeout_ms: 4000,
        session_id: 0,
        passwd: Bytes::from_static(&[0; 16]),
        read_only: Some(false),
    };
    let mut out = BytesMut::new();
    let start = begin_frame(&mut out);
    request.encode(&mut out);
    end_frame(&mut out, start);
    stream.write_all(&out).unwrap();
    let frame = read_frame(&mut stream);
    let mut reader = Reader::new(&frame, 1 << 20);
    let response = ConnectResponse::decode(&mut reader).expect("ConnectResponse");
    assert!(response.timeout_ms > 0, "session granted");
    (stream, response)
}

/// A healthy session keeps working: exists("/") answers with err 0.
fn assert_healthy(server: &TestServer) {
    let (mut stream, _) = handshake(server);
    let mut out = BytesMut::new();
    Request::Exists(PathWatch {
        path: "/",
        watch: false,
    })
    .encode_frame(7, &mut out);
    stream.write_all(&out).unwrap();
    let frame = read_frame(&mut stream);
    let mut reader = Reader::new(&frame, 1 << 20);
    let header = ReplyHeader::decode(&mut reader).unwrap();
    assert_eq!((header.xid, header.err), (7, 0));
}

#[test]
fn oversized_length_prefix_closes_before_buffering() {
    let server = TestServer::start();
    let (mut bystander, _) = handshake(&server);
    for len in [i32::MAX, 0x10_0000, -1, i32::MIN] {
        let (mut stream, _) = handshake(&server);
        stream.write_all(&len.to_be_bytes()).unwrap();
        // Keep sending: the server must have stopped reading long before 8 MiB.
        let chunk = vec![0u8; 64 << 10];
        let mut sent = 0usize;
        while sent < 8 << 20 {
            match stream.write(&chunk) {
                Ok(n) => sent += n,
                Err(_) => break,
            }
        }
        assert!(
            read_until_closed(&mut stream).is_empty(),
            "no reply to a bad length ({len})"
        );
    }
    // The same is true before the handshake.
    let mut stream = connect(&server);
    stream.write_all(&i32::MAX.to_be_bytes()).unwrap();
    assert!(read_until_closed(&mut stream).is_empty());
    // The bystander session is untouched.
    let mut out = BytesMut::new();
    Request::Exists(PathWatch {
        path: "/zookeeper",
        watch: false,
    })
    .encode_frame(1, &mut out);
    bystander.write_all(&out).unwrap();
    let frame = read_frame(&mut bystander);
    let header = ReplyHeader::decode(&mut Reader::new(&frame, 1 << 20)).unwrap();
    assert_eq!((header.xid, header.err), (1, 0));
    assert_healthy(&server);
}

#[test]
fn garbage_handshake_closes_only_that_connection() {
    let server = TestServer::start();
    let cases: [&[u8]; 4] = [
        // A frame too short to be a ConnectRequest.
        &[0, 0, 0, 3, b'a', b'b', b'c'],
        // A request header where the handshake belongs.
        &[0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 4],
        // A password length larger than the frame.
        &[
            0, 0, 0, 28, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 15, 160, 0, 0, 0, 0, 0, 0, 0, 0,
            0x7f, 0xff, 0xff, 0xff,
        ],
        // Random bytes.
        &[
            0, 0, 0, 45, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
            16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37,
            38, 39, 40, 41,
        ],
    ];
    for case in cases {
        let mut stream = connect(&server);
        stream.write_all(case).unwrap();
        let reply = read_until_closed(&mut stream);
        // Either nothing, or (for the random bytes, which parse as a handshake
        // with an unknown session) ZooKeeper's "session expired" answer.
        if !reply.is_empty() {
            let frame = Bytes::copy_from_slice(&reply[4..]);
            let response = ConnectResponse::decode(&mut Reader::new(&frame, 1 << 20)).unwrap();
            assert_eq!(response.timeout_ms, 0);
        }
    }
    assert_healthy(&server);
}

#[test]
fn truncated_frames_and_abrupt_disconnects_cost_nothing() {
    let server = TestServer::start();
    for _ in 0..20 {
        let (mut stream, _) = handshake(&server);
        // Half a frame, then the client vanishes.
        stream.write_all(&[0, 0, 0, 100, 0, 0, 0, 1, 0, 0]).unwrap();
        drop(stream);
    }
    // Half a ConnectRequest, then gone.
    for _ in 0..20 {
        let mut stream = connect(&server);
        stream.write_all(&[0, 0, 0, 44, 0, 0]).unwrap();
    }
    assert_healthy(&server);
}

#[test]
fn malformed_body_gets_marshalling_error_and_the_session_goes_on() {
    let server = TestServer::start();
    let (mut stream, _) = handshake(&server);
    // getData whose path length runs past the frame.
    let mut out = BytesMut::new();
    let start = begin_frame(&mut out);
    out.put_i32(1);
    out.put_i32(4);
    out.put_i32(255);
    end_frame(&mut out, start);
    stream.write_all(&out).unwrap();
    let frame = read_frame(&mut stream);
    let header = ReplyHeader::decode(&mut Reader::new(&frame, 1 << 20)).unwrap();
    assert_eq!((header.xid, header.err), (1, -5));
    let mut out = BytesMut::new();
    Request::Exists(PathWatch {
        path: "/",
        watch: false,
    })
    .encode_frame(2, &mut out);
    stream.write_all(&out).unwrap();
    let frame = read_frame(&mut stream);
    let header = ReplyHeader::decode(&mut Reader::new(&frame, 1 << 20)).unwrap();
    assert_eq!((header.xid, header.err), (2, 0));
}

#[test]
fn unknown_opcode_is_unimplemented_then_closed() {
    let server = TestServer::start();
    for op in [999, 0, 13, -10] {
        let (mut stream, _) = handshake(&server);
        let mut out = BytesMut::new();
        let start = begin_frame(&mut out);
        out.put_i32(1);
        out.put_i32(op);
        end_frame(&mut out, start);
        stream.write_all(&out).unwrap();
        let reply = read_until_closed(&mut stream);
        let frame = Bytes::copy_from_slice(&reply[4..]);
        let header = ReplyHeader::decode(&mut Reader::new(&frame, 1 << 20)).unwrap();
        assert_eq!((header.xid, header.err), (1, -6), "opcode {op}");
    }
    assert_healthy(&server);
}
