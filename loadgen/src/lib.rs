//! `corekeeper-loadgen`: a load generator for ZooKeeper-compatible servers.
//!
//! It speaks the ZooKeeper client protocol through corekeeper's own codec
//! ([`corekeeper::proto`]), so the same binary drives corekeeper, Apache
//! ZooKeeper or any compatible server, and no client library sits between the
//! measurement and the wire.
//!
//! Like the server, a pure core and a thin shell:
//!
//! * [`workload`]: what a run does, as data: named workloads and their anchors,
//!   TOML workload files, sweeps and phases ([`rng`] supplies the seeded draws);
//! * [`keys`]: each session's model of its own znodes; [`expect`]: what every
//!   reply must say, decided when the request is sent, and the check;
//! * [`fanout`]: watch-fanout's writer clock, shared by the watchers;
//! * [`churn`]: session-churn's connect-check-create-close cycle;
//! * [`session`]: one session's protocol state machine — handshake, pipelined
//!   requests, FIFO reply matching, validation of every reply;
//! * [`pacer`]: the open-loop arrival schedule;
//! * [`stats`]: HDR histograms and error counts, the measurement window, merging;
//! * [`report`]: the headline, the table, the JSON object;
//! * [`html`]: the same as one self-contained HTML page with plots (inline SVG);
//! * [`server`]: the server's own facts (`mntr`, `srvr`, its process) beside the
//!   client's numbers; [`host`]: this machine's facts for the report;
//! * [`driver`]: the shell — a thread per core, each a glommio executor with many
//!   sessions, batched socket writes, the open-loop pacer, the progress ticker;
//! * [`null_server`]: a server that does no work, for the host's and the generator's ceiling;
//! * [`control`]: the blocking side-session that creates and removes the run's root;
//! * [`cli`]: the command line.

pub mod churn;
pub mod cli;
pub mod compare;
pub mod control;
pub mod driver;
pub mod expect;
#[cfg(test)]
mod fake;
pub mod fanout;
pub mod hdrlog;
pub mod host;
pub mod html;
pub mod keys;
pub mod null_server;
pub mod pacer;
pub mod plot;
pub mod report;
pub mod rng;
pub mod server;
pub mod session;
pub mod stats;
pub mod workload;
