//! `relay-server`: the relay manager's HTTP server (see the library's documentation
//! for its configuration).

fn main() -> anyhow::Result<()> {
    relay_server::main_with_args(std::env::args_os())
}
