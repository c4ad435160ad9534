//! Sockets: the client listener, the per-connection reader and writer tasks,
//! and the links between ensemble members.
//! Everything here runs on a shard core and touches shard state only between awaits.

mod conn;
pub mod peer;

pub use conn::{accept_loop, ShardRef};
