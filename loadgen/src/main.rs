//! `corekeeper-loadgen`: the bundled load generator. Its issue builds it; until then
//! it only says so.

fn main() {
    eprintln!("corekeeper-loadgen: not built yet (see the load generator issue)");
    std::process::exit(2);
}
