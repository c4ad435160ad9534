//! corekeeper: a ZooKeeper-compatible coordination store on a thread-per-core engine.
//!
//! Clients speak the ZooKeeper 3.9 wire protocol to any core. Each **shard core**
//! owns the connections it accepted, their sessions' watch tables and a view of the
//! data tree (an `Arc` to an immutable, structurally shared version); it answers
//! reads from that view with no lock. Writes travel to the one **sequencer core**,
//! which validates them against the newest tree (`txn::prep`), assigns zxids,
//! applies them (`txn::apply`) and publishes the new version with its watch events
//! to every shard. A shard fires watches before it moves its view forward and then
//! answers the waiting writes, which gives ZooKeeper's per-server guarantees: FIFO
//! per session, a watch event before any read that sees the change, atomic multi.
//!
//! Module map (pure modules do no I/O and read no clock; the shell drives them):
//!
//! | module      | owns                                                          | pure |
//! |-------------|---------------------------------------------------------------|------|
//! | [`proto`]   | wire codec: frames, jute, records, opcodes, error codes       | yes  |
//! | [`tree`]    | persistent data tree, Stat rules, paths, ACLs                  | yes  |
//! | [`txn`]     | `Txn` records, prep (request -> txn), apply (txn -> events)    | yes  |
//! | [`watch`]   | a shard's watch tables; which watches an event fires           | yes  |
//! | [`session`] | the session table and tick-bucketed expiry                     | yes  |
//! | [`log`]     | log and snapshot formats, group commit, recovery, retention    | yes  |
//! | [`admin`]   | four-letter-word replies                                      | yes  |
//! | [`config`]  | `zoo.cfg` parsing and validation                               | yes  |
//! | [`zab`]     | ZAB: election, discovery, sync, broadcast, quorum; peer codec  | yes  |
//! | [`sim`]     | deterministic ensemble simulator (real zab/tree/txn/log code)  | yes  |
//! | [`io`]      | the only code that opens files: DMA segment writer, snapshots,  | no   |
//! |             | recovery from disk, a simulated faulty disk for tests           |      |
//! | [`runtime`] | executors, core roles, the sequencer and shard loops, clock    | no   |
//! | [`net`]     | client sockets                                                 | no   |

pub mod admin;
pub mod config;
pub mod constants;
pub mod io;
pub mod log;
pub mod net;
pub mod proto;
pub mod runtime;
pub mod session;
pub mod sim;
pub mod tree;
pub mod txn;
pub mod types;
pub mod watch;
pub mod zab;
