//! The `corekeeper` server binary.
fn main() {}
