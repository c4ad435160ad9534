//! Codec hot paths: decoding a getData request frame and encoding a getData reply
//! with 1 KiB of data. `cargo bench --bench codec`.

// `criterion_group!` expands to an undocumented `pub fn`.
#![allow(missing_docs)]

use bytes::{Bytes, BytesMut};
use corekeeper::proto::response::encode_get_data_response;
use corekeeper::proto::{
    encode_reply_frame_header, end_frame, split_frame, OpCode, PathWatch, Reader, Request,
    RequestHeader, Stat,
};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};

const MAX: usize = 0xfffff;

fn get_data_frame() -> Bytes {
    let mut out = BytesMut::new();
    Request::GetData(PathWatch {
        path: "/brokers/topics/orders/partitions/17/state",
        watch: true,
    })
    .encode_frame(42, &mut out);
    out.freeze()
}

fn decode_get_data(c: &mut Criterion) {
    let frame = get_data_frame();
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(1));
    g.bench_function("getData request frame", |b| {
        b.iter(|| {
            let mut buf = BytesMut::from(&frame[..]);
            let payload = split_frame(&mut buf, MAX).unwrap().unwrap();
            let mut r = Reader::new(&payload, MAX);
            let h = RequestHeader::decode(&mut r).unwrap();
            let req = Request::decode(OpCode::GetData, &mut r).unwrap();
            black_box((h, req.op()));
        })
    });
    g.finish();
}

fn encode_get_data(c: &mut Criterion) {
    let data = vec![0x5a; 1024];
    let stat = Stat {
        czxid: 7,
        mzxid: 9,
        data_length: 1024,
        ..Stat::default()
    };
    let mut out = BytesMut::with_capacity(64 << 10);
    let mut g = c.benchmark_group("encode");
    g.throughput(Throughput::Bytes(4 + 16 + 4 + 1024 + 68));
    g.bench_function("GetDataResponse 1KiB frame", |b| {
        b.iter(|| {
            out.clear();
            let start = encode_reply_frame_header(&mut out, 42, 0x1_0000_0009, 0);
            encode_get_data_response(&mut out, black_box(&data), &stat);
            end_frame(&mut out, start);
            black_box(out.len());
        })
    });
    g.finish();
}

criterion_group!(benches, decode_get_data, encode_get_data);
criterion_main!(benches);
