//! `corekeeper-loadgen`: a load generator for ZooKeeper-compatible servers.
//!
//! It speaks the ZooKeeper client protocol through corekeeper's own codec
//! ([`corekeeper::proto`]), so the same binary drives corekeeper, Apache
//! ZooKeeper or any compatible server, and no client library sits between the
//! measurement and the wire.
//!
//! Like the server, a pure core and a thin shell:
//!
//! * [`workload`]: which operation comes next ([`rng`] supplies the seeded draws);
//! * [`session`]: one session's protocol state machine — handshake, pipelined
//!   requests, FIFO reply matching, validation of every reply;
//! * [`pacer`]: the open-loop arrival schedule;
//! * [`stats`]: HDR histograms and error counts, the measurement window, merging;
//! * [`report`]: the headline, the table, the JSON object;
//! * [`driver`]: the shell — a thread per core, each a glommio executor with many
//!   sessions, batched socket writes, the open-loop pacer, the progress ticker;
//! * [`null_server`]: a server that does no work, for the host's and the generator's ceiling;
//! * [`control`]: the blocking side-session that creates and removes the run's root;
//! * [`cli`]: the command line.

pub mod cli;
pub mod control;
pub mod driver;
pub mod null_server;
pub mod pacer;
pub mod report;
pub mod rng;
pub mod session;
pub mod stats;
pub mod workload;
