//! Sockets: the client listener and the per-connection reader and writer tasks.
//! Everything here runs on a shard core and touches shard state only between awaits.

mod conn;

pub use conn::{accept_loop, ShardRef};
